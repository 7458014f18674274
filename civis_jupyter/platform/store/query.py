"""What to list, and the SQL pieces that select it.

:class:`Query` says which objects a list wants (kinds, filters, order, page);
the functions here turn its parts into SQL over the ``objects`` table
(aliased ``o``). Only field names that look like identifiers ever reach SQL,
and every value is a parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..http_types import ApiError

__all__ = ["MAX_ID", "Query", "equals_sql", "json_path", "order_sql", "parent_key", "valid_id"]

#: The largest id SQLite can hold; larger ones name nothing.
MAX_ID = 2**63 - 1
#: Object fields kept in columns (camelCase name -> column).
COLUMNS = {
    "id": "id",
    "createdAt": "created_at",
    "created_at": "created_at",
    "updatedAt": "updated_at",
    "updated_at": "updated_at",
    "author": "author_id",
}
#: Flags kept in columns as well as in ``data`` (``Query.falsy`` reads the column).
FLAG_COLUMNS = ("hidden",)
SAFE_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Query:
    """What to list: filters, order and page, all evaluated in SQL.

    Attributes
    ----------
    kinds : tuple of str
        Kinds of object listed.
    archived : bool or None
        Only unarchived (default), only archived, or both (``None``).
    parent : mapping or None
        Only nested objects with these parent ids.
    authors : collection of int or None
        Only objects authored by these users.
    equals : mapping
        camelCase field -> wanted value (a list: any of them); strings match
        case-insensitively, and a field an object lacks does not restrict it.
    falsy : tuple of str
        Fields that must be absent, null or false (``hidden`` is read from
        its indexed column).
    text : str or None
        Case-insensitive substring of the id (if ``text_in_id``) or of one
        of ``text_fields`` (or any object of ``text_kinds``).
    text_fields : tuple of str
    text_kinds : tuple of str
    text_in_id : bool
    ids : collection of int or None
        Only these ids.
    order : sequence of (str, bool)
        (field or column, descending) pairs; ties go by ascending id.
    fields : tuple of str or None
        Read only these fields of each object (besides its columns); a
        field the object lacks reads as null. ``None``: every field.
    limit : int or None
        Page size (``None``: everything).
    offset : int
        Objects skipped before the page.
    """

    kinds: tuple[str, ...]
    archived: bool | None = False
    parent: Mapping[str, Any] | None = None
    authors: Collection[int] | None = None
    equals: Mapping[str, Any] = field(default_factory=dict)
    falsy: tuple[str, ...] = ()
    text: str | None = None
    text_fields: tuple[str, ...] = ("name",)
    text_kinds: tuple[str, ...] = ()
    text_in_id: bool = True
    ids: Collection[int] | None = None
    order: Sequence[tuple[str, bool]] = ()
    fields: tuple[str, ...] | None = None
    limit: int | None = None
    offset: int = 0


def parent_key(parent: Any) -> str | None:
    """The canonical text of a nested object's parent ids (``None`` if top level)."""
    if not isinstance(parent, Mapping) or not parent:
        return None
    return json.dumps(dict(parent), sort_keys=True, separators=(",", ":"), default=str)


def valid_id(obj_id: Any) -> int | None:
    """An id SQLite can look up, or ``None`` for anything else."""
    if isinstance(obj_id, bool):
        return None
    try:
        value = int(obj_id)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if 0 < value <= MAX_ID else None


def valid_ids(ids: Collection[Any]) -> list[int]:
    """The valid ids among ``ids``, distinct and sorted."""
    return sorted({i for i in (valid_id(x) for x in ids) if i is not None})


def marks(values: Sequence[Any]) -> str:
    """``?,?,?`` for an ``IN (...)`` list of these values."""
    return ",".join("?" * len(values))


def json_path(name: str) -> str:
    """The JSON path of a top-level field of an object's data."""
    return f'$."{name}"'


def _value_expr(name: str) -> tuple[str, str, list[Any]]:
    """SQL for a field's value, for whether the object has it, and their parameters."""
    column = COLUMNS.get(name)
    if column is not None:
        return f"o.{column}", "1", []
    path = json_path(name)
    return "json_extract(o.data, ?)", "json_type(o.data, ?) IS NOT NULL", [path]


def equals_sql(name: str, wanted: Any) -> tuple[str, list[Any]]:
    """One ``equals`` filter: the object lacks the field, or its value matches."""
    if not SAFE_FIELD.match(name):
        return "1", []  # not a field name anything stores: no restriction
    value, present, vparams = _value_expr(name)
    options = wanted if isinstance(wanted, list) else [wanted]
    tests: list[str] = []
    params: list[Any] = []
    for option in options:
        if isinstance(option, bool):
            tests.append(f"{value} = ?")
            params += [*vparams, int(option)]
        elif isinstance(option, str):
            tests.append(f"(typeof({value}) = 'text' AND lower({value}) = lower(?))")
            tests.append(f"CAST({value} AS TEXT) = ?")
            params += [*vparams, *vparams, option, *vparams, option]
        else:
            tests.append(f"{value} = ? OR CAST({value} AS TEXT) = ?")
            params += [*vparams, option, *vparams, str(option)]
    if not tests:
        return "0", []
    return f"(NOT ({present}) OR {' OR '.join(tests)})", [*vparams, *params]


def order_sql(name: str, descending: bool) -> tuple[str, list[Any]]:
    """ORDER BY terms for one key: nulls last (first when descending), text caseless."""
    way = "DESC" if descending else "ASC"
    column = COLUMNS.get(name)
    if column is not None:
        return f"o.{column} {way}", []
    if not SAFE_FIELD.match(name):
        raise ApiError(400, f"cannot order by {name!r}", "bad_request")
    path = json_path(name)
    expr = "json_extract(o.data, ?)"
    sortable = f"CASE WHEN typeof({expr}) = 'text' THEN lower({expr}) ELSE {expr} END"
    return f"({expr} IS NULL) {way}, {sortable} {way}", [path, path, path, path]


def text_sql(query: Query) -> tuple[str, list[Any]]:
    """The ``text`` filter of a query: a substring of the id, a field or a kind."""
    text = str(query.text).lower()
    tests = ["instr(CAST(o.id AS TEXT), ?) > 0"] if query.text_in_id else []
    params: list[Any] = [text] if query.text_in_id else []
    for name in query.text_fields:
        if SAFE_FIELD.match(name):
            tests.append("instr(lower(CAST(json_extract(o.data, ?) AS TEXT)), ?) > 0")
            params += [json_path(name), text]
    if query.text_kinds:
        tests.append(f"o.kind IN ({marks(query.text_kinds)})")
        params += list(query.text_kinds)
    return f"({' OR '.join(tests) or '0'})", params


def ordering_sql(query: Query) -> tuple[str, list[Any]]:
    """The ORDER BY clause of a query (ties by ascending id)."""
    terms: list[str] = []
    params: list[Any] = []
    for name, descending in query.order:
        sql, extra = order_sql(name, descending)
        terms.append(sql)
        params += extra
    if not any(name == "id" for name, _ in query.order):
        terms.append("o.id ASC")
    return ", ".join(terms), params


def columns_sql(query: Query) -> tuple[str, list[Any]]:
    """The columns a page reads: all, or the object's columns and some fields."""
    if query.fields is None:
        return "o.*", []
    names = [n for n in query.fields if SAFE_FIELD.match(n)]
    pairs = ", ".join("?, json_extract(o.data, ?)" for _ in names)
    params: list[Any] = []
    for name in names:
        params += [name, json_path(name)]
    data = f"json_object({pairs})" if names else "'{}'"
    columns = "o.id, o.kind, o.author_id, o.public, o.archived, o.created_at, o.updated_at"
    return f"{columns}, {data} AS data", params
