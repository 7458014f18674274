"""CivisFuture and its shared poller, on real runs of the embedded platform."""

from __future__ import annotations

import _thread
import concurrent.futures as cf
import threading

import pytest

import civis_jupyter as civis
from civis_jupyter.futures import CivisFuture, live_futures, on_new_future

from .conftest import container


def _future(client, script):
    run = client.jobs.post_runs(script.id)
    return CivisFuture(client.jobs.get_runs, (script.id, run.id), client=client)


def test_success_resolves_with_the_run(client):
    fut = _future(client, container(client, "echo ok"))
    result = fut.result(60)
    assert result.state == "succeeded" and fut.succeeded() and not fut.failed()
    assert fut.job_id and fut.run_id == result.id
    assert str(fut.job_id) in fut.job_url


def test_failure_without_error_text_carries_the_log_tail(client):
    fut = _future(client, container(client, "echo first; echo 'it broke here' >&2; exit 3"))
    with pytest.raises(civis.CivisJobFailure) as info:
        fut.result(60)
    assert "it broke here" in str(info.value)
    assert str(info.value).startswith(f"(From job {fut.job_id} / run {fut.run_id})")
    assert fut.failed() and isinstance(fut.exception(), civis.CivisJobFailure)


def test_cancel_cancels_the_run_and_resolves_the_future(client, tmp_path):
    gate = tmp_path / "never"
    fut = _future(client, container(client, f"while [ ! -e {gate} ]; do sleep 0.05; done"))
    assert fut.cancel() is True
    assert fut.cancelled() and fut.done()
    with pytest.raises(cf.CancelledError):
        fut.result(5)
    assert client.jobs.get_runs(fut.job_id, fut.run_id).state == "cancelled"
    assert fut.cancel() is True  # as the official client: a cancelled future stays cancelled


def test_wait_and_as_completed(client):
    futures = [_future(client, container(client, f"echo {i}")) for i in range(4)]
    done, not_done = cf.wait(futures, timeout=60)
    assert len(done) == 4 and not not_done
    assert set(cf.as_completed(futures, timeout=60)) == set(futures)


def test_done_callbacks_and_subscribers_see_the_end(client, tmp_path):
    gate = tmp_path / "go"
    fut = _future(client, container(client, f"while [ ! -e {gate} ]; do sleep 0.02; done"))
    states = []
    running = threading.Event()

    def watch(_fut, response):
        states.append(response.state if response is not None else None)
        if response is not None and response.state == "running":
            running.set()

    fut.subscribe(watch)
    called = []
    fut.add_done_callback(lambda f: called.append(f.result().state))
    assert running.wait(60)
    gate.touch()
    fut.result(60)
    assert called == ["succeeded"]
    assert states[-1] == "succeeded" and "running" in states


def test_many_futures_share_one_polling_thread(client):
    queries = [
        client.queries.post(
            client.get_database_id("local"),
            f"select {i}",
            10,
            credential=client.default_database_credential_id,
        )
        for i in range(50)
    ]
    created = []
    before = set(threading.enumerate())
    stop = on_new_future(created.append)
    futures = [
        CivisFuture(client.queries.get, (q.id,), client=client, poll_on_creation=False)
        for q in queries
    ]
    stop()
    new_threads = set(threading.enumerate()) - before
    done, _ = cf.wait(futures, timeout=120)
    assert len(done) == 50
    # One scheduling thread and two small fixed pools, however many futures.
    from civis_jupyter.futures import CALLBACK_WORKERS, POLL_WORKERS

    assert len(new_threads) <= 1 + POLL_WORKERS + CALLBACK_WORKERS
    assert all(t.name.startswith(("civis-poll", "civis-callback")) for t in new_threads)
    assert sum(t.name == "civis-poller" for t in threading.enumerate()) <= 1
    assert created == futures
    assert all(f in live_futures() for f in futures)


def test_result_returns_promptly_on_keyboard_interrupt(client, tmp_path):
    gate = tmp_path / "never"
    fut = _future(client, container(client, f"while [ ! -e {gate} ]; do sleep 0.05; done"))
    waiting = threading.Event()

    def interrupt():
        waiting.wait(30)
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        waiting.set()
        fut.result()
    fut.cancel()


def test_max_retries_starts_new_runs(client):
    script = container(client, "exit 1")
    run = client.jobs.post_runs(script.id)
    fut = CivisFuture(client.jobs.get_runs, (script.id, run.id), client=client, max_retries=2)
    with pytest.raises(civis.CivisJobFailure):
        fut.result(60)
    assert len(client.jobs.list_runs(script.id)) == 3
    with pytest.raises(ValueError):
        CivisFuture(client.queries.get, (1,), client=client, max_retries=1)
