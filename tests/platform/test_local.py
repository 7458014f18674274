"""LocalPlatform's life cycle: reset, users, environment."""

from __future__ import annotations

import threading
import warnings

import pytest
import requests

from civis_jupyter.cli import build_parser, platform_cmd
from civis_jupyter.platform import LocalPlatform
from civis_jupyter.platform.runner import DEFAULT_MAX_RUNS, find_sandbox

from ..polling import wait_until


def test_reset_starts_over(tmp_path):
    with LocalPlatform(data_dir=tmp_path) as platform:
        old_key = platform.api_key
        other = platform.create_user("someone")
        session = requests.Session()
        session.auth = (old_key, "")
        project = session.post(
            platform.endpoint + "projects", json={"name": "p", "description": ""}
        ).json()
        platform.reset()
        assert platform.api_key != old_key
        for key in (old_key, other):
            assert requests.get(platform.endpoint + "users/me", auth=(key, "")).status_code == 401
        fresh = requests.Session()
        fresh.auth = (platform.api_key, "")
        assert fresh.get(f"{platform.endpoint}projects/{project['id']}").status_code == 404
        assert [d["name"] for d in fresh.get(platform.endpoint + "databases").json()] == ["local"]
        assert platform.env() == {
            "CIVIS_API_ENDPOINT": platform.endpoint,
            "CIVIS_API_KEY": platform.api_key,
        }


def test_users_see_the_database_and_have_a_default_credential(tmp_path):
    with LocalPlatform(data_dir=tmp_path) as platform:
        key = platform.create_user("analyst")
        session = requests.Session()
        session.auth = (key, "")
        assert session.get(platform.endpoint + "users/me").json()["username"] == "analyst"
        creds = session.get(
            platform.endpoint + "credentials", params={"type": "Database", "default": "true"}
        ).json()
        assert len(creds) == 1 and creds[0]["username"] == "analyst"
        assert "api_key" not in repr(platform) and key not in repr(platform)


def test_an_unsandboxed_platform_says_so_when_it_starts(tmp_path):
    with pytest.warns(RuntimeWarning, match="not sandboxed") as caught:
        platform = LocalPlatform(data_dir=tmp_path, sandbox=False).start()
    try:
        assert len(caught) == 1
        assert platform.sandboxed is False
    finally:
        platform.stop()


def test_a_platform_that_runs_nothing_has_nothing_to_warn_about(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with LocalPlatform(data_dir=tmp_path, execute=False) as platform:
            assert platform.sandboxed is False


@pytest.mark.skipif(find_sandbox() is None, reason="Linux namespaces are not available here")
def test_runs_are_sandboxed_where_the_machine_allows_it(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with LocalPlatform(data_dir=tmp_path, sandbox=True, max_runs=None) as platform:
            assert platform.sandboxed and platform.runner.sandboxed
            assert platform.max_runs is None and platform.runner.max_runs is None


def test_max_runs_defaults_to_four_per_core_and_rejects_nonsense(tmp_path):
    assert LocalPlatform(data_dir=tmp_path).max_runs == DEFAULT_MAX_RUNS
    assert platform_cmd.DEFAULT_MAX_RUNS == DEFAULT_MAX_RUNS
    assert LocalPlatform(data_dir=tmp_path, max_runs=0).max_runs is None
    with pytest.raises(ValueError, match="max_runs"):
        LocalPlatform(data_dir=tmp_path, max_runs=-3)


def test_platform_command_takes_max_runs_and_says_whether_runs_are_sandboxed(tmp_path, capsys):
    parser = build_parser()
    assert parser.parse_args(["platform"]).max_runs == DEFAULT_MAX_RUNS
    assert parser.parse_args(["platform", "--max-runs", "0"]).max_runs is None
    with pytest.raises(SystemExit):
        parser.parse_args(["platform", "--max-runs", "-1"])
    assert "bad --max-runs" in capsys.readouterr().err
    args = parser.parse_args(["platform", "--data-dir", str(tmp_path), "--max-runs", "3"])
    stop = threading.Event()
    status: list[int] = []
    server = threading.Thread(target=lambda: status.append(args.func(args, stop)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI says it once, in its output
        server.start()
        seen: list[str] = []
        wait_until(
            lambda: seen.append(capsys.readouterr().out) or "Press Ctrl-C" in "".join(seen),
            "the platform command to serve",
        )
        out = "".join(seen)
        stop.set()
        server.join(60)
    assert status == [0]
    sandbox_lines = [line for line in out.splitlines() if "sandboxed" in line]
    assert len(sandbox_lines) == 1
    if find_sandbox() is not None:
        assert sandbox_lines[0].startswith("Runs are sandboxed")
    else:
        assert sandbox_lines[0].startswith("WARNING: Runs are not sandboxed")
    assert "At most 3 runs at once; the others queue." in out
