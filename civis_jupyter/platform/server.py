"""The platform's HTTP layer: routes from the spec, auth, faults, rate limits.

Every API request goes through the same steps: match an operation (literal
path segments win over parameters; ids must be integers), authenticate the
key, apply injected faults and latency, count it against the key's rate
limit, parse and validate the query and body against the spec, then run the
hand-written behaviour for the operation, or the generic schema-driven one,
in a worker thread.

Bad input is answered here, before any behaviour sees it
(:mod:`civis_jupyter.platform.validation`): an id that is not ASCII digits
within 64 bits matches no route (404); a query value of the wrong type, a
body that is not JSON or does not match the operation's schema is a 400.
The behaviour receives a :class:`~civis_jupyter.platform.contract.Request`
and reaches the platform only through its services. An unexpected exception is logged with its
traceback and answered as a 500 in the Civis error format, and a 204 or 304
never carries a body.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any, Protocol

import tornado.web

from ..api.spec import ApiSpec, Operation
from ..api.states import LIVE_STATES
from . import generic
from .contract import Request, Services, handler_for
from .http_types import ApiError, Reply, User
from .validation import camelize, parse_body, parse_query, path_value, validate_body

__all__ = [
    "Faults",
    "Host",
    "RateLimiter",
    "Router",
    "RunEvents",
    "make_app",
    "prefer_wait",
]

JSON = "application/json; charset=utf-8"
#: Statuses whose responses never carry a body.
NO_BODY_STATUSES = frozenset({204, 304})


class Router:
    """Find the operation for a verb and path.

    Parameters
    ----------
    spec : ApiSpec
        Every operation (deprecated ones included) gets a route.
    """

    def __init__(self, spec: ApiSpec):
        self.spec = spec
        self._tree: dict[str, Any] = {"lit": {}, "param": None, "ops": {}}
        for op in spec.iter_operations(include_skipped=True):
            node = self._tree
            for seg in op.segments:
                if seg.startswith("{"):
                    if node["param"] is None:
                        node["param"] = {"lit": {}, "param": None, "ops": {}}
                    node = node["param"]
                else:
                    node = node["lit"].setdefault(seg, {"lit": {}, "param": None, "ops": {}})
            node["ops"][op.verb] = op

    def match(self, verb: str, path: str) -> tuple[Operation | None, dict[str, Any], bool]:
        """Match a request.

        Parameters
        ----------
        verb : str
            Lower-case verb.
        path : str
            URL path without the leading slash.

        Returns
        -------
        tuple
            The operation (or ``None``), its path parameters, and whether
            the path exists with another verb (for 405).
        """
        segments = [s for s in path.strip("/").split("/") if s] or [""]
        found: list[Any] = []
        self._walk(self._tree, segments, 0, verb, found)
        exists = False
        for node in found:
            op = node["ops"].get(verb)
            if op is None:
                exists = exists or bool(node["ops"])
                continue
            params = self._params(op, segments)
            if params is not None:
                return op, params, True
        return None, {}, exists

    def _walk(self, node: dict[str, Any], segs: list[str], i: int, verb: str, out: list) -> None:
        if i == len(segs):
            if node["ops"]:
                out.append(node)
            return
        child = node["lit"].get(segs[i])
        if child is not None:
            self._walk(child, segs, i + 1, verb, out)
        if node["param"] is not None:
            self._walk(node["param"], segs, i + 1, verb, out)

    @staticmethod
    def _params(op: Operation, segments: list[str]) -> dict[str, Any] | None:
        types = {
            p.get("name"): p.get("type")
            for p in op.raw.get("parameters") or ()
            if p.get("in") == "path"
        }
        params: dict[str, Any] = {}
        for template, actual in zip(op.segments, segments):
            if not template.startswith("{"):
                continue
            name = template[1:-1]
            value = path_value(actual, types.get(name))
            if value is None:
                return None
            params[name] = value
        return params


MAX_WAIT = 30.0


def prefer_wait(header: str | None) -> float:
    """Seconds asked for by ``Prefer: wait=N`` (RFC 7240), capped; 0 if none."""
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                return max(0.0, min(float(value.strip()), MAX_WAIT))
            except ValueError:
                return 0.0
    return 0.0


def run_etag(body: dict[str, Any]) -> str:
    """A tag that changes whenever a run's state or timings change."""
    picked = [body.get(k) for k in ("id", "state", "startedAt", "finishedAt", "error")]
    return '"' + hashlib.sha1(json.dumps(picked, default=str).encode()).hexdigest()[:16] + '"'


def _is_live(body: Any) -> bool:
    return isinstance(body, dict) and body.get("state") in LIVE_STATES


class RunEvents:
    """Wakes long polls when any run changes state (lives on the server's loop)."""

    def __init__(self) -> None:
        self.generation = 0
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop."""
        self._loop = loop
        self._event = asyncio.Event()

    def notify(self, *_: Any) -> None:
        """Called from any thread when a run changes state."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        self.generation += 1
        if self._event is not None:
            self._event.set()
            self._event = asyncio.Event()

    async def wait(self, generation: int, timeout: float) -> None:
        """Wait until a change after ``generation``, or ``timeout`` seconds."""
        if self.generation != generation or self._event is None:
            return
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            pass


class RateLimiter:
    """Fixed-window request counting per key.

    Parameters
    ----------
    limit : int
        Requests allowed per window.
    window : float
        Window length in seconds.
    """

    def __init__(self, limit: int = 1000, window: float = 300.0):
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> tuple[int, float]:
        """Count one request; return (remaining, seconds until the window resets)."""
        now = time.monotonic()
        with self._lock:
            start, count = self._counts.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            count += 1
            self._counts[key] = (start, count)
        return self.limit - count, max(0.0, self.window - (now - start))

    def reset(self) -> None:
        """Forget all counts."""
        with self._lock:
            self._counts.clear()


class Host(Services, Protocol):
    """What the HTTP layer uses of a platform: its services and its front door."""

    @property
    def router(self) -> Router:
        """Finds operations."""

    @property
    def limiter(self) -> RateLimiter:
        """Counts requests per key."""

    @property
    def faults(self) -> Faults:
        """Injected faults and latency."""

    @property
    def run_events(self) -> RunEvents:
        """Wakes long polls."""

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The threads behaviours run in."""

    @property
    def spec_bytes(self) -> bytes:
        """The spec served at ``/endpoints``."""


class ApiHandler(tornado.web.RequestHandler):
    """Serves every API operation."""

    def initialize(self, platform: Host) -> None:
        self.platform = platform

    def set_default_headers(self) -> None:
        self.set_header("Server", "civis-jupyter-local")

    def _error(self, err: ApiError) -> None:
        self.set_status(err.status)
        for key, value in err.headers.items():
            self.set_header(key, value)
        self.set_header("Content-Type", JSON)
        self.finish(json.dumps(err.body()))

    def _token(self) -> str | None:
        header = self.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() or None
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip()).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return None
            return decoded.partition(":")[0] or None
        return None

    async def _serve(self, path: str) -> None:
        platform = self.platform
        verb = self.request.method.lower()
        op, path_params, exists = platform.router.match(verb, path)
        token = self._token()
        user = platform.store.identity.user_for_token(token) if token else None
        if token is None or user is None:
            self.set_header("WWW-Authenticate", 'Basic realm="Civis API", charset="UTF-8"')
            return self._error(ApiError(401, "Invalid or missing API key.", "unauthorized"))
        limiter_key = hashlib.sha256(token.encode()).hexdigest()
        remaining, reset = platform.limiter.hit(limiter_key)
        self.set_header("X-RateLimit-Limit", str(platform.limiter.limit))
        self.set_header("X-RateLimit-Remaining", str(max(0, remaining)))
        if remaining < 0:
            return self._error(
                ApiError(
                    429,
                    "Rate limit exceeded. Try again later.",
                    "too_many_requests",
                    {"Retry-After": str(max(1, int(reset + 0.999)))},
                )
            )
        fault = platform.faults.draw()
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.status:
            headers = {"Retry-After": "1"} if fault.status in (429, 503) else {}
            return self._error(ApiError(fault.status, "Injected fault.", None, headers))
        if op is None:
            if exists:
                return self._error(ApiError(405, f"{verb.upper()} is not allowed on /{path}"))
            return self._error(ApiError(404, "The requested resource could not be found."))
        try:
            req = self._request(op, path_params, user)
            run = handler_for(op.verb, op.path) or generic.handle
            loop = asyncio.get_running_loop()
            wait = prefer_wait(self.request.headers.get("Prefer")) if verb == "get" else 0.0
            known = self.request.headers.get("If-None-Match")
            deadline = loop.time() + wait
            while True:
                generation = platform.run_events.generation
                reply = await loop.run_in_executor(platform.executor, run, req)
                left = deadline - loop.time()
                if not _is_live(reply.body):
                    break
                tag = run_etag(reply.body)
                reply.headers["ETag"] = tag
                if left <= 0 or (known is not None and known != tag):
                    break
                await platform.run_events.wait(generation, left)
            if wait:
                self.set_header("Preference-Applied", f"wait={int(wait)}")
        except ApiError as err:
            return self._error(err)
        self._reply(op, reply)

    def _request(self, op: Operation, path_params: dict[str, Any], user: User) -> Request:
        body: Any = None
        raw = self.request.body or b""
        if raw and "json" in (self.request.headers.get("Content-Type") or "application/json"):
            body = camelize(parse_body(raw))
        schema = op.body_schema
        if schema is not None:
            if body is None:
                body = {}
            validate_body(op.spec, schema, body)
        return Request(
            platform=self.platform,
            operation=op,
            user=user,
            path_params=path_params,
            query=parse_query(op, self.request.arguments),
            body=body,
            headers=self.request.headers,
            raw_body=raw,
        )

    def _reply(self, op: Operation, reply: Reply) -> None:
        status = reply.status or op.status
        self.set_status(status)
        for key, value in reply.headers.items():
            self.set_header(key, value)
        if reply.body is None or status in NO_BODY_STATUSES:
            self.finish()
            return
        if isinstance(reply.body, (bytes, bytearray, memoryview)):
            self.set_header("Content-Type", reply.content_type)
            self.finish(bytes(reply.body))
            return
        self.set_header("Content-Type", JSON)
        self.finish(json.dumps(reply.body, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer an error tornado raised, or an unexpected exception (logged
        with its traceback by tornado), in the Civis error format, without
        details of the exception."""
        if status_code >= 500:
            err = ApiError(status_code, "The server failed to handle this request.")
        else:
            err = ApiError(status_code, HTTPStatus(status_code).phrase + ".")
        self.set_header("Content-Type", JSON)
        self.finish(json.dumps(err.body()))

    get = post = put = patch = delete = _serve


class Faults:
    """Injected faults: per-status probabilities and added latency.

    Parameters
    ----------
    probabilities : dict, optional
        HTTP status -> probability of answering it instead of the request.
    latency : float, optional
        Seconds added to every request.
    seed : int, optional
        Seed of the random draws (deterministic runs).
    """

    class Draw:
        """One draw: a status to answer (or ``None``) and latency."""

        def __init__(self, status: int | None, latency: float):
            self.status = status
            self.latency = latency

    def __init__(
        self,
        probabilities: Mapping[int, float] | None = None,
        latency: float = 0.0,
        seed: int = 0,
    ):
        self.probabilities = {int(k): float(v) for k, v in (probabilities or {}).items()}
        if any(not 0 <= p <= 1 for p in self.probabilities.values()):
            raise ValueError("fault probabilities must be between 0 and 1")
        if sum(self.probabilities.values()) > 1:
            raise ValueError("fault probabilities add up to more than 1")
        self.latency = float(latency)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> Faults.Draw:
        """Decide the fate of one request."""
        status = None
        if self.probabilities:
            with self._lock:
                roll = self._random.random()
            total = 0.0
            for code, probability in sorted(self.probabilities.items()):
                total += probability
                if roll < total:
                    status = code
                    break
        return Faults.Draw(status, self.latency)


class EndpointsHandler(tornado.web.RequestHandler):
    """``GET /endpoints``: the spec, pre-encoded (still requires a valid key)."""

    def initialize(self, platform: Host) -> None:
        self.platform = platform

    async def get(self) -> None:
        handler = ApiHandler(self.application, self.request, platform=self.platform)
        token = handler._token()
        if not token or self.platform.store.identity.user_for_token(token) is None:
            self.set_header("WWW-Authenticate", 'Basic realm="Civis API", charset="UTF-8"')
            self.set_status(401)
            self.set_header("Content-Type", JSON)
            self.finish(json.dumps(ApiError(401, "Invalid or missing API key.").body()))
            return
        self.set_header("Content-Type", JSON)
        self.set_header("X-RateLimit-Limit", str(self.platform.limiter.limit))
        self.finish(self.platform.spec_bytes)


def make_app(platform: Host, extra_routes: list[Any] | None = None) -> tornado.web.Application:
    """Build the tornado application of a platform.

    Parameters
    ----------
    platform : LocalPlatform
        Gives ``router``, ``store``, ``limiter``, ``faults``, ``executor``, ``spec_bytes``.
    extra_routes : list, optional
        Non-API routes (file upload and download URLs), matched first.

    Returns
    -------
    tornado.web.Application
    """
    routes = list(extra_routes or [])
    routes.append((r"/endpoints/?", EndpointsHandler, {"platform": platform}))
    routes.append((r"/(.*)", ApiHandler, {"platform": platform}))
    return tornado.web.Application(routes, compress_response=False, log_function=_no_log)


def _no_log(_handler: tornado.web.RequestHandler) -> None:
    """Access logs are off: the platform is quiet (and logs no credentials)."""


def default_executor() -> ThreadPoolExecutor:
    """The worker threads behaviours run in."""
    return ThreadPoolExecutor(max_workers=32, thread_name_prefix="civis-platform")
