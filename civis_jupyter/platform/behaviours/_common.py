"""Helpers shared by the hand-written behaviours: shaping, paging, runs, URLs.

Behaviours reach the platform's services through their request
(``req.store``, ``req.runner``, ``req.blobs``, ``req.warehouses``); the
helpers here shape answers, page lists, sign links and describe runs, so the
behaviour modules stay about behaviour.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...api.states import ACTIVE_STATES
from ..contract import ApiError, Reply, Request
from ..runner import Executor

__all__ = [
    "JOB_KINDS",
    "JobKind",
    "PageRequest",
    "base_url",
    "body_get",
    "download_url",
    "int_param",
    "page_reply",
    "page_request",
    "paginate",
    "run_summary",
    "shape",
]

#: Seconds a signed download URL stays valid unless the client asks otherwise.
LINK_TTL = 3600.0


def shape(req: Request, obj: Any, schema: Mapping[str, Any] | None = None) -> Any:
    """Shape an object onto the operation's response schema.

    Every property of the schema is present (missing ones are ``None``);
    keys the schema does not know are dropped; arrays are shaped item by item;
    free-form objects (``arguments``, ``value``) pass through unchanged.

    Parameters
    ----------
    req : Request
        The request (its operation gives the schema and the spec).
    obj : Any
        The stored object, a list of them, or a scalar.
    schema : mapping, optional
        Shape onto this schema instead of the operation's response schema.

    Returns
    -------
    Any
        JSON-ready data.
    """
    spec = req.operation.spec
    if schema is None:
        return _shaper_of(spec).shape(req.operation.response_schema, obj)
    return _Shaper(spec).shape(schema, obj)


class _Shaper:
    """Shapes data onto the schemas of one spec, each schema compiled once.

    A schema's compiled form is a function ``data -> shaped data``; children
    are compiled on first use, so recursive schemas compile finitely.
    """

    def __init__(self, spec: Any):
        self.spec = spec
        self._compiled: dict[int, tuple[Mapping[str, Any], Callable[[Any], Any]]] = {}
        self._lock = threading.Lock()

    def shape(self, schema: Mapping[str, Any] | None, obj: Any) -> Any:
        if schema is None or obj is None:
            return obj
        return self.compiled(schema)(obj)

    def compiled(self, schema: Mapping[str, Any]) -> Callable[[Any], Any]:
        found = self._compiled.get(id(schema))
        if found is not None and found[0] is schema:
            return found[1]
        fn = self._compile(schema)
        with self._lock:
            self._compiled[id(schema)] = (schema, fn)  # the schema pins its id
        return fn

    def _compile(self, schema: Mapping[str, Any]) -> Callable[[Any], Any]:
        resolved = self.spec.resolve(schema)
        if resolved.get("type") == "array" or "items" in resolved:
            return self._array(resolved.get("items"))
        props = self.spec.properties(resolved)
        if not props:
            return _same
        return self._object(dict(props))

    def _lazy(self, schema: Mapping[str, Any]) -> Callable[[Any], Any]:
        """A schema's compiled function, compiled on its first call."""
        slot: list[Callable[[Any], Any]] = []

        def call(obj: Any) -> Any:
            if obj is None:
                return None
            if not slot:
                slot.append(self.compiled(schema))
            return slot[0](obj)

        return call

    def _array(self, items: Mapping[str, Any] | None) -> Callable[[Any], Any]:
        if items is None or self._is_scalar(items):

            def plain_array(obj: Any) -> Any:
                return list(obj) if isinstance(obj, (list, tuple)) else obj

            return plain_array
        item = self._lazy(items)

        def array(obj: Any) -> Any:
            if not isinstance(obj, (list, tuple)):
                return obj
            return [item(x) for x in obj]

        return array

    def _is_scalar(self, schema: Mapping[str, Any]) -> bool:
        """Whether shaping onto this schema leaves any value as it is."""
        resolved = self.spec.resolve(schema)
        return not (
            resolved.get("type") == "array" or "items" in resolved or self.spec.properties(resolved)
        )

    def _object(self, props: dict[str, Mapping[str, Any]]) -> Callable[[Any], Any]:
        plain = [key for key, prop in props.items() if self._is_scalar(prop)]
        nested = [(key, self._lazy(prop)) for key, prop in props.items() if key not in plain]
        order = list(props)

        def record(obj: Any) -> Any:
            if not isinstance(obj, Mapping):
                return obj
            get = obj.get
            out = {key: get(key) for key in plain}
            if not nested:
                return out
            for key, fn in nested:
                out[key] = fn(get(key))
            return {key: out[key] for key in order}

        return record


def _same(obj: Any) -> Any:
    return obj


_SHAPERS: weakref.WeakKeyDictionary[Any, _Shaper] = weakref.WeakKeyDictionary()
_SHAPERS_LOCK = threading.Lock()


def _shaper_of(spec: Any) -> _Shaper:
    with _SHAPERS_LOCK:
        shaper = _SHAPERS.get(spec)
        if shaper is None:
            shaper = _SHAPERS[spec] = _Shaper(spec)
        return shaper


def int_param(value: Any, name: str, default: int | None = None) -> int | None:
    """An integer query/body parameter, or a 400 naming it."""
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name} must be an integer, not {value!r}") from None


def body_get(req: Request, key: str, default: Any = None) -> Any:
    """A camelCase body field (the body may be absent)."""
    body = req.body if isinstance(req.body, Mapping) else {}
    value = body.get(key, default)
    return default if value is None else value


@dataclass(frozen=True)
class PageRequest:
    """The page a list request asks for (validated).

    Attributes
    ----------
    limit : int
        Page size.
    page : int
        1-based page number.
    order : str or None
        The ``order`` name (``None``: the list's natural order).
    descending : bool
        ``order_dir=desc``.
    """

    limit: int
    page: int
    order: str | None
    descending: bool

    @property
    def offset(self) -> int:
        """Items before this page."""
        return (self.page - 1) * self.limit


#: Past this, page numbers and sizes name nothing a store can hold.
_MAX_PAGE = 2**62


def page_request(
    req: Request,
    default_limit: int,
    max_limit: int | None = None,
    order_names: Iterable[str] | None = None,
    default_order: str | None = None,
    default_dir: str = "asc",
) -> PageRequest:
    """The ``limit``, ``page_num``, ``order`` and ``order_dir`` of a request.

    Parameters
    ----------
    req : Request
    default_limit, max_limit : int
        The endpoint's documented page size and cap.
    order_names : iterable of str, optional
        Accepted ``order`` values (``None``: ``order`` is ignored).
    default_order, default_dir : str
        Ordering when the request names none.

    Returns
    -------
    PageRequest

    Raises
    ------
    ApiError
        400 for a bad limit, page number, order or direction.
    """
    limit = int_param(req.query.get("limit"), "limit", default_limit) or default_limit
    if limit < 1:
        raise ApiError(400, "limit must be at least 1")
    limit = min(limit, max_limit or _MAX_PAGE, _MAX_PAGE)
    page = int_param(req.query.get("page_num"), "page_num", 1) or 1
    if page < 1:
        raise ApiError(400, "page_num must be at least 1")
    page = min(page, _MAX_PAGE // limit + 1)
    direction = str(req.query.get("order_dir") or default_dir).lower()
    if direction not in ("asc", "desc"):
        raise ApiError(400, "order_dir must be asc or desc")
    order = None
    if order_names is not None:
        names = list(order_names)
        order = req.query.get("order") or default_order
        if order is not None and order not in names:
            raise ApiError(400, f"order must be one of {', '.join(names)}, not {order!r}")
    return PageRequest(limit, page, order, direction == "desc")


def page_reply(page: PageRequest, items: list[Any], total: int) -> Reply:
    """A page of items with the ``X-Pagination-*`` headers.

    Parameters
    ----------
    page : PageRequest
    items : list
        The page's items (already shaped).
    total : int
        How many items the whole list has.

    Returns
    -------
    Reply
    """
    headers = {
        "X-Pagination-Per-Page": str(page.limit),
        "X-Pagination-Current-Page": str(page.page),
        "X-Pagination-Total-Pages": str(max(1, math.ceil(total / page.limit))),
        "X-Pagination-Total-Entries": str(total),
    }
    return Reply(body=items, headers=headers)


def paginate(
    req: Request,
    items: list[Any],
    default_limit: int,
    max_limit: int | None = None,
    order_keys: Mapping[str, Callable[[Any], Any]] | None = None,
    default_order: str | None = None,
    default_dir: str = "asc",
) -> Reply:
    """One page of a list held in memory, with the ``X-Pagination-*`` headers.

    Lists that live in the store page in SQL instead (:func:`page_request`,
    :func:`page_reply` and :meth:`Store.page`).

    Parameters
    ----------
    req : Request
        Gives ``limit``, ``page_num``, ``order`` and ``order_dir``.
    items : list
        The whole (filtered) list, already shaped.
    default_limit, max_limit : int
        The endpoint's documented page size and cap.
    order_keys : mapping, optional
        ``order`` name -> sort key.
    default_order, default_dir : str
        Ordering when the request names none.

    Returns
    -------
    Reply
        The page (``[]`` past the end).
    """
    page = page_request(
        req,
        default_limit,
        max_limit,
        order_names=order_keys if order_keys else None,
        default_order=default_order,
        default_dir=default_dir,
    )
    if order_keys and page.order:
        key = order_keys[page.order]
        items = sorted(items, key=lambda x: _sortable(key(x)), reverse=page.descending)
    start = page.offset
    return page_reply(page, items[start : start + page.limit], len(items))


def _sortable(value: Any) -> tuple[int, Any]:
    if value is None:
        return (1, "")
    if isinstance(value, str):
        return (0, value.lower())
    return (0, value)


def base_url(req: Request) -> str:
    """The platform root URL as the client reached it (for signed links)."""
    host = req.headers.get("Host") if req.headers else None
    if host:
        return f"http://{host}/"
    endpoint = req.platform.endpoint
    return endpoint if endpoint.endswith("/") else endpoint + "/"


def download_url(req: Request, file_id: int, name: str, expires_at: float | None = None) -> str:
    """A signed, expiring URL for a file's contents."""
    deadline = expires_at if expires_at is not None else time.time() + LINK_TTL
    return req.blobs.download_url(base_url(req), file_id, name, deadline)


def run_summary(run: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The short run object (``lastRun``): id, state, times, error."""
    if run is None:
        return None
    return {k: run.get(k) for k in ("id", "state", "createdAt", "startedAt", "finishedAt", "error")}


@dataclass(frozen=True)
class JobKind:
    """A kind of job the runner can start.

    Attributes
    ----------
    kind : str
        Store collection (``"scripts/containers"``).
    job_type : str
        ``type`` in ``/jobs`` (``"JobTypes::ContainerDocker"``).
    parent_key : str or None
        The run field naming the job (``"containerId"``).
    executor : callable
        ``(req, job) -> Executor`` building the run's work; may raise ApiError.
    script_type : str or None
        ``type`` in ``/scripts`` listings (``"script/containers"``).
    run_extra : callable or None
        ``(req, run) -> run`` adding kind-specific fields to a run response.
    """

    kind: str
    job_type: str
    parent_key: str | None
    executor: Callable[[Request, dict[str, Any]], Executor]
    script_type: str | None = None
    run_extra: Callable[[Request, dict[str, Any]], dict[str, Any]] | None = None


#: store collection -> JobKind, filled by the behaviour modules.
JOB_KINDS: dict[str, JobKind] = {}


def register_job_kind(kind: JobKind) -> JobKind:
    """Make a kind of job runnable through ``/jobs`` and its own run routes."""
    JOB_KINDS[kind.kind] = kind
    return kind


def is_live(run: Mapping[str, Any] | None) -> bool:
    """Whether a run is queued or running."""
    return run is not None and bool(run) and run.get("state") in ACTIVE_STATES


def ids_of(values: Iterable[Any]) -> list[int]:
    """Integers from a list of ids (a 400 for anything else)."""
    out = []
    for v in values:
        if isinstance(v, bool):
            raise ApiError(400, f"{v!r} is not an id")
        out.append(int_param(v, "id"))
    return [v for v in out if v is not None]
