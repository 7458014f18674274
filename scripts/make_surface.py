"""Regenerate ``civis_jupyter/platform/surface.json.gz`` from the official spec.

The surface keeps the API's structure — paths, verbs, parameters, schemas,
response codes — and none of its prose: descriptions are dropped and each
operation gets a short summary of our own, generated from its verb and path.
Facts that the spec states only in prose (paging defaults and maxima) are
kept as structured ``default`` / ``maximum`` fields first.

Usage: ``python scripts/make_surface.py [SPEC_JSON] [OUT_GZ]``; the spec
defaults to the one in the installed ``civis`` 2.10.1 wheel.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "civis_jupyter" / "platform" / "surface.json.gz"
SCHEMA_KEYS = ("type", "format", "enum", "items", "properties", "required", "$ref")
PARAM_KEYS = ("name", "in", "required", "type", "format", "enum", "items", "schema")
DEFAULT_RES = (
    re.compile(r"[Dd]efaults to its maximum of (\d+)"),
    re.compile(r"[Dd]efaults to the first page, (\d+)"),
    re.compile(r"[Dd]efault(?:s to|ing to| of) ([A-Za-z0-9_]+)"),
)
MAXIMUM_RES = (
    re.compile(r"[Mm]aximum allowed is (\d+)"),
    re.compile(r"[Dd]efaults to its maximum of (\d+)"),
)
ONE_OF_RE = re.compile(r"[Mm]ust be one of:? ([a-z_, ]+)")
VERB_WORDS = {
    ("get", True): "List",
    ("get", False): "Show",
    ("post", True): "Create",
    ("post", False): "Trigger",
    ("put", False): "Replace",
    ("put", True): "Set",
    ("patch", False): "Update",
    ("patch", True): "Update",
    ("delete", False): "Remove",
    ("delete", True): "Remove",
}


def _schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key in SCHEMA_KEYS:
        if key not in node:
            continue
        value = node[key]
        if key == "properties":
            out[key] = {name: _schema(prop) for name, prop in value.items()}
        elif key == "items":
            out[key] = _schema(value)
        else:
            out[key] = value
    return out


def _param(param: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: (_schema(param[k]) if k in ("schema", "items") else param[k])
        for k in PARAM_KEYS
        if k in param
    }
    text = param.get("description") or ""
    if param.get("in") == "query":
        for regex in DEFAULT_RES:
            if m := regex.search(text):
                raw = m.group(1)
                out["default"] = int(raw) if raw.isdigit() else raw
                break
        for regex in MAXIMUM_RES:
            if m := regex.search(text):
                out["maximum"] = int(m.group(1))
                break
        if param.get("name") == "order" and (m := ONE_OF_RE.search(text)):
            out["enum"] = [v.strip() for v in m.group(1).split(",") if v.strip()]
    return out


def summary(verb: str, path: str, deprecated: bool) -> str:
    """Our own one-line summary of an operation, from its verb and path.

    Parameters
    ----------
    verb : str
    path : str
    deprecated : bool
        Add the marker clients use to skip the operation.

    Returns
    -------
    str
    """
    segments = path.strip("/").split("/")
    collection = not segments[-1].startswith("{")
    words = [s.replace("_", " ").replace("-", " ") for s in segments if not s.startswith("{")]
    subject = " / ".join(words)
    text = f"{VERB_WORDS[(verb, collection)]} {subject}"
    if segments[-1].startswith("{") and len(segments) > 1:
        text += " by " + segments[-1].strip("{}").replace("_", " ")
    return text + (" (deprecated)" if deprecated else "")


def make_surface(spec: dict[str, Any]) -> dict[str, Any]:
    """Strip a spec down to its structure with our own summaries.

    Parameters
    ----------
    spec : dict
        The full Swagger 2.0 spec.

    Returns
    -------
    dict
        The surface (still a valid Swagger 2.0 document).
    """
    paths: dict[str, Any] = {}
    for path, ops in spec["paths"].items():
        paths[path] = {}
        for verb, op in ops.items():
            deprecated = "deprecated" in (op.get("summary") or "").lower()
            paths[path][verb] = {
                "summary": summary(verb, path, deprecated),
                "parameters": [_param(p) for p in op.get("parameters") or []],
                "responses": {
                    code: {
                        "description": "success",
                        **({"schema": _schema(r["schema"])} if "schema" in r else {}),
                    }
                    for code, r in op["responses"].items()
                },
            }
    return {
        "swagger": "2.0",
        "info": {"title": "Civis API (local platform)", "version": "1"},
        "produces": ["application/json"],
        "paths": paths,
        "definitions": {name: _schema(d) for name, d in spec["definitions"].items()},
        "securityDefinitions": {
            "api_key": {"type": "apiKey", "name": "Authorization", "in": "header"}
        },
        "security": [{"api_key": []}],
    }


def main(argv: list[str]) -> None:
    """Write the surface file."""
    source = (
        Path(argv[1])
        if len(argv) > 1
        else (Path(__import__("civis").__file__).parent / "resources" / "civis_api_spec.json")
    )
    out = Path(argv[2]) if len(argv) > 2 else OUT
    surface = make_surface(json.loads(source.read_text()))
    data = json.dumps(surface, separators=(",", ":"), sort_keys=False).encode()
    with gzip.GzipFile(out, "wb", compresslevel=9, mtime=0) as f:
        f.write(data)
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {len(data):,} uncompressed)")


if __name__ == "__main__":
    main(sys.argv)
