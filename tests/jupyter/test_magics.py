"""%%civis_sql and friends in a real IPython shell against the embedded platform."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.error import UsageError

import civis_jupyter as civis
from civis_jupyter.jupyter.lazyclient import ClientNotConfigured

RIDES = "public.cta_ridership_daily"


def _run_cell(shell, line, cell):
    return shell.run_cell_magic("civis_sql", line, cell)


def test_loading_injects_civis_and_a_lazy_client(shell):
    assert shell.user_ns["civis"] is civis
    client = shell.user_ns["client"]
    assert not client.is_ready
    assert client.users.get_me()["username"]
    assert client.is_ready


def test_loading_without_a_key_works_and_first_use_explains(monkeypatch):
    from IPython.testing.globalipapp import get_ipython, start_ipython

    monkeypatch.delenv("CIVIS_API_KEY", raising=False)
    ip = start_ipython() or get_ipython()
    ip.run_line_magic("load_ext", "civis_jupyter")
    try:
        with pytest.raises(ClientNotConfigured, match="CIVIS_API_KEY"):
            ip.user_ns["client"].users.get_me()
        with pytest.raises(UsageError, match="CIVIS_API_KEY"):
            ip.run_cell_magic("civis_sql", "somedb", "select 1")
    finally:
        ip.run_line_magic("unload_ext", "civis_jupyter")


def test_cell_returns_the_full_result_as_a_dataframe(shell, database, platform_env):
    sql = f"select station_id, count(*) as n from {RIDES} group by 1 order by 1"
    frame = _run_cell(shell, database, sql)
    assert isinstance(frame, pd.DataFrame)
    expected = civis.io.read_civis_sql(sql, database, return_as="pandas")
    assert len(frame) == len(expected) > 100
    assert frame["n"].sum() == expected["n"].sum()


def test_output_variable_and_line_form(shell, database):
    _run_cell(shell, f"-d {database} -o rides", f"select count(*) as n from {RIDES}")
    assert shell.user_ns["rides"]["n"][0] > 600_000
    shell.run_cell(f"small = %civis_sql {database} -- select 41 + 1 as answer")
    assert int(shell.user_ns["small"]["answer"][0]) == 42


def test_placeholders_become_literals_and_cannot_inject(shell, database, capsys):
    shell.user_ns["evil"] = "x'; drop table public.cta_ridership_daily; --"
    frame = _run_cell(shell, f"{database} --show-sql", "select {evil} as v")
    assert frame["v"][0] == shell.user_ns["evil"]
    assert "'x''; drop table" in capsys.readouterr().out
    assert len(_run_cell(shell, database, f"select 1 from {RIDES} limit 1")) == 1


def test_preview_limit_and_several_statements(shell, database):
    preview = _run_cell(shell, f"{database} --preview 5", f"select * from {RIDES} order by date")
    assert len(preview) == 5 and list(preview.columns)[:2] == ["station_id", "stationname"]
    limited = _run_cell(shell, f"{database} --limit 7", f"select * from {RIDES}")
    assert len(limited) == 7
    several = _run_cell(
        shell,
        database,
        "create temp table t as select 1 as a union all select 2;\nselect sum(a) as s from t",
    )
    assert int(several["s"][0]) == 3


def test_csv_and_to_table(shell, database, tmp_path):
    target = tmp_path / "out.csv"
    _run_cell(shell, f"{database} --csv {target}", f"select * from {RIDES} order by date limit 50")
    assert len(pd.read_csv(target)) == 50
    _run_cell(shell, f"{database} --to-table scratch.magic_copy", "select 1 as one")
    copied = _run_cell(shell, database, "select * from scratch.magic_copy")
    assert copied["one"].tolist() == [1]


def test_async_returns_the_future_and_fills_the_variable(shell, database):
    future = _run_cell(shell, f"{database} --async -o later", "select 5 as five")
    assert isinstance(future, civis.futures.CivisFuture)
    future.result(timeout=60)
    # the done callback stores the frame before result() returns to waiters
    assert int(shell.user_ns["later"]["five"][0]) == 5


@pytest.mark.parametrize(
    ("line", "cell", "message"),
    [
        ("no_such_db", "select 1", "Unknown database 'no_such_db'. Available:"),
        ("{db}", "select * from no_such_table", "SQL failed"),
        ("{db} --bogus", "select 1", "unrecognized arguments"),
        ("{db}", "select {undefined_name}", "not defined in the notebook"),
        ("{db}", "-- nothing here", "No SQL statement"),
        ("", "select 1", "No database given"),
    ],
)
def test_bad_input_gives_a_short_usage_error(shell, database, line, cell, message):
    with pytest.raises(UsageError, match=message):
        _run_cell(shell, line.format(db=database), cell)


def test_default_database_from_config(shell, database):
    shell.run_line_magic("config", f"CivisMagics.default_database = {database!r}")
    assert int(_run_cell(shell, "", "select 2 as two")["two"][0]) == 2


def test_unload_removes_magics_and_names(shell):
    shell.run_line_magic("unload_ext", "civis_jupyter")
    assert "civis_sql" not in shell.magics_manager.magics["cell"]
    assert "client" not in shell.user_ns and "civis" not in shell.user_ns
    shell.run_line_magic("load_ext", "civis_jupyter")
    assert "civis_sql" in shell.magics_manager.magics["cell"]


def test_results_display_as_table_widgets_with_static_fallback(shell, database):
    frame = _run_cell(shell, database, f"select * from {RIDES} order by date limit 30")
    bundle, _ = shell.display_formatter.format(frame)
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "rows 1-10 of 30" in bundle["text/html"]
    assert "[30 rows x 5 columns]" in bundle["text/plain"]
    plain = pd.DataFrame({"a": [1]})
    bundle, _ = shell.display_formatter.format(plain)
    assert "application/vnd.jupyter.widget-view+json" not in bundle
