"""return_as="polars" in civis.io, against the embedded platform and the official client."""

from __future__ import annotations

import gzip
import io
import sys
import warnings

import pytest

import civis_jupyter as civis

pl = pytest.importorskip("polars")

QUERY = "SELECT range AS n, 'row ' || range AS label, NULL AS missing FROM range(4)"


def test_read_civis_sql_returns_the_same_rows_as_pandas(client):
    frame = civis.io.read_civis_sql(QUERY, "local", return_as="polars", client=client)
    assert isinstance(frame, pl.DataFrame)
    assert frame.columns == ["n", "label", "missing"]
    assert frame["n"].to_list() == [0, 1, 2, 3]
    assert frame["label"].to_list() == [f"row {i}" for i in range(4)]
    assert frame["missing"].null_count() == 4
    pandas = civis.io.read_civis_sql(QUERY, "local", return_as="pandas", client=client)
    assert frame.select("n", "label").to_pandas().equals(pandas[["n", "label"]])


def test_read_civis_and_polars_read_options(client):
    civis.io.query_civis(
        "CREATE TABLE public.polars_t AS SELECT range AS a, range * 2 AS b FROM range(3)",
        "local",
        client=client,
    ).result()
    frame = civis.io.read_civis("public.polars_t", "local", columns=["b"], return_as="polars")
    assert frame.to_dict(as_series=False) == {"b": [0, 2, 4]}
    as_text = civis.io.read_civis(
        "public.polars_t", "local", return_as="polars", client=client, infer_schema=False
    )
    assert as_text.dtypes == [pl.String, pl.String]


def test_the_official_client_reads_the_same_frame(client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import civis as official

    theirs = official.io.read_civis_sql(
        QUERY, "local", return_as="polars", client=official.APIClient(), polling_interval=0.2
    )
    ours = civis.io.read_civis_sql(QUERY, "local", return_as="polars", client=client)
    assert ours.select("n", "label").equals(theirs.select("n", "label"))


@pytest.mark.parametrize("compressed", [False, True])
def test_file_to_dataframe_as_polars(client, compressed):
    text = b"x,y\n1,a\n2,b\n"
    name = "frame.csv.gz" if compressed else "frame.csv"
    data = gzip.compress(text) if compressed else text
    file_id = civis.io.file_to_civis(io.BytesIO(data), name, client=client)
    frame = civis.io.file_to_dataframe(file_id, return_as="polars", client=client)
    assert frame.to_dict(as_series=False) == {"x": [1, 2], "y": ["a", "b"]}


def test_bad_return_as_and_conflicts_are_refused_before_anything_runs(client):
    with pytest.raises(ValueError, match="'polars'"):
        civis.io.file_to_dataframe(1, return_as="arrow", client=client)
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="Conflicting"):
        civis.io.read_civis_sql(QUERY, "local", use_pandas=True, return_as="polars")


def test_without_polars_the_extra_is_named(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ImportError, match=r"pip install 'civis-jupyter\[polars\]'"):
        civis.io.read_civis_sql(QUERY, "local", return_as="polars", client=client)
