import { sql } from '@codemirror/lang-sql';
import { python } from '@codemirror/lang-python';
import {
  defaultHighlightStyle,
  highlightingFor,
  language,
  syntaxHighlighting
} from '@codemirror/language';
import { EditorState } from '@codemirror/state';
import { DecorationSet } from '@codemirror/view';
import { tags } from '@lezer/highlight';

import {
  mayHoldSql,
  SqlLanguage,
  sqlCellHighlighting,
  sqlLineDecorations
} from '../src/highlight';

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

/** The text each decoration marks, with its class. */
function marked(state: EditorState, set: DecorationSet): [string, string][] {
  const found: [string, string][] = [];
  set.between(0, state.doc.length, (from, to, deco) => {
    found.push([state.sliceDoc(from, to), String(deco.spec.class)]);
  });
  return found;
}

describe('sqlLineDecorations', () => {
  const styled = (doc: string) =>
    EditorState.create({ doc, extensions: [python(), syntaxHighlighting(defaultHighlightStyle)] });
  const all = (state: EditorState) => [{ from: 0, to: state.doc.length }];

  it('marks the SQL after %civis_sql ... -- with the editor highlight classes', () => {
    const state = styled('x = 1\ndf = %civis_sql local -- SELECT a FROM t\nprint(df)');
    const keyword = highlightingFor(state, [tags.keyword]);
    expect(keyword).toBeTruthy();
    const marks = marked(state, sqlLineDecorations(state, sqlLanguage.current, all(state)));
    expect(marks).toContainEqual(['SELECT', keyword]);
    expect(marks).toContainEqual(['FROM', keyword]);
    // Nothing before the separator nor on the other lines.
    const sqlStart = state.doc.toString().indexOf('SELECT');
    const lineEnd = state.doc.line(2).to;
    sqlLineDecorations(state, sqlLanguage.current, all(state)).between(0, state.doc.length, from => {
      expect(from).toBeGreaterThanOrEqual(sqlStart);
      expect(from).toBeLessThan(lineEnd);
    });
  });

  it('marks nothing in %%civis_sql cells, lines without SQL, or before SQL loads', () => {
    const cell = styled('%%civis_sql local\nx = %civis_sql -- SELECT 1');
    expect(marked(cell, sqlLineDecorations(cell, sqlLanguage.current, all(cell)))).toEqual([]);
    const noSql = styled('df = %civis_sql local\ny = "%civis_sql -- SELECT 1"');
    expect(marked(noSql, sqlLineDecorations(noSql, sqlLanguage.current, all(noSql)))).toEqual([]);
    const line = styled('%civis_sql -- SELECT 1');
    expect(marked(line, sqlLineDecorations(line, null, all(line)))).toEqual([]);
    expect(marked(line, sqlLineDecorations(line, sqlLanguage.current, all(line))).length).toBeGreaterThan(0);
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
