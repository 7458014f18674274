"""``civis-jupyter api RESOURCE METHOD [--param value ...]``: any API operation."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``api`` command."""
    parser = sub.add_parser(
        "api",
        help="call any API operation, e.g. `api jobs list --limit 5`",
        description="Call an API operation: RESOURCE METHOD, then --param value pairs "
        "(values are parsed as JSON when they can be). `api RESOURCE` lists methods; "
        "`api RESOURCE METHOD --help` shows the method's documentation.",
        add_help=False,
    )
    parser.add_argument("resource", nargs="?")
    parser.add_argument("method", nargs="?")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.add_argument("-h", "--help", action="store_true")
    parser.set_defaults(func=run)
    return parser


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse(rest: list[str], signature: inspect.Signature) -> tuple[list, dict]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    i = 0
    while i < len(rest):
        token = rest[i]
        if token.startswith("--"):
            name = token[2:].replace("-", "_")
            if "=" in name:
                name, value = name.split("=", 1)
                kwargs[name] = _value(value)
            elif i + 1 < len(rest) and not rest[i + 1].startswith("--"):
                kwargs[name] = _value(rest[i + 1])
                i += 1
            else:
                kwargs[name] = True
        else:
            args.append(_value(token))
        i += 1
    unknown = set(kwargs) - set(signature.parameters)
    if unknown:
        known = ", ".join("--" + p.replace("_", "-") for p in signature.parameters)
        raise TypeError(f"unknown option(s) {sorted(unknown)}; this method takes: {known}")
    return args, kwargs


def run(args: argparse.Namespace) -> int:
    """Call the operation and print its JSON result."""
    from ..api.client import APIClient

    client = APIClient()
    args.resource = (args.resource or "").replace("-", "_")
    args.method = (args.method or "").replace("-", "_")
    if not args.resource:
        print("Resources:", ", ".join(client.resources))
        return 0
    if args.resource not in client.resources:
        raise ValueError(f"unknown resource {args.resource!r}; see `civis-jupyter api`")
    resource = getattr(client, args.resource)
    methods = sorted(m for m in dir(resource) if not m.startswith("_"))
    if not args.method:
        print(f"Methods of {args.resource}:", ", ".join(methods))
        return 0
    if args.method not in methods:
        raise ValueError(f"unknown method {args.resource}.{args.method}; methods: {methods}")
    method = getattr(resource, args.method)
    if args.help or "--help" in args.rest or "-h" in args.rest:
        print(f"{args.resource} {args.method}{inspect.signature(method)}\n")
        print(inspect.getdoc(method))
        return 0
    positional, options = _parse(list(args.rest), inspect.signature(method))
    result = method(*positional, **options)
    if hasattr(result, "__next__"):  # iterator=True
        result = [r.json() for r in result]
    elif hasattr(result, "json"):
        result = result.json()
    json.dump(result, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0
