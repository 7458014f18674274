"""Workflow executions on the embedded platform: order, failure paths, cancel, actions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

import civis_jupyter as civis
from civis_jupyter.platform import LocalPlatform

from ..polling import wait_until

pytest.importorskip("yaml")

TIMEOUT = 60
RESOURCES = "{cpu: 256, memory: 512}"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with LocalPlatform(data_dir=tmp_path_factory.mktemp("wf"), rate_limit=10**6) as p:
        yield p


@pytest.fixture
def client(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> civis.APIClient:
    monkeypatch.setenv("CIVIS_API_ENDPOINT", platform.endpoint)
    return civis.APIClient(api_key=platform.api_key)


def container(command: str, **extra: str) -> str:
    lines = [
        "      action: civis.scripts.container",
        "      input:",
        f"        required_resources: {RESOURCES}",
        "        docker_image_name: img",
        f"        docker_command: {command!r}",
    ]
    lines += [f"      {key}: {value}" for key, value in extra.items()]
    return "\n".join(lines)


def definition(tasks: dict[str, str], kind: str = "direct") -> str:
    body = "\n".join(f"    {name}:\n{text}" for name, text in tasks.items())
    return f'version: "2.0"\nwf:\n  type: {kind}\n  tasks:\n{body}\n'


def execute(client, text: str, **kwargs):
    workflow = client.workflows.post("wf", definition=text)
    return workflow, client.workflows.post_executions(workflow.id, **kwargs)


def wait_done(client, workflow, execution):
    return wait_until(
        lambda: (
            (now := client.workflows.get_executions(workflow.id, execution.id)).state != "running"
            and now
        ),
        f"execution {execution.id} to end",
        timeout=TIMEOUT,
    )


def tasks_of(execution) -> dict:
    return {task.name: task for task in execution.tasks}


def _ts(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_tasks_run_in_transition_and_requires_order(client):
    text = definition(
        {
            "first": container("echo first", **{"on-success": "[second]"}),
            "second": container("echo second"),
            "last": container("echo last", requires="[second]"),
        }
    )
    workflow, started = execute(client, text)
    assert started.state == "running"
    done = wait_done(client, workflow, started)
    assert done.state == "succeeded" and done.mistral_state == "SUCCESS"
    tasks = tasks_of(done)
    assert {name: t.mistral_state for name, t in tasks.items()} == dict.fromkeys(
        ("first", "second", "last"), "SUCCESS"
    )
    runs = {name: t.runs[0] for name, t in tasks.items()}
    assert _ts(runs["second"].started_at) >= _ts(runs["first"].finished_at)
    assert _ts(runs["last"].started_at) >= _ts(runs["second"].finished_at)
    assert client.scripts.get_containers(runs["first"].job_id).name == "first"
    assert client.workflows.get(workflow.id).last_execution_id == done.id
    task = client.workflows.get_executions_tasks(workflow.id, done.id, "last")
    assert task.mistral_state == "SUCCESS" and task.runs[0].state == "succeeded"


def test_a_handled_error_takes_on_error_and_on_complete(client):
    text = definition(
        {
            "bad": container(
                "exit 3",
                **{"on-error": "[cleanup]", "on-success": "[never]", "on-complete": "[log]"},
            ),
            "cleanup": container("echo cleanup"),
            "never": container("echo never"),
            "log": container("echo log"),
        }
    )
    workflow, started = execute(client, text)
    done = wait_done(client, workflow, started)
    states = {name: t.mistral_state for name, t in tasks_of(done).items()}
    assert states == {"bad": "ERROR", "cleanup": "SUCCESS", "never": "IDLE", "log": "SUCCESS"}
    assert done.state == "succeeded"
    assert "status 3" in tasks_of(done)["bad"].mistral_state_info


def test_an_unhandled_error_fails_the_execution_and_its_dependents_never_run(client):
    text = definition(
        {
            "bad": container("exit 1", **{"on-success": "[after]"}),
            "after": container("echo after"),
            "needs_bad": container("echo needs", requires="[bad]"),
        }
    )
    workflow, started = execute(client, text)
    done = wait_done(client, workflow, started)
    states = {name: t.mistral_state for name, t in tasks_of(done).items()}
    assert done.state == "failed"
    assert states["bad"] == "ERROR" and states["after"] == "IDLE"
    assert states["needs_bad"] in ("WAITING", "ERROR") and not tasks_of(done)["needs_bad"].runs


def test_an_unsupported_action_fails_its_task_clearly(client):
    text = definition({"say": "      action: std.echo\n      input: {output: hi}"})
    workflow, started = execute(client, text)
    done = wait_done(client, workflow, started)
    task = tasks_of(done)["say"]
    assert done.state == "failed" and task.mistral_state == "ERROR"
    assert "unsupported action 'std.echo'" in task.mistral_state_info


def test_run_job_python3_and_sql_actions(client, platform):
    job = client.scripts.post_containers(
        {"cpu": 256, "memory": 512},
        name="existing",
        docker_command="echo hi",
        docker_image_name="i",
    )
    db = client.databases.list()[0].id
    cred = client.credentials.list(type="Database")[0].id
    text = definition(
        {
            "existing": f"      action: civis.run_job\n      input: {{job_id: {job.id}}}\n"
            "      on-success: [py]",
            "py": "      action: civis.scripts.python3\n      input: {source: \"print('py')\"}\n"
            "      on-success: [query]",
            "query": "      action: civis.scripts.sql\n"
            f"      input: {{sql: select 42, remote_host_id: {db}, credential_id: {cred}}}",
        }
    )
    workflow, started = execute(client, text)
    done = wait_done(client, workflow, started)
    tasks = tasks_of(done)
    assert done.state == "succeeded", {n: t.mistral_state_info for n, t in tasks.items()}
    assert tasks["existing"].runs[0].job_id == job.id
    assert client.jobs.get_runs(job.id, tasks["existing"].runs[0].id).state == "succeeded"
    assert client.scripts.get_sql(tasks["query"].runs[0].job_id).name == "query"


def test_cancel_stops_the_running_task_and_starts_nothing_more(client, tmp_path):
    gate = tmp_path / "never"
    text = definition(
        {
            "wait": container(
                f"while [ ! -e {gate} ]; do sleep 0.05; done", **{"on-complete": "[x]"}
            ),
            "x": container("echo x"),
        }
    )
    workflow, started = execute(client, text)
    wait_until(
        lambda: tasks_of(client.workflows.get_executions(workflow.id, started.id))["wait"].runs,
        "the waiting task's run",
        timeout=TIMEOUT,
    )
    cancelled = client.workflows.post_executions_cancel(workflow.id, started.id)
    assert cancelled.state == "cancelled"
    done = wait_done(client, workflow, started)
    tasks = tasks_of(done)
    assert tasks["x"].mistral_state == "IDLE" and not tasks["x"].runs
    run = tasks["wait"].runs[0]
    wait_until(
        lambda: client.jobs.get_runs(run.job_id, run.id).state == "cancelled",
        "the task's run to be cancelled",
        timeout=TIMEOUT,
    )
    assert [e.id for e in client.workflows.list_executions(workflow.id)] == [started.id]


def test_reverse_workflows_run_the_target_and_what_it_requires(client):
    text = definition(
        {
            "a": container("echo a"),
            "b": container("echo b", requires="[a]"),
            "other": container("echo other"),
        },
        kind="reverse",
    )
    workflow, started = execute(client, text, target_task="b")
    done = wait_done(client, workflow, started)
    states = {name: t.mistral_state for name, t in tasks_of(done).items()}
    assert states == {"a": "SUCCESS", "b": "SUCCESS", "other": "IDLE"}


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        (
            definition(
                {
                    "a": container("true", **{"on-success": "[{b: '<% $.x %>'}]"}),
                    "b": container("true"),
                }
            ),
            {},
            "conditions on transitions",
        ),
        (definition({"a": container("true")}), {"included_tasks": ["nope"]}, "no task named"),
        ("version: '2.0'\nwf:\n  tasks: {}\n", {}, "invalid workflow definition"),
    ],
)
def test_bad_executions_are_refused_with_a_clear_400(client, text, kwargs, message):
    workflow = client.workflows.post("wf", definition=text)
    with pytest.raises(civis.CivisAPIError) as info:
        client.workflows.post_executions(workflow.id, **kwargs)
    assert info.value.status_code == 400 and message in str(info.value)
