"""Pure logic of %%civis_sql: {name} expansion and statement splitting."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from civis_jupyter.jupyter.sqltemplate import TemplateError, expand_sql, sql_literal
from civis_jupyter.jupyter.statements import split_statements, with_limit


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, "NULL"),
        (True, "TRUE"),
        (3, "3"),
        (np.int64(7), "7"),
        (1.5, "1.5"),
        (decimal.Decimal("2.50"), "2.50"),
        ("O'Brien; DROP TABLE x; --", "'O''Brien; DROP TABLE x; --'"),
        (dt.date(2020, 1, 2), "DATE '2020-01-02'"),
        (dt.datetime(2020, 1, 2, 3, 4, 5), "TIMESTAMP '2020-01-02 03:04:05'"),
        ([1, "a"], "(1, 'a')"),
    ],
)
def test_literals(value, literal):
    assert sql_literal(value) == literal


@pytest.mark.parametrize("value", [float("nan"), [], [[1]], object(), "a\x00b"])
def test_values_without_safe_literal_are_refused(value):
    with pytest.raises(TemplateError):
        sql_literal(value)


def test_expand_uses_the_namespace_and_keeps_escaped_braces():
    sql = expand_sql(
        "select '{{x}}', {name} from t where id in {ids}", {"name": "a'b", "ids": (1, 2)}
    )
    assert sql == "select '{x}', 'a''b' from t where id in (1, 2)"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select {missing}", "not defined"),
        ("select {x!r}", "only plain"),
        ("select {x:>3}", "only plain"),
        ("select {a.b}", "not a variable name"),
        ("select {", "bad placeholder"),
    ],
)
def test_expand_errors_name_the_problem(sql, message):
    with pytest.raises(TemplateError, match=message):
        expand_sql(sql, {"x": 1, "a": 1})


@given(st.text())
def test_no_string_value_can_escape_its_literal(text):
    # Whatever the text, the literal is one quoted SQL string: strip the outer
    # quotes and no lone quote remains.
    if "\x00" in text:
        return
    literal = sql_literal(text)
    assert literal[0] == literal[-1] == "'"
    assert literal[1:-1].replace("''", "").count("'") == 0


def test_split_statements_respects_quotes_and_comments():
    sql = "select ';' as a; -- c;\nselect \"x;y\" from t /* ; */; ;\n-- only a comment"
    assert split_statements(sql) == ["select ';' as a", '-- c;\nselect "x;y" from t /* ; */']


def test_with_limit_wraps_the_last_statement():
    sql = "create temp table t as select 1 as a; select * from t -- tail"
    out = with_limit(sql, 5)
    assert out.startswith("create temp table t as select 1 as a;")
    assert out.endswith("SELECT * FROM (\nselect * from t -- tail\n) AS civis_limited LIMIT 5")
