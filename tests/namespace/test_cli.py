"""The civis-jupyter command, in-process and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from civis_jupyter.cli import main


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    from civis_jupyter.platform import LocalPlatform

    with LocalPlatform(data_dir=tmp_path_factory.mktemp("cli"), seed="demo") as p:
        yield p


@pytest.fixture
def env(platform, monkeypatch):
    monkeypatch.setenv("CIVIS_API_ENDPOINT", platform.endpoint)
    monkeypatch.setenv("CIVIS_API_KEY", platform.api_key)
    return platform


def test_files_upload_and_download_round_trip(env, tmp_path, capsys):
    source = tmp_path / "in.bin"
    source.write_bytes(bytes(range(256)) * 100)
    assert main(["files", "upload", str(source)]) == 0
    file_id = int(capsys.readouterr().out.strip())
    target = tmp_path / "out.bin"
    assert main(["files", "download", str(file_id), str(target)]) == 0
    assert target.read_bytes() == source.read_bytes()


def test_sql_prints_a_table_and_writes_csv(env, tmp_path, capsys):
    assert main(["sql", "-d", "local", "-c", "select 41 + 1 as answer, 'x' as s"]) == 0
    out = capsys.readouterr().out
    assert "answer" in out and "42" in out
    target = tmp_path / "r.csv"
    sql = "select station_id from public.cta_ridership_daily limit 250"
    assert main(["sql", "-d", "local", "-c", sql, "-o", str(target)]) == 0
    assert len(target.read_text().splitlines()) == 251


def test_api_generic_command_prints_json(env, capsys):
    assert main(["api", "users", "get-me"]) == 0
    assert json.loads(capsys.readouterr().out)["username"] == "civis"
    assert main(["api", "jobs", "list", "--limit", "2"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["api", "scripts", "get_sql", "999999"], "(404)"),
        (["api", "jobs", "list", "--bogus", "1"], "unknown option"),
        (["api", "nope"], "unknown resource"),
        (["files", "upload", "/no/such/file"], "no such file"),
        (["sql", "-d", "nodb", "-c", "select 1"], "Database nodb not found"),
    ],
)
def test_errors_are_one_line_with_a_nonzero_status(env, capsys, argv, message):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_key_is_explained(monkeypatch, capsys):
    monkeypatch.delenv("CIVIS_API_KEY", raising=False)
    assert main(["jobs", "list"]) == 1
    assert "CIVIS_API_KEY" in capsys.readouterr().err


def test_follow_log_in_a_real_subprocess(env):
    from civis_jupyter import APIClient, utils

    client = APIClient()
    script = client.scripts.post_containers(
        {"cpu": 256, "memory": 512},
        name="logs",
        docker_command="for i in 1 2 3; do echo line $i; done",
        docker_image_name="x",
    )
    run = utils.run_job(script.id, client=client)
    run.result(60)
    result = subprocess.run(
        [sys.executable, "-m", "civis_jupyter.cli", "jobs", "follow-log", str(script.id)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-6:] == ["line", "1", "line", "2", "line", "3"]
