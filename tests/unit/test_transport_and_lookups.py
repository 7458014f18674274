"""Thread-safe transport with overlapping requests; cached lookups; the mock."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import civis_jupyter as civis
from civis_jupyter.testing import create_client_mock

from .conftest import API_KEY


def test_threads_requests_overlap(client, api_server):
    # Every request waits until 8 requests are in flight at once: with a
    # process-wide lock (or one connection) this barrier would break.
    barrier = threading.Barrier(8, timeout=20)

    def handler(_seen):
        barrier.wait()
        return 200, {}, {"id": 1}

    api_server.route("GET", "/users/me", handler)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.users.get_me().id, range(8)))
    assert results == [1] * 8


def test_connections_are_reused(client, api_server):
    api_server.route("GET", "/users/me", {"id": 1})
    for _ in range(5):
        client.users.get_me()
    peers = {seen.peer for seen in api_server.requests_to("/users/me")}
    assert len(peers) == 1


def test_get_database_id_passes_ints_looks_up_names_and_caches(client, api_server):
    api_server.route("GET", "/databases", [{"id": 32, "name": "warehouse"}])
    assert client.get_database_id(5) == 5
    assert client.get_database_id("warehouse") == 32
    assert client.get_database_id("warehouse") == 32
    assert len(api_server.requests_to("/databases")) == 1
    with pytest.raises(ValueError, match="Database nope not found"):
        client.get_database_id("nope")


def test_get_table_id_with_quoted_names(client, api_server):
    api_server.route("GET", "/databases", [{"id": 32, "name": "warehouse"}])

    def tables(seen):
        if seen.query.get("schema") == ["a.b"] and seen.query.get("name") == ["t"]:
            return 200, {}, [{"id": 77, "schema": "a.b", "name": "t"}]
        return 200, {}, []

    api_server.route("GET", "/tables", tables)
    assert client.get_table_id('"a.b".t', "warehouse") == 77
    with pytest.raises(ValueError, match="No tables found"):
        client.get_table_id("x.y", "warehouse")


def test_credential_and_user_lookups(client, api_server):
    api_server.route(
        "GET",
        "/credentials",
        lambda seen: (
            200,
            {},
            [
                {
                    "id": 4,
                    "name": "db",
                    "type": "Database",
                    "default": True,
                    "username": "me",
                    "remoteHostId": 32,
                    "owner": "me",
                }
            ]
            if seen.query.get("type") != ["Amazon Web Services S3"]
            else [{"id": 9, "name": "aws", "owner": "me"}],
        ),
    )
    api_server.route("GET", "/users/me", {"id": 1, "username": "me"})
    api_server.route("GET", "/storage_hosts", [{"id": 6, "name": "s3"}])
    assert client.default_database_credential_id == 4
    assert client.username == "me"
    assert client.get_aws_credential_id("aws") == 9
    assert client.get_storage_host_id("s3") == 6 and client.get_storage_host_id(2) == 2
    with pytest.warns(FutureWarning):
        assert client.get_database_credential_id("me", 32) == 4
    with pytest.warns(FutureWarning):
        assert client.default_credential == 4
    with pytest.raises(ValueError, match="Storage Host"):
        client.get_storage_host_id("none")


def test_key_never_in_reprs(client):
    text = repr(client) + repr(client._transport) + repr(client.scripts) + str(vars(client))
    assert API_KEY not in repr(client) + repr(client._transport) + repr(client.scripts)
    assert "APIClient" in text


def test_client_cannot_be_pickled(client):
    import pickle

    with pytest.raises(RuntimeError, match="cannot be pickled"):
        pickle.dumps(client)


def test_create_client_mock_is_autospecced(official_spec_path):
    mock = create_client_mock(official_spec_path)
    mock.users.get_me.return_value = civis.Response({"id": 3})
    assert mock.users.get_me().id == 3
    with pytest.raises(AttributeError):
        mock.users.get_mee  # noqa: B018
    with pytest.raises(TypeError):
        mock.scripts.post_sql(bogus=1)
    mock.scripts.post_sql("n", "select 1", 1, 2)
    mock.scripts.post_sql.assert_called_once_with("n", "select 1", 1, 2)
