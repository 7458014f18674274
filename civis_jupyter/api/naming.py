"""Path + verb -> resource and method names.

This is the one place that decides what a Civis API operation is called on a
client: ``GET /workflows/{id}/executions`` is ``client.workflows.list_executions``.
"""

from __future__ import annotations

import csv
import io
import re

__all__ = [
    "ARRAY_RESPONSE_PATHS",
    "EXCLUDED_RESOURCES",
    "LEGACY_LIST_PATHS",
    "camel_to_snake",
    "method_names",
    "resource_name",
    "snake_to_camel",
    "split_schema_tablename",
]

_CAMEL_1 = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")

#: Resources that would collide with client attributes and are not generated.
EXCLUDED_RESOURCES = frozenset({"feature_flags"})

#: GET paths that answer with an array although their schema says object.
ARRAY_RESPONSE_PATHS = frozenset(
    [
        "credentials/types",
        "databases/{id}/users",
        "jobs/{id}/children",
        "jobs/{id}/parents",
        "notebooks/{id}/git/commits",
        "reports/{id}/git/commits",
        "scripts/javascript/{id}/git/commits",
        "scripts/python3/{id}/git/commits",
        "scripts/r/{id}/git/commits",
        "scripts/sql/{id}/git/commits",
        "scripts/{id}/history",
        "workflows/{id}/git/commits",
    ]
)

#: GET paths whose historical ``list_*`` name is kept as a deprecated alias of
#: the correct ``get_*`` name (the official client keeps the same set).
LEGACY_LIST_PATHS = frozenset(
    [
        "aliases/{id}/shares",
        "clusters/kubernetes/instance_configs/{instance_config_id}/historical_graphs",
        "clusters/kubernetes/instance_configs/{instance_config_id}/historical_metrics",
        "credentials/{id}/shares",
        "databases/{id}/advanced-settings",
        "endpoints",
        "enhancements/cass-ncoa/{id}/shares",
        "enhancements/civis-data-match/{id}/shares",
        "enhancements/geocode/{id}/shares",
        "enhancements/identity-resolution/{id}/shares",
        "files/{id}/shares",
        "git_repos/{id}/refs",
        "groups/{id}/child_groups",
        "groups/{id}/shares",
        "imports/{id}/shares",
        "jobs/{id}/shares",
        "json_values/{id}/shares",
        "match_targets/{id}/shares",
        "media/optimizations/{id}/shares",
        "media/ratecards/{id}/shares",
        "media/spot_orders/{id}/shares",
        "models/{id}/schedules",
        "models/{id}/shares",
        "notebooks/{id}/git",
        "notebooks/{id}/shares",
        "notebooks/{id}/update-links",
        "notifications",
        "permission_sets/{id}/resources/{name}/shares",
        "permission_sets/{id}/shares",
        "predictions/{id}/schedules",
        "projects/{id}/shares",
        "remote_hosts/{id}/shares",
        "reports/{id}/git",
        "reports/{id}/shares",
        "reports/services/{id}/shares",
        "reports/sql/{id}/shares",
        "scripts/containers/{id}/shares",
        "scripts/custom/{id}/shares",
        "scripts/dbt/{id}/shares",
        "scripts/javascript/{id}/git",
        "scripts/javascript/{id}/shares",
        "scripts/python3/{id}/git",
        "scripts/python3/{id}/shares",
        "scripts/r/{id}/git",
        "scripts/r/{id}/shares",
        "scripts/sql/{id}/git",
        "scripts/sql/{id}/shares",
        "search",
        "services/{id}/shares",
        "storage_hosts/{id}/shares",
        "templates/reports/{id}/shares",
        "templates/scripts/{id}/shares",
        "usage/llm/organization/{org_id}/summary",
        "users/me",
        "workflows/{id}/git",
        "workflows/{id}/shares",
    ]
)


def camel_to_snake(word: str) -> str:
    """Convert a camelCase (or PascalCase) name to snake_case.

    Parameters
    ----------
    word : str
        The name to convert, e.g. ``"remoteHostId"``.

    Returns
    -------
    str
        The snake_case name, e.g. ``"remote_host_id"``.
    """
    return _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", word)).lower()


def snake_to_camel(name: str) -> str:
    """Convert a snake_case name to camelCase (camelCase input is unchanged).

    Parameters
    ----------
    name : str
        The name to convert, e.g. ``"remote_host_id"``.

    Returns
    -------
    str
        The camelCase name, e.g. ``"remoteHostId"``.
    """
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def resource_name(path: str) -> str:
    """Return the client resource a path belongs to.

    Parameters
    ----------
    path : str
        An API path such as ``"/git_repos/{id}"`` or ``"/scripts/sql/"``.

    Returns
    -------
    str
        The first path segment, lowercased, with ``-`` replaced by ``_``.
    """
    return path.strip("/").split("/")[0].lower().replace("-", "_")


def _name_from(verb: str, segments: list[str]) -> str:
    parts = []
    for i, seg in enumerate(segments):
        if not _is_param(seg):
            parts.append(seg)
        elif i > 0 and _is_param(segments[i - 1]):
            parts.append(segments[i - 1][1:-1])
    tail = "_".join(parts)
    return (f"{verb}_{tail}" if tail else verb).replace("-", "_")


def method_names(
    verb: str, path: str, array_response: bool, *, legacy: bool = False
) -> tuple[str, str | None]:
    """Name the client method for one operation.

    Parameters
    ----------
    verb : str
        The HTTP verb in lower case (``"get"``, ``"post"``, ...).
    path : str
        The API path, e.g. ``"/workflows/{id}/executions"``.
    array_response : bool
        Whether the operation's success schema is an array.
    legacy : bool, optional
        Name every GET whose path does not end in a parameter ``list_*``,
        whatever it returns, and keep no alias: the older rule, which
        clients of Civis services (``ServiceClient``) still follow.

    Returns
    -------
    tuple of (str, str or None)
        The method name and, for the historical ``list_*`` names kept for
        compatibility, the deprecated alias (otherwise ``None``).
    """
    stripped = path.strip("/")
    segments = stripped.split("/")[1:]
    if verb != "get":
        return _name_from(verb, segments), None
    ends_in_param = bool(segments) and _is_param(segments[-1])
    if legacy:
        return _name_from("get" if ends_in_param else "list", segments), None
    is_array = array_response or stripped in ARRAY_RESPONSE_PATHS
    if ends_in_param or is_array:
        return _name_from("list" if not ends_in_param else "get", segments), None
    preferred = _name_from("get", segments)
    alias = _name_from("list", segments) if stripped in LEGACY_LIST_PATHS else None
    return preferred, alias


def split_schema_tablename(table: str) -> tuple[str | None, str]:
    """Split ``"schema.table"`` into its parts.

    Either part may be double-quoted to hold dots (``'"a.b".c'``).

    Parameters
    ----------
    table : str
        ``schema.table`` or just ``table``.

    Returns
    -------
    tuple of (str or None, str)
        The schema (``None`` when not given) and the table name.

    Raises
    ------
    ValueError
        If the name has more than two parts.
    """
    reader = csv.reader(io.StringIO(str(table)), delimiter=".", quotechar='"', doublequote=True)
    parts = next(reader, [])
    if len(parts) == 1:
        return None, parts[0]
    if len(parts) != 2:
        raise ValueError(
            f"Cannot parse schema and table. Does {table!r} follow the pattern 'schema.table'?"
        )
    return parts[0], parts[1]
