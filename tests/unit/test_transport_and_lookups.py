"""Thread-safe transport, its settings and the environment; cached lookups; the mock."""

from __future__ import annotations

import base64
import http.client
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests
import tenacity
import trustme

import civis_jupyter as civis
from civis_jupyter.api.transport import ClientConfig, Transport
from civis_jupyter.io.files import http_session
from civis_jupyter.testing import create_client_mock

from .apiserver import ApiServer, _handler, serve, start, stop
from .conftest import API_KEY, OFFICIAL_SPEC


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


# -- the environment (proxies, CA bundle, .netrc) and the settings -----------------
def fast_retries() -> tenacity.Retrying:
    return tenacity.Retrying(
        wait=tenacity.wait_none(),
        stop=tenacity.stop_after_attempt(2),
        retry_error_callback=lambda s: s.outcome.result(),
    )


@pytest.fixture
def clean_env(monkeypatch):
    """No proxy or CA bundle from the machine running the tests."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NETRC",
    ):
        monkeypatch.delenv(name, raising=False)


class ForwardingProxy:
    """A plain HTTP proxy on 127.0.0.1 (no CONNECT) that sends every request to one server.

    Requests arrive in absolute form (``GET http://host/path``); the proxy
    records the URL and forwards the request to ``target`` (host, port).
    """

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.urls: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        serve(self.httpd)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                proxy.urls.append(self.path)
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v for k, v in self.headers.items() if not k.lower().startswith("proxy-")
                }
                upstream = http.client.HTTPConnection(*proxy.target, timeout=30)
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                upstream.request(self.command, path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = _forward

        return Handler

    def close(self) -> None:
        stop(self.httpd)


@pytest.fixture
def proxy(api_server):
    target = urlsplit(api_server.url)
    forwarding = ForwardingProxy((target.hostname, target.port))
    yield forwarding
    forwarding.close()


def test_http_proxy_from_the_environment_carries_requests(
    clean_env, api_server, proxy, official_spec_path, monkeypatch
):
    # The endpoint's host does not exist: only the proxy can reach the server.
    api_server.route("GET", "/users/me", {"id": 7, "username": "via-proxy"})
    monkeypatch.setenv("CIVIS_API_ENDPOINT", "http://civis-api.invalid/")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    client = civis.APIClient(local_api_spec=official_spec_path, retries=fast_retries())
    assert client.users.get_me().username == "via-proxy"
    assert proxy.urls == ["http://civis-api.invalid/users/me"]
    seen = api_server.requests_to("/users/me")[0]
    expected = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
    assert seen.headers["Authorization"] == expected


def test_loopback_endpoints_never_use_the_proxy(clean_env, client, api_server, proxy, monkeypatch):
    api_server.route("GET", "/users/me", {"id": 1})
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    assert client.users.get_me().id == 1
    assert proxy.urls == []


def test_trust_env_false_ignores_proxies(clean_env, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    trusting = Transport("k", "https://civis.example/")
    distrusting = Transport("k", "https://civis.example/", config=ClientConfig(trust_env=False))
    url = "https://civis.example/users/me"
    assert trusting._send_settings(url, False)["proxies"] == {"https": "http://127.0.0.1:9"}
    assert not distrusting._send_settings(url, False)["proxies"]


@pytest.fixture(scope="module")
def tls_ca():
    return trustme.CA()


@pytest.fixture
def tls_server(tls_ca, monkeypatch):
    """The API server over HTTPS with a certificate of a private CA."""
    server = ApiServer()
    server.route("GET", "/users/me", {"id": 5, "username": "tls"})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.handle_error = lambda *_: None  # handshakes refused by untrusting clients
    serve(httpd)
    monkeypatch.setenv("CIVIS_API_ENDPOINT", f"https://127.0.0.1:{httpd.server_address[1]}/")
    monkeypatch.setenv("CIVIS_API_KEY", API_KEY)
    yield server
    stop(httpd)


def test_requests_ca_bundle_is_honoured(clean_env, tls_ca, tls_server, tmp_path, monkeypatch):
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    spec = OFFICIAL_SPEC
    untrusted = civis.APIClient(local_api_spec=spec, retries=fast_retries())
    with pytest.raises(requests.exceptions.SSLError):
        untrusted.users.get_me()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    trusted = civis.APIClient(local_api_spec=spec, retries=fast_retries())
    assert trusted.users.get_me().username == "tls"
    opted_out = civis.APIClient(
        local_api_spec=spec, retries=fast_retries(), config=ClientConfig(trust_env=False)
    )
    with pytest.raises(requests.exceptions.SSLError):
        opted_out.users.get_me()


def test_netrc_serves_signed_urls_but_never_replaces_the_api_key(
    clean_env, client, api_server, tmp_path, monkeypatch
):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-pass\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    api_server.route("GET", "/users/me", {"id": 1})
    api_server.route("GET", "/signed/blob", {"ok": True})
    client.users.get_me()
    api_call = api_server.requests_to("/users/me")[-1]
    assert base64.b64decode(api_call.headers["Authorization"][6:]).decode() == f"{API_KEY}:"
    http_session(client).get(api_server.url + "signed/blob", timeout=10)
    signed = api_server.requests_to("/signed/blob")[-1]
    assert base64.b64decode(signed.headers["Authorization"][6:]) == b"netrc-user:netrc-pass"


def test_read_timeout_is_a_setting(clean_env, api_server, official_spec_path, monkeypatch):
    release = threading.Event()

    def slow(_seen):
        release.wait(30)
        return 200, {}, {"id": 1}

    server = ApiServer()
    server.route("POST", "/slow", slow)
    httpd = start(server)
    httpd.handle_error = lambda *_: None  # the answer comes after the client left
    monkeypatch.setenv("CIVIS_API_ENDPOINT", server.url)
    config = ClientConfig(read_timeout=0.2)
    client = civis.APIClient(local_api_spec=official_spec_path, config=config)
    try:
        with pytest.raises(requests.exceptions.ReadTimeout):
            client._transport.request("POST", "slow")  # POST: not retried after a timeout
    finally:
        release.set()
        stop(httpd)
    assert client._transport.config.timeout == (30.0, 0.2)


def test_pool_size_is_a_setting(clean_env, api_server, official_spec_path):
    config = ClientConfig(pool_maxsize=3, pool_connections=2)
    client = civis.APIClient(local_api_spec=official_spec_path, config=config)
    adapter = client._transport.session.get_adapter(api_server.url)
    assert adapter._pool_maxsize == 3 and adapter._pool_connections == 2
    default = civis.APIClient(local_api_spec=official_spec_path)
    assert default._transport.session.get_adapter(api_server.url)._pool_maxsize == 64


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pool_maxsize": 0}, "pool_maxsize must be a positive integer"),
        ({"pool_connections": 2.5}, "pool_connections must be a positive integer"),
        ({"connect_timeout": 0}, "connect_timeout must be positive"),
        ({"read_timeout": -1}, "read_timeout must be positive or None"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClientConfig(**kwargs)


def test_config_must_be_a_client_config(clean_env, api_server, official_spec_path):
    with pytest.raises(TypeError, match="config must be a ClientConfig"):
        civis.APIClient(local_api_spec=official_spec_path, config={"read_timeout": 1})
