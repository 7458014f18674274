"""The JupyterLab extension's kernel side, through real comm messages to a kernel."""

from __future__ import annotations

import uuid

import pytest
from jupyter_client.manager import start_new_kernel

import civis_jupyter as civis


def _open(kc, target):
    comm_id = uuid.uuid4().hex
    msg = kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": target, "data": {}})
    kc.shell_channel.send(msg)
    return comm_id


def _send(kc, comm_id, data):
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))


def _next_comm_data(kc, comm_id, predicate, timeout=60):
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == comm_id:
            data = msg["content"]["data"]
            if predicate(data):
                return data


def _execute(kc, code):
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=120)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]


def test_completion_and_runs_comms(platform_env, tmp_path):
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        _execute(kc, "%load_ext civis_jupyter")
        completion = _open(kc, "civis_jupyter.completion")
        _send(kc, completion, {"id": 1, "request": "databases"})
        assert _next_comm_data(kc, completion, lambda d: d.get("id") == 1)["items"] == ["local"]
        _send(kc, completion, {"id": 2, "request": "schemas", "database": "local"})
        schemas = _next_comm_data(kc, completion, lambda d: d.get("id") == 2)["items"]
        assert "public" in schemas
        _send(
            kc, completion, {"id": 3, "request": "tables", "database": "local", "schema": "public"}
        )
        tables = _next_comm_data(kc, completion, lambda d: d.get("id") == 3)["items"]
        assert "cta_ridership_daily" in tables
        _send(
            kc,
            completion,
            {
                "id": 4,
                "request": "columns",
                "database": "local",
                "schema": "public",
                "table": "cta_ridership_daily",
            },
        )
        columns = _next_comm_data(kc, completion, lambda d: d.get("id") == 4)["items"]
        assert columns == ["station_id", "stationname", "date", "daytype", "rides"]
        _send(kc, completion, {"id": 5, "request": "columns", "database": "nope"})
        assert "error" in _next_comm_data(kc, completion, lambda d: d.get("id") == 5)

        runs = _open(kc, "civis_jupyter.runs")
        assert _next_comm_data(kc, runs, lambda d: "runs" in d)["runs"] == []
        gate = tmp_path / "go"
        _execute(
            kc,
            (
                "script = client.scripts.post_containers({'cpu': 256, 'memory': 512}, name='panel',"
                f" docker_command='while [ ! -e {gate} ]; do sleep 0.02; done',"
                " docker_image_name='x')\n"
                "fut = civis.utils.run_job(script.id)"
            ),
        )
        live = _next_comm_data(
            kc, runs, lambda d: any(r["state"] == "running" for r in d.get("runs", []))
        )["runs"]
        job_id, run_id = live[0]["job_id"], live[0]["run_id"]
        _send(kc, runs, {"action": "cancel", "job_id": job_id, "run_id": run_id})
        # The reply and the new snapshot may come in either order: wait for both.
        seen = {"reply": None, "snapshot": False}

        def both(data):
            if "cancelled" in data:
                seen["reply"] = data["cancelled"]
            if any(r["state"] == "cancelled" for r in data.get("runs", [])):
                seen["snapshot"] = True
            return seen["reply"] is not None and seen["snapshot"]

        _next_comm_data(kc, runs, both)
        assert seen["reply"]["ok"] is True
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_completion_source_caches_answers_for_its_ttl(monkeypatch):
    from civis_jupyter import APIClient, io
    from civis_jupyter.jupyter.labcomm import CompletionSource
    from civis_jupyter.platform import LocalPlatform

    with LocalPlatform(seed="demo") as platform:
        monkeypatch.setenv("CIVIS_API_ENDPOINT", platform.endpoint)
        client = APIClient(api_key=platform.api_key)
        cached = CompletionSource(lambda: client)
        fresh = CompletionSource(lambda: client, ttl=0)
        request = {"request": "tables", "database": "local", "schema": "public"}
        before = cached.items(request)
        assert "labcomm_new" not in before
        assert fresh.items(request) == before
        io.query_civis(
            "create table public.labcomm_new (a integer, b varchar)", "local", client=client
        ).result()
        # The cached source answers from its cache; the one with no TTL asks again.
        assert cached.items(request) == before
        assert "labcomm_new" in fresh.items(request)
        columns = {"request": "columns", "database": "local", "schema": "public"}
        assert fresh.items({**columns, "table": "labcomm_new"}) == ["a", "b"]
        assert fresh.items({**columns, "table": "no_such_table"}) == []
        for bad in ({"request": "columns"}, {"request": "nope", "database": "local"}):
            try:
                fresh.items(bad)
            except ValueError as exc:
                assert str(exc)
            else:
                raise AssertionError(f"{bad} was answered")


def _control(kc, msg_type, content, timeout=60):
    msg = kc.session.msg(msg_type, content)
    kc.control_channel.send(msg)
    while True:
        reply = kc.control_channel.get_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            return reply


def test_panel_cancels_over_the_control_channel_while_a_cell_waits(platform_env, tmp_path):
    """A cell blocked on a run: the panel's cancel is answered, and ends the run and the cell."""
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        _execute(kc, "%load_ext civis_jupyter")
        runs = _open(kc, "civis_jupyter.runs")
        _next_comm_data(kc, runs, lambda d: "runs" in d)
        blocking = kc.execute(
            "script = client.scripts.post_containers({'cpu': 256, 'memory': 512},"
            " name='blocks the cell', docker_command='sleep 600', docker_image_name='x')\n"
            "civis.utils.run_job(script.id).result()"
        )
        live = _next_comm_data(
            kc, runs, lambda d: any(r["state"] == "running" for r in d.get("runs", []))
        )["runs"][0]
        assert live["name"] == "blocks the cell" and live["live"] is True
        assert live["elapsed"] is not None and live["duration"] is None
        reply = _control(
            kc, "civis_cancel_request", {"job_id": live["job_id"], "run_id": live["run_id"]}
        )
        assert reply["msg_type"] == "civis_cancel_reply"
        assert reply["content"]["ok"] is True
        ended = _next_comm_data(
            kc, runs, lambda d: any(r["state"] == "cancelled" for r in d.get("runs", []))
        )["runs"][0]
        assert ended["live"] is False and ended["elapsed"] is None
        done = kc.get_shell_msg(timeout=60)
        while done["parent_header"].get("msg_id") != blocking:
            done = kc.get_shell_msg(timeout=60)
        assert done["content"]["status"] == "error"  # the cell ended: its run was cancelled
        client = civis.APIClient()
        assert client.jobs.get_runs(live["job_id"], live["run_id"])["state"] == "cancelled"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_run_summaries_name_jobs_and_time_runs_from_their_timestamps(platform_env):
    from civis_jupyter.jupyter.runs import RunsSource, parse_time

    client = civis.APIClient()
    query = civis.io.query_civis("\n-- totals\nselect 42 as answer\nfrom range(3)", "local")
    sql = civis.io.export_to_civis_file("select 1 as one", "local", client=client)
    script = client.scripts.post_containers(
        {"cpu": 256, "memory": 512}, name="named job", docker_command="true", docker_image_name="x"
    )
    container = civis.utils.run_job(script.id, client=client)
    for future in (query, sql, container):
        future.result(timeout=60)
    summaries = {s["job_id"]: s for s in RunsSource().snapshot()}
    assert summaries[query.job_id]["name"] == "select 42 as answer"
    assert summaries[sql.job_id]["name"] == "select 1 as one"
    assert summaries[container.job_id]["name"] == "named job"
    run = client.jobs.get_runs(container.job_id, container.run_id)
    summary = summaries[container.job_id]
    assert summary["state"] == "succeeded" and summary["live"] is False
    expected = parse_time(run["finished_at"]) - parse_time(run["started_at"])
    assert summary["duration"] == pytest.approx(expected, abs=0.002)
    assert summary["started_at"] == run["started_at"] and summary["elapsed"] is None


def test_completion_uses_the_default_or_only_database_else_hints(platform_env):
    from civis_jupyter.jupyter.labcomm import CompletionSource, NoDatabase

    client = civis.APIClient()
    names = [d["name"] for d in client.databases.list()]
    schemas = {"request": "schemas"}
    if len(names) == 1:
        assert "public" in CompletionSource(lambda: client, ttl=0).items(schemas)
    configured = CompletionSource(lambda: client, ttl=0, default_database=lambda: names[0])
    assert "public" in configured.items(schemas)

    class TwoDatabases:
        """The client, seen with a second database to choose from."""

        def __getattr__(self, name):
            return getattr(client, name)

        class databases:
            @staticmethod
            def list():
                return [{"name": "alpha"}, {"name": "beta"}]

    with pytest.raises(NoDatabase, match=r"Name a database.*alpha, beta"):
        CompletionSource(lambda: TwoDatabases(), ttl=0).items(schemas)
