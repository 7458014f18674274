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

import { isSqlCell } from './sqlcell';

/** Build the extension for one editor, given the SQL language support. */
export function sqlCellHighlighting(sql: Extension, initialSource: string): Extension {
  const compartment = new Compartment();
  const content = (source: string): Extension => (isSqlCell(source) ? Prec.highest(sql) : []);
  const firstLine = (state: EditorState) => state.doc.line(1).text;

  const switcher = EditorState.transactionExtender.of(
    (tr: Transaction): Pick<TransactionSpec, 'effects'> | null => {
      if (!tr.docChanged) {
        return null;
      }
      const before = isSqlCell(firstLine(tr.startState));
      const after = isSqlCell(firstLine(tr.state));
      if (before === after) {
        return null;
      }
      return { effects: compartment.reconfigure(after ? Prec.highest(sql) : []) };
    }
  );
  return [compartment.of(content(initialSource)), switcher];
}

/** Whether an editor of this mime type is a code cell's (not markdown, not raw). */
export function isCodeMime(mimeType: string | undefined): boolean {
  return !!mimeType && mimeType !== 'text/x-ipythongfm' && mimeType !== 'text/plain' &&
    !mimeType.includes('markdown');
}
