"""Futures behave like the official client's where users rely on it (issue 11, items 1-6).

Against the embedded platform and with mock clients: ours
(``civis_jupyter.testing.create_client_mock``) and the official one
(``civis.tests.create_client_mock``).
"""

from __future__ import annotations

import concurrent.futures as cf
import gzip
import io
import json
import logging
import pprint
import threading
import warnings
from unittest import mock

import pytest
import requests
import tenacity

import civis_jupyter as civis
from civis_jupyter.api.errors import CivisAPIError
from civis_jupyter.api.response import Response
from civis_jupyter.futures import CivisFuture, ContainerFuture, poller_for
from civis_jupyter.platform import LocalPlatform

from .conftest import container

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import civis as official
    from civis.tests import create_client_mock as official_mock

from civis_jupyter.testing import create_client_mock as our_mock

MOCKS = {"ours": our_mock, "official": official_mock}


def _error_response(status: int, body: bytes, method: str = "GET") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.reason = "Bad Gateway"
    response.request = requests.Request(method, "http://x/jobs/1/runs/2").prepare()
    return response


def _api_error(status: int) -> CivisAPIError:
    body = json.dumps({"error": "x", "errorDescription": f"status {status}"}).encode()
    return CivisAPIError(_error_response(status, body, "DELETE"))


@pytest.fixture(params=sorted(MOCKS))
def mock_client(request):
    return MOCKS[request.param]()


# -- 1. errors while polling resolve the future ---------------------------------------------


def test_a_bug_in_the_poller_resolves_the_future(mock_client):
    def broken(job_id, run_id):
        return 1 / 0

    fut = CivisFuture(broken, (1, 2), client=mock_client, poll_on_creation=False)
    assert isinstance(fut.exception(timeout=10), ZeroDivisionError)
    assert fut.failed() and fut.done()
    with pytest.raises(ZeroDivisionError):
        fut.result(0)


def test_an_api_error_on_the_first_poll_resolves_at_creation(mock_client):
    mock_client.jobs.get_runs.side_effect = _api_error(500)
    fut = CivisFuture(mock_client.jobs.get_runs, (1, 2), client=mock_client)
    assert fut.done()
    with pytest.raises(CivisAPIError, match="status 500"):
        fut.result(0)


def test_errors_while_polling_use_up_max_retries_then_succeed(mock_client):
    answers = iter([_api_error(500), _api_error(500)])

    def poll(job_id, run_id):
        error = next(answers, None)
        if error is not None:
            raise error
        return Response({"id": run_id, "state": "succeeded"})

    mock_client.jobs.post_runs.side_effect = [Response({"id": 3}), Response({"id": 4})]
    fut = CivisFuture(poll, (1, 2), client=mock_client, max_retries=2, polling_interval=0.01)
    assert fut.result(timeout=10)["id"] == 4
    assert mock_client.jobs.post_runs.call_count == 2


@pytest.fixture
def own_platform(tmp_path):
    with LocalPlatform(data_dir=tmp_path / "p", rate_limit=10**6) as platform:
        yield platform


def _client_for(platform, retries=None):
    with mock.patch.dict(
        "os.environ",
        {"CIVIS_API_ENDPOINT": platform.endpoint, "CIVIS_API_KEY": platform.api_key},
    ):
        return civis.APIClient(retries=retries)


def test_a_500_from_the_platform_resolves_the_future(own_platform, tmp_path):
    client = _client_for(own_platform)
    script = container(client, f"while [ ! -e {tmp_path / 'never'} ]; do sleep 0.05; done")
    run = client.jobs.post_runs(script.id)
    fut = CivisFuture(
        client.jobs.get_runs, (script.id, run.id), client=client, polling_interval=0.05
    )
    own_platform.faults.probabilities = {500: 1.0}
    try:
        error = fut.exception(timeout=30)
    finally:
        own_platform.faults.probabilities = {}
        client.jobs.delete_runs(script.id, run.id)
    assert isinstance(error, CivisAPIError) and error.status_code == 500


def test_a_connection_error_after_retries_resolves_the_future(own_platform, tmp_path):
    few = tenacity.Retrying(stop=tenacity.stop_after_attempt(2), wait=tenacity.wait_none())
    client = _client_for(own_platform, retries=few)
    script = container(client, f"while [ ! -e {tmp_path / 'never'} ]; do sleep 0.05; done")
    run = client.jobs.post_runs(script.id)
    fut = CivisFuture(client.jobs.get_runs, (script.id, run.id), client=client)
    own_platform.stop()
    assert isinstance(fut.exception(timeout=30), requests.ConnectionError)


def test_a_missing_run_resolves_with_the_404(client):
    script = container(client, "true")
    fut = CivisFuture(client.jobs.get_runs, (script.id, 10**6), client=client)
    assert fut.exception(timeout=10).status_code == 404


# -- 2. mock clients ------------------------------------------------------------------------------


def test_futures_of_a_mock_client_resolve(mock_client):
    mock_client.scripts.get_containers_runs.return_value = Response({"id": 2, "state": "succeeded"})
    fut = ContainerFuture(1, 2, client=mock_client, poll_on_creation=False)
    assert fut.result(timeout=10)["state"] == "succeeded"
    assert fut.succeeded()


def test_official_style_poller_returning_plain_objects(mock_client):
    poller = mock.Mock(side_effect=[mock.Mock(state="running"), mock.Mock(state="succeeded")])
    fut = CivisFuture(poller, (1, 2), client=mock_client, polling_interval=0.01)
    assert fut.result(timeout=10).state == "succeeded"
    assert poller.call_count == 2


def test_run_job_and_run_template_with_a_mock_client(mock_client):
    mock_client.jobs.post_runs.return_value = Response({"id": 5})
    mock_client.jobs.get_runs.return_value = Response({"id": 5, "state": "succeeded"})
    assert civis.utils.run_job(1, client=mock_client).result(timeout=10)["id"] == 5

    mock_client.scripts.post_custom.return_value = Response({"id": 7})
    mock_client.scripts.list_custom_runs_outputs.return_value = [
        Response({"objectType": "File", "name": "report.csv", "objectId": 11}),
        Response({"objectType": "JSONValue", "name": "x", "objectId": 12}),
    ]
    assert civis.utils.run_template(3, {"a": 1}, client=mock_client) == {"report.csv": 11}


def test_query_civis_with_a_mock_client(mock_client):
    mock_client.queries.post.return_value = Response({"id": 8, "state": "queued"})
    mock_client.queries.get.side_effect = [
        Response({"id": 8, "state": "running"}),
        Response({"id": 8, "state": "succeeded", "resultRows": [["1"]]}),
    ]
    fut = civis.io.query_civis("select 1", 1, client=mock_client, polling_interval=0.01)
    assert fut.result(timeout=10).result_rows == [["1"]]


@pytest.fixture
def uploaded_csv(client):
    """A gzip CSV stored on the platform, and its signed URL."""
    data = gzip.compress(b"a,b\n1,x\n2,y\n")
    file_id = civis.io.file_to_civis(io.BytesIO(data), "result.csv.gz", client=client)
    return file_id, client.files.get(file_id).file_url, data


def _sql_mock(mock_client, file_id, url):
    mock_client.scripts.post_sql.return_value = Response({"id": 21})
    mock_client.scripts.post_sql_runs.return_value = Response({"id": 22})
    mock_client.scripts.get_sql_runs.return_value = Response(
        {"id": 22, "state": "succeeded", "output": [{"fileId": file_id, "path": url}]}
    )
    mock_client.files.get.return_value = Response({"id": file_id, "fileUrl": url})


def test_read_civis_sql_with_a_mock_client(mock_client, uploaded_csv):
    file_id, url, _ = uploaded_csv
    _sql_mock(mock_client, file_id, url)
    rows = civis.io.read_civis_sql("select 1", 1, client=mock_client)
    assert rows == [["a", "b"], ["1", "x"], ["2", "y"]]


# -- 4. civis_to_csv is done only once the file is written ---------------------------------------


def test_civis_to_csv_is_done_once_the_file_is_written(mock_client, uploaded_csv, tmp_path):
    file_id, url, data = uploaded_csv
    _sql_mock(mock_client, file_id, url)
    mock_client.scripts.get_sql_runs.return_value = Response({"id": 22, "state": "running"})
    target = tmp_path / "out.csv"
    fut = civis.io.civis_to_csv(target, "select 1", 1, client=mock_client, polling_interval=0.01)
    _sql_mock(mock_client, file_id, url)  # now the run has succeeded
    done, _ = cf.wait([fut], timeout=30)
    assert fut in done
    assert target.read_bytes() == data  # on disk as soon as wait() returns
    assert isinstance(fut, CivisFuture) and fut.result(0).state == "succeeded"


def test_civis_to_csv_on_the_platform(client, tmp_path):
    target = tmp_path / "rows.csv"
    fut = civis.io.civis_to_csv(target, "select 1 as a, 'x' as b", "local", client=client)
    done, _ = cf.wait([fut], timeout=60)
    assert fut in done and target.read_text().splitlines() == ["a,b", "1,x"]


def test_a_failed_download_is_the_futures_exception(mock_client, tmp_path):
    _sql_mock(mock_client, 1, "http://127.0.0.1:9/nothing-listens-here")
    fut = civis.io.civis_to_csv(tmp_path / "x.csv", "select 1", 1, client=mock_client)
    assert isinstance(fut.exception(timeout=30), OSError)
    assert not (tmp_path / "x.csv").exists()


# -- 3. cancel() ----------------------------------------------------------------------------------


def _running(mock_client):
    return CivisFuture(
        lambda job_id, run_id: Response({"id": run_id, "state": "running"}),
        (1, 2),
        client=mock_client,
        polling_interval=60,
    )


def test_cancel_then_cancel_again(mock_client):
    mock_client.jobs.delete_runs.return_value = Response(None)
    fut = _running(mock_client)
    assert fut.cancel() is True and fut.cancelled()
    mock_client.jobs.delete_runs.reset_mock()
    assert fut.cancel() is True
    mock_client.jobs.delete_runs.assert_not_called()


def test_cancel_answered_404_returns_false_and_leaves_the_future(mock_client):
    mock_client.jobs.delete_runs.side_effect = _api_error(404)
    fut = _running(mock_client)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fut.cancel() is False
    assert not fut.done() and not fut.cancelled()


def test_cancel_answered_500_warns_and_returns_false(mock_client):
    mock_client.jobs.delete_runs.side_effect = _api_error(500)
    fut = _running(mock_client)
    with pytest.warns(UserWarning, match="Unexpected error"):
        assert fut.cancel() is False
    assert not fut.done()


def test_cancel_of_a_run_that_ended_keeps_its_outcome(client):
    script = container(client, "echo done")
    run = client.jobs.post_runs(script.id)
    fut = CivisFuture(
        client.jobs.get_runs, (script.id, run.id), client=client, polling_interval=3600
    )
    ended = threading.Event()
    while not ended.wait(0.05):  # the run ends; this future has not looked yet
        if client.jobs.get_runs(script.id, run.id).state == "succeeded":
            ended.set()
    assert fut.cancel() is False
    assert not fut.cancelled() and fut.result(5).state == "succeeded"


# -- 5. io errors, error texts, Response repr -----------------------------------------------------


def test_file_id_from_run_output_of_a_missing_run_is_an_oserror(client):
    script = container(client, "true")
    with pytest.raises(IOError, match=f"Could not find job/run ID {script.id}/999999"):
        civis.io.file_id_from_run_output("x", script.id, 999999, client=client)


def test_file_id_from_run_output_names_what_is_missing(mock_client):
    mock_client.jobs.list_runs_outputs.return_value = [
        Response({"name": "spam.csv", "objectId": 1, "objectType": "File"})
    ]
    with pytest.raises(FileNotFoundError, match='File "eggs" is not an output of job/run ID 4/5'):
        civis.io.file_id_from_run_output("eggs", 4, 5, client=mock_client)
    with pytest.raises(FileNotFoundError, match="A file containing the pattern"):
        civis.io.file_id_from_run_output("^e", 4, 5, regex=True, client=mock_client)
    assert civis.io.file_id_from_run_output("^sp", 4, 5, regex=True, client=mock_client) == 1


@pytest.mark.parametrize(
    "body", [b"<html>Bad gateway</html>", b"foobar", b"{broken", b"", b'{"errorDescription": 1}']
)
def test_error_message_of_odd_bodies_matches_official(body):
    ours = CivisAPIError(_error_response(502, body))
    theirs = official.base.CivisAPIError(_error_response(502, body))
    assert ours.error_message == theirs.error_message
    assert str(ours) == str(theirs)


def test_response_repr_and_pprint_match_official():
    data = {
        "id": 1,
        "lastRun": {"id": 2, "finishedAt": None},
        "outputs": [{"objectId": 3}, 4],
        "arguments": {"MY_ARG": "kept"},
        "aVeryLongKeyName": "x" * 70,
    }
    assert repr(Response(data)) == repr(official.Response(data))
    assert "'last_run': Response({" in repr(Response(data))
    ours, theirs = pprint.pformat(Response(data)), pprint.pformat(official.Response(data))
    assert ours == theirs and ours.count("\n") >= 4


def test_response_module_exports():
    from civis_jupyter import response

    for name in ("convert_response_data_type", "CivisImmutableResponseError", "Response"):
        assert hasattr(response, name) and hasattr(official.response, name)
    with pytest.raises(response.CivisImmutableResponseError):
        Response({"a": 1})["a"] = 2


# -- structure: callbacks off the polling threads --------------------------------------------------


def test_callbacks_run_off_the_polling_threads_and_result_waits_for_them(mock_client):
    release = threading.Event()
    seen: list[str] = []

    def slow(fut):
        seen.append(threading.current_thread().name)
        release.wait(10)

    poller = mock.Mock(return_value=Response({"state": "succeeded"}))
    fut = CivisFuture(poller, (1, 2), client=mock_client, poll_on_creation=False)
    fut.add_done_callback(slow)
    fut.add_done_callback(lambda f: seen.append("second"))
    with pytest.raises(cf.TimeoutError):
        fut.result(timeout=0.3)  # the run is done, the first callback is not
    assert fut.done() and seen and seen[0].startswith("civis-callback")
    release.set()
    assert fut.result(timeout=10).state == "succeeded" and seen[1] == "second"


def test_a_callbacks_error_is_raised_by_result(mock_client):
    poller = mock.Mock(return_value=Response({"state": "succeeded"}))
    fut = CivisFuture(poller, (1, 2), client=mock_client)
    fut.add_done_callback(lambda f: 1 / 0)  # already done: called here, its error kept
    with pytest.raises(ZeroDivisionError):
        fut.result(0)


def test_subscribers_hear_every_state_in_order_off_the_polling_threads(mock_client):
    states = iter(["queued", "running", "running", "succeeded"])
    poller = mock.Mock(side_effect=lambda *a: Response({"state": next(states)}))
    heard = []
    done = threading.Event()

    def hear(_fut, response):
        heard.append((response.state, threading.current_thread().name))
        if response.state == "succeeded":
            done.set()

    fut = CivisFuture(
        poller, (1, 2), client=mock_client, poll_on_creation=False, polling_interval=0.01
    )
    fut.subscribe(hear)
    assert done.wait(10)
    assert [s for s, _ in heard] == ["queued", "running", "running", "succeeded"]
    assert all(name.startswith("civis-callback") for _, name in heard)


def test_one_scheduling_thread_for_every_client(mock_client):
    other = our_mock()
    for client in (mock_client, other):
        client.jobs.get_runs.return_value = Response({"state": "succeeded"})
    futs = [
        CivisFuture(c.jobs.get_runs, (1, i), client=c, poll_on_creation=False)
        for c in (mock_client, other)
        for i in range(5)
    ]
    cf.wait(futs, timeout=10)
    assert poller_for(mock_client) is poller_for(other)
    names = [t.name for t in threading.enumerate() if t.name.startswith("civis-poller")]
    assert len(names) <= 1


def test_jobs_listing_watches_many_runs_with_few_requests(client, caplog):
    scripts = [container(client, "sleep 0.3", name=f"batch {i}") for i in range(12)]
    runs = [client.jobs.post_runs(s.id) for s in scripts]
    before = client._transport.requests_sent
    futs = [
        CivisFuture(client.jobs.get_runs, (s.id, r.id), client=client, poll_on_creation=False)
        for s, r in zip(scripts, runs)
    ]
    with caplog.at_level(logging.WARNING, logger="civis_jupyter.futures"):
        done, _ = cf.wait(futs, timeout=60)
    assert len(done) == 12 and all(f.result(0).state == "succeeded" for f in futs)
    # One GET per run that ended plus a handful of listings, instead of a GET per
    # run every poll interval.
    assert client._transport.requests_sent - before < 12 + 25
    assert not [r for r in caplog.records if "rate limit" in r.getMessage()]


def test_polls_stay_within_the_rate_limit_and_say_so_once(tmp_path, monkeypatch, caplog):
    from civis_jupyter.futures import _watch
    from civis_jupyter.platform.server import RateLimiter

    window = 4.0
    monkeypatch.setattr(_watch, "RATE_WINDOW", window)
    with LocalPlatform(data_dir=tmp_path / "p", rate_limit=24) as platform:
        platform.limiter = RateLimiter(24, window=window)  # Civis's fixed window, shorter
        client = _client_for(platform)
        statuses: list[int] = []
        send = client._transport.session.send

        def counting(request, **kwargs):
            response = send(request, **kwargs)
            statuses.append(response.status_code)
            return response

        monkeypatch.setattr(client._transport.session, "send", counting)
        scripts = [container(client, "sleep 0.5", name=f"limited {i}") for i in range(8)]
        runs = [client.jobs.post_runs(s.id) for s in scripts]
        with caplog.at_level(logging.WARNING, logger="civis_jupyter.futures"):
            futs = [
                ContainerFuture(s.id, r.id, client=client, poll_on_creation=False)
                for s, r in zip(scripts, runs)
            ]
            done, _ = cf.wait(futs, timeout=60)
        assert len(done) == 8 and all(f.succeeded() for f in futs)
        assert 429 not in statuses
        stretched = [r for r in caplog.records if "rate limit" in r.getMessage()]
        assert len(stretched) == 1
