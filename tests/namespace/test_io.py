"""civis.io round trips against the embedded platform (values survive exactly)."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import civis_jupyter as civis

_tables = itertools.count()
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    max_size=20,
) | st.sampled_from(["", ",", '"', "a,b", 'say "hi"', "line\nbreak", "ünïcødé ✓", "NULL"])


def _roundtrip(client, frame):
    table = f"scratch.rt_{next(_tables)}"
    civis.io.dataframe_to_civis(frame, "local", table, client=client).result(60)
    return civis.io.read_civis(table, "local", return_as="pandas", client=client)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(st.none() | TEXT, min_size=1, max_size=8),
    ints=st.lists(st.integers(-(2**62), 2**62), min_size=8, max_size=8),
)
def test_dataframe_table_dataframe_keeps_text_nulls_and_ints(client, texts, ints):
    texts = (texts * 8)[:8]
    frame = pd.DataFrame({"t": pd.Series(texts, dtype=object), "i": ints})
    back = _roundtrip(client, frame)
    assert back["i"].tolist() == ints
    got = [None if isinstance(v, float) and np.isnan(v) else v for v in back["t"].tolist()]
    assert got == texts


def test_special_values_survive(client):
    frame = pd.DataFrame(
        {
            "f": [1.5, np.nan, np.inf, -np.inf],
            "b": [True, False, True, False],
            "big": [2**53 + 1, -(2**62), 0, 7],
            "d": pd.to_datetime(
                [
                    "2020-01-01 00:00:00",
                    "2021-12-31 23:59:59",
                    "1999-06-30 12:00:00",
                    "2000-02-29 00:00:01",
                ]
            ),
            "s": ["", None, "x", 'comma, quote " and\nnewline'],
        }
    )
    back = _roundtrip(client, frame)
    assert back["f"][0] == 1.5 and np.isnan(back["f"][1])
    assert back["f"][2] == np.inf and back["f"][3] == -np.inf
    assert back["b"].tolist() == [True, False, True, False]
    assert back["big"].tolist() == frame["big"].tolist()
    assert pd.to_datetime(back["d"], format="ISO8601").tolist() == frame["d"].tolist()
    assert back["s"][0] == "" and pd.isna(back["s"][1]) and back["s"][3] == frame["s"][3]


def test_empty_frame_round_trip(client):
    frame = pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype=object)})
    back = _roundtrip(client, frame)
    assert len(back) == 0


def test_existing_table_rows_modes(client):
    table = "scratch.modes"
    one = pd.DataFrame({"a": [1, 2]})
    civis.io.dataframe_to_civis(one, "local", table, client=client).result(60)
    with pytest.raises(civis.CivisJobFailure):
        civis.io.dataframe_to_civis(one, "local", table, client=client).result(60)
    civis.io.dataframe_to_civis(
        one, "local", table, existing_table_rows="append", client=client
    ).result(60)
    assert len(civis.io.read_civis(table, "local", return_as="pandas", client=client)) == 4
    civis.io.dataframe_to_civis(
        one, "local", table, existing_table_rows="truncate", client=client
    ).result(60)
    assert len(civis.io.read_civis(table, "local", return_as="pandas", client=client)) == 2


def test_csv_to_civis_and_civis_to_csv(client, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text('name,score\n"a, b",1\n"",2\n,3\n', encoding="utf-8")
    civis.io.csv_to_civis(source, "local", "scratch.csvin", client=client).result(60)
    target = tmp_path / "out.csv"
    civis.io.civis_to_csv(
        target, "select * from scratch.csvin order by score", "local", client=client
    ).result(60)
    assert pd.read_csv(target, keep_default_na=False)["name"].tolist() == ["a, b", "", ""]


def test_read_civis_sql_as_list_and_errors(client):
    rows = civis.io.read_civis_sql("select 1 as a, 'x' as b", "local", client=client)
    assert rows == [["a", "b"], ["1", "x"]]
    with pytest.raises(civis.CivisJobFailure, match="no_such_table"):
        civis.io.read_civis_sql("select * from no_such_table", "local", client=client)
    with pytest.raises(ValueError, match="Database nodb not found"):
        civis.io.read_civis_sql("select 1", "nodb", client=client)


def test_query_civis_preview(client):
    result = civis.io.query_civis(
        "select 1 as a union all select 2", "local", client=client, preview_rows=1
    ).result(60)
    assert result.state == "succeeded" and len(result.result_rows) == 1


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=5000))
def test_file_round_trip(client, data):
    file_id = civis.io.file_to_civis(io.BytesIO(data), "blob.bin", client=client)
    buf = io.BytesIO()
    civis.io.civis_to_file(file_id, buf, client=client)
    assert buf.getvalue() == data


def test_multipart_upload_of_a_large_file(client, tmp_path, monkeypatch):
    from civis_jupyter.io import files

    monkeypatch.setattr(files, "MIN_MULTIPART_SIZE", 2**20)
    monkeypatch.setattr(files, "MIN_PART_SIZE", 2**18)
    payload = np.random.default_rng(1).bytes(3 * 2**20 + 17)
    path = tmp_path / "big.bin"
    path.write_bytes(payload)
    file_id = civis.io.file_to_civis(path, client=client)
    target = tmp_path / "back.bin"
    civis.io.civis_to_file(file_id, target, client=client)
    assert target.read_bytes() == payload


def test_json_and_dataframe_files(client):
    obj = {"a": [1, 2, {"b": None}], "ü": "✓"}
    assert (
        civis.io.file_to_json(civis.io.json_to_civis(obj, "o.json", client=client), client=client)
        == obj
    )
    frame = pd.DataFrame({"x": [1, 2], "y": ["p", "q"]})
    file_id = civis.io.dataframe_to_file(frame, client=client)
    pd.testing.assert_frame_equal(
        civis.io.file_to_dataframe(file_id, client=client), frame, check_dtype=False
    )


def test_file_id_from_run_output(client):
    fid = civis.io.json_to_civis({"k": 1}, "result.json", client=client)
    script = client.scripts.post_containers(
        {"cpu": 256, "memory": 512}, name="o", docker_command="true", docker_image_name="i"
    )
    fut = civis.utils.run_job(script.id, client=client)
    fut.result(60)
    client.scripts.post_containers_runs_outputs(script.id, fut.run_id, "File", fid)
    assert (
        civis.io.file_id_from_run_output("result.json", script.id, fut.run_id, client=client) == fid
    )
    assert (
        civis.io.file_id_from_run_output(
            r"res.*\.json", script.id, fut.run_id, regex=True, client=client
        )
        == fid
    )
    with pytest.raises(FileNotFoundError):
        civis.io.file_id_from_run_output("nope", script.id, fut.run_id, client=client)
    assert json.loads(json.dumps(dt.date(2020, 1, 1).isoformat()))
