"""The run state machine with real threads and real subprocesses."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from civis_jupyter.platform.runner import (
    NO_EXEC_ERROR,
    WORKER_THREADS,
    AlreadyRunning,
    RunCancelled,
    Runner,
    command_executor,
    find_sandbox,
)

from ..polling import wait_until

TIMEOUT = 30


class FakePlatform(SimpleNamespace):
    """Just what the runner reads from a platform, plus key bookkeeping."""

    def mint_run_key(self, user_id, run_id):
        key = f"run-key-{run_id}"
        self.keys.add(key)
        return key

    def revoke_run_key(self, key):
        self.keys.discard(key)


@pytest.fixture(params=["sandboxed", "plain"])
def platform(request, tmp_path: Path) -> FakePlatform:
    """A platform whose data dir is tmp_path/data; commands sandboxed or not."""
    if request.param == "sandboxed" and find_sandbox() is None:
        pytest.skip("Linux namespaces are not available here")
    return FakePlatform(
        data_dir=tmp_path / "data",
        execute=True,
        endpoint="http://127.0.0.1:9/",
        keys=set(),
        sandbox=None if request.param == "sandboxed" else False,
    )


@pytest.fixture
def runner(platform):
    r = Runner(platform)
    yield r
    r.shutdown()


def messages(runner: Runner, run_id: int) -> list[str]:
    return [line["message"] for line in runner.logs(run_id, last_id=0)[0]]


def unique_sleep() -> str:
    """A sleep command no other process has: found again by its command line."""
    return f"sleep 300.{secrets.randbelow(10**9):09d}"


def live_pids(command: str) -> list[int]:
    """Processes (not zombies) whose command line is ``command``."""
    wanted = command.encode().replace(b" ", b"\0") + b"\0"
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if cmdline == wanted and state != b"Z":
            found.append(int(entry.name))
    return found


def test_python_executor_success_goes_queued_running_succeeded(runner):
    started = threading.Event()
    release = threading.Event()

    def work(ctx):
        started.set()
        ctx.log("working")
        ctx.add_output("JSONValue", 5, name="answer", value={"x": 1})
        release.wait(TIMEOUT)

    run = runner.start(1, "sql", work, user_id=3)
    assert run["state"] == "queued" and run["startedAt"] is None
    assert started.wait(TIMEOUT)
    assert runner.get(run["id"])["state"] == "running"
    release.set()
    done = runner.wait(run["id"], TIMEOUT)
    assert done["state"] == "succeeded"
    assert done["startedAt"] and done["finishedAt"] and done["error"] is None
    assert messages(runner, run["id"]) == ["working"]
    [out] = runner.outputs(run["id"])
    assert out["objectType"] == "JSONValue" and out["value"] == {"x": 1}


def test_executor_exception_fails_the_run_with_its_message(runner):
    def work(ctx):
        raise ValueError("table scratch.x already exists")

    run = runner.wait(runner.start(2, "imports", work)["id"], TIMEOUT)
    assert run["state"] == "failed"
    assert run["error"] == "table scratch.x already exists"


def test_bug_in_executor_logs_its_traceback(runner):
    def work(ctx):
        return {}["missing"]

    run = runner.wait(runner.start(2, "imports", work)["id"], TIMEOUT)
    assert run["state"] == "failed"
    assert any("Traceback" in m for m in messages(runner, run["id"]))


def test_second_run_of_a_live_job_is_refused(runner):
    release = threading.Event()
    run = runner.start(7, "sql", lambda ctx: release.wait(TIMEOUT))
    with pytest.raises(AlreadyRunning) as info:
        runner.start(7, "sql", lambda ctx: None)
    assert info.value.run_id == run["id"]
    release.set()
    runner.wait(run["id"], TIMEOUT)
    assert runner.wait(runner.start(7, "sql", lambda ctx: None)["id"])["state"] == ("succeeded")
    assert [r["id"] for r in runner.runs(7)][1] == run["id"]


def test_cancel_of_python_executor_marks_cancelled(runner):
    started = threading.Event()

    def work(ctx):
        started.set()
        ctx.cancelled.wait(TIMEOUT)
        ctx.check()

    run = runner.start(3, "sql", work)
    assert started.wait(TIMEOUT)
    cancelled = runner.cancel(run["id"], wait=TIMEOUT)
    assert cancelled["state"] == "cancelled" and cancelled["isCancelRequested"]
    assert not runner.is_live(run["id"])


def test_a_run_is_cancelled_only_once_its_work_stopped(runner):
    started = threading.Event()
    release = threading.Event()

    def stubborn(ctx):
        started.set()
        release.wait(TIMEOUT)
        ctx.log("stopped at last")

    run = runner.start(5, "sql", stubborn)
    assert started.wait(TIMEOUT)
    asked = runner.cancel(run["id"], wait=0)
    assert asked["state"] == "running" and asked["isCancelRequested"]
    assert runner.is_live(run["id"])
    release.set()
    final = runner.wait(run["id"], TIMEOUT)
    assert final["state"] == "cancelled" and not runner.is_live(run["id"])
    assert messages(runner, run["id"]) == ["stopped at last"]


def test_cancelling_a_finished_run_changes_nothing(runner):
    run = runner.wait(runner.start(3, "sql", lambda ctx: None)["id"], TIMEOUT)
    assert runner.cancel(run["id"])["state"] == "succeeded"
    with pytest.raises(KeyError):
        runner.cancel(999)


def test_run_cancelled_exception_means_cancelled(runner):
    def work(ctx):
        raise RunCancelled()

    assert runner.wait(runner.start(4, "sql", work)["id"])["state"] == "cancelled"


def test_command_streams_logs_while_running(runner, tmp_path):
    gate = tmp_path / "gate"
    cmd = (
        "echo first line; echo 'to stderr' >&2; "
        f"while [ ! -f {gate} ]; do sleep 0.02; done; echo last line"
    )
    run = runner.start(10, "containers", command_executor(cmd))
    wait_until(
        lambda: {"first line", "to stderr"} <= set(messages(runner, run["id"])),
        what="the first lines while the process runs",
    )
    assert runner.get(run["id"])["state"] == "running"
    lines, max_id = runner.logs(run["id"], last_id=0)
    levels = {line["message"]: line["level"] for line in lines}
    assert levels == {"first line": "info", "to stderr": "error"}
    assert max_id == max(line["id"] for line in lines)
    gate.touch()
    assert runner.wait(run["id"], TIMEOUT)["state"] == "succeeded"
    assert messages(runner, run["id"])[-1] == "last line"


def test_command_environment_shim_and_working_directory(runner, platform):
    cmd = (
        'echo "job=$CIVIS_JOB_ID run=$CIVIS_RUN_ID endpoint=$CIVIS_API_ENDPOINT"; '
        'echo "key=$CIVIS_API_KEY"; pwd; command -v civis; cat "$(command -v civis)"'
    )
    run = runner.wait(runner.start(11, "containers", command_executor(cmd))["id"])
    assert run["state"] == "succeeded", run
    out = messages(runner, run["id"])
    rid = run["id"]
    assert out[0] == f"job=11 run={rid} endpoint=http://127.0.0.1:9/"
    assert out[1] == f"key=run-key-{rid}"
    assert out[2] == str(platform.data_dir.resolve() / "runs" / str(rid) / "work")
    assert out[3].endswith(f"runs/{rid}/bin/civis")
    assert any("from civis_jupyter.cli import main" in line for line in out[4:])
    assert platform.keys == set()  # the run's key is revoked when it ends


def test_extra_env_reaches_the_command(runner):
    ex = command_executor('echo "$GREETING"', env={"GREETING": "hi there"})
    run = runner.wait(runner.start(12, "custom", ex)["id"], TIMEOUT)
    assert messages(runner, run["id"]) == ["hi there"]


def test_failing_command_fails_with_status_and_last_error_line(runner):
    run = runner.start(13, "containers", command_executor("echo boom >&2; exit 3"))
    run = runner.wait(run["id"], TIMEOUT)
    assert run["state"] == "failed"
    assert run["error"] == "the process exited with status 3: boom"


def test_cancel_kills_the_whole_process_group(runner):
    sleeper = unique_sleep()
    cmd = f"{sleeper} & echo started; wait"
    run = runner.start(14, "containers", command_executor(cmd))
    wait_until(lambda: "started" in messages(runner, run["id"]), what="start")
    assert live_pids(sleeper)
    cancelled = runner.cancel(run["id"], wait=TIMEOUT)
    # reported cancelled only once the process is reaped: nothing is left
    assert cancelled["state"] == "cancelled" and not runner.is_live(run["id"])
    wait_until(lambda: not live_pids(sleeper), what="the child process to die")


def test_no_exec_platform_fails_command_runs_with_clear_error(platform, tmp_path):
    platform.execute = False
    runner = Runner(platform)
    try:
        run = runner.wait(runner.start(15, "containers", command_executor("true"))["id"])
        assert run["state"] == "failed"
        assert run["error"] == NO_EXEC_ERROR
        assert not (platform.data_dir / "runs" / str(run["id"]) / "work").exists()
        assert not runner.sandboxed
    finally:
        runner.shutdown()


def test_logs_paging_by_last_id_and_newest_first_without_it(runner):
    run = runner.wait(runner.start(16, "sql", lambda ctx: None)["id"])
    ids = runner.append_logs(run["id"], [(f"line {i}", "info") for i in range(5)])
    page, max_id = runner.logs(run["id"], last_id=ids[1], limit=2)
    assert [p["message"] for p in page] == ["line 2", "line 3"]
    assert max_id == ids[-1]
    newest, _ = runner.logs(run["id"], limit=2)
    assert [p["message"] for p in newest] == ["line 4", "line 3"]
    assert runner.logs(run["id"], last_id=ids[-1]) == ([], ids[-1])
    assert runner.logs(12345) == ([], None)


def test_runs_survive_restart_and_interrupted_runs_come_back_failed(platform):
    first = Runner(platform)
    done = first.wait(first.start(20, "sql", lambda ctx: None)["id"])
    release = threading.Event()
    live = first.start(21, "sql", lambda ctx: release.wait(TIMEOUT))
    wait_until(lambda: first.get(live["id"])["state"] == "running", what="running")
    # a second process opens the same data directory while the first is "gone"
    second = Runner(platform)
    assert second.recover() == 1
    again = second.get(live["id"])
    assert again["state"] == "failed" and again["error"] == "platform restarted"
    assert second.get(done["id"])["state"] == "succeeded"
    release.set()
    first.wait(live["id"])
    assert second.get(live["id"])["state"] == "failed"  # never resurrected
    first.shutdown()
    second.shutdown()


def test_shutdown_kills_live_command_runs(platform, tmp_path):
    runner = Runner(platform)
    run = runner.start(30, "containers", command_executor("echo up; sleep 300"))
    wait_until(lambda: "up" in messages(runner, run["id"]), what="start")
    runner.shutdown()
    reopened = Runner(platform)
    try:
        final = reopened.get(run["id"])
        assert final["state"] == "failed" and final["error"] == "platform shut down"
    finally:
        reopened.shutdown()


def test_last_runs_and_detail(runner):
    a = runner.wait(runner.start(40, "sql", lambda ctx: ctx.update(output=[1]))["id"])
    b = runner.wait(runner.start(41, "sql", lambda ctx: None)["id"])
    last = runner.last_runs([40, 41, 42])
    assert set(last) == {40, 41}
    assert last[40]["output"] == [1] and last[41]["id"] == b["id"]
    assert runner.last_run(40)["id"] == a["id"]
    assert runner.last_run(42) is None


def test_listeners_hear_every_state_change_and_cannot_break_runs(runner):
    heard = []

    def broken(run_id, state):
        raise RuntimeError("listener bug")

    runner.listeners.extend([lambda run_id, state: heard.append((run_id, state)), broken])
    run = runner.wait(runner.start(50, "sql", lambda ctx: None)["id"], TIMEOUT)
    assert run["state"] == "succeeded"
    assert heard == [(run["id"], "running"), (run["id"], "succeeded")]


def test_clear_kills_live_runs_and_forgets_everything(runner):
    done = runner.wait(runner.start(60, "sql", lambda ctx: ctx.log("x"))["id"], TIMEOUT)
    live = runner.start(61, "containers", command_executor("echo up; sleep 300"))
    wait_until(lambda: "up" in messages(runner, live["id"]), what="start")
    runner.clear()
    assert runner.get(done["id"]) is None and runner.get(live["id"]) is None
    assert runner.logs(done["id"]) == ([], None)
    again = runner.wait(runner.start(61, "sql", lambda ctx: None)["id"], TIMEOUT)
    assert again["state"] == "succeeded" and again["id"] > live["id"]


def test_run_ends_with_its_main_process_and_leftovers_are_killed(runner):
    sleeper = unique_sleep()
    cmd = f"{sleeper} & echo main done"
    run = runner.wait(runner.start(70, "containers", command_executor(cmd))["id"], TIMEOUT)
    assert run["state"] == "succeeded"
    assert messages(runner, run["id"]) == ["main done"]
    wait_until(lambda: not live_pids(sleeper), what="the leftover process to be killed")


def test_cancel_timeout_lets_a_script_clean_up_after_sigterm(runner, tmp_path):
    marker = tmp_path / "cleaned"
    cmd = f"trap 'touch {marker}; exit 0' TERM; echo ready; while true; do sleep 0.05; done"
    run = runner.start(80, "containers", command_executor(cmd, cancel_timeout=10))
    wait_until(lambda: "ready" in messages(runner, run["id"]), what="start")
    runner.cancel(run["id"])
    assert runner.wait(run["id"], TIMEOUT)["state"] == "cancelled"
    wait_until(marker.exists, what="the TERM handler to run")


def test_many_command_runs_share_a_bounded_number_of_threads(platform):
    platform.max_runs = None  # no cap: every run runs at once
    runner = Runner(platform)
    try:
        before = threading.active_count()
        count = 40
        runs = [
            runner.start(100 + i, "containers", command_executor("echo up; exec sleep 120"))
            for i in range(count)
        ]
        peak = 0

        def all_up() -> bool:
            nonlocal peak
            peak = max(peak, threading.active_count())
            return all(messages(runner, run["id"]) == ["up"] for run in runs)

        wait_until(all_up, what="every run to start")
        assert all(runner.get(run["id"])["state"] == "running" for run in runs)
        # one pump thread plus the bounded worker pool, however many runs
        assert peak - before <= WORKER_THREADS + 1, (before, peak)
        for run in runs:
            runner.cancel(run["id"], wait=0)
        for run in runs:
            assert runner.wait(run["id"], TIMEOUT)["state"] == "cancelled"
    finally:
        runner.shutdown()


def test_max_runs_keeps_the_rest_queued_in_order(platform, tmp_path):
    platform.max_runs = 1
    runner = Runner(platform)
    try:
        gate = tmp_path / "gate"
        first = runner.start(
            200, "containers", command_executor(f"until [ -e {gate} ]; do sleep 0.05; done")
        )
        order: list[int] = []
        later = [
            runner.start(201 + i, "sql", lambda ctx: order.append(ctx.run_id)) for i in range(3)
        ]
        wait_until(lambda: runner.get(first["id"])["state"] == "running", what="the first run")
        assert [runner.get(r["id"])["state"] for r in later] == ["queued"] * 3
        assert runner.cancel(later[1]["id"])["state"] == "cancelled"
        gate.touch()
        for run in later:
            runner.wait(run["id"], TIMEOUT)
        assert order == [later[0]["id"], later[2]["id"]]
        assert runner.get(later[1]["id"])["startedAt"] is None
    finally:
        runner.shutdown()


def test_max_runs_must_be_a_positive_count_or_none(platform):
    for bad in (-1, 1.5, "2", True):
        platform.max_runs = bad
        with pytest.raises(ValueError, match="max_runs"):
            Runner(platform)


def test_commands_are_reaped_by_polling_where_pidfds_are_missing(platform, monkeypatch):
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    runner = Runner(platform)
    try:
        done = runner.wait(runner.start(300, "containers", command_executor("echo hi"))["id"])
        assert done["state"] == "succeeded" and messages(runner, done["id"]) == ["hi"]
        sleeper = unique_sleep()
        run = runner.start(301, "containers", command_executor(f"echo up; {sleeper}"))
        wait_until(lambda: "up" in messages(runner, run["id"]), what="start")
        assert runner.cancel(run["id"], wait=TIMEOUT)["state"] == "cancelled"
        assert not live_pids(sleeper)
    finally:
        runner.shutdown()
