import {
  completionTarget,
  databaseOf,
  formatDuration,
  formatElapsed,
  isSqlCell,
  isSqlLine,
  lineSqlStart
} from '../src/sqlcell';

describe('lineSqlStart', () => {
  it('finds the SQL after the first standalone -- following the magic', () => {
    const line = 'df = %civis_sql local --preview 5 -- SELECT 1 -- x';
    expect(line.slice(lineSqlStart(line)!)).toBe('SELECT 1 -- x');
    expect(lineSqlStart('%civis_sql -- SELECT 1')).toBe(14);
  });

  it('finds SQL written right after the options, as the kernel does', () => {
    const cases: [string, string][] = [
      ['n = %civis_sql select 40 + 2 as answer', 'select 40 + 2 as answer'],
      ['%civis_sql local --preview 5 SELECT 1', 'SELECT 1'],
      ['%civis_sql -d dw (select 1) union all (select 2)', '(select 1) union all (select 2)'],
      ['%civis_sql local foo(1)', 'foo(1)'],
      ['df = %civis_sql -o x WITH a AS (select 1) select * from a', 'WITH a AS (select 1) select * from a']
    ];
    for (const [line, sql] of cases) {
      expect(line.slice(lineSqlStart(line)!)).toBe(sql);
    }
  });

  it('is null without the magic, the separator or any SQL', () => {
    expect(lineSqlStart('x = 1 -- 2')).toBeNull();
    expect(lineSqlStart('%civis_sql local')).toBeNull();
    expect(lineSqlStart('%civis_sql local -- ')).toBeNull();
    expect(lineSqlStart('%%civis_sql local -- SELECT 1')).toBeNull();
    expect(lineSqlStart('%civis_sqlx -- SELECT 1')).toBeNull();
  });
});

describe('isSqlCell', () => {
  it('recognises the cell magic on the first line only', () => {
    expect(isSqlCell('%%civis_sql local\nselect 1')).toBe(true);
    expect(isSqlCell('%%civis_sql\nselect 1')).toBe(true);
    expect(isSqlCell('  %%civis_sql -d x\nselect 1')).toBe(true);
    expect(isSqlCell('x = 1\n%%civis_sql\nselect 1')).toBe(false);
    expect(isSqlCell('%%civis_sqlx\nselect 1')).toBe(false);
    expect(isSqlCell('# %%civis_sql')).toBe(false);
  });

  it('recognises the line magic', () => {
    expect(isSqlLine('df = %civis_sql -- select 1')).toBe(true);
    expect(isSqlLine('%civis_sql local -- select 1')).toBe(true);
    expect(isSqlLine('%%civis_sql local')).toBe(false);
    expect(isSqlLine('print("%civis_sqlx")')).toBe(false);
  });
});

describe('databaseOf', () => {
  it('finds the database whichever way it is given', () => {
    expect(databaseOf('%%civis_sql local')).toBe('local');
    expect(databaseOf('%%civis_sql -o df --limit 5 warehouse')).toBe('warehouse');
    expect(databaseOf('%%civis_sql -d redshift -o x')).toBe('redshift');
    expect(databaseOf('%%civis_sql --database=dw')).toBe('dw');
    expect(databaseOf('%%civis_sql --preview 5 dw')).toBe('dw');
    expect(databaseOf('%%civis_sql --preview')).toBeNull();
    expect(databaseOf('x = %civis_sql -- select a from b')).toBeNull();
    expect(databaseOf('x = %civis_sql select a from b')).toBeNull();
    expect(databaseOf('x = %civis_sql dw select a from b')).toBe('dw');
    expect(databaseOf('x = %civis_sql --preview 3 dw -- select 1')).toBe('dw');
  });
});

describe('completionTarget', () => {
  const cell = '%%civis_sql local\nSELECT * FROM pub';
  it('completes schemas after FROM', () => {
    expect(completionTarget(cell, cell.length)).toEqual({
      request: 'schemas', prefix: 'pub', start: cell.length - 3, database: 'local'
    });
  });
  it('completes tables after schema. and columns after schema.table.', () => {
    const tables = '%%civis_sql local\nSELECT * FROM public.cta';
    expect(completionTarget(tables, tables.length)).toMatchObject({
      request: 'tables', prefix: 'cta', schema: 'public', database: 'local'
    });
    const columns = '%%civis_sql -d dw\nSELECT public.rides.sta';
    expect(completionTarget(columns, columns.length)).toMatchObject({
      request: 'columns', prefix: 'sta', schema: 'public', table: 'rides', database: 'dw'
    });
  });
  it('completes databases on the magic line', () => {
    const line = '%%civis_sql lo';
    expect(completionTarget(line, line.length)).toMatchObject({
      request: 'databases', prefix: 'lo', start: 12
    });
    expect(completionTarget('%%civis_sql --pre', 17)).toBeNull();
  });
  it('leaves other cells and other places alone', () => {
    expect(completionTarget('import pandas as pd\npd.', 23)).toBeNull();
    const select = '%%civis_sql local\nSELECT co';
    expect(completionTarget(select, select.length)).toBeNull();
  });
});

describe('formatElapsed', () => {
  it('formats durations', () => {
    expect(formatElapsed(5)).toBe('5s');
    expect(formatElapsed(65)).toBe('1m 05s');
    expect(formatElapsed(3725)).toBe('1h 02m 05s');
    expect(formatElapsed(null)).toBe('-');
  });
});

describe('formatDuration', () => {
  it('shows tenths below ten seconds, then as formatElapsed', () => {
    expect(formatDuration(0.42)).toBe('0.4s');
    expect(formatDuration(9.4)).toBe('9.4s');
    expect(formatDuration(12)).toBe('12s');
    expect(formatDuration(65)).toBe('1m 05s');
    expect(formatDuration(null)).toBe('-');
  });
});
