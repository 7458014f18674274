"""%%civis_sql and friends in a real IPython shell against the embedded platform."""

from __future__ import annotations

import pydoc
import socket
import threading

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

import civis_jupyter as civis
from civis_jupyter.jupyter.lazyclient import ClientNotConfigured, is_ready
from civis_jupyter.jupyter.magics import CivisMagics, split_line_form

RIDES = "public.cta_ridership_daily"


def _run_cell(shell, line, cell):
    return shell.run_cell_magic("civis_sql", line, cell)


def _run(shell, source):
    """Run a cell as a notebook would; its exception (if any) is raised here."""
    result = shell.run_cell(source)
    result.raise_error()
    return result.result


def test_loading_injects_civis_and_a_lazy_client(shell):
    assert shell.user_ns["civis"] is civis
    client = shell.user_ns["client"]
    assert type(client) is civis.APIClient and isinstance(client, civis.APIClient)
    assert not is_ready(client)
    assert client.users.get_me()["username"]
    assert is_ready(client)
    assert "users" in dir(client)
    assert repr(client).startswith("<civis_jupyter.APIClient http://127.0.0.1:")


@pytest.fixture
def silent_endpoint(monkeypatch):
    """CIVIS_API_ENDPOINT at a listening socket nobody answers; yields the socket."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        monkeypatch.setenv("CIVIS_API_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}/")
        yield server


def test_loading_makes_no_request_and_client_is_an_api_client(silent_endpoint, monkeypatch):
    from IPython.testing.globalipapp import get_ipython, start_ipython

    monkeypatch.setenv("CIVIS_API_KEY", "a-key-that-is-never-sent")
    ip = start_ipython() or get_ipython()
    ip.run_line_magic("load_ext", "civis_jupyter")
    try:
        client = ip.user_ns["client"]
        assert isinstance(client, civis.APIClient)
        text = pydoc.plain(pydoc.render_doc(client))
        assert text == pydoc.plain(pydoc.render_doc(civis.APIClient(local_api_spec={"paths": {}})))
        assert "The Civis API client." in text and "get_database_id" in text
        assert repr(client) == "<civis_jupyter.APIClient (set up on first use)>"
        assert not hasattr(client, "_repr_html_")  # IPython's display probes stay offline
        ip.display_formatter.format(client)
        assert not is_ready(client)
        with pytest.raises(BlockingIOError):
            silent_endpoint.accept()  # nothing ever connected
    finally:
        ip.run_line_magic("unload_ext", "civis_jupyter")


def test_loading_without_a_key_works_and_first_use_explains(platform_env, monkeypatch):
    from IPython.testing.globalipapp import get_ipython, start_ipython

    monkeypatch.delenv("CIVIS_API_KEY", raising=False)
    ip = start_ipython() or get_ipython()
    ip.run_line_magic("load_ext", "civis_jupyter")
    try:
        client = ip.user_ns["client"]
        assert isinstance(client, civis.APIClient)
        assert "The Civis API client." in pydoc.plain(pydoc.render_doc(client))
        with pytest.raises(ClientNotConfigured, match="CIVIS_API_KEY") as raised:
            client.users.get_me()
        assert raised.value.args[0].startswith("No Civis client could be created: No Civis API key")
        with pytest.raises(UsageError, match="CIVIS_API_KEY"):
            ip.run_cell_magic("civis_sql", "somedb", "select 1")
        assert "users" not in dir(client) and "get_database_id" in dir(client)
        # Once a key is set, the same client works: a failed setup is retried.
        monkeypatch.setenv("CIVIS_API_KEY", platform_env.api_key)
        names = []
        threads = [
            threading.Thread(target=lambda: names.append(client.users.get_me()["username"]))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(names) == 4 and len(set(names)) == 1 and is_ready(client)
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
    _run(shell, f"small = %civis_sql {database} -- select 41 + 1 as answer")
    assert int(shell.user_ns["small"]["answer"][0]) == 42


@pytest.mark.parametrize(
    "line",
    [
        "n = %civis_sql {db} select 40 + 2 as answer",
        "n = %civis_sql {db} --preview SELECT 40 + 2 AS answer -- a trailing comment",
        "n = %civis_sql {db} --preview 5 select 40 + 2 as answer",
        "n = %civis_sql --preview 5 {db} (select 40 + 2 as answer)",
        "n = %civis_sql --preview {db} with x as (select 40 as a) select a + 2 as answer from x",
        "n = %civis_sql -d {db} --limit 1 select 40 + 2 as answer",
        "n = %civis_sql -d $dbname from (values (42)) t(answer) select answer",
        "n = %civis_sql -d {{dbname}} -- select 40 + 2 as answer",
        "n = %civis_sql {db} --prev 1 Select 40 + 2 as answer",
        "%civis_sql {db} -o n select 40 + 2 as answer",
    ],
)
def test_line_form_takes_sql_after_the_options(shell, database, line):
    shell.user_ns["dbname"] = database
    _run(shell, line.format(db=database))
    assert [int(v) for v in shell.user_ns["n"]["answer"]] == [42]  # --preview gives text


@pytest.mark.parametrize(
    ("line", "words", "sql"),
    [
        ("select 1", [], "select 1"),
        ("WITH x AS (select 1) select * from x", [], "WITH x AS (select 1) select * from x"),
        ("db (select 1)", ["db"], "(select 1)"),
        ("db select 1 -- note", ["db"], "select 1 -- note"),
        ("db -- selection", ["db"], " selection"),
        ("selection select 1", ["selection"], "select 1"),
        ("select_db summarize t", ["select_db"], "summarize t"),
        ("-d db --preview 5 select 1", ["-d", "db", "--preview", "5"], "select 1"),
        ("--preview db select 1", ["db", "--preview"], "select 1"),
        ("--prev 3 db select 1", ["--prev", "3", "db"], "select 1"),
        ("-o select from t", ["-o", "select"], "from t"),
        ("--csv 'a -- b.csv' db select 1", ["--csv", "a -- b.csv", "db"], "select 1"),
        ("-o {a + 1} $b select 1", ["-o", "{a + 1}", "$b"], "select 1"),
        ("-d db other words", ["-d", "db"], "other words"),
        ("db", ["db"], ""),
    ],
)
def test_line_form_split(line, words, sql):
    assert split_line_form(line, CivisMagics.civis_sql.parser) == (words, sql)


@pytest.fixture
def default_database(shell, database):
    """``%config CivisMagics.default_database``, reset afterwards (the shell keeps config)."""
    shell.run_line_magic("config", f"CivisMagics.default_database = {database!r}")
    yield database
    shell.run_line_magic("config", "CivisMagics.default_database = None")


def test_line_form_without_a_database_uses_the_default(shell, default_database):
    database = default_database
    _run(shell, "n = %civis_sql select 40 + 2 as answer")
    assert shell.user_ns["n"]["answer"].tolist() == [42]
    with pytest.raises(UsageError, match="No SQL given"):
        _run(shell, f"%civis_sql {database} --preview 3")
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        _run(shell, f"%civis_sql {database} --bogus select 1")


def test_options_expand_plain_values_and_stay_one_word(shell, database, tmp_path):
    target = tmp_path / "a dir with spaces" / "x {y} $z.csv"
    target.parent.mkdir()
    shell.user_ns.update(dbname=database, target=str(target), out="frame")
    _run(shell, "%civis_sql -d {dbname} --csv {target} select 'a b' as v")
    assert pd.read_csv(target)["v"].tolist() == ["a b"]
    _run(shell, "%%civis_sql {dbname} -o $out --preview\nselect '$out {{out}}' as v")
    assert shell.user_ns["frame"]["v"].tolist() == ["$out {out}"]


def test_line_form_inside_a_function_sees_its_locals(shell, database):
    shell.user_ns["dbname"] = database
    _run(
        shell,
        "def pick(name):\n"
        "    frame = %civis_sql -d {dbname} --preview 1 select {name} as v\n"
        "    return frame",
    )
    assert _run(shell, 'pick("it\'s")')["v"].tolist() == ["it's"]


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=TEXT)
@example(name="x' OR '1'='1")
@example(name="x'; select 1; --")
@example(name="{name} {{}} $name $$ \\' \\\\ ü ✓ 🐍")
@example(name="")
def test_placeholders_in_both_forms_come_back_unchanged(shell, database, name):
    shell.user_ns.update(name=name, dbname=database)
    line = _run(shell, "%civis_sql -d {dbname} --preview 1 select {name} as v")
    assert line["v"].tolist() == [name]
    bare = _run(shell, "%civis_sql -d {dbname} --preview 1 -- select {name} as v")
    assert bare["v"].tolist() == [name]
    _run(shell, "%%civis_sql {dbname} --preview 1 -o cell\nselect {name} as v")
    assert shell.user_ns["cell"]["v"].tolist() == [name]


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


def test_default_database_from_config(shell, default_database):
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
