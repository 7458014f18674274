"""Runs are isolated from each other and from the platform's data (real server, two users).

Also: at most ``max_runs`` runs at once (FIFO queue), and a crashed platform's
run processes are killed when it starts again on the same data dir.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from civis_jupyter.platform import LocalPlatform
from civis_jupyter.platform.runner import _PREFIXES, Sandbox, find_sandbox

from ..polling import wait_until
from .test_runner import live_pids, unique_sleep

TIMEOUT = 60

needs_sandbox = pytest.mark.skipif(
    find_sandbox() is None, reason="Linux namespaces are not available here"
)


class User:
    """An ordinary user of the platform, over plain HTTP."""

    def __init__(self, platform: LocalPlatform, key: str):
        self.platform = platform
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {key}"

    def url(self, path: str) -> str:
        return self.platform.endpoint + path.lstrip("/")

    def container(self, command: str) -> int:
        r = self.http.post(
            self.url("scripts/containers"),
            json={"requiredResources": {"cpu": 1, "memory": 1}, "dockerCommand": command},
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def start(self, job: int) -> dict:
        r = self.http.post(self.url(f"scripts/containers/{job}/runs"))
        assert r.status_code == 202, r.text
        return r.json()

    def run(self, job: int) -> dict:
        return self.http.get(self.url(f"scripts/containers/{job}/runs")).json()[0]

    def wait(self, job: int, states: set[str]) -> dict:
        return wait_until(
            lambda: (run := self.run(job))["state"] in states and run,
            f"job {job} to reach {states}",
            timeout=TIMEOUT,
        )

    def finish(self, command: str) -> tuple[dict, list[str]]:
        """Run a command to its end; its final run and its log messages."""
        job = self.container(command)
        self.start(job)
        run = self.wait(job, {"succeeded", "failed", "cancelled"})
        logs = self.http.get(
            self.url(f"scripts/containers/{job}/runs/{run['id']}/logs"), params={"last_id": 0}
        ).json()
        return run, [line["message"] for line in logs]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with LocalPlatform(data_dir=tmp_path_factory.mktemp("p") / "data", max_runs=None) as p:
        yield p


@pytest.fixture(scope="module")
def alice(platform: LocalPlatform) -> User:
    return User(platform, platform.create_user("alice"))


@pytest.fixture(scope="module")
def bob(platform: LocalPlatform) -> User:
    return User(platform, platform.create_user("bob"))


# What a script sees of other processes: the run ids and keys in every
# environment it can read, and whether a given command line is running.
LOOK_AROUND = r"""
envs() { for f in /proc/[0-9]*/environ; do tr '\0' '\n' < "$f"; done 2>/dev/null; }
echo "runs: $(envs | grep '^CIVIS_RUN_ID=' | sort -u | cut -d= -f2 | tr '\n' ' ')"
echo "keys: $(envs | grep '^CIVIS_API_KEY=' | sort -u | wc -l)"
seen=hidden
for f in /proc/[0-9]*/cmdline; do
  [ "$(tr '\0' ' ' < "$f")" = "sleep $1 " ] && seen=visible
done 2>/dev/null
echo "other run: $seen"
"""


@needs_sandbox
def test_a_run_sees_neither_another_runs_processes_nor_its_key(alice, bob, platform):
    assert platform.sandboxed
    sleeper = unique_sleep()
    other = alice.container(f"echo up; {sleeper}")
    alice.start(other)
    alice_run = alice.wait(other, {"running"})
    wait_until(lambda: live_pids(sleeper), "alice's process", timeout=TIMEOUT)  # it is there
    duration = sleeper.split()[1]
    run, out = bob.finish(f"bash -c {_quote(LOOK_AROUND)} look {duration}")
    assert run["state"] == "succeeded", (run, out)
    assert out == [f"runs: {run['id']} ", "keys: 1", "other run: hidden"]
    assert str(alice_run["id"]) not in out[0]
    r = alice.http.delete(alice.url(f"scripts/containers/{other}/runs/{alice_run['id']}"))
    assert r.status_code == 202


@needs_sandbox
def test_a_run_cannot_read_the_data_dir_but_its_own_directory(bob, platform):
    data = platform.data_dir.resolve()
    secrets_on_disk = ["platform.json", "secret.key", "platform.sqlite3", "runs.sqlite3"]
    assert all((data / name).exists() for name in secrets_on_disk)
    assert (data / "files").is_dir() and (data / "warehouses").is_dir()
    checks = " ".join(
        f'test -e "{data}/{name}" && echo "visible {name}";'
        for name in [*secrets_on_disk, "files", "warehouses"]
    )
    command = (
        f'{checks} echo "data: $(ls -A {data})"; echo "runs: $(ls -A {data}/runs)"; '
        f"touch {data}/planted 2>/dev/null || echo 'data dir read-only'; "
        'echo mine > own.txt && echo "own: $(cat own.txt) in $PWD"'
    )
    run, out = bob.finish(command)
    assert run["state"] == "succeeded", (run, out)
    assert out == [
        "data: runs",
        f"runs: {run['id']}",
        "data dir read-only",
        f"own: mine in {data}/runs/{run['id']}/work",
    ]
    assert not (data / "planted").exists()
    assert (data / "runs" / str(run["id"]) / "work" / "own.txt").read_text() == "mine\n"


def test_a_runs_key_is_its_users_and_revoked_when_it_ends(bob, platform, tmp_path):
    keep = tmp_path / "run.key"  # outside the data dir: the test reads it afterwards
    script = (
        "import json, os, urllib.request\n"
        "req = urllib.request.Request(os.environ['CIVIS_API_ENDPOINT'] + 'users/me',\n"
        "    headers={'Authorization': 'Bearer ' + os.environ['CIVIS_API_KEY']})\n"
        "me = json.load(urllib.request.urlopen(req))\n"
        "print('me:', me['username'])\n"
        f"open({str(keep)!r}, 'w').write(os.environ['CIVIS_API_KEY'])\n"
    )
    run, out = bob.finish(f"python -c {_quote(script)}")
    assert run["state"] == "succeeded", (run, out)
    assert out == ["me: bob"]
    key = keep.read_text()
    assert key and key not in " ".join(out)
    answer = requests.get(platform.endpoint + "users/me", auth=(key, ""))
    assert answer.status_code == 401


def test_max_runs_queues_the_rest_and_starts_them_in_order(tmp_path):
    gates = tmp_path / "gates"
    gates.mkdir()
    with LocalPlatform(data_dir=tmp_path / "data", max_runs=2) as platform:
        user = User(platform, platform.create_user("queuer"))
        jobs = [
            user.container(f"echo go; while [ ! -e {gates}/{i} ]; do sleep 0.05; done")
            for i in range(5)
        ]
        runs = [user.start(job) for job in jobs]
        assert all(run["state"] == "queued" for run in runs)

        def states() -> list[str]:
            return [user.run(job)["state"] for job in jobs]

        wait_until(lambda: states()[:2] == ["running"] * 2, "the first two to run", timeout=TIMEOUT)
        assert states()[2:] == ["queued"] * 3
        cancel = user.http.delete(user.url(f"jobs/{jobs[3]}/runs/{runs[3]['id']}"))
        assert cancel.status_code == 202
        assert states()[3] == "cancelled"
        (gates / "1").touch()
        wait_until(
            lambda: states()[1:3] == ["succeeded", "running"], "the third to run", timeout=TIMEOUT
        )
        assert states() == ["running", "succeeded", "running", "cancelled", "queued"]
        (gates / "0").touch()
        wait_until(lambda: states()[4] == "running", "the fifth to run", timeout=TIMEOUT)
        for i in (2, 4):
            (gates / str(i)).touch()
        wait_until(
            lambda: states() == ["succeeded"] * 3 + ["cancelled", "succeeded"],
            "all to end",
            timeout=TIMEOUT,
        )
        # never more than two at once: count overlaps of the runs' lifetimes
        spans = [(r["startedAt"], r["finishedAt"]) for r in map(user.run, jobs) if r["startedAt"]]
        assert len(spans) == 4
        for start, _ in spans:
            assert sum(s <= start < f for s, f in spans) <= 2, spans


# -- crash hygiene --------------------------------------------------------------------

SERVE = """
import sys, time
from civis_jupyter.platform import LocalPlatform
p = LocalPlatform(data_dir=sys.argv[1], sandbox=None if sys.argv[2] == "auto" else False)
p.start()
print(p.endpoint, flush=True)
time.sleep(3600)
"""


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_processes_of_runs_cut_off_by_a_crash_are_killed_at_restart(tmp_path, sandbox):
    if sandbox == "auto" and find_sandbox() is None:
        pytest.skip("Linux namespaces are not available here")
    data = tmp_path / "data"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(data), sandbox],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        endpoint = server.stdout.readline().strip()
        assert endpoint.startswith("http://127.0.0.1:"), endpoint
        # setsid: a leftover that left the run's process group is found by its marker
        sleeper, escaped = unique_sleep(), unique_sleep()
        admin_key = _admin_key(data)
        user = User(_Remote(endpoint), admin_key)
        job = user.container(f"setsid {escaped} & echo started; {sleeper}")
        run = user.start(job)
        wait_until(
            lambda: live_pids(sleeper) and live_pids(escaped),
            "the run's processes",
            timeout=TIMEOUT,
        )
        user.wait(job, {"running"})
        wait_until(
            lambda: "started" in _messages(user, job, run["id"]),
            "the first log line",
            timeout=TIMEOUT,
        )
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(TIMEOUT)
        server.stdout.close()
    assert live_pids(sleeper) and live_pids(escaped)  # left running by the crash
    with LocalPlatform(data_dir=data) as again:
        user = User(again, again.api_key)
        final = user.run(job)
        assert final["id"] == run["id"]
        assert final["state"] == "failed" and final["error"] == "platform restarted"
        assert _messages(user, job, run["id"]) == ["started"]  # acknowledged: kept
        wait_until(lambda: not live_pids(sleeper), "the run's process to die", timeout=TIMEOUT)
        wait_until(lambda: not live_pids(escaped), "the escaped process to die", timeout=TIMEOUT)


class _Remote:
    """Just the endpoint of a platform served by another process."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint


def _admin_key(data: Path) -> str:
    return json.loads((data / "platform.json").read_text())["api_key"]


def _messages(user: User, job: int, run_id: int) -> list[str]:
    logs = user.http.get(
        user.url(f"scripts/containers/{job}/runs/{run_id}/logs"), params={"last_id": 0}
    ).json()
    return [line["message"] for line in logs]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def test_unique_sleep_commands_are_found_and_differ():
    first, second = unique_sleep(), unique_sleep()
    assert first != second
    proc = subprocess.Popen(first.split())
    try:
        wait_until(lambda: live_pids(first) == [proc.pid], "the sleep", timeout=TIMEOUT)
        assert live_pids(second) == []
    finally:
        proc.kill()
        proc.wait()
    assert live_pids(first) == []


def _as_nobody(argv: list[str]) -> list[str]:
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_the_user_namespace_sandbox_isolates_a_non_root_platform():
    """What a platform not run as root gets, where user namespaces are allowed."""
    probe = subprocess.run(
        _as_nobody(["unshare", "--user", "--map-root-user", "--pid", "--fork", "true"]),
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip("unprivileged user namespaces are not available here")
    # pytest's temporary directories are private to root: nobody needs its own
    with tempfile.TemporaryDirectory(prefix="civis-userns-") as top:
        _check_user_namespace_sandbox(Path(top))


def _check_user_namespace_sandbox(top: Path) -> None:
    top.chmod(0o755)
    data = top / "data"
    work = data / "runs" / "7" / "work"
    work.mkdir(parents=True)
    (data / "platform.json").write_text("{}")
    for path in (data, data / "runs", work.parent, work):
        os.chown(path, 65534, 65534)
    look = (
        'test -e "$0/platform.json" && echo visible; echo "data: $(ls -A "$0")"; '
        "grep -q civis-sandbox /proc/1/cmdline && echo pid1 is the sandbox init; "
        'umount "$0" 2>/dev/null || echo cannot unmount; touch mine && echo wrote'
    )
    argv = Sandbox(_PREFIXES[1]).argv(data, work.parent, work, ["/bin/sh", "-c", look, str(data)])
    done = subprocess.run(_as_nobody(argv), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "data: runs",
        "pid1 is the sandbox init",
        "cannot unmount",
        "wrote",
    ]
    assert (work / "mine").stat().st_uid == 65534
