"""Platform behaviours seen through the official client: Python scripts, SQL runs,
listings, no-exec mode and persistence across restarts."""

from __future__ import annotations

import io

import pandas as pd
import pytest

civis = pytest.importorskip("civis")

from civis.base import CivisAPIError, CivisJobFailure  # noqa: E402

from civis_jupyter.platform import LocalPlatform  # noqa: E402

from .conftest import wait_until  # noqa: E402

FAST = 0.1


def test_python3_script_runs_its_source_with_arguments(client):
    script = client.scripts.post_python3(
        "py",
        "import os, sys\nprint('hi', os.environ['WHO'])\nprint('warn', file=sys.stderr)\n",
        params=[{"name": "WHO", "type": "string", "default": "nobody"}],
        arguments={"WHO": "Grace"},
    )
    fut = civis.utils.run_job(script.id, client=client, polling_interval=FAST)
    assert fut.result(timeout=120).state == "succeeded"
    logs = client.scripts.list_python3_runs_logs(script.id, fut.run_id)
    by_message = {e.message: e.level for e in logs}
    assert by_message == {"hi Grace": "info", "warn": "error"}
    assert client.scripts.get(script.id).type == "script/python3"


def test_long_sql_run_can_be_cancelled(client, database):
    db_id = client.get_database_id(database)
    script = client.scripts.post_sql(
        "slow",
        "SELECT count(*) FROM range(100000000000) a",
        db_id,
        client.default_database_credential_id,
    )
    run = client.scripts.post_sql_runs(script.id)
    wait_until(
        lambda: client.scripts.get_sql_runs(script.id, run.id).state == "running",
        what="the query to start",
    )
    client.scripts.delete_sql_runs(script.id, run.id)
    final = client.scripts.get_sql_runs(script.id, run.id)
    assert final.state == "cancelled" and final.is_cancel_requested
    # the warehouse is free again: a new run of the same script is accepted
    client.scripts.patch_sql(script.id, sql="SELECT 1 AS one")
    again = client.scripts.post_sql_runs(script.id)
    done = wait_until(
        lambda: (r := client.scripts.get_sql_runs(script.id, again.id)).state == "succeeded" and r,
        what="the second run",
    )
    assert done.output[0].output_name.endswith(".csv.gz")


def test_scripts_and_queries_listings(client, database):
    job = client.scripts.post_containers(
        required_resources={"cpu": 256, "memory": 512},
        docker_command="echo listing",
        docker_image_name="x",
        name="listing me",
    )
    civis.utils.run_job(job.id, client=client, polling_interval=FAST).result(timeout=120)
    scripts = client.scripts.list(type="containers", limit=50)
    mine = civis.find_one(scripts, id=job.id)
    assert mine.type == "script/containers" and mine.last_run.state == "succeeded"
    assert not civis.find(client.scripts.list(type="sql", limit=50), id=job.id)
    q = client.queries.post(client.get_database_id(database), "SELECT 7", 5)
    wait_until(lambda: client.queries.get(q.id).state == "succeeded", what="the query")
    listed = civis.find_one(client.queries.list(limit=50), id=q.id)
    assert listed.result_rows == [["7"]]


def test_run_outputs_can_be_added_and_bad_ones_refused(client):
    job = client.scripts.post_containers(
        required_resources={"cpu": 256, "memory": 512}, docker_command="true", docker_image_name="x"
    )
    fut = civis.utils.run_job(job.id, client=client, polling_interval=FAST)
    fut.result(timeout=120)
    file_id = civis.io.file_to_civis(io.BytesIO(b"x"), "added.txt", client=client)
    out = client.scripts.post_containers_runs_outputs(job.id, fut.run_id, "File", file_id)
    assert out.name == "added.txt" and out.link.endswith(f"/files/{file_id}")
    assert [o.object_id for o in client.jobs.list_runs_outputs(job.id, fut.run_id)] == [file_id]
    with pytest.raises(CivisAPIError) as info:
        client.scripts.post_containers_runs_outputs(job.id, fut.run_id, "File", 987654)
    assert info.value.status_code == 404


def test_other_users_cannot_see_or_run_my_jobs(platform, client):
    job = client.scripts.post_containers(
        required_resources={"cpu": 256, "memory": 512}, docker_command="true", docker_image_name="x"
    )
    other = civis.APIClient(api_key=platform.create_user("intruder"))
    with pytest.raises(CivisAPIError) as info:
        other.jobs.post_runs(job.id)
    assert info.value.status_code == 404
    assert not civis.find(other.jobs.list(limit=50), id=job.id)


def test_no_exec_platform_fails_command_runs_but_runs_sql(tmp_path, monkeypatch):
    with LocalPlatform(data_dir=tmp_path, execute=False) as p:
        monkeypatch.setenv("CIVIS_API_ENDPOINT", p.endpoint)
        client = civis.APIClient(api_key=p.api_key)
        job = client.scripts.post_containers(
            required_resources={"cpu": 256, "memory": 512},
            docker_command=f"touch {tmp_path}/ran",
            docker_image_name="x",
        )
        fut = civis.utils.run_job(job.id, client=client, polling_interval=FAST)
        with pytest.raises(CivisJobFailure, match="switched off"):
            fut.result(timeout=60)
        assert not (tmp_path / "ran").exists()
        rows = civis.io.read_civis_sql(
            "SELECT 1 AS x", "local", client=client, polling_interval=FAST
        )
        assert rows == [["x"], ["1"]]


def test_files_tables_and_runs_survive_a_restart(tmp_path, monkeypatch):
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"]})
    with LocalPlatform(data_dir=tmp_path) as p:
        monkeypatch.setenv("CIVIS_API_ENDPOINT", p.endpoint)
        client = civis.APIClient(api_key=p.api_key)
        fid = civis.io.file_to_civis(io.BytesIO(b"kept"), "kept.txt", client=client)
        civis.io.dataframe_to_civis(
            df, "local", "scratch.kept", client=client, polling_interval=FAST
        ).result()
        job = client.scripts.post_containers(
            required_resources={"cpu": 256, "memory": 512},
            docker_command="echo before restart",
            docker_image_name="x",
        )
        run_id = civis.utils.run_job(job.id, client=client, polling_interval=FAST).run_id
        wait_until(lambda: client.jobs.get_runs(job.id, run_id).state == "succeeded", what="run")
        live = client.scripts.post_containers(
            required_resources={"cpu": 256, "memory": 512},
            docker_command="sleep 600",
            docker_image_name="x",
        )
        live_run = client.scripts.post_containers_runs(live.id)
        wait_until(
            lambda: client.jobs.get_runs(live.id, live_run.id).state == "running", what="running"
        )
        key = p.api_key
    with LocalPlatform(data_dir=tmp_path) as p:
        assert p.api_key == key
        monkeypatch.setenv("CIVIS_API_ENDPOINT", p.endpoint)
        client = civis.APIClient(api_key=p.api_key)
        buf = io.BytesIO()
        civis.io.civis_to_file(fid, buf, client=client)
        assert buf.getvalue() == b"kept"
        back = civis.io.read_civis(
            "scratch.kept", "local", client=client, return_as="pandas", polling_interval=FAST
        )
        assert back.sort_values("a")["a"].tolist() == [1, 2, 3]
        assert client.jobs.get_runs(job.id, run_id).state == "succeeded"
        messages = [e["message"] for e in civis.utils.job_logs(job.id, run_id, client=client)]
        assert messages == ["before restart"]
        cut = client.jobs.get_runs(live.id, live_run.id)
        assert cut.state == "failed" and cut.error


def test_csv_export_job_outputs_files(client, database):
    db_id = client.get_database_id(database)
    export = client.exports.post_files_csv(
        {
            "sql": "SELECT 'a' AS x UNION ALL SELECT 'b' ORDER BY x",
            "remote_host_id": db_id,
            "credential_id": client.default_database_credential_id,
        },
        {"filename_prefix": "letters"},
        compression="none",
    )
    fut = civis.utils.run_job(export.id, client=client, polling_interval=FAST)
    assert fut.result(timeout=60).state == "succeeded"
    assert client.jobs.get(export.id).type == "JobTypes::CsvExport"
    file_id = civis.io.file_id_from_run_output("letters.csv", export.id, fut.run_id, client=client)
    buf = io.BytesIO()
    civis.io.civis_to_file(file_id, buf, client=client)
    assert buf.getvalue() == b"x\na\nb\n"
