"""Pure helpers of the behaviours: placeholders, result cells, script env, shaping."""

from __future__ import annotations

import datetime as dt
import decimal
from types import SimpleNamespace

import pytest

from civis_jupyter.platform.behaviours._common import paginate, shape
from civis_jupyter.platform.behaviours.files import parse_time
from civis_jupyter.platform.behaviours.scripts import script_env
from civis_jupyter.platform.behaviours.sql import fill_placeholders, json_cell
from civis_jupyter.platform.contract import ApiError, Request


def test_fill_placeholders_uses_arguments_then_defaults():
    params = [{"name": "lim", "default": "5"}, {"name": "tbl"}]
    sql = "SELECT * FROM {{ tbl }} LIMIT {{lim}}"
    assert fill_placeholders(sql, params, {"tbl": "t"}) == "SELECT * FROM t LIMIT 5"
    with pytest.raises(RuntimeError, match="tbl"):
        fill_placeholders(sql, params, {})
    assert fill_placeholders("SELECT '{x}'", None, None) == "SELECT '{x}'"


def test_json_cell_renders_values_as_text():
    assert json_cell(None) is None
    assert json_cell(True) == "t"
    assert json_cell(3) == "3"
    assert json_cell(decimal.Decimal("1.50")) == "1.50"
    assert json_cell(dt.date(2024, 1, 2)) == "2024-01-02"
    assert json_cell(dt.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02 03:04:05"
    assert json_cell([1, "a"]) == '[1, "a"]'


def test_script_env_from_params_and_arguments():
    params = [
        {"name": "A", "default": "x"},
        {"name": "B", "value": "fixed", "default": "ignored"},
        {"name": "C"},
    ]
    env = script_env(params, {"A": "y", "FLAG": True, "LIST": [1], "bad name": "z"})
    assert env == {"A": "y", "B": "fixed", "FLAG": "true", "LIST": "[1]"}


def test_parse_time_accepts_dates_and_zulu_times():
    assert parse_time("1970-01-02", "x") == 86400
    assert parse_time("1970-01-01T00:01:00Z", "x") == 60
    with pytest.raises(ApiError) as info:
        parse_time("tomorrow", "expiresAt")
    assert info.value.status == 400 and "expiresAt" in info.value.description


class FakeSpec:
    def resolve(self, schema):
        return schema

    def properties(self, schema):
        return schema.get("properties") or {}


def request(query=None, schema=None) -> Request:
    op = SimpleNamespace(spec=FakeSpec(), response_schema=schema)
    return Request(platform=None, operation=op, user={"id": 1}, query=query or {})


def test_shape_fills_missing_keys_and_drops_unknown_ones():
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "run": {"type": "object", "properties": {"state": {"type": "string"}}},
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"n": {"type": "integer"}}},
            },
            "arguments": {"type": "object"},
        },
    }
    req = request(schema=schema)
    out = shape(req, {"id": 1, "secret": "x", "items": [{"n": 1, "m": 2}], "arguments": {"K": 1}})
    assert out == {"id": 1, "run": None, "items": [{"n": 1}], "arguments": {"K": 1}}


def test_paginate_pages_orders_and_sets_headers():
    items = [{"n": i} for i in range(7)]
    page = paginate(
        request({"limit": "3", "page_num": "3", "order_dir": "desc"}),
        items,
        default_limit=50,
        order_keys={"n": lambda x: x["n"]},
        default_order="n",
    )
    assert page.body == [{"n": 0}]
    assert page.headers["X-Pagination-Total-Pages"] == "3"
    assert page.headers["X-Pagination-Total-Entries"] == "7"
    past = paginate(request({"page_num": "9"}), items, default_limit=50)
    assert past.body == []
    with pytest.raises(ApiError):
        paginate(request({"order": "bogus"}), items, 50, order_keys={"n": len})
    with pytest.raises(ApiError):
        paginate(request({"limit": "x"}), items, 50)
