import { sql } from '@codemirror/lang-sql';
import { python } from '@codemirror/lang-python';
import { language } from '@codemirror/language';
import { EditorState } from '@codemirror/state';

import { isCodeMime, sqlCellHighlighting } from '../src/highlight';

function languageName(state: EditorState): string | undefined {
  return state.facet(language)?.name;
}

function editor(doc: string): EditorState {
  return EditorState.create({ doc, extensions: [python(), sqlCellHighlighting(sql(), doc)] });
}

describe('sqlCellHighlighting', () => {
  it('highlights a %%civis_sql cell as SQL from the start', () => {
    expect(languageName(editor('%%civis_sql local\nSELECT 1'))).toBe('sql');
  });

  it('leaves other cells in Python', () => {
    expect(languageName(editor('x = 1\nprint(x)'))).toBe('python');
  });

  it('switches when the first line gains or loses the magic', () => {
    let state = editor('SELECT 1');
    expect(languageName(state)).toBe('python');
    state = state.update({ changes: { from: 0, insert: '%%civis_sql local\n' } }).state;
    expect(languageName(state)).toBe('sql');
    state = state.update({ changes: { from: 0, to: 2, insert: '#' } }).state;
    expect(languageName(state)).toBe('python');
    state = state.update({ changes: { from: state.doc.length, insert: '\n-- more' } }).state;
    expect(languageName(state)).toBe('python');
  });
});

describe('isCodeMime', () => {
  it('skips markdown and raw cells', () => {
    expect(isCodeMime('text/x-ipython')).toBe(true);
    expect(isCodeMime('text/x-ipythongfm')).toBe(false);
    expect(isCodeMime('text/plain')).toBe(false);
    expect(isCodeMime(undefined)).toBe(false);
  });
});
