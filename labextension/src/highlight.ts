/**
 * SQL highlighting for %%civis_sql cells.
 *
 * A compartment holds the SQL language (at the highest precedence, so it wins
 * over the cell's Python mode) while the first line is the magic, and nothing
 * otherwise. It is filled from the cell's source when the editor is created,
 * so highlighting is there as soon as a notebook opens, and switched by a
 * transaction extender whenever an edit changes the first line.
 */
import {
  Compartment,
  EditorState,
  Extension,
  Prec,
  Transaction,
  TransactionSpec
} from '@codemirror/state';
import { EditorView, ViewPlugin } from '@codemirror/view';

import { isSqlCell } from './sqlcell';

/** The SQL language, once JupyterLab has loaded it (it loads languages lazily). */
export class SqlLanguage {
  constructor(loading: Promise<Extension | null>) {
    this.ready = loading.then(sql => {
      this.current = sql;
      return sql;
    });
  }

  /** The language support, or null while it is still loading. */
  current: Extension | null = null;
  /** Resolves when the language is loaded. */
  readonly ready: Promise<Extension | null>;
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
  return [compartment.of(content(isSqlCell(initialSource))), switcher, whenLoaded];
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
