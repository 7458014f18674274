"""civis.io SQL and table helpers of the official client against the platform."""

from __future__ import annotations

import csv
import gzip
import io

import pandas as pd
import pytest
import requests

civis = pytest.importorskip("civis")

from civis.base import CivisAPIError, CivisJobFailure, EmptyResultError  # noqa: E402

FAST = 0.1  # polling interval for the official client's futures

TRICKY = pd.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6],
        "text": [
            "plain",
            'has "quotes", and commas',
            "multi\nline",
            "ünïcødé ✓ 日本",
            None,
            "tab\there",
        ],
        "score": [1.5, None, -2.25, 0.0, 1e10, 3.0],
        "flag": [True, False, True, None, False, True],
    }
)


def create_people(client, database: str, table: str) -> None:
    fut = civis.io.query_civis(
        f"DROP TABLE IF EXISTS {table}; "
        f"CREATE TABLE {table} (id INT, name VARCHAR, score DOUBLE); "
        f"INSERT INTO {table} VALUES (1, 'ann', 1.5), (2, NULL, NULL), "
        "(3, 'quote \"q\", comma', 2.5), (4, E'two\\nlines', 3.5), (5, 'ünï', 4.5)",
        database,
        client=client,
        polling_interval=FAST,
    )
    assert fut.result().state == "succeeded"


def test_query_civis_returns_result_rows_and_columns(client, database):
    fut = civis.io.query_civis(
        "SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, NULL ORDER BY a",
        database,
        client=client,
        preview_rows=10,
        polling_interval=FAST,
    )
    result = fut.result()
    assert result.state == "succeeded"
    assert result.result_columns == ["a", "b"]
    assert result.result_rows == [["1", "x"], ["2", None]]


def test_query_civis_failure_raises_with_the_sql_error(client, database):
    fut = civis.io.query_civis(
        "SELECT * FROM no_such_table_anywhere", database, client=client, polling_interval=FAST
    )
    with pytest.raises(CivisJobFailure, match="no_such_table_anywhere"):
        fut.result()


def test_read_civis_sql_as_list_and_pandas(client, database):
    create_people(client, database, "scratch.people_a")
    rows = civis.io.read_civis_sql(
        "SELECT * FROM scratch.people_a ORDER BY id",
        database,
        client=client,
        polling_interval=FAST,
    )
    assert rows[0] == ["id", "name", "score"]
    assert rows[2] == ["2", "", ""]
    assert rows[3][1] == 'quote "q", comma'
    assert rows[4][1] == "two\nlines"
    assert rows[5][1] == "ünï"
    df = civis.io.read_civis_sql(
        "SELECT * FROM scratch.people_a ORDER BY id",
        database,
        client=client,
        return_as="pandas",
        polling_interval=FAST,
    )
    assert list(df.columns) == ["id", "name", "score"]
    assert df["score"].isna().tolist() == [False, True, False, False, False]
    assert df.loc[3, "name"] == "two\nlines"


def test_read_civis_with_columns(client, database):
    create_people(client, database, "scratch.people_b")
    df = civis.io.read_civis(
        "scratch.people_b",
        database,
        columns=["id", "score"],
        client=client,
        return_as="pandas",
        polling_interval=FAST,
    )
    assert df.shape == (5, 2)
    assert df["id"].tolist() == [1, 2, 3, 4, 5]


def test_read_civis_sql_without_rows_raises_empty_result(client, database):
    with pytest.raises(EmptyResultError):
        civis.io.read_civis_sql(
            "CREATE TABLE IF NOT EXISTS scratch.nothing (a INT)",
            database,
            client=client,
            polling_interval=FAST,
        )


def test_read_seeded_ridership_table(client, database):
    df = civis.io.read_civis(
        "public.cta_ridership_daily",
        database,
        client=client,
        return_as="pandas",
        polling_interval=FAST,
    )
    assert list(df.columns) == ["station_id", "stationname", "date", "daytype", "rides"]
    assert len(df) > 600_000


@pytest.mark.parametrize(
    ("delimiter", "compression", "header"),
    [(",", "none", True), ("|", "gzip", False), ("\t", "none", False)],
)
def test_civis_to_csv_writes_the_file(client, database, tmp_path, delimiter, compression, header):
    create_people(client, database, "scratch.people_c")
    out = tmp_path / "out.csv"
    fut = civis.io.civis_to_csv(
        str(out),
        "SELECT id, name FROM scratch.people_c ORDER BY id",
        database,
        client=client,
        delimiter=delimiter,
        compression=compression,
        include_header=header,
        polling_interval=FAST,
    )
    fut.result()
    opener = gzip.open if compression == "gzip" else open
    # the done-callback downloads the file; it has run once result() returns
    with opener(out, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    if header:
        assert rows.pop(0) == ["id", "name"]
    assert rows[0] == ["1", "ann"]
    assert rows[3] == ["4", "two\nlines"]
    assert len(rows) == 5


def test_dataframe_round_trip_keeps_nulls_quotes_newlines_unicode(client, database):
    fut = civis.io.dataframe_to_civis(
        TRICKY,
        database,
        "scratch.tricky",
        client=client,
        existing_table_rows="drop",
        polling_interval=FAST,
    )
    assert fut.result().state == "succeeded"
    back = civis.io.read_civis(
        "scratch.tricky",
        database,
        client=client,
        return_as="pandas",
        polling_interval=FAST,
    ).sort_values("id", ignore_index=True)
    assert back["id"].tolist() == TRICKY["id"].tolist()
    assert back["text"].tolist()[:4] == TRICKY["text"].tolist()[:4]
    assert pd.isna(back.loc[4, "text"])
    assert back.loc[5, "text"] == "tab\there"
    assert back["score"].isna().tolist() == TRICKY["score"].isna().tolist()
    assert back.loc[4, "score"] == 1e10
    table = client.databases.get_schemas_tables(
        client.get_database_id(database), "scratch", "tricky"
    )
    assert table.row_count == 6 and table.column_count == 4


def test_dataframe_to_existing_table_fail_append_truncate(client, database):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    kw = dict(client=client, polling_interval=FAST)
    civis.io.dataframe_to_civis(
        df, database, "scratch.modes", existing_table_rows="drop", **kw
    ).result()
    with pytest.raises(CivisJobFailure, match="already exists"):
        civis.io.dataframe_to_civis(df, database, "scratch.modes", **kw).result()
    civis.io.dataframe_to_civis(
        df, database, "scratch.modes", existing_table_rows="append", **kw
    ).result()
    count = "SELECT count(*) FROM scratch.modes"
    assert civis.io.read_civis_sql(count, database, **kw)[1] == ["4"]
    civis.io.dataframe_to_civis(
        df, database, "scratch.modes", existing_table_rows="truncate", **kw
    ).result()
    assert civis.io.read_civis_sql(count, database, **kw)[1] == ["2"]


def test_csv_to_civis_with_explicit_table_columns(client, database, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('code,label\n007,"x, ""y"""\n010,\n', encoding="utf-8")
    fut = civis.io.csv_to_civis(
        str(src),
        database,
        "scratch.codes",
        client=client,
        existing_table_rows="drop",
        table_columns=[
            {"name": "code", "sql_type": "VARCHAR(3)"},
            {"name": "label", "sql_type": "VARCHAR(20)"},
        ],
        headers=True,
        polling_interval=FAST,
    )
    assert fut.result().state == "succeeded"
    rows = civis.io.read_civis_sql(
        "SELECT code, label, label IS NULL FROM scratch.codes ORDER BY code",
        database,
        client=client,
        polling_interval=FAST,
    )
    assert rows[1:] == [["007", 'x, "y"', "false"], ["010", "", "true"]]


def test_tables_list_iterator_and_lookups(client, database):
    db_id = client.get_database_id(database)
    assert isinstance(db_id, int)
    tables = list(client.tables.list(database_id=db_id, schema="public", iterator=True))
    names = {t["name"] for t in tables}
    assert {"cta_ridership_daily", "customer_churn"} <= names
    five = [t["name"] for t in tables if t["column_count"] == 5]
    assert "cta_ridership_daily" in five
    tid = client.get_table_id("public.cta_ridership_daily", database)
    info = client.tables.get(tid)
    assert info.row_count > 600_000
    types = {c.name: c.sql_type for c in info.columns}
    assert types["station_id"] == "integer" and types["date"] == "date"
    assert client.get_table_id("public.cta_ridership_daily", db_id) == tid
    with pytest.raises(ValueError):
        client.get_table_id("public.no_such_table", database)


def test_missing_table_is_404(client, database):
    db_id = client.get_database_id(database)
    with pytest.raises(CivisAPIError) as info:
        client.databases.get_schemas_tables(db_id, "public", "no_such_table")
    assert info.value.status_code == 404
    schemas = {s.schema for s in client.databases.list_schemas(db_id)}
    assert {"public", "scratch"} <= schemas


def test_civis_to_multifile_csv_manifest_lists_downloadable_parts(client, database):
    manifest = civis.io.civis_to_multifile_csv(
        "SELECT n, 'row ' || n AS label FROM range(2000) t(n) ORDER BY n",
        database,
        client=client,
        delimiter=",",
        max_file_size=4000,
        polling_interval=FAST,
    )
    assert manifest["header"] == ["n", "label"]
    assert manifest["compression"] == "none" and len(manifest["entries"]) > 1
    rows = []
    for entry in manifest["entries"]:
        text = requests.get(entry["url_signed"], timeout=30).text
        part = list(csv.reader(io.StringIO(text)))
        assert part[0] == ["n", "label"]
        rows += part[1:]
    assert [int(r[0]) for r in rows] == list(range(2000))


def test_csv_to_civis_converts_windows_1252_files(client, database, tmp_path):
    src = tmp_path / "legacy.csv"
    src.write_bytes("name,quote\ncafé,\u201cok\u201d\n".encode("cp1252"))
    fut = civis.io.csv_to_civis(
        str(src),
        database,
        "scratch.legacy",
        client=client,
        existing_table_rows="drop",
        polling_interval=FAST,
    )
    assert fut.result().state == "succeeded"
    rows = civis.io.read_civis_sql(
        "SELECT * FROM scratch.legacy", database, client=client, polling_interval=FAST
    )
    assert rows == [["name", "quote"], ["café", "\u201cok\u201d"]]


def test_civis_file_to_table_with_several_files(client, database):
    ids = [
        civis.io.file_to_civis(io.BytesIO(text.encode()), f"part{i}.csv", client=client)
        for i, text in enumerate(["k,v\n1,a\n2,b\n", "k,v\n3,c\n4,\n"])
    ]
    fut = civis.io.civis_file_to_table(
        ids,
        database,
        "scratch.parts",
        client=client,
        existing_table_rows="drop",
        polling_interval=FAST,
    )
    assert fut.result().state == "succeeded"
    rows = civis.io.read_civis_sql(
        "SELECT k, v FROM scratch.parts ORDER BY k", database, client=client, polling_interval=FAST
    )
    assert rows == [["k", "v"], ["1", "a"], ["2", "b"], ["3", "c"], ["4", ""]]
