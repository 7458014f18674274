"""Responses of operations with real behaviour carry the keys of the recorded examples.

A realistic session (SQL, files, queries, container scripts, jobs, tables) is
run with our client against the platform; every response is matched to its
operation and compared with the ``x-examples`` recorded in the official spec.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import civis_jupyter
import civis_jupyter.futures
from civis_jupyter.platform.contract import handler_for

OFFICIAL = Path(pytest.importorskip("civis").__file__).parent / "resources" / "civis_api_spec.json"


def _example_keys(spec: dict, verb: str, path: str) -> list[set[str]]:
    ops = spec["paths"].get("/" + path) or spec["paths"].get("/" + path + "/") or {}
    out = []
    for example in (ops.get(verb) or {}).get("x-examples") or []:
        for request in example.get("requests") or []:
            if not 200 <= int(request.get("response_status") or 0) < 300:
                continue
            try:
                body = json.loads(request.get("response_body") or "null")
            except ValueError:
                continue
            if isinstance(body, list):
                body = body[0] if body and isinstance(body[0], dict) else None
            if isinstance(body, dict):
                out.append(set(body))
    return out


def test_real_behaviour_responses_carry_example_keys(platform, monkeypatch, database):
    monkeypatch.setenv("CIVIS_API_ENDPOINT", platform.endpoint)
    client = civis_jupyter.APIClient(api_key=platform.api_key)
    seen: list[tuple[str, str, object]] = []

    def record(response, *args, **kwargs):
        path = response.request.path_url.split("?")[0].lstrip("/")
        if response.ok and response.content and "json" in response.headers.get("Content-Type", ""):
            seen.append((response.request.method.lower(), path, response.json()))

    client._transport.session.hooks["response"].append(record)
    db_id = client.get_database_id(database)
    cred = client.default_database_credential_id
    client.users.get_me()
    client.credentials.list()
    client.tables.list(database_id=db_id)
    script = client.scripts.post_sql("s", "select 1 as a", db_id, cred, csv_settings={})
    run = client.scripts.post_sql_runs(script.id)
    civis_jupyter.futures.CivisFuture(
        client.scripts.get_sql_runs, (script.id, run.id), client=client
    ).result(60)
    client.scripts.get_sql(script.id)
    query = client.queries.post(db_id, "select 2 as b", 10, credential=cred)
    client.queries.get(query.id)
    file_id = client.files.post("f.csv").id
    client.files.get(file_id)
    container = client.scripts.post_containers(
        {"cpu": 256, "memory": 512}, name="c", docker_command="echo hi", docker_image_name="img"
    )
    crun = civis_jupyter.futures.CivisFuture(
        client.jobs.get_runs, (container.id, client.jobs.post_runs(container.id).id), client=client
    )
    crun.result(60)
    client.scripts.list_containers_runs_logs(container.id, crun.run_id)
    client.jobs.list()
    client.jobs.get(container.id)
    client.jobs.list_runs(container.id)

    official = json.loads(OFFICIAL.read_text())
    checked = 0
    problems = []
    for verb, path, body in seen:
        op, _params, _ = platform.router.match(verb, path)
        if op is None or handler_for(op.verb, op.path) is None:
            continue
        examples = _example_keys(official, verb, op.path)
        if not examples:
            continue
        got = body[0] if isinstance(body, list) and body else body
        if not isinstance(got, dict):
            continue
        checked += 1
        missing = set.intersection(*examples) - set(got)
        if missing:
            problems.append((verb, op.path, sorted(missing)))
    assert checked >= 10
    assert problems == []
