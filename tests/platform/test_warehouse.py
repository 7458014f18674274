"""Warehouses: real DuckDB files, SQL, CSV export and import."""

from __future__ import annotations

import csv
import gzip
import io
import sys
import threading
import zlib
from pathlib import Path

import pytest

from civis_jupyter.platform.warehouse import (
    Column,
    CsvSettings,
    WarehouseError,
    Warehouses,
    civis_sql_type,
)


@pytest.fixture
def warehouses(tmp_path: Path):
    ws = Warehouses(tmp_path / "wh")
    yield ws
    ws.close()


@pytest.fixture
def wh(warehouses):
    w = warehouses.get(1)
    w.execute(
        "CREATE TABLE people (id INTEGER, name VARCHAR, score DOUBLE);"
        "INSERT INTO people VALUES (1, 'ann', 1.5), (2, NULL, NULL), (3, '', 2.0),"
        "(4, 'quote \"q\", comma', 3.0), (5, E'multi\\nline', 4.0), (6, 'ünïcødé', 5.0)"
    )
    return w


def read_gzip_csv(path: Path, delimiter: str = ",") -> list[list[str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter=delimiter))


def test_execute_runs_several_statements_and_returns_the_last_result(wh):
    res = wh.execute("CREATE TABLE t (a INT); INSERT INTO t VALUES (1),(2); SELECT a FROM t")
    assert [c.name for c in res.columns] == ["a"]
    assert res.columns[0].sql_type == "integer"
    assert res.rows == [(1,), (2,)]


def test_execute_limit_fetches_only_that_many_rows(wh):
    assert len(wh.execute("SELECT * FROM range(100)", limit=7).rows) == 7


def test_failed_statement_rolls_back_the_whole_text(wh):
    with pytest.raises(WarehouseError, match="nope"):
        wh.execute("CREATE TABLE gone (a INT); SELECT * FROM nope")
    assert wh.table("public", "gone") is None


def test_ddl_and_dml_have_no_result_set(wh):
    assert wh.execute("CREATE TABLE q (a INT)").columns == []
    assert wh.execute("INSERT INTO q VALUES (1)").rows == []
    assert wh.execute("INSERT INTO q VALUES (2) RETURNING a").rows == [(2,)]


def test_empty_sql_is_a_clear_error(wh):
    with pytest.raises(WarehouseError, match="empty"):
        wh.execute("   ")


def test_data_survive_reopening_the_warehouse(tmp_path):
    ws = Warehouses(tmp_path)
    ws.get(3).execute("CREATE TABLE keep AS SELECT 42 AS x")
    ws.close()
    ws2 = Warehouses(tmp_path)
    assert ws2.get(3).execute("SELECT x FROM keep").rows == [(42,)]
    ws2.close()


def test_databases_are_separate_files(warehouses):
    warehouses.get(1).execute("CREATE TABLE only_one (a INT)")
    assert warehouses.get(2).table("public", "only_one") is None
    assert warehouses.path(1) != warehouses.path(2)


def test_concurrent_queries_from_threads(wh):
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert wh.execute("SELECT count(*) FROM people").rows == [(6,)]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_export_gzip_csv_keeps_nulls_quotes_newlines_unicode(wh, tmp_path):
    res = wh.export_csv("SELECT * FROM people ORDER BY id", tmp_path / "out")
    assert res.row_count == 6
    assert [p.name for p in res.paths] == ["output.csv.gz"]
    rows = read_gzip_csv(res.paths[0])
    assert rows[0] == ["id", "name", "score"]
    assert rows[2] == ["2", "", ""]
    assert rows[4][1] == 'quote "q", comma'
    assert rows[5][1] == "multi\nline"
    assert rows[6][1] == "ünïcødé"
    with gzip.open(res.paths[0]) as f:
        raw = f.read()
    assert b'\n3,"",2.0\n' in raw  # empty string quoted, null bare


def test_export_settings_header_delimiter_prefix_and_no_compression(wh, tmp_path):
    settings = CsvSettings.from_api(
        {
            "includeHeader": False,
            "compression": "none",
            "columnDelimiter": "pipe",
            "filenamePrefix": "people",
        }
    )
    res = wh.export_csv("SELECT id, name FROM people WHERE id < 3 ORDER BY id", tmp_path, settings)
    assert res.paths[0].name == "people.csv"
    assert res.paths[0].read_text() == "1|ann\n2|\n"


def test_export_unquoted_writes_fields_verbatim(wh, tmp_path):
    settings = CsvSettings(compression="none", unquoted=True, include_header=False)
    res = wh.export_csv("SELECT name FROM people WHERE id = 4", tmp_path, settings)
    assert res.paths[0].read_text() == 'quote "q", comma\n'


def test_export_multifile_splits_into_parts_with_headers(wh, tmp_path):
    settings = CsvSettings(force_multifile=True, max_file_size=40)
    res = wh.export_csv("SELECT * FROM range(50) t(n)", tmp_path, settings)
    assert len(res.paths) > 1
    rows = []
    for p in res.paths:
        part = read_gzip_csv(p)
        assert part[0] == ["n"]
        rows += part[1:]
    assert [int(r[0]) for r in rows] == list(range(50))


def test_export_of_statement_without_rows_writes_nothing(wh, tmp_path):
    res = wh.export_csv("CREATE TABLE made (a INT)", tmp_path)
    assert res.paths == [] and res.columns == []
    assert wh.table("public", "made") is not None


def test_bad_csv_settings_are_rejected():
    with pytest.raises(WarehouseError, match="compression"):
        CsvSettings.from_api({"compression": "zip7"})
    with pytest.raises(WarehouseError, match="columnDelimiter"):
        CsvSettings.from_api({"columnDelimiter": ";"})


def test_catalogue_lists_schemas_tables_columns_and_counts(wh):
    wh.execute("CREATE SCHEMA scratch; CREATE VIEW scratch.v AS SELECT id FROM public.people")
    assert wh.schemas() == ["public", "scratch"]
    tables = {(t.schema, t.name): t for t in wh.tables()}
    people = tables[("public", "people")]
    assert people.row_count == 6 and people.column_count == 3
    assert [c.sql_type for c in people.columns] == [
        "integer",
        "character varying",
        "double precision",
    ]
    assert tables[("scratch", "v")].is_view
    assert wh.tables(schema="scratch", name="nope") == []


CSV_TEXT = 'a,b,c\n1,"x, ""y""\nz",\n2,,""\n3,ünï,w\n'


def test_load_csv_creates_table_with_detected_types(wh, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(CSV_TEXT, encoding="utf-8")
    assert wh.load_csv([src], "scratch", "fresh") == 3
    rows = wh.execute("SELECT * FROM scratch.fresh ORDER BY a").rows
    assert rows == [(1, 'x, "y"\nz', None), (2, None, ""), (3, "ünï", "w")]
    assert wh.table("scratch", "fresh").columns[0].sql_type == "bigint"


def test_load_gzip_tab_file_without_header(wh, tmp_path):
    src = tmp_path / "in.tsv.gz"
    with gzip.open(src, "wt", encoding="utf-8") as f:
        f.write("1\tone\n2\ttwo\n")
    cols = [Column("n", "INT"), Column("word", "VARCHAR(10)")]
    loaded = wh.load_csv(
        [src],
        "public",
        "words",
        include_header=False,
        column_delimiter="tab",
        table_columns=cols,
    )
    assert loaded == 2
    assert wh.execute("SELECT * FROM words ORDER BY n").rows == [(1, "one"), (2, "two")]


def test_existing_table_rows_modes(wh, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(CSV_TEXT, encoding="utf-8")
    wh.load_csv([src], "s", "t")
    with pytest.raises(WarehouseError, match="already exists"):
        wh.load_csv([src], "s", "t")
    wh.load_csv([src], "s", "t", existing_table_rows="append")
    assert wh.execute("SELECT count(*) FROM s.t").rows == [(6,)]
    wh.load_csv([src], "s", "t", existing_table_rows="truncate")
    assert wh.execute("SELECT count(*) FROM s.t").rows == [(3,)]
    wh.load_csv([src], "s", "t", existing_table_rows="upsert", primary_keys=["a"])
    assert wh.execute("SELECT count(*) FROM s.t").rows == [(3,)]
    wide = tmp_path / "wide.csv"
    wide.write_text("x,y\nhello,1\n")
    wh.load_csv([wide], "s", "t", existing_table_rows="drop")
    assert [c.name for c in wh.table("s", "t").columns] == ["x", "y"]


def test_load_rejects_bad_data_and_leaves_table_untouched(wh, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("a\nnot-a-number\n")
    with pytest.raises(WarehouseError, match="import failed"):
        wh.load_csv([src], "public", "nums", table_columns=[Column("a", "INT")])
    assert wh.table("public", "nums") is None


def test_load_rejects_unknown_modes(wh, tmp_path):
    src = tmp_path / "x.csv"
    src.write_text("a\n1\n")
    with pytest.raises(WarehouseError, match="existingTableRows"):
        wh.load_csv([src], "public", "x", existing_table_rows="merge")
    with pytest.raises(WarehouseError, match="primaryKeys"):
        wh.load_csv([src], "public", "x", existing_table_rows="upsert")


def test_detect_csv_reports_detected_info(wh, tmp_path):
    src = tmp_path / "d.csv.gz"
    with gzip.open(src, "wt", encoding="utf-8") as f:
        f.write("id|name|when\n1|ab|2024-01-02\n2|abcdef|2024-02-03\n")
    info = wh.detect_csv(src)
    assert info.to_api() == {
        "includeHeader": True,
        "columnDelimiter": "pipe",
        "compression": "gzip",
        "tableColumns": [
            {"name": "id", "sqlType": "BIGINT"},
            {"name": "name", "sqlType": "VARCHAR(6)"},
            {"name": "when", "sqlType": "DATE"},
        ],
    }


def test_round_trip_export_then_import(wh, tmp_path):
    res = wh.export_csv("SELECT * FROM people", tmp_path / "exp")
    wh.load_csv(res.paths, "copy", "people", compression="gzip")
    a = wh.execute("SELECT * FROM people ORDER BY id").rows
    b = wh.execute("SELECT * FROM copy.people ORDER BY id").rows
    assert a == b


def test_civis_sql_type_spelling():
    assert civis_sql_type("DECIMAL(10, 2)") == "numeric(10,2)"
    assert civis_sql_type("TIMESTAMP") == "timestamp without time zone"
    assert civis_sql_type("VARCHAR") == "character varying"


def test_closed_warehouse_refuses_work(tmp_path):
    ws = Warehouses(tmp_path)
    w = ws.get(1)
    ws.close()
    with pytest.raises(WarehouseError, match="closed"):
        w.execute("SELECT 1")


def test_csv_text_helper_is_consistent():
    # guard for the fixture text used above: three data rows, one with a newline
    assert len(list(csv.reader(io.StringIO(CSV_TEXT)))) == 4


def test_quoted_empty_field_is_null_for_non_text_columns(wh, tmp_path):
    # pandas writes a lone empty field as "" (so the line is not blank)
    src = tmp_path / "single.csv"
    src.write_text('a\n1.5\n""\ninf\n-inf\n')
    wh.load_csv([src], "public", "floats")
    rows = wh.execute("SELECT a FROM floats").rows
    assert rows[0] == (1.5,) and rows[1] == (None,)
    assert rows[2][0] == float("inf") and rows[3][0] == float("-inf")
    flags = tmp_path / "flags.csv"
    flags.write_text('f\nTrue\nFalse\n""\n')
    wh.load_csv([flags], "public", "flags")
    assert wh.execute("SELECT f FROM flags").rows == [(True,), (False,), (None,)]
    text = tmp_path / "text.csv"
    text.write_text('t\n""\n\nx\n')
    wh.load_csv([text], "public", "texts", table_columns=[Column("t", "VARCHAR")])
    # a blank line in a one-column file is a NULL row
    assert wh.execute("SELECT t FROM texts").rows == [("",), (None,), ("x",)]


def test_large_gzip_export_is_one_readable_stream(wh, tmp_path):
    res = wh.export_csv("SELECT n, repeat('x', 40) || n AS s FROM range(600000) t(n)", tmp_path)
    with gzip.open(res.paths[0], "rt") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 600001 and rows[-1] == ["599999", "x" * 40 + "599999"]
    # as the official client reads it: zlib with gzip headers, member by member
    data = res.paths[0].read_bytes()
    out, d = b"", zlib.decompressobj(zlib.MAX_WBITS | 32)
    while data:
        out += d.decompress(data)
        data = d.unused_data
        if data:
            d = zlib.decompressobj(zlib.MAX_WBITS | 32)
    assert out.count(b"\n") == 600001


def test_common_redshift_functions_work(wh):
    row = wh.execute(
        "SELECT nvl(NULL, 'x'), nvl2(1, 'y', 'n'), dateadd('day', 2, DATE '2024-02-28'), "
        "charindex('b', 'abc'), getdate() IS NOT NULL"
    ).rows[0]
    assert row[0] == "x" and row[1] == "y" and str(row[2]).startswith("2024-03-01")
    assert row[3] == 2 and row[4] is True
    assert "main" not in wh.schemas()


def test_export_of_rows_from_a_non_select_statement(wh, tmp_path):
    res = wh.export_csv(
        "INSERT INTO people VALUES (7, 'new, one', 0.5) RETURNING id, name", tmp_path
    )
    assert res.row_count == 1 and [c.name for c in res.columns] == ["id", "name"]
    assert read_gzip_csv(res.paths[0]) == [["id", "name"], ["7", "new, one"]]


def test_column_stats(wh):
    stats = {
        c.name: s
        for c, s in zip(wh.table("public", "people").columns, wh.column_stats("public", "people"))
    }
    assert stats["id"]["nullCount"] == 0 and stats["id"]["coverageCount"] == 6
    assert stats["id"]["minValue"] == "1" and stats["id"]["maxValue"] == "6"
    assert stats["score"]["nullCount"] == 1 and stats["score"]["avgValue"] == pytest.approx(3.1)
    assert stats["name"]["avgValue"] is None
    assert stats["name"]["valueDistribution"]["null"] == 1
    assert sum(stats["name"]["valueDistributionPercent"].values()) == pytest.approx(100)
    assert wh.column_stats("public", "people", max_rows=3) == []
    assert wh.column_stats("public", "absent") == []


def test_detect_without_header_names_columns_like_civis(wh, tmp_path):
    src = tmp_path / "plain.csv"
    src.write_text("1,x\n2,y\n")
    info = wh.detect_csv(src, include_header=False)
    assert [c.name for c in info.table_columns] == ["column_1", "column_2"]
    assert wh.load_csv([src], "public", "plain", include_header=False) == 2
    assert [c.name for c in wh.table("public", "plain").columns] == ["column_1", "column_2"]


# -- the sandbox: SQL text cannot reach files; the platform's own file work can -----------


def test_sql_cannot_read_a_file_the_platform_can_import(wh, tmp_path):
    src = tmp_path / "private.csv"
    src.write_text("secret\nhunter2\n")
    for sql in (
        f"SELECT * FROM read_csv('{src}')",
        f"SELECT content FROM read_text('{src}')",
        f"SELECT * FROM glob('{tmp_path}/*')",
    ):
        with pytest.raises(WarehouseError, match="disabled by configuration"):
            wh.execute(sql)
    assert wh.load_csv([src], "public", "private") == 1
    assert wh.detect_csv(src).table_columns[0].name == "secret"


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("COPY people TO '{tmp}/out.csv'", "COPY is not allowed"),
        ("COPY people FROM '{tmp}/in.csv'", "COPY is not allowed"),
        ("EXPLAIN ANALYZE COPY people TO '{tmp}/out.csv'", "COPY is not allowed"),
        ("EXPLAIN (FORMAT json) COPY people TO '{tmp}/out.csv'", "COPY is not allowed"),
        ("EXPORT DATABASE '{tmp}/dump'", "EXPORT DATABASE is not allowed"),
        ("ATTACH ':memory:' AS other", "ATTACH is not allowed"),
        ("DETACH db_1", "DETACH is not allowed"),
        ("INSTALL httpfs", "INSTALL and LOAD"),
        ("LOAD parquet", "INSTALL and LOAD"),
        ("UPDATE EXTENSIONS", "not allowed"),
        ("PREPARE p AS SELECT 1", "PREPARE"),
        ("EXECUTE p", "EXECUTE"),
        ("SET enable_external_access = true", "locked"),
        ("SET lock_configuration = false", "locked"),
        ("RESET enable_external_access", "locked"),
    ],
)
def test_statements_that_reach_files_or_settings_are_refused(wh, tmp_path, sql, reason):
    target = tmp_path / "target"
    target.mkdir()
    (target / "in.csv").write_text("a\n1\n")
    with pytest.raises(WarehouseError, match=reason):
        wh.execute("CREATE TABLE before_refusal (a INT); " + sql.format(tmp=target))
    assert wh.table("public", "before_refusal") is None  # nothing of the text ran
    assert [p.name for p in target.iterdir()] == ["in.csv"]


def test_explain_of_a_query_still_works(wh):
    assert wh.execute("EXPLAIN SELECT * FROM people").rows
    assert wh.execute("/* plan */ EXPLAIN ANALYZE SELECT count(*) FROM people").rows
    assert wh.execute("SET search_path = 'public'; SELECT count(*) FROM people").rows == [(6,)]


def test_python_variables_are_not_tables(wh):
    pd = pytest.importorskip("pandas")
    people_frame = pd.DataFrame({"a": [1]})  # noqa: F841 - a replacement scan finds it by name
    with pytest.raises(WarehouseError, match="people_frame"):
        wh.execute("SELECT * FROM people_frame")


def test_timestamptz_results_come_back_as_text_without_pytz(wh, monkeypatch):
    monkeypatch.setitem(sys.modules, "pytz", None)  # as on an install without pytz
    res = wh.execute("SELECT TIMESTAMPTZ '2024-01-02 03:04:05.5+00' AS t, 1 AS n")
    assert res.rows == [("2024-01-02 03:04:05.5+00", 1)]
    assert res.columns[0].sql_type == "timestamp with time zone"
    nested = wh.execute("SELECT [TIMESTAMPTZ '2024-01-02 00:00:00+00'] AS l, now() AS t")
    assert nested.rows[0][0] == "['2024-01-02 00:00:00+00']"
    made = wh.execute(
        "CREATE TABLE events (t TIMESTAMPTZ); INSERT INTO events SELECT now() "
        "FROM range(5) RETURNING t"
    )
    assert len(made.rows) == 5 and all(isinstance(r[0], str) for r in made.rows)
    top = wh.execute("SELECT range AS n, now() AS t FROM range(100) ORDER BY n DESC", limit=2)
    assert [r[0] for r in top.rows] == [99, 98]


def test_export_writes_timestamptz_and_keeps_order(wh, tmp_path):
    res = wh.export_csv(
        "SELECT n, TIMESTAMPTZ '2024-01-02 03:04:05+00' + n * INTERVAL 1 HOUR AS t "
        "FROM range(3) t(n) ORDER BY n DESC",
        tmp_path,
        CsvSettings(compression="none"),
    )
    assert res.paths[0].read_text().splitlines() == [
        "n,t",
        "2,2024-01-02 05:04:05+00",
        "1,2024-01-02 04:04:05+00",
        "0,2024-01-02 03:04:05+00",
    ]


def test_export_errors_are_one_readable_line(wh, tmp_path):
    with pytest.raises(WarehouseError) as err:
        wh.export_csv(
            "SELECT CASE WHEN n > 200000 THEN error('boom at ' || n) END FROM range(300000) t(n)",
            tmp_path,
        )
    assert str(err.value).startswith("Invalid Input Error: boom at")
    assert "__civis" not in str(err.value)


def test_import_errors_name_the_bad_value(wh, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("a,b\n1,2\nx,3\n")
    columns = [Column("a", "INTEGER"), Column("b", "INTEGER")]
    with pytest.raises(WarehouseError, match="Could not convert string 'x'"):
        wh.load_csv([src], "public", "typed", table_columns=columns)
    wh.load_csv([src], "public", "typed", table_columns=[Column("a", "VARCHAR"), columns[1]])
    with pytest.raises(WarehouseError, match="Could not convert string 'x'"):
        wh.load_csv(
            [src],
            "public",
            "typed2",
            table_columns=columns,
            existing_table_rows="upsert",
            primary_keys=["a"],
        )
    assert wh.table("public", "typed2") is None


@pytest.mark.parametrize("prefix", ["../escape", "a/b", "..", "/abs", "x\x00y", "a\\b", ""])
def test_export_file_names_stay_in_the_export_directory(wh, tmp_path, prefix):
    with pytest.raises(WarehouseError, match="filenamePrefix"):
        CsvSettings.from_api({"filenamePrefix": prefix})
    with pytest.raises(WarehouseError, match="prefix"):
        wh.export_csv("SELECT 1", tmp_path / "out", CsvSettings(filename_prefix=prefix or "/"))
    assert not (tmp_path / "escape.csv").exists()


@pytest.mark.parametrize("operation", ["execute", "export_csv"])
def test_stopping_works_however_early_it_is_asked(wh, tmp_path, operation):
    slow = "SELECT count(*) FROM range(100000000000) a"
    handed = threading.Event()
    stops: list = []
    outcome: list[BaseException] = []

    def keep(stop):
        if stop is not None:
            stops.append(stop)
            handed.set()

    def work() -> None:
        try:
            if operation == "execute":
                wh.execute(slow, on_interrupt=keep)
            else:
                wh.export_csv(slow, tmp_path / "out", on_interrupt=keep)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    assert handed.wait(30)
    stops[0]()  # before or while the statement starts: either way it stops
    worker.join(30)
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], WarehouseError)
    assert "Interrupted" in str(outcome[0])
    assert wh.execute("SELECT count(*) FROM people").rows == [(6,)]


def test_a_stop_asked_before_anything_ran_runs_nothing(wh):
    with pytest.raises(WarehouseError, match="Interrupted"):
        wh.execute(
            "CREATE TABLE never (a INT); SELECT 1",
            on_interrupt=lambda stop: stop() if stop is not None else None,
        )
    assert wh.table("public", "never") is None


def test_the_last_statement_runs_once_and_an_empty_result_keeps_its_header(wh, tmp_path):
    res = wh.execute("CREATE SEQUENCE once_q; SELECT nextval('once_q') AS n")
    assert res.rows == [(1,)]
    out = wh.export_csv(
        "CREATE SEQUENCE once_e; SELECT nextval('once_e') AS n",
        tmp_path / "a",
        CsvSettings(compression="none"),
    )
    assert out.paths[0].read_text() == "n\n1\n"
    wh.execute("CREATE TABLE empty_one (a BIGINT, b VARCHAR)")
    empty = wh.export_csv(
        "SELECT * FROM empty_one", tmp_path / "b", CsvSettings(compression="none")
    )
    assert [c.name for c in empty.columns] == ["a", "b"] and empty.row_count == 0
    assert empty.paths[0].read_text() == "a,b\n"
    assert wh.execute("SELECT * FROM empty_one").columns[0].name == "a"
