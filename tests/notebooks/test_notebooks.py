"""Every notebook runs in a real kernel against the embedded platform.

The checks compare what the notebooks printed with values computed here
independently (through the official civis client or plain SQL), and look at
the widget state saved in the notebook.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    from civis_jupyter.platform import LocalPlatform

    with LocalPlatform(
        data_dir=tmp_path_factory.mktemp("nbplatform"), seed="demo", rate_limit=10**6
    ) as p:
        yield p


@pytest.fixture(scope="module")
def official(platform):
    civis = pytest.importorskip("civis")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CIVIS_API_ENDPOINT", platform.endpoint)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = civis.APIClient(api_key=platform.api_key)

        def sql(query):
            return civis.io.read_civis_sql(query, "local", return_as="pandas", client=client)

        yield sql


def _run(name, platform, tmp_path, monkeypatch):
    monkeypatch.setenv("CIVIS_API_ENDPOINT", platform.endpoint)
    monkeypatch.setenv("CIVIS_API_KEY", platform.api_key)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    work = tmp_path / "work"  # a copy of notebooks/, where the kernel runs
    shutil.copytree(NOTEBOOKS, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(work)}},
    ).execute()
    text = json.dumps(nb)
    assert platform.api_key not in text, "the API key leaked into the notebook"
    left = sorted(p.relative_to(work) for p in work.rglob("*"))
    assert left == before, f"{name} left files next to the notebooks: {set(left) - set(before)}"
    return nb


def _out(nb, tag):
    for cell in nb.cells:
        if tag in cell.get("metadata", {}).get("tags", []):
            parts = []
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    parts.append(output["text"])
                elif "data" in output:
                    parts.append(output["data"].get("text/plain", ""))
                elif output.get("output_type") == "error":
                    parts.append(output.get("ename", "") + ": " + output.get("evalue", ""))
            return "\n".join(parts)
    raise AssertionError(f"no cell tagged {tag}")


def _outputs(nb, tag):
    for cell in nb.cells:
        if tag in cell.get("metadata", {}).get("tags", []):
            return cell.get("outputs", [])
    raise AssertionError(f"no cell tagged {tag}")


def _widget_states(nb):
    state = (
        nb.metadata.get("widgets", {})
        .get("application/vnd.jupyter.widget-state+json", {})
        .get("state", {})
    )
    return [m.get("state", {}) for m in state.values()]


def _check_modelling_chapter(nb, official):
    """The CivisML chapter: its numbers agree with plain SQL, its card has the metrics."""
    labelled = official("select count(*) as n from brandable_customers.brandable_pilot")
    customers = int(
        official("select count(*) as n from brandable_customers.brandable_all_users").n[0]
    )
    assert f"{int(labelled.n[0]):,} labelled customers" in _out(nb, "ml-table")
    aucs = [float(a) for a in re.findall(r"ROC AUC (0\.\d+)", _out(nb, "ml-compare"))]
    assert len(aucs) == 3 and all(0.6 < a < 1 for a in aucs)
    top = int(0.05 * customers)
    assert f"The most likely {top:,} of {customers:,} customers" in _out(nb, "ml-predict")
    assert f"{customers:,} scores stored" in _out(nb, "ml-store")
    (card,) = [o for o in _outputs(nb, "ml-card") if "civis-model-static" in str(o.get("data"))]
    assert f"ROC AUC {max(aucs):.3f}" in card["data"]["text/plain"]
    assert "<svg" in card["data"]["text/html"] and "civis-confusion" in card["data"]["text/html"]


def test_tour(platform, official, tmp_path, monkeypatch):
    nb = _run("tour.ipynb", platform, tmp_path, monkeypatch)
    rows = int(official("select count(*) as n from public.cta_ridership_daily").n[0])
    assert f"The table's shape is ({rows}, 5)." in _out(nb, "read-table")
    groups = official(
        "select count(*) as n from (select distinct stationname, "
        "strftime(date, '%Y-%m') as m from public.cta_ridership_daily "
        "where date >= '2015-01-01')"
    )
    assert f"The grouped table's shape is ({int(groups.n[0])}, 3)." in _out(nb, "group")
    assert "import succeeded" in _out(nb, "upload-result")
    # The card of the future shown in one cell and awaited in the next one was
    # brought to its final state in the saved notebook.
    (card,) = [o for o in _outputs(nb, "upload") if "civis-run-static" in str(o.get("data"))]
    assert "succeeded" in card["data"]["text/plain"]
    assert "civis-state-succeeded" in card["data"]["text/html"]
    assert "running" not in card["data"]["text/html"]
    assert "/api" not in card["data"]["text/html"] and "<a " not in card["data"]["text/html"]
    expected = official(
        "select sum(rides) as total from public.cta_ridership_daily "
        "where stationname = 'Belmont' and date >= '2015-01-01'"
    )
    assert f"'Belmont': {int(expected.total[0])}" in _out(nb, "futures")
    top = official(
        "select stationname from public.cta_ridership_daily where "
        "strftime(date, '%Y-%m') = '2019-06' "
        "group by 1 order by sum(rides) desc limit 5"
    )
    assert str(top.stationname.tolist()) in _out(nb, "sql-magic-check")
    assert "('File', 'report.txt')" in _out(nb, "container")
    assert "wrote report" in _out(nb, "container-logs")
    assert "Hello, tour!" in _out(nb, "custom")
    assert "('public', 'cta_ridership_daily', " + str(rows) + ")" in _out(nb, "api-tables")
    assert "5 12" in _out(nb, "pagination")
    assert "calls left in this window:" in _out(nb, "responses")
    assert "404 - (404)" in _out(nb, "errors")
    assert "20 calls succeeded" in _out(nb, "retries")
    _check_modelling_chapter(nb, official)
    states = _widget_states(nb)
    assert any(s.get("state") == "succeeded" and "job_id" in s for s in states)
    shutil.rmtree(tmp_path / "work", ignore_errors=True)


def test_sql_magic(platform, official, tmp_path, monkeypatch):
    nb = _run("sql_magic.ipynb", platform, tmp_path, monkeypatch)
    days = official(
        "select count(distinct date) as n, max(r) as peak from (select date, "
        "sum(rides) as r from public.cta_ridership_daily group by date)"
    )
    assert f"{int(days.n[0])} days; {int(days.peak[0])} rides" in _out(nb, "cell-form-check")
    assert "IN ('Clark/Lake', 'Belmont')" in _out(nb, "params")
    assert len(re.findall(r"'[^']+'", _out(nb, "line-form"))) == 3
    assert "(10, 2)" in _out(nb, "to-csv-check")
    stations = official("select count(distinct station_id) as n from public.cta_ridership_daily")
    assert str(int(stations.n[0])) in _out(nb, "async")
    assert "SQL failed" in _out(nb, "error")
    tables = [s for s in _widget_states(nb) if "row_count" in s and "page" in s]
    assert any(s["row_count"] == int(days.n[0]) and s["page"] == 1 for s in tables)


def test_browsing(platform, tmp_path, monkeypatch):
    nb = _run("browsing.ipynb", platform, tmp_path, monkeypatch)
    assert "'succeeded'" in _out(nb, "make-job")
    assert "True steps" in _out(nb, "jobs-select")
    assert "True" in _out(nb, "files-preview")
    assert any("selected_job" in s for s in _widget_states(nb))


def test_testing(platform, tmp_path, monkeypatch):
    nb = _run("testing.ipynb", platform, tmp_path, monkeypatch)
    assert "succeeded" in _out(nb, "mock")
    assert "AttributeError" in _out(nb, "mock-errors") and "TypeError" in _out(nb, "mock-errors")
    assert "2 passed" in _out(nb, "run-test")


def test_committed_notebooks_carry_no_outputs_keys_or_paths():
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        text = json.dumps(nb)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path
        assert "/tmp/" not in text and "/home/" not in text and "/root/" not in text, path
        assert "CIVIS_API_KEY=" not in text, path
