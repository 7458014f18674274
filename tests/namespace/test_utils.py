"""run_job, run_template and job_logs against live runs."""

from __future__ import annotations

import threading

import civis_jupyter as civis

from .conftest import container


def test_job_logs_follows_a_live_run_to_its_end(client, tmp_path):
    gate = tmp_path / "go"
    script = container(
        client,
        f"echo one; echo two; while [ ! -e {gate} ]; do sleep 0.02; done; echo three; echo four",
    )
    fut = civis.utils.run_job(script.id, client=client)
    seen = []
    got_two = threading.Event()

    def read():
        for line in civis.utils.job_logs(script.id, fut.run_id, client=client):
            seen.append(line["message"])
            if line["message"] == "two":
                got_two.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert got_two.wait(60)  # lines arrive while the run is still going
    assert not fut.done()
    gate.touch()
    reader.join(60)
    assert not reader.is_alive()
    assert seen == ["one", "two", "three", "four"]
    assert fut.result(60).state == "succeeded"


def test_job_logs_of_the_latest_run(client):
    script = container(client, "echo hello")
    civis.utils.run_job(script.id, client=client).result(60)
    assert [line["message"] for line in civis.utils.job_logs(script.id, client=client)] == ["hello"]


def test_run_template_returns_outputs_or_the_future(client):
    template = civis.find_one(client.templates.list_scripts(), name="Greeting")
    future = civis.utils.run_template(
        template.id, {"NAME": "utils"}, client=client, return_as="future"
    )
    assert future.result(60).state == "succeeded"
    logs = [
        line["message"]
        for line in civis.utils.job_logs(future.job_id, future.run_id, client=client)
    ]
    assert logs[-1] == "Hello, utils!"
    assert civis.utils.run_template(template.id, {"NAME": "x"}, client=client) == {}
