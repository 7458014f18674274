import { sql } from '@codemirror/lang-sql';
import { python } from '@codemirror/lang-python';
import { language } from '@codemirror/language';
import { EditorState } from '@codemirror/state';

import { mayHoldSql, SqlLanguage, sqlCellHighlighting } from '../src/highlight';

function languageName(state: EditorState): string | undefined {
  return state.facet(language)?.name;
}

async function loadedSql(): Promise<SqlLanguage> {
  const language = new SqlLanguage(Promise.resolve(sql()));
  await language.ready;
  return language;
}

let sqlLanguage: SqlLanguage;
beforeAll(async () => {
  sqlLanguage = await loadedSql();
});

function editor(doc: string): EditorState {
  return EditorState.create({ doc, extensions: [python(), sqlCellHighlighting(sqlLanguage, doc)] });
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

describe('SqlLanguage', () => {
  it('is empty until the language has loaded', async () => {
    let resolve: (value: ReturnType<typeof sql>) => void = () => undefined;
    const pending = new SqlLanguage(new Promise(r => (resolve = r)));
    expect(pending.current).toBeNull();
    const state = EditorState.create({
      doc: '%%civis_sql\nSELECT 1',
      extensions: [python(), sqlCellHighlighting(pending, '%%civis_sql\nSELECT 1')]
    });
    expect(languageName(state)).toBe('python');
    resolve(sql());
    await pending.ready;
    expect(pending.current).not.toBeNull();
  });
});

describe('mayHoldSql', () => {
  it('skips markdown cells only', () => {
    expect(mayHoldSql('text/x-ipython')).toBe(true);
    expect(mayHoldSql('text/plain')).toBe(true);
    expect(mayHoldSql('text/x-ipythongfm')).toBe(false);
    expect(mayHoldSql('text/markdown')).toBe(false);
  });
});
