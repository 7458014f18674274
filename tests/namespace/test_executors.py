"""ContainerExecutor, CustomScriptExecutor and civis_jupyter.tests, on real runs."""

from __future__ import annotations

import concurrent.futures as cf
import inspect
import warnings

import pytest

from civis_jupyter import find_one
from civis_jupyter.executors import ContainerExecutor, CustomScriptExecutor, docker_command
from civis_jupyter.futures import CivisFuture
from civis_jupyter.tests import create_client_mock, create_client_mock_for_container_tests


def _log_text(client, future) -> str:
    return "\n".join(
        line.message for line in client.jobs.list_runs_logs(future.job_id, future.run_id)
    )


def test_container_executor_runs_commands_with_their_arguments(client):
    with ContainerExecutor(client=client, arguments={"GREETING": "hello"}) as pool:
        plain = pool.submit("echo plain $GREETING")
        built = pool.submit(None, "echo", "built", size=3)
        given = pool.submit("echo given $GREETING", arguments={"GREETING": "bonjour"})
    for future in (plain, built, given):
        assert isinstance(future, CivisFuture) and future.succeeded()
    assert "plain hello" in _log_text(client, plain)
    assert "built --size 3" in _log_text(client, built)
    assert "given bonjour" in _log_text(client, given)
    script = client.scripts.get_containers(plain.job_id)
    assert script.hidden is True and script.docker_image_name == "civisanalytics/datascience-python"


def test_container_executor_numbers_names_and_refuses_work_after_shutdown(client):
    pool = ContainerExecutor(client=client, name="numbered", inc_script_names=True)
    first, second = pool.submit("true"), pool.submit("true")
    pool.shutdown(wait=True)
    names = [client.scripts.get_containers(f.job_id).name for f in (first, second)]
    assert names == ["numbered 0", "numbered 1"]
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit("true")


def test_cancel_all_cancels_the_runs_still_going(client, tmp_path):
    gate = tmp_path / "never"
    pool = ContainerExecutor(client=client)
    futures = [pool.submit(f"while [ ! -e {gate} ]; do sleep 0.05; done") for _ in range(2)]
    pool.cancel_all()
    assert all(f.cancelled() for f in futures)
    assert {client.jobs.get_runs(f.job_id, f.run_id).state for f in futures} == {"cancelled"}


def test_failed_runs_are_started_again_with_max_n_retries(client, tmp_path):
    marker = tmp_path / "ran"
    pool = ContainerExecutor(client=client, max_n_retries=1)
    future = pool.submit(f"if [ -e {marker} ]; then echo again; else touch {marker}; exit 3; fi")
    assert future.result(60).state == "succeeded"
    assert len(client.jobs.list_runs(future.job_id)) == 2


def test_custom_script_executor_runs_the_template_with_each_submissions_arguments(client):
    template = find_one(client.templates.list_scripts(), name="Greeting")
    pool = CustomScriptExecutor(template.id, client=client, arguments={"NAME": "everyone"})
    default, given = pool.submit(), pool.submit(NAME="Ada")
    cf.wait([default, given], timeout=60)
    assert "everyone" in _log_text(client, default)
    assert "Ada" in _log_text(client, given)
    custom = client.scripts.get_custom(given.job_id)
    assert custom.from_template_id == template.id and custom.arguments["NAME"] == "Ada"


def test_executors_have_the_official_signatures():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from civis import futures as official

    ours_custom = inspect.signature(CustomScriptExecutor)
    assert list(ours_custom.parameters) == list(
        inspect.signature(official.CustomScriptExecutor).parameters
    )
    assert list(inspect.signature(ContainerExecutor).parameters) == list(
        inspect.signature(official._ContainerShellExecutor).parameters
    )
    assert docker_command("./run", 5, b=2, a=1) == official._create_docker_command(
        "./run", 5, b=2, a=1
    )


def test_container_test_mock_answers_like_the_official_one():
    client = create_client_mock_for_container_tests(script_id=-3, run_id=7, state="failed")
    assert client.scripts.post_containers(required_resources={}).id == -3
    assert client.jobs.get_runs(-3, 7).state == "failed"
    assert client.scripts.post_cancel(-3).state == "cancelled"
    future = ContainerExecutor(client=client).submit("true")
    assert (future.job_id, future.run_id) == (-3, 7)
    assert isinstance(future.exception(10), Exception)
    with pytest.raises(TypeError):
        create_client_mock().scripts.post_containers(bogus=1)
