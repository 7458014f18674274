"""Parse and check what a request carries: ids, query values and JSON bodies.

Bad input is answered here, before any behaviour sees it: an id that is not
ASCII digits within 64 bits matches no route; a query value of the wrong
type, a body that is not JSON, is nested deeper than :data:`MAX_BODY_DEPTH`,
holds an integer beyond 64 bits, a non-finite number or a lone surrogate is a
400; and a body is validated with :mod:`jsonschema` against the operation's
schema (types, enums and required properties; ``null`` is accepted anywhere,
as Civis accepts it), each failure one clear 400 naming the field.
"""

from __future__ import annotations

import json
import math
import re
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema
import tornado.escape

from ..api.naming import camel_to_snake, snake_to_camel
from ..api.spec import ApiSpec, Operation
from .http_types import ApiError

__all__ = [
    "MAX_BODY_DEPTH",
    "MAX_INT",
    "PRESERVE_KEYS",
    "camelize",
    "parse_body",
    "parse_id",
    "parse_query",
    "path_value",
    "validate_body",
]

#: Body keys whose nested keys are the user's own and keep their case.
PRESERVE_KEYS = frozenset({"arguments", "environmentVariables", "value"})
#: Largest integer accepted anywhere (ids, query values, body values): SQLite's.
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)
#: Deepest nesting of arrays and objects accepted in a JSON body.
MAX_BODY_DEPTH = 64
_ASCII_INT = re.compile(r"[+-]?[0-9]+")
#: Schema keywords a body is checked against (formats, patterns and bounds are not).
_CHECKED = frozenset({"type", "enum", "required", "properties", "items", "$ref", "allOf"})
_JSON_TYPES = frozenset({"integer", "number", "string", "boolean", "array", "object"})


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


def path_value(raw: str, kind: str | None) -> Any:
    """A path parameter: unescaped, and an id where the spec says integer.

    Returns
    -------
    Any
        The value, or ``None`` when an integer parameter is not an id.
    """
    value = tornado.escape.url_unescape(raw, plus=False)
    return parse_id(value) if kind == "integer" else value


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
            real = float(value) if value.strip().isascii() else math.nan
        except ValueError:
            real = math.nan
        if not math.isfinite(real):
            raise ApiError(400, f"{name} must be a finite number, not {value!r}", "bad_request")
        return real
    if kind == "boolean":
        lowered = value.lower()
        if lowered in ("true", "1", "t", "yes"):
            return True
        if lowered in ("false", "0", "f", "no"):
            return False
        raise ApiError(400, f"{name} must be true or false, not {value!r}", "bad_request")
    return value


def parse_query(op: Operation, arguments: Mapping[str, list[bytes]]) -> dict[str, Any]:
    """Query arguments as snake_case names with spec types (``name[]`` -> list).

    Parameters
    ----------
    op : Operation
        Declares the query parameters and their types.
    arguments : mapping
        Raw query arguments (name -> values as bytes).

    Returns
    -------
    dict

    Raises
    ------
    ApiError
        400 for a value of the wrong type.
    """
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


# -- body validation -----------------------------------------------------------------------


def _checked_schema(schema: Any) -> Any:
    """A spec schema as the body check reads it.

    Only types, enums, required properties, properties, items and references
    are kept; every type and enum also accepts ``null``; user-owned keys
    (:data:`PRESERVE_KEYS`) accept anything; swagger-only types (``file``)
    check nothing; ``required`` names only declared properties.
    """
    if not isinstance(schema, Mapping):
        return schema
    props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else None
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _CHECKED:
            continue
        if key == "properties" and props is not None:
            out[key] = {
                name: {} if name in PRESERVE_KEYS else _checked_schema(prop)
                for name, prop in props.items()
            }
        elif key == "items":
            out[key] = _checked_schema(value)
        elif key == "allOf" and isinstance(value, list):
            out[key] = [_checked_schema(v) for v in value]
        elif key == "type":
            kinds = [value] if isinstance(value, str) else list(value or ())
            known = [k for k in kinds if k in _JSON_TYPES]
            if known:
                out[key] = [*known, "null"]
        elif key == "enum" and isinstance(value, list):
            out[key] = value if None in value else [*value, None]
        elif key == "required":
            names = [n for n in value if props and n in props] if isinstance(value, list) else []
            if names:
                out[key] = names
        elif key == "$ref" and isinstance(value, str):
            out[key] = value
    if props is not None and "type" not in out:
        out["type"] = ["object", "null"]
    return out


class _BodyValidators:
    """The compiled body validators of one spec (one per schema, made on first use)."""

    def __init__(self, spec: ApiSpec):
        self._definitions = {
            name: _checked_schema(schema) for name, schema in spec.definitions.items()
        }
        self._compiled: dict[int, tuple[Mapping[str, Any], Any]] = {}
        self._lock = threading.Lock()

    def for_schema(self, schema: Mapping[str, Any]) -> Any:
        found = self._compiled.get(id(schema))
        if found is not None and found[0] is schema:
            return found[1]
        root = {"allOf": [_checked_schema(schema)], "definitions": self._definitions}
        validator = jsonschema.Draft4Validator(root)
        with self._lock:
            self._compiled[id(schema)] = (schema, validator)  # the schema pins its id
        return validator


_VALIDATORS: weakref.WeakKeyDictionary[ApiSpec, _BodyValidators] = weakref.WeakKeyDictionary()
_VALIDATORS_LOCK = threading.Lock()


def _validators(spec: ApiSpec) -> _BodyValidators:
    with _VALIDATORS_LOCK:
        found = _VALIDATORS.get(spec)
        if found is None:
            found = _VALIDATORS[spec] = _BodyValidators(spec)
        return found


def _label(path: Iterable[Any]) -> str:
    """``tasks[0].name`` for a path into the body ('' for the body itself)."""
    label = ""
    for part in path:
        label += f"[{part}]" if isinstance(part, int) else f"{'.' if label else ''}{part}"
    return label


def _listed(value: object) -> list[Any]:
    """A keyword's value as a list (``type`` names one type or several)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _message(error: jsonschema.ValidationError) -> str:
    where = _label(error.absolute_path)
    expected = _listed(error.validator_value)
    if error.validator == "required":
        present = error.instance if isinstance(error.instance, Mapping) else {}
        missing = next((n for n in expected if n not in present), "a field")
        return f"{camel_to_snake(missing)} is required{' in ' + where if where else ''}"
    label = where or "body"
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in expected if v is not None)
        return f"{label} must be one of: {allowed}"
    if error.validator == "type":
        kinds = [k for k in expected if k != "null"]
        return f"{label} must be of type {' or '.join(kinds)}"
    return f"{label} is not valid: {error.message}"  # pragma: no cover (keywords are filtered)


def validate_body(spec: ApiSpec, schema: Mapping[str, Any], body: Any) -> None:
    """Check a body's types, enums and required properties against a schema.

    ``null`` is accepted for any value, and the keys under
    :data:`PRESERVE_KEYS` are the user's own.

    Parameters
    ----------
    spec : ApiSpec
        Resolves the schema's references.
    schema : mapping
        The operation's body schema.
    body : Any
        The decoded (camelCase) body.

    Raises
    ------
    ApiError
        400 naming the shallowest problem (``name must be of type string``,
        ``sql is required``, ``state must be one of: a, b``).
    """
    if body is None:
        return
    validator = _validators(spec).for_schema(schema)
    errors = list(validator.iter_errors(body))
    if errors:
        first = min(errors, key=lambda e: len(e.absolute_path))
        raise ApiError(400, _message(first), "bad_request")
