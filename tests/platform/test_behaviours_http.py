"""Wire-level details of the job, file and SQL behaviours (plain HTTP)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest
import requests

from civis_jupyter.platform import LocalPlatform

from ..polling import wait_until

TIMEOUT = 60


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with LocalPlatform(data_dir=tmp_path_factory.mktemp("p")) as p:
        yield p


@pytest.fixture(scope="module")
def http(platform: LocalPlatform) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {platform.api_key}"
    return s


def url(platform: LocalPlatform, path: str) -> str:
    return platform.endpoint + path.lstrip("/")


def wait_state(http, platform, path: str, states: set[str]) -> dict:
    return wait_until(
        lambda: (body := http.get(url(platform, path)).json())["state"] in states and body,
        f"{path} to reach {states}",
        timeout=TIMEOUT,
    )


def container(http, platform, command: str) -> int:
    r = http.post(
        url(platform, "scripts/containers"),
        json={"requiredResources": {"cpu": 1, "memory": 1}, "dockerCommand": command},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_run_start_answers_202_with_location_and_409_while_live(http, platform):
    job = container(http, platform, "echo one; echo two; sleep 300")
    r = http.post(url(platform, f"scripts/containers/{job}/runs"))
    assert r.status_code == 202
    run = r.json()
    assert run["containerId"] == job and run["state"] in ("queued", "running")
    assert r.headers["Location"].endswith(f"/scripts/containers/{job}/runs/{run['id']}")
    again = http.post(url(platform, f"jobs/{job}/runs"))
    assert again.status_code == 409
    assert again.json()["error"] == "already_running" and again.json()["code"] == 409
    cancel = http.delete(url(platform, f"jobs/{job}/runs/{run['id']}"))
    assert cancel.status_code == 202 and cancel.content == b""
    final = wait_state(http, platform, f"jobs/{job}/runs/{run['id']}", {"cancelled"})
    assert final["finishedAt"]


def test_logs_cursor_headers_and_order(http, platform):
    job = container(http, platform, "for i in 1 2 3 4 5; do echo line $i; done")
    run = http.post(url(platform, f"scripts/containers/{job}/runs")).json()
    wait_state(http, platform, f"scripts/containers/{job}/runs/{run['id']}", {"succeeded"})
    logs_url = url(platform, f"scripts/containers/{job}/runs/{run['id']}/logs")
    first = http.get(logs_url, params={"last_id": 0, "limit": 2})
    page = first.json()
    assert [e["message"] for e in page] == ["line 1", "line 2"]
    max_id = int(first.headers["Civis-Max-Id"])
    assert first.headers["Civis-Cache-Control"] != "no-store"
    rest = http.get(logs_url, params={"last_id": page[-1]["id"]}).json()
    assert [e["message"] for e in rest] == ["line 3", "line 4", "line 5"]
    assert rest[-1]["id"] == max_id
    newest = http.get(logs_url, params={"limit": 2}).json()
    assert [e["message"] for e in newest] == ["line 5", "line 4"]
    assert set(newest[0]) == {"id", "createdAt", "message", "level"}
    bad = http.get(logs_url, params={"last_id": "abc"})
    assert bad.status_code == 400


def test_scripts_cancel_answers_the_run_state(http, platform):
    job = container(http, platform, "sleep 300")
    run = http.post(url(platform, f"scripts/containers/{job}/runs")).json()
    wait_state(http, platform, f"scripts/containers/{job}/runs/{run['id']}", {"running"})
    r = http.post(url(platform, f"scripts/{job}/cancel"))
    assert r.status_code == 202
    assert r.json() == {"id": run["id"], "state": "cancelled", "isCancelRequested": True}


def test_unknown_run_and_run_of_another_job_are_404(http, platform):
    a = container(http, platform, "true")
    b = container(http, platform, "true")
    run = http.post(url(platform, f"scripts/containers/{a}/runs")).json()
    assert http.get(url(platform, f"scripts/containers/{b}/runs/{run['id']}")).status_code == 404
    assert http.get(url(platform, f"jobs/{a}/runs/999999")).status_code == 404


def test_file_upload_form_and_signed_download(http, platform):
    created = http.post(url(platform, "files"), json={"name": "a.csv.gz"}).json()
    fields = created["uploadFields"]
    assert next(iter(fields)) == "key"
    body = gzip.compress(b"x\n1\n")
    up = requests.post(created["uploadUrl"], files=[*fields.items(), ("file", body)])
    assert up.status_code == 204
    info = http.get(url(platform, f"files/{created['id']}")).json()
    assert info["fileSize"] == len(body)
    assert info["expiresAt"] and info["author"]["id"]
    got = requests.get(info["fileUrl"])
    assert got.content == body and got.headers["Content-Type"] == "application/gzip"
    inline = http.get(url(platform, f"files/{created['id']}"), params={"inline": "true"}).json()
    assert "inline" in requests.head(inline["fileUrl"]).headers["Content-Disposition"]


def test_bad_bodies_are_400_with_reasons(http, platform):
    r = http.post(url(platform, "files/multipart"), json={"name": "x", "numParts": 0})
    assert r.status_code == 400 and "numParts" in r.json()["errorDescription"]
    db = http.get(url(platform, "databases")).json()[0]["id"]
    r = http.post(url(platform, "queries"), json={"database": db, "sql": " ", "previewRows": 5})
    assert r.status_code == 400 and "sql" in r.json()["errorDescription"]
    r = http.post(url(platform, "queries"), json={"database": 9999, "sql": "x", "previewRows": 5})
    assert r.status_code == 404
    r = http.post(
        url(platform, "imports/files/csv"),
        json={
            "source": {"fileIds": [1]},
            "destination": {"schema": "s", "table": "t", "remoteHostId": 1, "credentialId": 1},
            "firstRowIsHeader": True,
            "existingTableRows": "merge",
        },
    )
    assert r.status_code == 400 and "existingTableRows" in r.json()["errorDescription"]


def test_query_answers_200_and_keeps_preview_rows(http, platform):
    db = http.get(url(platform, "databases")).json()[0]["id"]
    r = http.post(
        url(platform, "queries"),
        json={"database": db, "sql": "SELECT * FROM range(50) t(n)", "previewRows": 3},
    )
    assert r.status_code == 200
    q = wait_state(http, platform, f"queries/{r.json()['id']}", {"succeeded"})
    assert q["resultColumns"] == ["n"] and q["resultRows"] == [["0"], ["1"], ["2"]]
    assert http.get(url(platform, f"jobs/{q['id']}")).json()["type"] == "JobTypes::Query"


def test_multipart_complete_needs_every_part_and_happens_once(http, platform):
    created = http.post(url(platform, "files/multipart"), json={"name": "m", "numParts": 2}).json()
    first, second = created["uploadUrls"]
    assert requests.put(first, data=b"ab").status_code == 200
    done = url(platform, f"files/multipart/{created['id']}/complete")
    missing = http.post(done)
    assert missing.status_code == 400 and "2 of 2" in missing.json()["errorDescription"]
    assert requests.put(second, data=b"cd").status_code == 200
    assert http.post(done).status_code == 204
    assert http.post(done).status_code == 409  # a complete file is immutable
    info = http.get(url(platform, f"files/{created['id']}")).json()
    assert requests.get(info["fileUrl"]).content == b"abcd"


def test_preprocess_refuses_non_utf8_without_conversion(http, platform):
    created = http.post(url(platform, "files"), json={"name": "l.csv"}).json()
    requests.post(
        created["uploadUrl"],
        files=[*created["uploadFields"].items(), ("file", "a\ncafé\n".encode("latin-1"))],
    )
    job = http.post(url(platform, "files/preprocess/csv"), json={"fileId": created["id"]}).json()
    run = http.post(url(platform, f"jobs/{job['id']}/runs")).json()
    final = wait_state(http, platform, f"jobs/{job['id']}/runs/{run['id']}", {"failed"})
    assert "not UTF-8" in final["error"]


def test_table_patch_and_refresh_keep_live_warehouse_facts(http, platform):
    db = http.get(url(platform, "databases")).json()[0]["id"]
    q = http.post(
        url(platform, "queries"),
        json={"database": db, "sql": "CREATE TABLE scratch_t AS SELECT 1 AS a", "previewRows": 1},
    ).json()
    wait_state(http, platform, f"queries/{q['id']}", {"succeeded"})
    [table] = http.get(url(platform, "tables"), params={"name": "scratch_t"}).json()
    patched = http.patch(
        url(platform, f"tables/{table['id']}"), json={"description": "made in a test"}
    ).json()
    assert patched["description"] == "made in a test" and patched["rowCount"] == 1
    refreshed = http.post(url(platform, f"tables/{table['id']}/refresh")).json()
    assert refreshed["lastRefresh"] and refreshed["columns"][0]["name"] == "a"
    listed = http.get(url(platform, "tables"), params={"name": "scratch_t"}).json()
    assert listed[0]["description"] == "made in a test"
    http.post(
        url(platform, "queries"),
        json={"database": db, "sql": "DROP TABLE scratch_t", "previewRows": 1},
    )
    wait_until(
        lambda: http.get(url(platform, f"tables/{table['id']}")).status_code == 404,
        "the dropped table to be gone",
        timeout=TIMEOUT,
    )
