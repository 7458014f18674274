"""The platform's HTTP layer: routes from the spec, auth, faults, rate limits.

Every API request goes through the same steps: match an operation (literal
path segments win over parameters; ids must be integers), authenticate the
key, apply injected faults and latency, count it against the key's rate
limit, parse and validate the query and body against the spec, then run the
hand-written behaviour for the operation, or the generic schema-driven one,
in a worker thread.

Bad input is answered here, before any behaviour sees it: an id that is not
ASCII digits within 64 bits matches no route (404); a query value of the
wrong type, a body that is not JSON, is nested deeper than
:data:`MAX_BODY_DEPTH`, holds an integer beyond 64 bits, a non-finite number
or a lone surrogate is a 400. An unexpected exception is logged with its
traceback and answered as a 500 in the Civis error format, and a 204 or 304
never carries a body.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import random
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

import tornado.web

from ..api.naming import camel_to_snake
from ..api.spec import ApiSpec, Operation
from . import generic
from .api import ApiError, Reply, Request, handler_for

__all__ = [
    "MAX_BODY_DEPTH",
    "PRESERVE_KEYS",
    "RateLimiter",
    "Router",
    "RunEvents",
    "make_app",
    "parse_body",
    "parse_id",
    "prefer_wait",
    "snake_to_camel",
]

#: Body keys whose nested keys are the user's own and keep their case.
PRESERVE_KEYS = frozenset({"arguments", "environmentVariables", "value"})
JSON = "application/json; charset=utf-8"
#: Largest integer accepted anywhere (ids, query values, body values): SQLite's.
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)
#: Deepest nesting of arrays and objects accepted in a JSON body.
MAX_BODY_DEPTH = 64
#: Statuses whose responses never carry a body.
NO_BODY_STATUSES = frozenset({204, 304})
_ASCII_INT = re.compile(r"[+-]?[0-9]+")


def parse_id(text: str) -> int | None:
    """An id from a path segment: ASCII digits within 64 bits, else ``None``.

    Parameters
    ----------
    text : str
        The unescaped path segment.

    Returns
    -------
    int or None
        The id, or ``None`` when ``text`` is not one (the route does not match).
    """
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_INT else None


def snake_to_camel(name: str) -> str:
    """``remote_host_id`` -> ``remoteHostId`` (camelCase input is unchanged)."""
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camelize(value: Any) -> Any:
    """Convert dict keys to camelCase recursively, except under user-owned keys."""
    if isinstance(value, list):
        return [camelize(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        name = snake_to_camel(key) if isinstance(key, str) else key
        out[name] = item if name in PRESERVE_KEYS else camelize(item)
    return out


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
            value: Any = tornado.escape.url_unescape(actual, plus=False)
            if types.get(name) == "integer":
                value = parse_id(value)
                if value is None:
                    return None
            params[name] = value
        return params


LIVE_STATES = frozenset({"queued", "running", "pending", "scheduled"})
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


def _coerce(value: str, schema: Mapping[str, Any], name: str) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        text = value.strip()
        number = int(text) if _ASCII_INT.fullmatch(text) else None
        if number is None or not MIN_INT <= number <= MAX_INT:
            raise ApiError(400, f"{name} must be a 64-bit integer, not {value!r}", "bad_request")
        return number
    if kind == "number":
        try:
            number = float(value) if value.strip().isascii() else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ApiError(400, f"{name} must be a finite number, not {value!r}", "bad_request")
        return number
    if kind == "boolean":
        lowered = value.lower()
        if lowered in ("true", "1", "t", "yes"):
            return True
        if lowered in ("false", "0", "f", "no"):
            return False
        raise ApiError(400, f"{name} must be true or false, not {value!r}", "bad_request")
    return value


def parse_query(op: Operation, arguments: Mapping[str, list[bytes]]) -> dict[str, Any]:
    """Query arguments as snake_case names with spec types (``name[]`` -> list)."""
    declared = {p.get("name"): p for p in op.raw.get("parameters") or () if p.get("in") == "query"}
    query: dict[str, Any] = {}
    for raw_name, raw_values in arguments.items():
        values = [v.decode("utf-8", "replace") for v in raw_values]
        is_array = raw_name.endswith("[]")
        name = camel_to_snake(raw_name[:-2] if is_array else raw_name)
        param = declared.get(name) or declared.get(raw_name)
        if param is None:
            query[name] = values if is_array else values[-1]
            continue
        if param.get("type") == "array" or is_array:
            items = param.get("items") or {}
            parts = [p for v in values for p in (v.split(",") if not is_array else [v]) if p != ""]
            query[name] = [_coerce(p, items, name) for p in parts]
        else:
            query[name] = _coerce(values[-1], param, name)
    return query


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_value(value: Any, depth: int) -> str | None:
    """Why one decoded JSON value is refused, or ``None``.

    ``depth`` counts the arrays and objects around the value (1 for the body
    itself); nested values are checked by the caller's walk.
    """
    if isinstance(value, (dict, list)):
        too_deep = depth > MAX_BODY_DEPTH
        return f"is nested more than {MAX_BODY_DEPTH} levels deep" if too_deep else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not MIN_INT <= value <= MAX_INT:
        return "holds an integer that does not fit in 64 bits"
    if isinstance(value, float) and not math.isfinite(value):
        return "holds a number that is not finite"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "holds a string with a lone surrogate (invalid Unicode)"
    return None


def parse_body(raw: bytes) -> Any:
    """Decode a JSON request body, refusing what the platform cannot store.

    Parameters
    ----------
    raw : bytes
        The body as received.

    Returns
    -------
    Any
        The decoded value.

    Raises
    ------
    ApiError
        400 when the body is not JSON, is nested deeper than
        :data:`MAX_BODY_DEPTH`, or holds an integer beyond 64 bits, a
        non-finite number or a string with a lone surrogate.
    """
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        message = f"The request body is nested more than {MAX_BODY_DEPTH} levels deep."
        raise ApiError(400, message, "bad_request") from None
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.", "bad_request") from None
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        problem = _check_value(value, depth)
        if problem is not None:
            raise ApiError(400, f"The request body {problem}.", "bad_request")
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return body


_TYPES = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def validate_body(spec: ApiSpec, schema: Mapping[str, Any], body: Any, where: str = "") -> None:
    """Check required properties and value types (nulls are allowed).

    Raises
    ------
    ApiError
        400 naming the first problem found.
    """
    schema = spec.resolve(schema)
    if body is None:
        return
    kind = schema.get("type") or ("object" if "properties" in schema else None)
    label = where or "body"
    if kind in _TYPES and not isinstance(body, _TYPES[kind]):
        raise ApiError(400, f"{label} must be of type {kind}", "bad_request")
    if kind in ("integer", "number") and isinstance(body, bool):
        raise ApiError(400, f"{label} must be of type {kind}", "bad_request")
    if schema.get("enum") and isinstance(body, str) and body not in schema["enum"]:
        allowed = ", ".join(map(str, schema["enum"]))
        raise ApiError(400, f"{label} must be one of: {allowed}", "bad_request")
    if kind == "array":
        items = schema.get("items") or {}
        for i, item in enumerate(body):
            validate_body(spec, items, item, f"{label}[{i}]")
    elif isinstance(body, dict) and schema.get("properties"):
        props = schema["properties"]
        for name in schema.get("required") or ():
            if name in props and name not in body:
                raise ApiError(
                    400,
                    f"{camel_to_snake(name)} is required{' in ' + where if where else ''}",
                    "bad_request",
                )
        for name, value in body.items():
            if name in props and name not in PRESERVE_KEYS:
                validate_body(spec, props[name], value, f"{where + '.' if where else ''}{name}")


class ApiHandler(tornado.web.RequestHandler):
    """Serves every API operation."""

    def initialize(self, platform: Any) -> None:
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
        user = platform.store.user_for_token(token) if token else None
        if user is None:
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
                remaining = deadline - loop.time()
                if not _is_live(reply.body):
                    break
                tag = run_etag(reply.body)
                reply.headers["ETag"] = tag
                if remaining <= 0 or (known is not None and known != tag):
                    break
                await platform.run_events.wait(generation, remaining)
            if wait:
                self.set_header("Preference-Applied", f"wait={int(wait)}")
        except ApiError as err:
            return self._error(err)
        self._reply(op, reply)

    def _request(self, op: Operation, path_params: dict[str, Any], user: dict[str, Any]) -> Request:
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
            return self.finish()
        if isinstance(reply.body, (bytes, bytearray, memoryview)):
            self.set_header("Content-Type", reply.content_type)
            return self.finish(bytes(reply.body))
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

    get = post = put = patch = delete = _serve  # type: ignore[assignment]


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

    def initialize(self, platform: Any) -> None:
        self.platform = platform

    async def get(self) -> None:
        handler = ApiHandler(self.application, self.request, platform=self.platform)
        token = handler._token()
        if not token or self.platform.store.user_for_token(token) is None:
            self.set_header("WWW-Authenticate", 'Basic realm="Civis API", charset="UTF-8"')
            self.set_status(401)
            self.set_header("Content-Type", JSON)
            self.finish(json.dumps(ApiError(401, "Invalid or missing API key.").body()))
            return
        self.set_header("Content-Type", JSON)
        self.set_header("X-RateLimit-Limit", str(self.platform.limiter.limit))
        self.finish(self.platform.spec_bytes)


def make_app(platform: Any, extra_routes: list[Any] | None = None) -> tornado.web.Application:
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
