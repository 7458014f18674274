"""Container scripts, runs, logs, outputs and /jobs with the official client."""

from __future__ import annotations

import gzip
import io
import sys

import pytest
import requests

civis = pytest.importorskip("civis")

from civis.base import CivisAPIError, CivisJobFailure  # noqa: E402

from .conftest import wait_until  # noqa: E402

FAST = 0.1
RESOURCES = {"cpu": 256, "memory": 512, "disk_space": 1}

# The script uploads a file with the official client, using the run's own key,
# and records it as a run output.
OUTPUT_SCRIPT = (
    "import io, os, civis\n"
    "c = civis.APIClient()\n"
    "fid = civis.io.file_to_civis(io.BytesIO(b'made inside the run'), 'made.txt', client=c)\n"
    "c.scripts.post_containers_runs_outputs(\n"
    "    int(os.environ['CIVIS_JOB_ID']), int(os.environ['CIVIS_RUN_ID']), 'File', fid)\n"
    "print('uploaded', fid)\n"
)


def container(client, command: str, name: str = "test script", **kw):
    return client.scripts.post_containers(
        required_resources=RESOURCES,
        docker_command=command,
        docker_image_name="civisanalytics/datascience-python",
        name=name,
        **kw,
    )


def test_run_job_with_logs_and_outputs(client, tmp_path):
    script = tmp_path / "make_output.py"
    script.write_text(OUTPUT_SCRIPT)
    job = container(
        client,
        f'echo "hello from $CIVIS_JOB_ID/$CIVIS_RUN_ID"; {sys.executable} {script}',
    )
    fut = civis.utils.run_job(job.id, client=client, polling_interval=FAST)
    result = fut.result(timeout=120)
    assert result.state == "succeeded"
    logs = list(civis.utils.job_logs(job.id, fut.run_id, client=client))
    messages = [entry["message"] for entry in logs]
    assert messages[0] == f"hello from {job.id}/{fut.run_id}"
    assert any(m.startswith("uploaded ") for m in messages)
    outputs = fut.outputs()
    assert [(o["object_type"], o["name"]) for o in outputs] == [("File", "made.txt")]
    file_id = civis.io.file_id_from_run_output("made.txt", job.id, fut.run_id, client=client)
    buf = io.BytesIO()
    civis.io.civis_to_file(file_id, buf, client=client)
    assert buf.getvalue() == b"made inside the run"
    run = client.scripts.get_containers_runs(job.id, fut.run_id)
    assert run.container_id == job.id and run.finished_at


def test_failing_run_raises_with_the_error(client):
    job = container(client, "echo about to fail; echo 'bad thing happened' >&2; exit 4")
    fut = civis.utils.run_job(job.id, client=client, polling_interval=FAST)
    with pytest.raises(CivisJobFailure, match="bad thing happened"):
        fut.result(timeout=120)
    assert fut.failed()
    run = client.jobs.get_runs(job.id, fut.run_id)
    assert run.state == "failed" and "status 4" in run.error


def test_cancelling_a_live_run(client):
    job = container(client, "echo started; sleep 600")
    run = client.scripts.post_containers_runs(job.id)
    wait_until(
        lambda: any(
            e["message"] == "started"
            for e in client.scripts.list_containers_runs_logs(job.id, run.id)
        ),
        what="the script to start",
    )
    live = client.scripts.list_containers_runs_logs(job.id, run.id)
    assert live.headers["Civis-Cache-Control"] == "no-store"
    with pytest.raises(CivisAPIError) as info:
        client.jobs.post_runs(job.id)
    assert info.value.status_code == 409
    client.jobs.delete_runs(job.id, run.id)
    final = wait_until(
        lambda: (r := client.jobs.get_runs(job.id, run.id)).state == "cancelled" and r,
        what="the run to be cancelled",
    )
    assert final.finished_at
    done = client.scripts.list_containers_runs_logs(job.id, run.id)
    assert done.headers["Civis-Cache-Control"] != "no-store"


def test_cancelling_a_finished_run_is_a_404_and_changes_nothing(client, platform):
    import civis_jupyter
    from civis_jupyter.api.errors import CivisAPIError as OurAPIError

    job = container(client, "echo finished")
    fut = civis.utils.run_job(job.id, client=client, polling_interval=FAST)
    fut.result(timeout=120)
    ours = civis_jupyter.APIClient(api_key=platform.api_key)
    cancels = [
        lambda: client.jobs.delete_runs(job.id, fut.run_id),
        lambda: client.scripts.delete_containers_runs(job.id, fut.run_id),
        lambda: client.scripts.post_cancel(job.id),
        lambda: ours.jobs.delete_runs(job.id, fut.run_id),
    ]
    for cancel in cancels:
        with pytest.raises((CivisAPIError, OurAPIError)) as info:
            cancel()
        assert info.value.status_code == 404
        assert f"run {fut.run_id} of job {job.id} has already finished (succeeded)" in str(
            info.value
        )
    run = client.scripts.get_containers_runs(job.id, fut.run_id)
    assert run.state == "succeeded" and not run.is_cancel_requested
    # The official future reads the 404 as "already done": cancel() is False and
    # the result still arrives (a 202 here made it stop polling for good).
    late = civis.futures.CivisFuture(
        client.jobs.get_runs,
        (job.id, fut.run_id),
        client=client,
        polling_interval=0.5,
        poll_on_creation=False,
    )
    assert late.cancel() is False
    assert late.result(timeout=30).state == "succeeded"


def test_a_cancelled_run_cancelled_again_is_a_404(client):
    job = container(client, "echo started; sleep 600")
    run = client.scripts.post_containers_runs(job.id)
    client.scripts.delete_containers_runs(job.id, run.id)  # live: accepted (an error raises)
    wait_until(
        lambda: client.jobs.get_runs(job.id, run.id).state == "cancelled",
        what="the run to be cancelled",
    )
    with pytest.raises(CivisAPIError) as info:
        client.jobs.delete_runs(job.id, run.id)
    assert info.value.status_code == 404 and "already finished (cancelled)" in str(info.value)


def test_jobs_list_and_get_resolve_every_kind(client, database):
    job = container(client, "echo listed", name="listed container")
    civis.utils.run_job(job.id, client=client, polling_interval=FAST).result(timeout=120)
    query = client.queries.post(client.get_database_id(database), "SELECT 1", 1, hidden=False)
    found = client.jobs.get(job.id)
    assert found.type == "JobTypes::ContainerDocker"
    assert found.state == "succeeded" and found.last_run.state == "succeeded"
    assert client.jobs.get(query.id).type == "JobTypes::Query"
    listed = {j.id: j for j in client.jobs.list(limit=50)}
    assert job.id in listed and listed[job.id].name == "listed container"
    runs = client.jobs.list_runs(job.id)
    assert [r.state for r in runs] == ["succeeded"]
    with pytest.raises(CivisAPIError) as info:
        client.jobs.get(999_999)
    assert info.value.status_code == 404


def test_custom_script_from_template(client):
    templates = client.templates.list_scripts(limit=100)
    greeting = civis.find_one(templates, name="Greeting")
    assert greeting is not None
    custom = client.scripts.post_custom(greeting.id, arguments={"NAME": "Ada"})
    fut = civis.utils.run_job(custom.id, client=client, polling_interval=FAST)
    assert fut.result(timeout=120).state == "succeeded"
    messages = [e["message"] for e in civis.utils.job_logs(custom.id, fut.run_id, client=client)]
    assert messages == ["Hello, Ada!"]


def test_sql_script_run_output_is_a_downloadable_gzip_csv(client, database):
    db_id = client.get_database_id(database)
    cred = client.default_database_credential_id
    script = client.scripts.post_sql(
        "export", "SELECT 42 AS answer", db_id, cred, csv_settings={"compression": "gzip"}
    )
    run = client.scripts.post_sql_runs(script.id)
    done = wait_until(
        lambda: (r := client.scripts.get_sql_runs(script.id, run.id)).state == "succeeded" and r,
        what="the export",
    )
    [out] = done.output
    body = gzip.decompress(requests.get(out.path, timeout=30).content)
    assert body == b"answer\n42\n"
    assert client.files.get(out.file_id).file_size > 0


def test_jobs_resolve_kinds_the_platform_does_not_execute(client):
    imp = client.imports.post("sync", "GdocImport", False)
    assert client.jobs.get(imp.id).type == "JobTypes::Import"
    fut = civis.utils.run_job(imp.id, client=client, polling_interval=FAST)
    with pytest.raises(CivisJobFailure, match="does not execute imports runs"):
        fut.result(timeout=60)


def test_civis_command_inside_a_run_downloads_a_file(client):
    cli = pytest.importorskip("civis_jupyter.cli")
    if not hasattr(cli, "main"):
        pytest.skip("the civis-jupyter CLI is not available yet")
    file_id = civis.io.file_to_civis(io.BytesIO(b"payload for the run"), "in.txt", client=client)
    job = container(client, f"civis files download {file_id} got.txt && cat got.txt")
    fut = civis.utils.run_job(job.id, client=client, polling_interval=FAST)
    assert fut.result(timeout=120).state == "succeeded"
    messages = [e["message"] for e in civis.utils.job_logs(job.id, fut.run_id, client=client)]
    assert "payload for the run" in messages


def test_import_from_url_template_loads_a_platform_file(client, platform, database):
    file_id = civis.io.file_to_civis(
        io.BytesIO('id,word\n1,ünï\n2,"a, b"\n'.encode()), "words.csv", client=client
    )
    url = client.files.get(file_id).file_url
    template = civis.find_one(client.templates.list_scripts(limit=100), name="Import from URL")
    custom = client.scripts.post_custom(
        template.id,
        arguments={"URL": url, "TABLE_NAME": "scratch.from_url", "IF_EXISTS": "drop"},
    )
    fut = civis.utils.run_job(custom.id, client=client, polling_interval=FAST)
    assert fut.result(timeout=120).state == "succeeded"
    rows = civis.io.read_civis_sql(
        "SELECT * FROM scratch.from_url ORDER BY id", database, client=client, polling_interval=FAST
    )
    assert rows == [["id", "word"], ["1", "ünï"], ["2", "a, b"]]


def test_templates_are_usable_by_every_user(platform):
    other = civis.APIClient(api_key=platform.create_user("template-user"))
    greeting = civis.find_one(other.templates.list_scripts(limit=100), name="Greeting")
    assert greeting is not None
    custom = other.scripts.post_custom(greeting.id, arguments={"NAME": "Lin"})
    fut = civis.utils.run_job(custom.id, client=other, polling_interval=FAST)
    assert fut.result(timeout=120).state == "succeeded"
    with pytest.raises(CivisAPIError):
        other.scripts.get_containers(greeting.script_id)
