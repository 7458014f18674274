"""A small, programmable HTTP server on 127.0.0.1 for client tests.

Routes map (verb, path) to a function ``fn(request) -> (status, headers, body)``;
every request is recorded. It is a real server: the client under test goes
through its whole transport (sockets, retries, headers).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    verb: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    peer: tuple = ()

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Route = Callable[[Seen], tuple[int, dict[str, str], Any]]


@dataclass
class ApiServer:
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def route(
        self,
        verb: str,
        path: str,
        fn: Route | Any,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Register a handler, or a fixed JSON answer when ``fn`` is not callable."""
        if not callable(fn):
            body = fn
            fn = lambda _req: (status, dict(headers or {}), body)  # noqa: E731
        self.routes[(verb.upper(), path.rstrip("/"))] = fn

    def requests_to(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path.rstrip("/") == path.rstrip("/")]


def _handler(server: ApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(
                self.command,
                parts.path,
                parse_qs(parts.query, keep_blank_values=True),
                dict(self.headers.items()),
                self.rfile.read(length) if length else b"",
                self.client_address,
            )
            with server.lock:
                server.seen.append(seen)
            fn = server.routes.get((self.command, parts.path.rstrip("/")))
            if fn is None:
                status, headers, body = (
                    404,
                    {},
                    {"error": "not_found", "errorDescription": "No route", "code": 404},
                )
            else:
                status, headers, body = fn(seen)
            data = (
                body
                if isinstance(body, bytes)
                else (b"" if body is None else json.dumps(body).encode())
            )
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


#: How often a server's loop looks for a shutdown request. ``serve_forever``'s
#: default (0.5 s) made every ``shutdown()``, so every test's teardown, wait
#: up to that long.
POLL_INTERVAL = 0.01


def serve(httpd: ThreadingHTTPServer) -> None:
    """Serve ``httpd`` on a daemon thread; ``stop`` then returns within ``POLL_INTERVAL``."""
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, daemon=True
    ).start()


def stop(httpd: ThreadingHTTPServer) -> None:
    """Stop serving and close the listening socket."""
    httpd.shutdown()
    httpd.server_close()


def start(server: ApiServer, port: int = 0) -> ThreadingHTTPServer:
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(server))
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    serve(httpd)
    return httpd
