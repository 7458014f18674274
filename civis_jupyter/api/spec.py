"""Fetch, cache and load the Civis API spec and parse it into Operation records.

One parsed :class:`ApiSpec` feeds everything: the client's resources and
methods, their docstrings, and the embedded platform's routes and request
validation. Parsing is cheap and lazy: parameters and schemas of an operation
are worked out the first time they are needed, and a spec that the process has
already parsed is never parsed again.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .naming import EXCLUDED_RESOURCES, camel_to_snake, method_names, resource_name

__all__ = [
    "DEFAULT_API_ENDPOINT",
    "ApiSpec",
    "Operation",
    "Param",
    "base_url",
    "get_api_spec",
    "load_spec",
    "parse_spec",
    "read_spec",
]

DEFAULT_API_ENDPOINT = "https://api.civisanalytics.com/"
API_VERSIONS = frozenset({"1.0"})
VERBS = ("get", "post", "put", "patch", "delete")


def base_url() -> str:
    """Return the API endpoint, from ``CIVIS_API_ENDPOINT`` or the default.

    Returns
    -------
    str
        The base URL, always ending in ``/``.
    """
    url = os.environ.get("CIVIS_API_ENDPOINT") or DEFAULT_API_ENDPOINT
    return url if url.endswith("/") else url + "/"


@dataclass(frozen=True, slots=True)
class Param:
    """One argument of a client method.

    Attributes
    ----------
    name : str
        The Python (snake_case) name.
    api_name : str
        The name on the wire (camelCase for body properties).
    location : str
        ``"path"``, ``"query"`` or ``"body"``.
    required : bool
        Whether the API requires it.
    schema : dict
        The parameter's (unresolved) schema: ``type``, ``items``, ``$ref``, ...
    description : str
        The spec's description, possibly empty.
    """

    name: str
    api_name: str
    location: str
    required: bool
    schema: Mapping[str, Any]
    description: str = ""

    @property
    def type(self) -> str | None:
        """The JSON type name of the parameter, if the spec gives one."""
        return self.schema.get("type")


@dataclass(slots=True, eq=False)
class Operation:
    """One API operation (path + verb) and how the client names it.

    Attributes
    ----------
    spec : ApiSpec
        The spec this operation belongs to.
    verb : str
        Lower-case HTTP verb.
    path : str
        The path without surrounding slashes, e.g. ``"scripts/sql/{id}/runs"``.
    raw : dict
        The operation object from the spec.
    resource : str
        Client resource name.
    name : str
        Client method name.
    alias : str or None
        Deprecated ``list_*`` alias, if one is kept.
    """

    spec: ApiSpec
    verb: str
    path: str
    raw: Mapping[str, Any]
    resource: str
    name: str
    alias: str | None
    _params: list[Param] | None = field(default=None, repr=False)

    @property
    def summary(self) -> str:
        """The operation's one-line summary."""
        return self.raw.get("summary") or ""

    @property
    def segments(self) -> list[str]:
        """The path split on ``/``."""
        return self.path.split("/")

    @property
    def status(self) -> int:
        """The documented success status code."""
        return int(next(iter(self.raw.get("responses") or {"200": {}})))

    @property
    def response_schema(self) -> Mapping[str, Any] | None:
        """The resolved schema of the success response, or ``None``."""
        response: Mapping[str, Any] = next(iter((self.raw.get("responses") or {}).values()), {})
        schema = response.get("schema")
        return self.spec.resolve(schema) if schema else None

    @property
    def response_is_array(self) -> bool:
        """Whether the success response is a JSON array."""
        schema = self.response_schema
        return bool(schema and schema.get("type") == "array")

    @property
    def params(self) -> list[Param]:
        """Arguments in spec order; body properties flattened (snake_case)."""
        if self._params is None:
            self._params = self.spec._parse_params(self.raw.get("parameters") or [])
        return self._params

    @property
    def body_schema(self) -> Mapping[str, Any] | None:
        """The resolved schema of the request body, if the operation has one."""
        for p in self.raw.get("parameters") or []:
            if p.get("in") == "body":
                return self.spec.resolve(p.get("schema") or {})
        return None

    @property
    def paginated(self) -> bool:
        """Whether the operation is a GET taking both ``limit`` and ``page_num``."""
        if self.verb != "get":
            return False
        names = {p.get("name") for p in self.raw.get("parameters") or () if p.get("in") == "query"}
        return "limit" in names and "page_num" in names

    @property
    def deprecation_warning(self) -> str | None:
        """The operation's own deprecation warning, if any."""
        return self.raw.get("x-deprecation-warning") or None


class ApiSpec:
    """A parsed Swagger 2.0 spec of the Civis API.

    Parameters
    ----------
    raw : dict
        The spec as loaded from JSON.
    legacy_names : bool, optional
        Name methods by the older rule (see
        :func:`~civis_jupyter.api.naming.method_names`), as the clients of
        Civis services do.
    excluded : collection of str, optional
        Resources not to expose (by default those that would collide with
        ``APIClient`` attributes).

    Attributes
    ----------
    raw : dict
        The spec itself.
    operations : list of Operation
        Every operation whose summary does not mark it deprecated.
    skipped : list of Operation
        Operations marked deprecated (not turned into client methods).
    """

    def __init__(
        self,
        raw: Mapping[str, Any],
        *,
        legacy_names: bool = False,
        excluded: Collection[str] = EXCLUDED_RESOURCES,
    ):
        self.raw = raw
        self.definitions: Mapping[str, Any] = raw.get("definitions") or {}
        self._resolved: dict[str, Mapping[str, Any]] = {}
        self.operations: list[Operation] = []
        self.skipped: list[Operation] = []
        self._lock = threading.Lock()
        for path, ops in (raw.get("paths") or {}).items():
            stripped = path.strip("/")
            resource = resource_name(stripped)
            for verb, op in ops.items():
                if verb not in VERBS:
                    continue
                summary = op.get("summary") or ""
                is_array = self._is_array_schema(op)
                name, alias = method_names(verb, stripped, is_array, legacy=legacy_names)
                record = Operation(self, verb, stripped, op, resource, name, alias)
                if "deprecated" in summary.lower() or resource in excluded:
                    self.skipped.append(record)
                else:
                    self.operations.append(record)

    def _is_array_schema(self, op: Mapping[str, Any]) -> bool:
        responses = op.get("responses") or {}
        schema = (responses.get("200") or {}).get("schema") or {}
        if "$ref" in schema:
            schema = self.resolve(schema)
        return schema.get("type") == "array"

    @cached_property
    def resources(self) -> dict[str, dict[str, Operation]]:
        """Resource name -> method name -> Operation (aliases included)."""
        out: dict[str, dict[str, Operation]] = {}
        for op in self.operations:
            methods = out.setdefault(op.resource, {})
            methods[op.name] = op
            if op.alias:
                methods[op.alias] = op
        return out

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Resolve a top-level ``$ref`` (one level; nested refs stay refs).

        Parameters
        ----------
        schema : dict
            A schema that may be ``{"$ref": "#/definitions/Name"}``.

        Returns
        -------
        dict
            The referenced definition, or ``schema`` itself.
        """
        seen = 0
        while isinstance(schema, Mapping) and "$ref" in schema and seen < 32:
            ref = schema["$ref"]
            name = ref.rsplit("/", 1)[-1]
            schema = self.definitions.get(name, {})
            seen += 1
        return schema

    def properties(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Return the properties of an object schema (or of an array's items).

        Parameters
        ----------
        schema : dict
            A schema, possibly a ``$ref``.

        Returns
        -------
        dict
            Property name -> (unresolved) property schema; empty when none.
        """
        schema = self.resolve(schema)
        if schema.get("type") == "array":
            schema = self.resolve(schema.get("items") or {})
        return schema.get("properties") or {}

    def _parse_params(self, parameters: list[Mapping[str, Any]]) -> list[Param]:
        out: list[Param] = []
        for p in parameters:
            if p.get("in") == "body":
                schema = self.resolve(p.get("schema") or {})
                required = set(schema.get("required") or ())
                for api_name, prop in (schema.get("properties") or {}).items():
                    out.append(
                        Param(
                            camel_to_snake(api_name),
                            api_name,
                            "body",
                            api_name in required,
                            prop,
                            prop.get("description") or "",
                        )
                    )
            else:
                out.append(
                    Param(
                        camel_to_snake(p["name"]),
                        p["name"],
                        p.get("in", "query"),
                        bool(p.get("required")),
                        p,
                        p.get("description") or "",
                    )
                )
        return out

    def iter_operations(self, include_skipped: bool = False) -> Iterator[Operation]:
        """Iterate over operations, optionally with deprecated ones.

        Parameters
        ----------
        include_skipped : bool, optional
            Also yield operations that clients do not expose.

        Yields
        ------
        Operation
        """
        yield from self.operations
        if include_skipped:
            yield from self.skipped


# --- loading and caching -------------------------------------------------

_parsed_lock = threading.Lock()
_parsed_by_id: dict[int, tuple[Any, ApiSpec]] = {}
_parsed_by_file: dict[tuple[str, float, int], ApiSpec] = {}
_downloaded: dict[tuple[str, str, str], tuple[float, ApiSpec]] = {}


def parse_spec(raw: Mapping[str, Any]) -> ApiSpec:
    """Parse a spec dict, reusing the parse of the same object in this process.

    Parameters
    ----------
    raw : dict
        The loaded spec.

    Returns
    -------
    ApiSpec
    """
    with _parsed_lock:
        hit = _parsed_by_id.get(id(raw))
        if hit is not None and hit[0] is raw:
            return hit[1]
    spec = ApiSpec(raw)
    with _parsed_lock:
        _parsed_by_id[id(raw)] = (raw, spec)
    return spec


def _spec_file(source: object) -> Path:
    """The path a local spec was given as (a type check of ``local_api_spec``)."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            "local_api_spec must be a dict, an OrderedDict, a JSON string or a path, "
            f"not {type(source).__name__}"
        )
    return Path(source)


def _read_spec_file(path: Path) -> Any:
    """The JSON document in a spec file (gzipped when its name ends in ``.gz``)."""
    try:
        if path.suffix == ".gz":
            import gzip

            with gzip.open(path, "rb") as f:
                return json.loads(f.read())
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        raise FileNotFoundError(f"API spec file not found: {path}") from None


def read_spec(source: Mapping[str, Any] | str | os.PathLike[str]) -> Mapping[str, Any]:
    """Read a local spec without parsing it.

    Parameters
    ----------
    source : dict, OrderedDict, str or pathlib.Path
        A spec already loaded (returned as it is), a path to a JSON file
        (optionally ``.gz``), or a JSON document as text.

    Returns
    -------
    dict
        The spec as loaded from JSON.
    """
    if isinstance(source, Mapping):
        return source
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return json.loads(source)
    return _read_spec_file(_spec_file(source))


def load_spec(source: Mapping[str, Any] | str | os.PathLike[str]) -> ApiSpec:
    """Load a local spec given as a dict, a JSON string, or a path to a file.

    Parameters
    ----------
    source : dict, OrderedDict, str or pathlib.Path
        A spec already loaded, a path to a JSON file (optionally ``.gz``), or a
        JSON document as text.

    Returns
    -------
    ApiSpec
        The parsed spec (shared with any earlier load of the same file).
    """
    if isinstance(source, Mapping):
        return parse_spec(source)
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return ApiSpec(json.loads(source))
    path = _spec_file(source)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"API spec file not found: {path}") from None
    key = (str(path.resolve()), stat.st_mtime, stat.st_size)
    with _parsed_lock:
        cached = _parsed_by_file.get(key)
    if cached is not None:
        return cached
    spec = ApiSpec(_read_spec_file(path))
    with _parsed_lock:
        _parsed_by_file[key] = spec
    return spec


def _running_interactively() -> bool:
    return hasattr(sys, "ps1")


def spec_ttl() -> float:
    """Seconds a downloaded spec stays cached: 15 min interactively, else 24 h.

    Returns
    -------
    float
    """
    return 15 * 60.0 if _running_interactively() else 24 * 3600.0


def clear_spec_cache() -> None:
    """Forget every downloaded spec (used by ``force_refresh_api_spec``)."""
    with _parsed_lock:
        _downloaded.clear()


def get_api_spec(
    api_key: str,
    api_version: str = "1.0",
    *,
    transport: Any = None,
    force_refresh: bool = False,
) -> ApiSpec:
    """Download (or take from the in-memory cache) the spec served at ``/endpoints``.

    Parameters
    ----------
    api_key : str
        The Civis API key.
    api_version : str, optional
        Only ``"1.0"`` exists.
    transport : civis_jupyter.api.transport.Transport, optional
        The transport (with its retries) to download with.
    force_refresh : bool, optional
        Drop cached specs and download again.

    Returns
    -------
    ApiSpec

    Raises
    ------
    ValueError
        For an unknown ``api_version``.
    civis_jupyter.api.errors.CivisAPIKeyError
        When the platform refuses the key (401/403).
    """
    if api_version not in API_VERSIONS:
        raise ValueError(f"api_version must be one of {sorted(API_VERSIONS)}, not {api_version!r}")
    from .errors import CivisAPIError, CivisAPIKeyError

    endpoint = base_url()
    key = (api_key, endpoint, api_version)
    now = time.monotonic()
    if force_refresh:
        clear_spec_cache()
    with _parsed_lock:
        hit = _downloaded.get(key)
    if hit is not None and now - hit[0] < spec_ttl():
        return hit[1]
    from .transport import Transport

    own = transport is None
    transport = transport or Transport(api_key, endpoint)
    try:
        resp = transport.request("GET", "endpoints", raise_for_status=False)
    finally:
        if own:
            transport.close()
    if resp.status_code in (401, 403):
        raise CivisAPIKeyError(
            f"{resp.status_code} error downloading the API spec from {endpoint}: "
            "the API key may be wrong or expired. Check CIVIS_API_KEY."
        )
    if not resp.ok:
        raise CivisAPIError(resp)
    spec = ApiSpec(resp.json(object_pairs_hook=OrderedDict))
    with _parsed_lock:
        _downloaded[key] = (now, spec)
    return spec
