"""``civis-jupyter demo``'s notebook run and HTML report, in a real kernel.

The report must read offline (no request when opened, widgets as their static
fallbacks), highlight SQL cells, and show runs in their final state; the
kernel must not print the unencrypted-TCP warning.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from civis_jupyter.cli.demo_cmd import lab_command, run_notebook

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from civis_jupyter.platform import LocalPlatform

    root = tmp_path_factory.mktemp("demo")
    gate = root / "go"
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Report with $x^2$ math"),
            new_code_cell("%load_ext civis_jupyter"),
            new_code_cell(
                "script = client.scripts.post_containers({'cpu': 256, 'memory': 512},"
                f" name='gated report job', docker_command='while [ ! -e {gate} ]; do sleep 0.02;"
                " done; echo released', docker_image_name='x')\n"
                "fut = civis.utils.run_job(script.id)\n"
                "fut"
            ),
            new_code_cell(f"open({str(gate)!r}, 'w').close()\nfut.result().state"),
            new_code_cell("%%civis_sql local\nSELECT 1234567 AS big, 'x' AS label"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = root / "report.ipynb"
    nbformat.write(nb, path)
    with LocalPlatform(data_dir=root / "platform", seed="demo", rate_limit=10**6) as platform:
        out = root / "out"
        executed = run_notebook(path, out, platform.env(), timeout=120)
    return executed, executed.with_suffix(".html")


def test_the_report_has_no_script_or_style_from_the_network(report):
    html = report[1].read_text()
    assert re.findall(r"<script[^>]*\bsrc=", html) == []
    assert re.findall(r"<link[^>]*\bhref=\"?https?:", html) == []
    assert "import(" not in html  # no module loaded on demand (Mermaid)
    assert "application/vnd.jupyter.widget-view+json" not in html
    assert "widget-state+json" not in html


def test_the_report_highlights_sql_cells_and_shows_final_states(report):
    html = report[1].read_text()
    assert '<span class="k">SELECT</span>' in html
    start = html.index("civis-run-static")
    card = html[start : html.index("</div>", start)]
    assert "gated report job" in card and "civis-state-succeeded" in card
    assert "civis-state-running" not in card
    assert "1,234,567" in html  # the table's static fallback, formatted


def test_the_saved_notebook_has_the_final_card(report):
    nb = nbformat.read(report[0], as_version=4)
    (card,) = [o for o in nb.cells[2].outputs if "data" in o]
    assert card["data"]["text/plain"].startswith("gated report job: succeeded")
    assert card["metadata"]["civis_jupyter"]["display_id"]


def test_the_kernel_runs_without_the_tcp_warning(tmp_path, capfd):
    from civis_jupyter.platform import LocalPlatform

    path = tmp_path / "quiet.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print('quiet')")]), path)
    with LocalPlatform(data_dir=tmp_path / "platform") as platform:
        executed = run_notebook(path, tmp_path / "out", platform.env(), timeout=60)
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out
    assert "Parent appears to have exited" not in captured.err
    assert "quiet" in nbformat.read(executed, as_version=4).cells[0].outputs[0]["text"]


def test_the_report_sends_no_request_when_opened(report):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium missing")
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report[1].as_uri(), wait_until="load")
        page.wait_for_load_state("networkidle")
        text = page.inner_text("body")
        browser.close()
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert "gated report job" in text and "succeeded" in text


def test_lab_is_started_from_this_interpreter_and_as_root_with_allow_root(tmp_path):
    command = lab_command(tmp_path)
    assert command is not None
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={tmp_path}" in command
    assert ("--allow-root" in command) == (os.geteuid() == 0)
    assert "--KernelManager.transport=ipc" in command


def test_lab_is_not_found_without_jupyterlab(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "jupyterlab" else real(name)
    )
    assert lab_command(Path(tmp_path)) is None
