/**
 * SQL highlighting for %%civis_sql cells.
 *
 * A compartment holds the SQL language (at the highest precedence, so it wins
 * over the cell's Python mode) while the first line is the magic, and nothing
 * otherwise. It is filled from the cell's source when the editor is created,
 * so highlighting is there as soon as a notebook opens, and switched by a
 * transaction extender whenever an edit changes the first line.
 *
 * In other cells, the SQL after `%civis_sql ... --` on a line-magic line is
 * highlighted by a view plugin that parses just that text with the SQL parser
 * and marks its tokens with the editor's own highlight classes.
 */
import {
  Compartment,
  EditorState,
  Extension,
  Prec,
  Range,
  Transaction,
  TransactionSpec
} from '@codemirror/state';
import { highlightingFor, LanguageSupport } from '@codemirror/language';
import {
  Decoration,
  DecorationSet,
  EditorView,
  ViewPlugin,
  ViewUpdate
} from '@codemirror/view';
import { highlightTree } from '@lezer/highlight';

import { isSqlCell, lineSqlStart } from './sqlcell';

/** The SQL language, once JupyterLab has loaded it (it loads languages lazily). */
export class SqlLanguage {
  constructor(loading: Promise<LanguageSupport | null>) {
    this.ready = loading.then(sql => {
      this.current = sql;
      return sql;
    });
  }

  /** The language support, or null while it is still loading. */
  current: LanguageSupport | null = null;
  /** Resolves when the language is loaded. */
  readonly ready: Promise<LanguageSupport | null>;
}

/**
 * Build the extension for one editor.
 *
 * @param sql - the SQL language (possibly still loading)
 * @param initialSource - the cell's source when its editor is created
 */
export function sqlCellHighlighting(sql: SqlLanguage, initialSource: string): Extension {
  const compartment = new Compartment();
  const content = (isSql: boolean): Extension =>
    isSql && sql.current ? Prec.highest(sql.current) : [];
  const firstLine = (state: EditorState) => state.doc.line(1).text;

  const switcher = EditorState.transactionExtender.of(
    (tr: Transaction): Pick<TransactionSpec, 'effects'> | null => {
      if (!tr.docChanged) {
        return null;
      }
      const before = isSqlCell(firstLine(tr.startState));
      const after = isSqlCell(firstLine(tr.state));
      return before === after ? null : { effects: compartment.reconfigure(content(after)) };
    }
  );
  // If the language was still loading when the editor was made, apply it when it arrives.
  const whenLoaded = ViewPlugin.define((view: EditorView) => {
    let alive = true;
    if (!sql.current) {
      void sql.ready.then(() => {
        if (alive && isSqlCell(firstLine(view.state))) {
          view.dispatch({ effects: compartment.reconfigure(content(true)) });
        }
      });
    }
    return { destroy: () => (alive = false) };
  });
  return [
    compartment.of(content(isSqlCell(initialSource))),
    switcher,
    whenLoaded,
    sqlLineHighlighting(sql)
  ];
}

/**
 * Decorations marking the SQL of `%civis_sql ... -- SQL` lines in the given
 * ranges (none in a `%%civis_sql` cell, which is SQL as a whole).
 */
export function sqlLineDecorations(
  state: EditorState,
  sql: LanguageSupport | null,
  ranges: readonly { from: number; to: number }[]
): DecorationSet {
  if (!sql || isSqlCell(state.doc.line(1).text)) {
    return Decoration.none;
  }
  const marks: Range<Decoration>[] = [];
  // Classes of the editor's active highlight style (JupyterLab's theme).
  const highlighter = {
    style: (tags: Parameters<typeof highlightingFor>[1]) => highlightingFor(state, tags)
  };
  for (const { from, to } of ranges) {
    for (let pos = from; pos <= to; ) {
      const line = state.doc.lineAt(pos);
      const start = lineSqlStart(line.text);
      if (start !== null) {
        const text = line.text.slice(start);
        const offset = line.from + start;
        highlightTree(sql.language.parser.parse(text), highlighter, (a, b, cls) => {
          marks.push(Decoration.mark({ class: cls }).range(offset + a, offset + b));
        });
      }
      pos = line.to + 1;
    }
  }
  return Decoration.set(marks, true);
}

/** The view plugin applying {@link sqlLineDecorations} to the visible lines. */
function sqlLineHighlighting(sql: SqlLanguage): Extension {
  return ViewPlugin.fromClass(
    class {
      decorations: DecorationSet;
      constructor(view: EditorView) {
        this.decorations = sqlLineDecorations(view.state, sql.current, view.visibleRanges);
        if (!sql.current) {
          // Redraw once the language has loaded (an empty transaction triggers update()).
          void sql.ready.then(() => {
            if (!this.destroyed) {
              this.stale = true;
              view.dispatch({});
            }
          });
        }
      }
      update(update: ViewUpdate) {
        if (this.stale || update.docChanged || update.viewportChanged) {
          this.stale = false;
          this.decorations = sqlLineDecorations(
            update.state,
            sql.current,
            update.view.visibleRanges
          );
        }
      }
      destroy() {
        this.destroyed = true;
      }
      stale = false;
      destroyed = false;
    },
    { decorations: plugin => plugin.decorations }
  );
}

/**
 * Whether an editor may hold a %%civis_sql cell: every editor but markdown
 * ones. (A code cell's mime type can still be plain text when its editor is
 * created, before the kernel says which language it speaks.)
 */
export function mayHoldSql(mimeType: string | undefined): boolean {
  return !(mimeType ?? '').toLowerCase().includes('gfm') &&
    !(mimeType ?? '').toLowerCase().includes('markdown');
}
