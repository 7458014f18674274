/**
 * Pure logic about %%civis_sql cells: which cells hold SQL, which database
 * they name, and what is being typed at the cursor (for completion).
 */

/** The cell magic a SQL cell starts with. */
export const CELL_MAGIC = '%%civis_sql';
/** The line magic; its SQL follows the options (or a standalone `--`). */
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

/** Words that start the SQL of a line magic (the kernel's `SQL_KEYWORDS`). */
const SQL_KEYWORDS = new Set([
  'abort', 'alter', 'analyze', 'attach', 'begin', 'call', 'checkpoint',
  'cluster', 'comment', 'commit', 'copy', 'create', 'deallocate', 'declare',
  'delete', 'desc', 'describe', 'detach', 'discard', 'drop', 'end',
  'execute', 'explain', 'export', 'from', 'grant', 'import', 'insert',
  'install', 'listen', 'load', 'lock', 'merge', 'notify', 'pivot', 'pragma',
  'prepare', 'refresh', 'reindex', 'release', 'reset', 'revoke', 'rollback',
  'savepoint', 'select', 'set', 'show', 'start', 'summarize', 'table',
  'truncate', 'unload', 'unpivot', 'update', 'use', 'vacuum', 'values',
  'with'
]);
/** Options of the magic that take a value. */
const VALUE_OPTIONS = new Set(['-o', '--output', '--limit', '--to-table', '--csv']);

/** What the options of a magic line name: its database and where its SQL starts. */
interface IMagicLine {
  database: string | null;
  sqlStart: number | null;
}

/** Whether a word starts SQL, as the kernel decides: a keyword, `(` or `/*`. */
function startsSql(word: string): boolean {
  const head = /^[A-Za-z_]+/.exec(word);
  return (
    word.startsWith('(') ||
    word.startsWith('/*') ||
    (head !== null && SQL_KEYWORDS.has(head[0].toLowerCase()))
  );
}

/**
 * Walk the words after the magic as the kernel splits them: options (some
 * with a value), the database (the first bare word, or `-d`), and, in the
 * line form, the SQL: after a standalone `--`, at a word that starts SQL, or
 * at a bare word once the database is known.
 */
function readMagicLine(line: string, from: number, lineForm: boolean): IMagicLine {
  const words = [...line.slice(from).matchAll(/\S+/g)].map(m => ({
    word: m[0],
    at: from + (m.index ?? 0)
  }));
  const found: IMagicLine = { database: null, sqlStart: null };
  let hasDatabase = false;
  for (let i = 0; i < words.length; i++) {
    const { word, at } = words[i];
    if (lineForm && word === '--') {
      const next = words[i + 1];
      found.sqlStart = next ? next.at : null;
      return found;
    }
    if (lineForm && startsSql(word)) {
      found.sqlStart = at;
      return found;
    }
    if (word === '-d' || word === '--database') {
      found.database = words[i + 1]?.word ?? null;
      hasDatabase = true;
      i++;
    } else if (word.startsWith('--database=')) {
      found.database = word.slice('--database='.length);
      hasDatabase = true;
    } else if (VALUE_OPTIONS.has(word)) {
      i++;
    } else if (word === '--preview' && /^\d+$/.test(words[i + 1]?.word ?? '')) {
      i++;
    } else if (!word.startsWith('-')) {
      if (hasDatabase) {
        if (lineForm) {
          found.sqlStart = at;
          return found;
        }
        continue;
      }
      found.database = word;
      hasDatabase = true;
    }
  }
  return found;
}

/**
 * Where the SQL of a line-magic line starts (as the kernel splits it: after
 * a standalone `--`, at a SQL keyword or `(`, or at the bare word after the
 * database), or null if the line holds no line magic or no SQL.
 */
export function lineSqlStart(line: string): number | null {
  const magic = LINE_MAGIC_AT.exec(line);
  if (!magic || line.trimStart().startsWith(CELL_MAGIC)) {
    return null;
  }
  return readMagicLine(line, magic.index + magic[0].length, true).sqlStart;
}

/**
 * The database a magic line names: the first bare word before the SQL, or
 * the value of `-d` / `--database`; null when it names none.
 */
export function databaseOf(magicLine: string): string | null {
  const at = magicLine.search(/%%?civis_sql(\s|$)/);
  if (at < 0) {
    return null;
  }
  const cell = magicLine.startsWith(CELL_MAGIC, at);
  const from = at + (cell ? CELL_MAGIC : LINE_MAGIC).length;
  return readMagicLine(magicLine, from, !cell).database;
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
