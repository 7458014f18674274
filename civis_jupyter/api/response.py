"""Response, ListResponse and PaginatedResponse, plus ``find`` / ``find_one``.

Conversion of keys to snake_case is lazy: a response keeps the JSON it was
given and wraps nested values only when they are read, so large list
responses cost little until they are used.
"""

from __future__ import annotations

import json
import pprint
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from .naming import camel_to_snake

__all__ = [
    "CivisClientError",
    "CivisImmutableResponseError",
    "ListResponse",
    "PaginatedResponse",
    "Response",
    "convert_response_data_type",
    "find",
    "find_one",
]

#: Keys whose nested dicts keep the case their author chose.
PRESERVE_CASE_KEYS = frozenset({"arguments", "environmentVariables"})


class CivisClientError(Exception):
    """A successful API response whose body is not JSON.

    Parameters
    ----------
    message : str
    response : requests.Response
    """

    def __init__(self, message: str, response: Any):
        super().__init__(message)
        self.status_code = response.status_code
        self.error_message = message

    def __str__(self) -> str:
        return self.error_message


class CivisImmutableResponseError(Exception):
    """Raised on an attempt to modify a :class:`Response`."""


@lru_cache(maxsize=8192)
def _snake(key: str) -> str:
    # Keys that are not identifiers (``X-Amz-Credential``, ``Content-Type``)
    # are names chosen by someone else: keep them as they are.
    if "-" in key or " " in key:
        return key
    return camel_to_snake(key)


def _immutable(*_: Any) -> None:
    raise CivisImmutableResponseError(
        "Response objects are read-only. Use response.json() to get a dict you can modify."
    )


class _RateLimitInfo:
    """``calls_remaining`` and ``rate_limit`` from the ``headers`` of a response."""

    __slots__ = ()
    headers: Mapping[str, str] | None

    @property
    def calls_remaining(self) -> int | None:
        """API calls left in the current rate-limit window."""
        value = (self.headers or {}).get("X-RateLimit-Remaining")
        return int(value) if value else None

    @property
    def rate_limit(self) -> int | None:
        """API calls allowed per rate-limit window."""
        value = (self.headers or {}).get("X-RateLimit-Limit")
        return int(value) if value else None


def _plain_items(items: Iterable[Any], snake_case: bool) -> list[Any]:
    return [r.json(snake_case) if isinstance(r, Response) else r for r in items]


class Response(_RateLimitInfo):
    """A read-only view of one JSON object answered by the Civis API.

    Keys are available in snake_case (``r.created_at``, ``r["created_at"]``),
    falling back to the API's own camelCase (``r["createdAt"]``).

    Parameters
    ----------
    json_data : dict or None
        The decoded JSON object (``None`` for an empty body).
    headers : Mapping, optional
        The HTTP response headers.
    snake_case : bool, optional
        Convert keys to snake_case (default ``True``).
    from_json_values : bool, optional
        The object is a JSON value; its ``value`` is kept as plain JSON.

    Attributes
    ----------
    json_data : dict or None
        The JSON as the API sent it.
    headers : Mapping or None
        The response headers.
    calls_remaining : int or None
        ``X-RateLimit-Remaining``.
    rate_limit : int or None
        ``X-RateLimit-Limit``.
    """

    __slots__ = ("_json_value", "_keys", "_snake_case", "_values", "headers", "json_data")

    def __init__(
        self,
        json_data: Mapping[str, Any] | None,
        *,
        headers: Mapping[str, str] | None = None,
        snake_case: bool = True,
        from_json_values: bool = False,
    ):
        set_ = object.__setattr__
        set_(self, "json_data", json_data)
        set_(self, "headers", headers)
        set_(self, "_snake_case", snake_case)
        set_(
            self,
            "_json_value",
            bool(from_json_values or (json_data or {}).get("objectType") == "JSONValue"),
        )
        set_(self, "_keys", None)
        set_(self, "_values", {})

    # -- key mapping ---------------------------------------------------
    def _key_map(self) -> dict[str, str]:
        keys = self._keys
        if keys is None:
            data = self.json_data or {}
            keys = {_snake(k): k for k in data} if self._snake_case else {k: k for k in data}
            object.__setattr__(self, "_keys", keys)
        return keys

    def _raw_key(self, item: Any) -> str:
        keys = self._key_map()
        if item in keys:
            return keys[item]
        if isinstance(item, str) and item in (self.json_data or {}):
            return item
        raise KeyError(item)

    def _wrap(self, raw_key: str) -> Any:
        cache = self._values
        if raw_key in cache:
            return cache[raw_key]
        value = self.json_data[raw_key]
        if raw_key == "value" and self._json_value:
            out = value
        elif isinstance(value, dict):
            out = Response(value, snake_case=raw_key not in PRESERVE_CASE_KEYS)
        elif isinstance(value, list):
            out = [Response(v) if isinstance(v, dict) else v for v in value]
        else:
            return value
        cache[raw_key] = out
        return out

    # -- mapping protocol -----------------------------------------------
    def __getitem__(self, item: str) -> Any:
        return self._wrap(self._raw_key(item))

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__"):
            raise AttributeError(item)
        try:
            return self[item]
        except KeyError:
            raise AttributeError(f"Response object has no attribute {item!r}") from None

    def __contains__(self, item: object) -> bool:
        return item in self._key_map() or item in (self.json_data or {})

    def __iter__(self) -> Iterator[str]:
        return iter(self._key_map())

    def __len__(self) -> int:
        return len(self._key_map())

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value for ``key``, or ``default`` when absent."""
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> Iterable[str]:
        """The (snake_case) keys."""
        return self._key_map().keys()

    def values(self) -> list[Any]:
        """The values, nested objects as :class:`Response`."""
        return [self[k] for k in self._key_map()]

    def items(self) -> list[tuple[str, Any]]:
        """Key-value pairs, keys in snake_case."""
        return [(k, self[k]) for k in self._key_map()]

    # -- conversion -------------------------------------------------------
    def json(self, snake_case: bool = True) -> dict[str, Any]:
        """Return the data as plain, modifiable dicts and lists.

        Parameters
        ----------
        snake_case : bool, optional
            Keys in snake_case (default) or as the API sent them.

        Returns
        -------
        dict
        """
        if self.json_data is None:
            return {}
        if not snake_case:
            return json.loads(json.dumps(self.json_data))
        return {k: _plain(v) for k, v in self.items()}

    __setattr__ = _immutable
    __setitem__ = _immutable
    __delattr__ = _immutable
    __delitem__ = _immutable

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Response):
            return self.json() == other.json()
        if isinstance(other, Mapping):
            return self.json() == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(json.dumps(self.json_data, sort_keys=True, default=str))

    def __repr__(self) -> str:
        # Nested objects show as Responses, as they are when read.
        return f"Response({dict(self.items())!r})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text("Response(...)" if cycle else pprint.pformat(self))

    def __getstate__(self) -> dict[str, Any]:
        return {
            "json_data": self.json_data,
            "headers": dict(self.headers or {}),
            "snake_case": self._snake_case,
            "json_value": self._json_value,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        Response.__init__(
            self,
            state["json_data"],
            headers=state["headers"],
            snake_case=state["snake_case"],
            from_json_values=state["json_value"],
        )

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self._key_map() if k.isidentifier()})


def _pformat_response(
    printer: pprint.PrettyPrinter,
    obj: Response,
    stream: Any,
    indent: int,
    allowance: int,
    context: dict[int, int],
    level: int,
) -> None:
    """Lay out a Response over several lines as ``pprint`` lays out a dict."""
    stream.write("Response(")
    printer._pprint_dict(
        dict(obj.items()), stream, indent + len("Response("), allowance + 1, context, level
    )
    stream.write(")")


# pprint offers no public hook for other types: it dispatches on ``type(obj).__repr__``.
pprint.PrettyPrinter._dispatch[Response.__repr__] = _pformat_response  # type: ignore[attr-defined]


def _plain(value: Any) -> Any:
    if isinstance(value, Response):
        return value.json()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class ListResponse(_RateLimitInfo, list):
    """A list of :class:`Response` objects that also carries the HTTP headers.

    Parameters
    ----------
    responses : list
        The items.
    headers : Mapping, optional
        The response headers.
    """

    def __init__(self, responses: Iterable[Any], headers: Mapping[str, str] | None = None):
        super().__init__(responses)
        self.headers = headers

    def json(self, snake_case: bool = True) -> list[Any]:
        """Return the items as plain dicts.

        Parameters
        ----------
        snake_case : bool, optional
            Keys in snake_case (default) or as the API sent them.

        Returns
        -------
        list
        """
        return _plain_items(self, snake_case)


def convert_response_data_type(
    response: Any, return_type: str = "snake", from_json_values: bool = False
) -> Any:
    """Turn a ``requests.Response`` into what the client returns.

    Parameters
    ----------
    response : requests.Response
        A successful HTTP response.
    return_type : {'snake', 'raw'}
        ``'raw'`` returns ``response`` itself.
    from_json_values : bool, optional
        The body is a JSON value object.

    Returns
    -------
    Response, ListResponse or requests.Response
    """
    if return_type == "raw":
        return response
    headers = response.headers
    if not response.content:
        return Response(None, headers=headers)
    try:
        data = response.json()
    except ValueError:
        raise CivisClientError("Unable to parse JSON from response", response) from None
    if isinstance(data, list):
        return ListResponse(
            [
                Response(d, from_json_values=from_json_values) if isinstance(d, dict) else d
                for d in data
            ],
            headers=headers,
        )
    if isinstance(data, dict):
        return Response(data, headers=headers, from_json_values=from_json_values)
    return data


class PaginatedResponse:
    """Iterate over every item of a paginated list endpoint, page by page.

    Pages are requested with ``page_num`` = 1, 2, ... Iteration stops at the
    last page the ``X-Pagination-*`` headers announce, or at the first empty
    page when the platform sends no such headers.

    Parameters
    ----------
    fetch : callable
        ``fetch(params) -> requests.Response`` for one page.
    params : dict
        The query parameters of the call (``page_num`` is managed here).
    return_type : str, optional
        ``'snake'`` gives :class:`Response` items; ``'raw'`` plain dicts.
    """

    def __init__(
        self,
        fetch: Callable[[dict[str, Any]], Any],
        params: Mapping[str, Any] | None,
        return_type: str = "snake",
    ):
        self._fetch = fetch
        self._params = dict(params or {})
        self._params.pop("page_num", None)
        self._return_type = return_type
        self._iter: Iterator[Any] | None = None
        self.headers: Mapping[str, str] | None = None

    def _pages(self) -> Iterator[Any]:
        page = 1
        while True:
            response = self._fetch({**self._params, "page_num": page})
            self.headers = response.headers
            items = response.json() if response.content else []
            if not items:
                return
            for item in items:
                yield Response(item) if self._return_type == "snake" else item
            total = response.headers.get("X-Pagination-Total-Pages")
            current = response.headers.get("X-Pagination-Current-Page") or page
            if total is not None and int(current) >= int(total):
                return
            page += 1

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._iter is None:
            self._iter = self._pages()
        return next(self._iter)

    def json(self, snake_case: bool = True) -> list[Any]:
        """Fetch all remaining items as plain dicts.

        Parameters
        ----------
        snake_case : bool, optional
            Keys in snake_case (default) or as the API sent them.

        Returns
        -------
        list
        """
        return _plain_items(self, snake_case)


def find(
    object_list: Iterable[Any], filter_func: Callable[[Any], Any] | None = None, **kwargs: Any
) -> list[Any]:
    """Keep the objects that match a function or attribute filters.

    Parameters
    ----------
    object_list : iterable
        Objects to filter, typically :class:`Response` items.
    filter_func : callable, optional
        Keep ``o`` when ``filter_func(o)`` is true; ``kwargs`` are then ignored.
    **kwargs
        ``attr=value`` filters, all of which must hold: a callable value is
        called with the attribute; ``True``/``False`` compare by identity;
        anything else by equality. Objects without the attribute are dropped.

    Returns
    -------
    list
    """
    if filter_func is None:
        missing = object()

        def filter_func(o: Any) -> bool:
            for name, want in kwargs.items():
                have = getattr(o, name, missing)
                if have is missing:
                    return False
                if callable(want):
                    if not want(have):
                        return False
                elif isinstance(want, bool):
                    if have is not want:
                        return False
                elif have != want:
                    return False
            return True

    return [o for o in object_list if filter_func(o)]


def find_one(
    object_list: Iterable[Any], filter_func: Callable[[Any], Any] | None = None, **kwargs: Any
) -> Any:
    """Return the first object :func:`find` would keep, or ``None``.

    Parameters
    ----------
    object_list : iterable
        Objects to search.
    filter_func : callable, optional
        As in :func:`find`.
    **kwargs
        As in :func:`find`.

    Returns
    -------
    object or None
    """
    for o in find(object_list, filter_func, **kwargs):
        return o
    return None
