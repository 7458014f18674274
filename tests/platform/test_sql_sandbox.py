"""User SQL cannot reach the server's files: through the real server as an ordinary user.

Every test talks HTTP (or goes through ``civis_jupyter.io`` and the official
``civis.io``) to a seeded LocalPlatform as ``mallory``, an ordinary user.
Queries that try to read, list or write files, attach databases, load
extensions or change DuckDB's settings end ``failed`` with a readable error;
the platform's own file work (imports, exports, preprocessing, the demo
seed) keeps working.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

import civis_jupyter
from civis_jupyter.api.states import FINAL_STATES
from civis_jupyter.platform import LocalPlatform
from civis_jupyter.platform.seed import DEMO_CUSTOMERS

from ..polling import wait_until

civis = pytest.importorskip("civis")

TIMEOUT = 60
_TIMESTAMPTZ_TEXT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d(:\d\d)?$")


class User:
    """An ordinary user's HTTP session against the platform."""

    def __init__(self, platform: LocalPlatform, key: str) -> None:
        self.key = key
        self.endpoint = platform.endpoint
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {key}"

    def call(self, verb: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(verb, self.endpoint + path.lstrip("/"), timeout=30, **kwargs)

    def wait(self, path: str) -> dict[str, Any]:
        """Poll an object or run until its state is final."""
        return wait_until(
            lambda: (body := self.call("get", path).json())["state"] in FINAL_STATES and body,
            f"{path} to finish",
            timeout=TIMEOUT,
        )


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    data_dir = tmp_path_factory.mktemp("sqlsandbox")
    with (
        LocalPlatform(data_dir=data_dir, seed="demo", rate_limit=10**6) as p,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("CIVIS_API_ENDPOINT", p.endpoint)
        mp.delenv("CIVIS_API_KEY", raising=False)
        yield p


@pytest.fixture(scope="module")
def mallory(platform: LocalPlatform) -> User:
    user = User(platform, platform.create_user("mallory"))
    me = user.call("get", "users/me").json()
    assert not platform.store.identity.user(me["id"])["admin"]
    return user


@pytest.fixture(scope="module")
def database(mallory: User) -> dict[str, Any]:
    return mallory.call("get", "databases").json()[0]


def query(user: User, database: dict[str, Any], sql: str) -> tuple[dict[str, Any], str]:
    """Run SQL through ``POST /queries``; the final query and every response's text."""
    r = user.call(
        "post", "queries", json={"database": database["id"], "sql": sql, "previewRows": 10}
    )
    assert r.status_code == 200, r.text
    final = user.wait(f"queries/{r.json()['id']}")
    text = r.text + user.call("get", f"queries/{final['id']}").text
    return final, text


def refused(user: User, database: dict[str, Any], sql: str, reason: str) -> dict[str, Any]:
    """Assert a query fails with a one-line error matching ``reason``."""
    final, _ = query(user, database, sql)
    assert final["state"] == "failed", final
    assert re.search(reason, final["error"], re.I), final["error"]
    assert "\n" not in final["error"] and "Traceback" not in final["error"]
    return final


def warehouse_path(platform: LocalPlatform, database: dict[str, Any]) -> Path:
    return platform.warehouses.path(database["id"])


# -- reading and listing files -------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "select content from read_text('{data}/platform.json')",
        "select * from read_csv('{data}/platform.json')",
        "select content from read_blob('{data}/platform.json')",
        "select * from read_json('{data}/platform.json')",
        "select * from glob('{data}/*')",
        "select * from glob('{data}/**')",
        "select * from read_text('{warehouses}/../platform.json')",
        "select * from read_text('/etc/passwd')",
        "select * from read_csv('/etc/passwd', sep = ':')",
        "select * from read_blob('/etc/passwd')",
        "select * from glob('/etc/*')",
        "select * from read_parquet('{data}/x.parquet')",
        "select * from '{data}/platform.json'",
    ],
)
def test_sql_cannot_read_or_list_files(
    platform: LocalPlatform, mallory: User, database: dict[str, Any], template: str
) -> None:
    sql = template.format(data=platform.data_dir, warehouses=warehouse_path(platform, database))
    final, text = query(mallory, database, sql)
    assert final["state"] == "failed"
    assert re.search(r"disabled by configuration|permission", final["error"], re.I), final
    assert platform.api_key not in text
    assert "root:" not in text


def test_views_and_macros_cannot_read_files_either(
    platform: LocalPlatform, mallory: User, database: dict[str, Any]
) -> None:
    secret = f"{platform.data_dir}/platform.json"
    view = f"create or replace view public.peek as select * from read_text('{secret}')"
    refused(mallory, database, view, "disabled by configuration")
    macro = "create or replace macro public.peek_m(p) as table select * from read_text(p)"
    final, _ = query(mallory, database, macro)
    assert final["state"] == "succeeded", final
    final, text = query(mallory, database, f"select * from public.peek_m('{secret}')")
    assert final["state"] == "failed" and platform.api_key not in text


# -- writing files -----------------------------------------------------------------------


def test_copy_to_a_path_fails_and_writes_nothing(
    platform: LocalPlatform, mallory: User, database: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "x.csv"
    refused(mallory, database, f"copy (select 1 as a) to '{target}'", "COPY is not allowed")
    refused(
        mallory,
        database,
        f"copy (select 1 as a) to '{target}' (format parquet)",
        "COPY is not allowed",
    )
    refused(
        mallory,
        database,
        f"explain analyze copy (select 1 as a) to '{target}'",
        "COPY is not allowed",
    )
    refused(mallory, database, f"export database '{tmp_path / 'dump'}'", "EXPORT DATABASE")
    assert not target.exists() and not (tmp_path / "dump").exists()


def test_copy_over_the_warehouse_files_fails_and_the_warehouse_keeps_working(
    platform: LocalPlatform, mallory: User, database: dict[str, Any]
) -> None:
    path = warehouse_path(platform, database)
    for victim in (path, Path(f"{path}.wal"), platform.data_dir / "platform.json"):
        refused(mallory, database, f"copy (select 'x' as a) to '{victim}'", "COPY is not allowed")
    final, _ = query(mallory, database, "select count(*) from public.customer_churn")
    assert final["state"] == "succeeded" and final["resultRows"] == [[str(DEMO_CUSTOMERS)]]


def test_copy_from_a_file_into_a_table_fails(
    platform: LocalPlatform, mallory: User, database: dict[str, Any]
) -> None:
    query(mallory, database, "create table if not exists public.sink (t varchar)")
    refused(
        mallory,
        database,
        f"copy public.sink from '{platform.data_dir}/platform.json'",
        "COPY is not allowed",
    )


# -- other databases, extensions and settings ----------------------------------------------


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("attach ':memory:' as other", "ATTACH is not allowed"),
        ("attach '{tmp}/other.duckdb' as other", "ATTACH is not allowed"),
        ("attach '{warehouse}' as again (read_only)", "ATTACH is not allowed"),
        ("detach {catalog}", "DETACH is not allowed"),
        ("install httpfs", "INSTALL and LOAD are not allowed"),
        ("force install httpfs", "INSTALL and LOAD are not allowed"),
        ("load httpfs", "INSTALL and LOAD are not allowed"),
        ("load json", "INSTALL and LOAD are not allowed"),
        ("update extensions", "not allowed"),
        ("set enable_external_access = true", "locked"),
        ("reset enable_external_access", "locked"),
        ("set lock_configuration = false", "locked"),
        ("set allowed_directories = ['/']", "locked"),
        ("set temp_directory = '{tmp}'", "locked"),
        ("pragma enable_profiling", "locked"),
        ("call enable_logging(storage = 'file', storage_path = '{tmp}/log')", "locked"),
        ("prepare leak as select 1", "PREPARE is not supported"),
        ("import database '{tmp}'", "disabled by configuration|permission"),
    ],
)
def test_sql_cannot_attach_load_extensions_or_change_settings(
    platform: LocalPlatform,
    mallory: User,
    database: dict[str, Any],
    tmp_path: Path,
    template: str,
    reason: str,
) -> None:
    path = warehouse_path(platform, database)
    sql = template.format(tmp=tmp_path, warehouse=path, catalog=path.stem)
    refused(mallory, database, sql, reason)
    assert list(tmp_path.iterdir()) == []
    final, _ = query(
        mallory,
        database,
        "select value from duckdb_settings() where name = 'enable_external_access'",
    )
    assert final["resultRows"] == [["false"]]


def test_a_refused_statement_fails_the_whole_text_before_anything_runs(
    mallory: User, database: dict[str, Any], tmp_path: Path
) -> None:
    refused(
        mallory,
        database,
        f"create table public.never_made (a int); copy public.never_made to '{tmp_path}/a.csv'",
        "COPY is not allowed",
    )
    final, _ = query(
        mallory,
        database,
        "select count(*) from duckdb_tables() where table_name = 'never_made'",
    )
    assert final["resultRows"] == [["0"]]


# -- SQL scripts and exports run the same rules ----------------------------------------------


def _sql_script(user: User, database: dict[str, Any], sql: str, **extra: Any) -> requests.Response:
    cred = user.call("get", "credentials").json()[0]["id"]
    body = {"name": "s", "sql": sql, "remoteHostId": database["id"], "credentialId": cred}
    return user.call("post", "scripts/sql", json={**body, **extra})


def _run_script(user: User, script_id: int) -> dict[str, Any]:
    run = user.call("post", f"scripts/sql/{script_id}/runs").json()
    return user.wait(f"scripts/sql/{script_id}/runs/{run['id']}")


def test_sql_scripts_cannot_read_or_write_files(
    platform: LocalPlatform, mallory: User, database: dict[str, Any], tmp_path: Path
) -> None:
    reading = _sql_script(
        mallory, database, f"select content from read_text('{platform.data_dir}/platform.json')"
    ).json()
    final = _run_script(mallory, reading["id"])
    assert final["state"] == "failed" and "disabled by configuration" in final["error"]
    assert platform.api_key not in mallory.call("get", f"scripts/sql/{reading['id']}/runs").text
    writing = _sql_script(mallory, database, f"copy (select 1) to '{tmp_path}/w.csv'").json()
    final = _run_script(mallory, writing["id"])
    assert final["state"] == "failed" and "COPY is not allowed" in final["error"]
    assert list(tmp_path.iterdir()) == []


def test_export_file_names_cannot_leave_the_run_directory(
    mallory: User, database: dict[str, Any]
) -> None:
    for prefix in ("../../escape", "a/b", "..", "/tmp/x"):
        r = _sql_script(mallory, database, "select 1", csvSettings={"filenamePrefix": prefix})
        assert r.status_code == 400 and "filenamePrefix" in r.json()["errorDescription"]
        r = mallory.call(
            "post",
            "exports/files/csv",
            json={
                "source": {
                    "sql": "select 1",
                    "remoteHostId": database["id"],
                    "credentialId": mallory.call("get", "credentials").json()[0]["id"],
                },
                "destination": {"filenamePrefix": prefix},
            },
        )
        assert r.status_code == 400 and "filenamePrefix" in r.json()["errorDescription"]


# -- what the platform does with files keeps working -----------------------------------------


def test_timestamptz_results_work_without_pytz(
    monkeypatch: pytest.MonkeyPatch, mallory: User, database: dict[str, Any]
) -> None:
    monkeypatch.setitem(sys.modules, "pytz", None)  # as on a fresh install without pytz
    final, _ = query(mallory, database, "select now() as t, [now()] as l, 1 as n")
    assert final["state"] == "succeeded", final
    (t, listed, n), *_ = final["resultRows"]
    assert _TIMESTAMPTZ_TEXT.match(t) and t in listed and n == "1"
    ours = civis_jupyter.io.read_civis_sql(
        "select now() as t", database["name"], client=civis_jupyter.APIClient(mallory.key)
    )
    assert ours[0] == ["t"] and _TIMESTAMPTZ_TEXT.match(ours[1][0])
    theirs = civis.io.read_civis_sql(
        "select now() as t", database["name"], client=civis.APIClient(api_key=mallory.key)
    )
    assert theirs[0] == ["t"] and _TIMESTAMPTZ_TEXT.match(theirs[1][0])


def test_demo_tables_are_there_for_an_ordinary_user(
    mallory: User, database: dict[str, Any]
) -> None:
    final, _ = query(
        mallory,
        database,
        "select (select count(*) from public.cta_ridership_daily) > 0, "
        "(select count(*) from brandable_customers.brandable_all_users)",
    )
    assert final["state"] == "succeeded" and final["resultRows"] == [["t", str(DEMO_CUSTOMERS)]]


def test_imports_and_exports_still_work_as_an_ordinary_user(
    mallory: User, database: dict[str, Any], tmp_path: Path
) -> None:
    client = civis.APIClient(api_key=mallory.key)
    frame = pd.DataFrame({"id": [1, 2, 3], "name": ["a", 'q"uote, comma', None]})
    civis.io.dataframe_to_civis(frame, database["name"], "sandbox.people", client=client).result(
        TIMEOUT
    )
    rows = civis.io.read_civis_sql(
        "select id, name from sandbox.people order by id", database["name"], client=client
    )
    assert rows == [["id", "name"], ["1", "a"], ["2", 'q"uote, comma'], ["3", ""]]
    target = tmp_path / "people.csv"
    civis.io.civis_to_csv(
        str(target), "select * from sandbox.people order by id", database["name"], client=client
    ).result(TIMEOUT)
    with open(target, newline="", encoding="utf-8") as f:
        assert list(csv.reader(f))[1:] == [["1", "a"], ["2", 'q"uote, comma'], ["3", ""]]
    ours = civis_jupyter.APIClient(mallory.key)
    civis_jupyter.io.dataframe_to_civis(
        frame, database["name"], "sandbox.people", client=ours, existing_table_rows="append"
    ).result(TIMEOUT)
    back = civis_jupyter.io.read_civis_sql(
        "select count(*) as n from sandbox.people", database["name"], client=ours
    )
    assert back == [["n"], ["6"]]


def test_preprocessing_a_csv_file_still_detects_its_columns(mallory: User) -> None:
    created = mallory.call("post", "files", json={"name": "p.csv.gz"}).json()
    body = gzip.compress(b"city,rides\nchicago,12\nevanston,3\n")
    up = requests.post(
        created["uploadUrl"], files=[*created["uploadFields"].items(), ("file", body)], timeout=30
    )
    assert up.status_code == 204
    job = mallory.call("post", "files/preprocess/csv", json={"fileId": created["id"]}).json()
    run = mallory.call("post", f"jobs/{job['id']}/runs").json()
    final = mallory.wait(f"jobs/{job['id']}/runs/{run['id']}")
    assert final["state"] == "succeeded", final
    info = mallory.call("get", f"files/{created['id']}").json()["detectedInfo"]
    assert info["includeHeader"] is True and info["compression"] == "gzip"
    assert [c["name"] for c in info["tableColumns"]] == ["city", "rides"]


def test_an_export_of_many_rows_streams_whole(mallory: User, database: dict[str, Any]) -> None:
    script = _sql_script(
        mallory, database, "select range as n, now() as t from range(300000) order by n desc"
    ).json()
    final = _run_script(mallory, script["id"])
    assert final["state"] == "succeeded", final
    (output,) = final["output"]
    data = requests.get(output["path"], timeout=30).content
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    assert lines[0] == "n,t" and len(lines) == 300_001
    first = next(csv.reader(io.StringIO(lines[1])))
    assert first[0] == "299999" and _TIMESTAMPTZ_TEXT.match(first[1])
