"""The JupyterLab extension in a real browser, against a real JupyterLab server.

Chromium comes from Debian (/usr/bin/chromium), driven by Playwright; the
server and the kernel talk to the embedded platform. Screenshots are kept in
``test-artifacts/``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SQL = (
    "%%civis_sql local\n"
    "SELECT stationname, SUM(rides) AS rides\n"
    "FROM public.cta_ridership_daily\n"
    "GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
)

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from civis_jupyter.platform import LocalPlatform

    root = tmp_path_factory.mktemp("lab")
    nb = new_notebook(
        cells=[
            new_code_cell("%load_ext civis_jupyter\nimport os"),
            new_code_cell(SQL),
            new_markdown_cell("%%civis_sql\nSELECT is plain text here"),
            new_code_cell("%civis_jobs"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / "demo.ipynb")
    with LocalPlatform(data_dir=root / "platform", seed="demo", rate_limit=10**6) as platform:
        token = secrets.token_hex(16)
        port = _free_port()
        env = {
            **os.environ,
            **platform.env(),
            "JUPYTER_CONFIG_DIR": str(root / "cfg"),
            "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                "--allow-root",
                f"--port={port}",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/api/status", params={"token": token}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start: " + server.stderr.read().decode()[-2000:])
            time.sleep(0.2)  # waiting for the server process to listen
        try:
            yield url, token
        finally:
            server.terminate()
            server.wait(30)


@pytest.fixture(scope="module")
def page(lab):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, token = lab
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/lab/tree/demo.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000
        )
        yield page
        page.screenshot(path=str(ARTIFACTS / "lab-final.png"), full_page=True)
        browser.close()


FIND_SPAN = """([index, word]) => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    for (const span of cell.querySelectorAll('.cm-content span')) {
        if (span.textContent.trim() === word) return getComputedStyle(span).color;
    }
    return null;
}"""


def _color_of(page, cell_index: int, word: str) -> str:
    """The colour of a highlighted word, once the editor has highlighted it."""
    handle = page.wait_for_function(FIND_SPAN, arg=[cell_index, word], timeout=60_000)
    return handle.json_value()


def test_sql_cells_are_highlighted_when_the_notebook_opens(page):
    python_keyword = _color_of(page, 0, "import")
    sql_keyword = _color_of(page, 1, "SELECT")
    assert sql_keyword == python_keyword  # SELECT is coloured as a keyword
    assert _color_of(page, 1, "GROUP") == python_keyword
    markdown_text = page.locator(".jp-Notebook .jp-Cell").nth(2).inner_text()
    assert "SELECT" in markdown_text
    page.screenshot(path=str(ARTIFACTS / "lab-highlighting.png"))


def test_running_a_sql_cell_shows_the_status_card_then_the_table(page):
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.nth(0).click()
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    table = cells.nth(1).locator(".civis-table")
    table.wait_for(timeout=120_000)
    assert cells.nth(1).locator(".civis-run").count() >= 1
    assert "of 20" in table.inner_text()
    page.screenshot(path=str(ARTIFACTS / "lab-sql-cell.png"))


def test_job_browser_and_runs_panel(page):
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.nth(3).click()
    page.keyboard.press("Shift+Enter")
    cells.nth(3).locator(".civis-jobs").wait_for(timeout=120_000)
    page.locator(
        ".jp-SideBar.jp-mod-right [title='Civis runs'], "
        ".jp-SideBar.jp-mod-right li[data-id='civis-jupyter-runs']"
    ).first.click()
    panel = page.locator("#civis-jupyter-runs")
    panel.wait_for(state="visible", timeout=30_000)
    panel.locator(".civis-run-row").first.wait_for(timeout=60_000)
    assert "succeeded" in panel.inner_text()
    page.screenshot(path=str(ARTIFACTS / "lab-runs-panel.png"))
