/**
 * Pure logic about %%civis_sql cells: which cells hold SQL, which database
 * they name, and what is being typed at the cursor (for completion).
 */

/** The cell magic a SQL cell starts with. */
export const CELL_MAGIC = '%%civis_sql';
/** The line magic; its SQL follows a standalone `--`. */
export const LINE_MAGIC = '%civis_sql';

/** Whether a cell's source is a `%%civis_sql` cell (its first line starts with the magic). */
export function isSqlCell(source: string): boolean {
  const first = source.split('\n', 1)[0].trimStart();
  return first === CELL_MAGIC || first.startsWith(CELL_MAGIC + ' ');
}

/** Whether a line holds the line magic (`x = %civis_sql ... -- SQL`). */
export function isSqlLine(line: string): boolean {
  return LINE_MAGIC_AT.test(line) && !line.trimStart().startsWith(CELL_MAGIC);
}

/** The line magic where it starts a line or follows `=` or a space. */
const LINE_MAGIC_AT = /(?:^|[=\s])%civis_sql(?=\s|$)/;

/**
 * Where the SQL of a line-magic line starts (after the first standalone `--`
 * following `%civis_sql`, as the kernel splits it), or null if the line holds
 * no line magic or no SQL.
 */
export function lineSqlStart(line: string): number | null {
  const magic = LINE_MAGIC_AT.exec(line);
  if (!magic || line.trimStart().startsWith(CELL_MAGIC)) {
    return null;
  }
  const magicEnd = magic.index + magic[0].length;
  const match = /(?:^|\s)--(?:\s|$)/.exec(line.slice(magicEnd));
  if (!match) {
    return null;
  }
  const start = magicEnd + match.index + match[0].length;
  return start < line.length ? start : null;
}

/**
 * The database a magic line names: the first positional argument, or the
 * value of `-d` / `--database`; null when it names none.
 */
export function databaseOf(magicLine: string): string | null {
  const line = magicLine.split(/\s--(\s|$)/)[0];
  const at = line.search(/%%?civis_sql(\s|$)/);
  if (at < 0) {
    return null;
  }
  const tokens = line.slice(at).trim().split(/\s+/).slice(1);
  const takesValue = new Set(['-o', '--output', '--limit', '--to-table', '--csv']);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === '-d' || token === '--database') {
      return tokens[i + 1] ?? null;
    }
    if (token.startsWith('--database=')) {
      return token.slice('--database='.length);
    }
    if (takesValue.has(token)) {
      i++;
      continue;
    }
    if (token === '--preview' && /^\d+$/.test(tokens[i + 1] ?? '')) {
      i++;
      continue;
    }
    if (!token.startsWith('-')) {
      return token;
    }
  }
  return null;
}

/** What the user is typing: the kind of name to complete and its prefix. */
export interface ICompletionTarget {
  /** What to ask the kernel for. */
  request: 'databases' | 'schemas' | 'tables' | 'columns';
  /** The text typed so far (replaced by the completion). */
  prefix: string;
  /** Offset where the prefix starts. */
  start: number;
  /** Database of the cell (null: the kernel's default). */
  database: string | null;
  /** Schema, for tables and columns. */
  schema?: string;
  /** Table, for columns. */
  table?: string;
}

const TABLE_KEYWORDS = /\b(from|join|into|update|table)\s+$/i;

/**
 * Decide what to complete at `offset` in a `%%civis_sql` cell.
 *
 * - on the magic line after the magic: databases;
 * - `schema.` then letters: tables of that schema;
 * - `schema.table.` then letters: columns of that table;
 * - a word after FROM / JOIN / INTO / UPDATE / TABLE: schemas;
 * - otherwise null (leave completion to the kernel's Python completer).
 */
export function completionTarget(source: string, offset: number): ICompletionTarget | null {
  if (!isSqlCell(source)) {
    return null;
  }
  const firstLineEnd = source.indexOf('\n') === -1 ? source.length : source.indexOf('\n');
  const database = databaseOf(source.slice(0, firstLineEnd));
  const before = source.slice(0, offset);
  if (offset <= firstLineEnd) {
    const word = /(\S*)$/.exec(before)![1];
    if (before.trim() === CELL_MAGIC || word.startsWith('-')) {
      return null;
    }
    return { request: 'databases', prefix: word, start: offset - word.length, database };
  }
  const dotted = /([A-Za-z_][\w$]*)\.(?:([A-Za-z_][\w$]*)\.)?([\w$]*)$/.exec(before);
  if (dotted) {
    const [, first, second, prefix] = dotted;
    const start = offset - prefix.length;
    if (second !== undefined) {
      return { request: 'columns', prefix, start, database, schema: first, table: second };
    }
    return { request: 'tables', prefix, start, database, schema: first };
  }
  const word = /([\w$]*)$/.exec(before)![1];
  const rest = before.slice(0, before.length - word.length);
  if (TABLE_KEYWORDS.test(rest)) {
    return { request: 'schemas', prefix: word, start: offset - word.length, database };
  }
  return null;
}

/** Format a duration like `0.4s`, `12s` or `1m 05s` (tenths below 10 s). */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds !== null && seconds !== undefined && isFinite(seconds) && seconds >= 0 && seconds < 9.95) {
    return `${seconds.toFixed(1)}s`;
  }
  return formatElapsed(seconds);
}

/** Format seconds like `1m 05s`. */
export function formatElapsed(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) {
    return '-';
  }
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h) {
    return `${h}h ${pad(m)}m ${pad(s)}s`;
  }
  return m ? `${m}m ${pad(s)}s` : `${s}s`;
}
