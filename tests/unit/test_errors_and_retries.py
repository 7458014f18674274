"""Error responses, the retry rules, and Retry-After."""

from __future__ import annotations

import socket
import threading

import pytest
import tenacity

import civis_jupyter as civis

from .apiserver import ApiServer, start, stop
from .conftest import API_KEY


def _sequence(*answers):
    """A handler answering each request with the next (status, headers, body)."""
    remaining = list(answers)
    lock = threading.Lock()

    def handler(_seen):
        with lock:
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return handler


def test_api_error_format(client, api_server):
    api_server.route(
        "GET",
        "/scripts/sql/7",
        {
            "error": "not_found",
            "errorDescription": "The requested resource could not be found.",
            "code": 404,
        },
        status=404,
    )
    with pytest.raises(civis.CivisAPIError) as info:
        client.scripts.get_sql(7)
    assert str(info.value) == (
        "(404) The requested resource could not be found. (GET /scripts/sql/7)"
    )
    assert info.value.status_code == 404
    assert info.value.error_message == "The requested resource could not be found."
    assert API_KEY not in repr(info.value) + str(info.value)


def test_401_raises_key_error_with_www_authenticate(client, api_server):
    api_server.route(
        "GET",
        "/users/me",
        {"error": "unauthorized", "errorDescription": "x", "code": 401},
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="civis"'},
    )
    with pytest.raises(civis.CivisAPIKeyError, match='realm="civis"') as info:
        client.users.get_me()
    assert API_KEY not in str(info.value)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_idempotent_verbs_retry(client, api_server, status):
    api_server.route("GET", "/users/me", _sequence((status, {}, None), (200, {}, {"id": 1})))
    assert client.users.get_me().id == 1
    assert len(api_server.requests_to("/users/me")) == 2


@pytest.mark.parametrize(
    ("status", "retried"), [(429, True), (503, True), (502, False), (504, False)]
)
def test_post_retries_only_429_and_503(client, api_server, status, retried):
    api_server.route(
        "POST", "/scripts/sql/3/runs", _sequence((status, {}, None), (202, {}, {"id": 1}))
    )
    if retried:
        assert client.scripts.post_sql_runs(3).id == 1
    else:
        with pytest.raises(civis.CivisAPIError):
            client.scripts.post_sql_runs(3)
    assert len(api_server.requests_to("/scripts/sql/3/runs")) == (2 if retried else 1)


def test_patch_is_never_retried(client, api_server):
    api_server.route("PATCH", "/scripts/sql/3", _sequence((503, {}, None), (200, {}, {"id": 3})))
    with pytest.raises(civis.CivisAPIError) as info:
        client.scripts.patch_sql(3, name="x")
    assert info.value.status_code == 503
    assert len(api_server.requests_to("/scripts/sql/3")) == 1


def test_last_error_is_raised_after_the_last_attempt(client, api_server):
    api_server.route("GET", "/users/me", {"errorDescription": "busy"}, status=503)
    with pytest.raises(civis.CivisAPIError, match=r"\(503\) busy"):
        client.users.get_me()
    assert len(api_server.requests_to("/users/me")) == 4


def test_retry_after_is_honoured(api_server, official_spec_path):
    waits = []
    policy = tenacity.Retrying(
        wait=tenacity.wait_none(), stop=tenacity.stop_after_attempt(3), sleep=waits.append
    )
    api_server.route(
        "GET", "/users/me", _sequence((429, {"Retry-After": "2"}, None), (200, {}, {"id": 1}))
    )
    client = civis.APIClient(local_api_spec=official_spec_path, retries=policy)
    assert client.users.get_me().id == 1
    assert waits == [2.0]


def test_user_policy_without_error_callback_still_raises_api_error(api_server, official_spec_path):
    policy = tenacity.Retrying(wait=tenacity.wait_none(), stop=tenacity.stop_after_attempt(2))
    api_server.route("GET", "/users/me", {"errorDescription": "down"}, status=502)
    client = civis.APIClient(local_api_spec=official_spec_path, retries=policy)
    with pytest.raises(civis.CivisAPIError, match="502"):
        client.users.get_me()


def test_connection_errors_are_retried_for_get(monkeypatch, official_spec_path):
    # A bound socket that does not listen refuses connections; the server
    # takes over its port between the first attempt and the retry.
    reserved = socket.socket()
    reserved.bind(("127.0.0.1", 0))
    port = reserved.getsockname()[1]
    server = ApiServer()
    server.route("GET", "/users/me", {"id": 8})
    started = []

    def bring_server_up(_state):
        reserved.close()
        started.append(start(server, port))

    policy = tenacity.Retrying(
        wait=tenacity.wait_none(), stop=tenacity.stop_after_attempt(3), before_sleep=bring_server_up
    )
    monkeypatch.setenv("CIVIS_API_ENDPOINT", f"http://127.0.0.1:{port}/")
    client = civis.APIClient(api_key="k", local_api_spec=official_spec_path, retries=policy)
    try:
        assert client.users.get_me().id == 8
    finally:
        reserved.close()
        for httpd in started:
            stop(httpd)


def test_connection_errors_are_not_retried_for_post(monkeypatch, official_spec_path):
    import requests

    attempts = []
    policy = tenacity.Retrying(
        wait=tenacity.wait_none(), stop=tenacity.stop_after_attempt(3), before=attempts.append
    )
    monkeypatch.setenv("CIVIS_API_ENDPOINT", "http://127.0.0.1:9/")
    client = civis.APIClient(api_key="k", local_api_spec=official_spec_path, retries=policy)
    with pytest.raises(requests.ConnectionError):
        client.scripts.post_sql_runs(1)
    assert len(attempts) == 1
