"""numpydoc docstrings for client methods, built on demand from an Operation."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from .naming import camel_to_snake
from .spec import Operation, Param

__all__ = ["method_doc", "type_name"]

_TYPES = {
    "array": "list",
    "object": "dict",
    "integer": "int",
    "number": "float",
    "string": "str",
    "boolean": "bool",
}
_MAX_DEPTH = 4
_ITERATOR_DOC = (
    "iterator : bool, optional\n"
    "    If True, return a :class:`civis_jupyter.PaginatedResponse` that walks\n"
    "    through every page ('page_num' is then ignored). Defaults to False,\n"
    "    which returns one page as a :class:`civis_jupyter.ListResponse`.\n"
)


def type_name(schema: Mapping[str, Any], spec: Any = None, returned: bool = False) -> str:
    """Describe a schema's type the numpydoc way (``list[dict]``, ``int``...).

    Parameters
    ----------
    schema : dict
        The (possibly ``$ref``) schema.
    spec : ApiSpec, optional
        Used to resolve references.
    returned : bool, optional
        Name objects ``Response`` (for return values) instead of ``dict``.

    Returns
    -------
    str
    """
    if spec is not None:
        schema = spec.resolve(schema)
    kind = schema.get("type") or ("object" if "properties" in schema else "")
    name = _TYPES.get(kind, kind or "object")
    if name == "dict" and returned:
        name = ":class:`civis_jupyter.Response`"
    if kind == "array":
        items = schema.get("items") or {}
        if spec is not None:
            items = spec.resolve(items)
        inner = _TYPES.get(items.get("type", "object" if items else ""), "")
        if inner == "dict" and returned:
            inner = ":class:`civis_jupyter.Response`"
        if inner:
            name = f"{name}[{inner}]"
    fmt = schema.get("format")
    return f"{name} ({fmt})" if fmt else name


def _wrap(text: str, indent: int) -> str:
    pad = " " * indent
    return textwrap.fill(text, width=79, initial_indent=pad, subsequent_indent=pad)


def _property_lines(
    spec: Any,
    props: Mapping[str, Any],
    level: int,
    returned: bool,
    seen: tuple[int, ...],
) -> list[str]:
    lines: list[str] = []
    indent = " " * (4 * level)
    for name, raw in props.items():
        prop = spec.resolve(raw)
        label = "object" if name == "value" else type_name(prop, spec, returned)
        lines.append(f"{indent}- {camel_to_snake(name)} : {label}")
        if prop.get("description"):
            lines.append(_wrap(prop["description"], 4 * (level + 1)))
        child = spec.properties(prop)
        if child and id(child) not in seen and level < _MAX_DEPTH:
            lines.extend(_property_lines(spec, child, level + 1, returned, (*seen, id(child))))
    return lines


def _param_doc(op: Operation, param: Param) -> str:
    spec = op.spec
    optional = "" if param.required else ", optional"
    lines = [f"{param.name} : {type_name(param.schema, spec)}{optional}"]
    if param.description:
        lines.append(_wrap(param.description, 4))
    if param.location == "body":
        child = spec.properties(param.schema)
        if child:
            lines.extend(_property_lines(spec, child, 1, False, (id(child),)))
    return "\n".join(lines) + "\n"


def _returns_doc(op: Operation) -> str:
    schema = op.response_schema
    props = op.spec.properties(schema) if schema else {}
    if not props:
        response: Mapping[str, Any] = next(iter((op.raw.get("responses") or {}).values()), {})
        text = response.get("description") or "success"
        return f"Returns\n-------\nNone\n    Response code {op.status}: {text}"
    if op.paginated:
        kind = ":class:`civis_jupyter.ListResponse` | :class:`civis_jupyter.PaginatedResponse`"
    elif op.response_is_array:
        kind = ":class:`civis_jupyter.ListResponse`"
    else:
        kind = ":class:`civis_jupyter.Response`"
    body = _property_lines(op.spec, props, 1, True, (id(props),))
    return "Returns\n-------\n" + kind + "\n" + "\n".join(body)


def method_doc(op: Operation, name: str, deprecation: str | None = None) -> str:
    """Build the numpydoc docstring of one client method.

    Parameters
    ----------
    op : Operation
        The operation the method calls.
    name : str
        The method name (it may be a deprecated alias).
    deprecation : str, optional
        A deprecation notice to show.

    Returns
    -------
    str
    """
    parts = []
    if op.summary:
        parts.append(textwrap.fill(op.summary, width=79))
        parts.append("")
    parts.append(f"API URL: ``{op.verb.upper()} /{op.path}``")
    parts.append("")
    parts.append(".. code-block:: python")
    parts.append("")
    parts.append("    import civis_jupyter as civis")
    parts.append("    client = civis.APIClient()")
    parts.append(f"    response = client.{op.resource}.{name}(...)")
    parts.append("")
    if deprecation:
        parts.append(".. warning::")
        parts.append(_wrap(deprecation, 4))
        parts.append("")
    params = op.params
    required = [p for p in params if p.required]
    optional = [p for p in params if not p.required]
    if params or op.paginated:
        parts.append("Parameters")
        parts.append("----------")
        docs = [_param_doc(op, p) for p in required + optional]
        if op.paginated:
            docs.append(_ITERATOR_DOC)
        parts.append("".join(docs).rstrip("\n"))
        parts.append("")
    parts.append(_returns_doc(op))
    return "\n".join(parts).rstrip()
