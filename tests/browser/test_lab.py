"""The JupyterLab extension and the widgets in a real browser, against a real JupyterLab.

Chromium comes from Debian (/usr/bin/chromium), driven by Playwright; the
server and the kernel talk to the embedded platform. The lab extension is
the one built in this checkout (``jlpm build:prod`` in ``labextension/``),
found first on ``JUPYTER_PATH``. Screenshots are kept in ``test-artifacts/``.
The tests run in order on one notebook (module-scoped page).
"""

from __future__ import annotations

import datetime as dt
import os
import re
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

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
BUILT = REPO / "civis_jupyter" / "labextension"
SQL = (
    "%%civis_sql local\n"
    "SELECT stationname, SUM(rides) AS rides\n"
    "FROM public.cta_ridership_daily\n"
    "GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
)
BLOCKING = (
    "script = client.scripts.post_containers({'cpu': 256, 'memory': 512},"
    " name='panel cancel target', docker_command='sleep 600', docker_image_name='x')\n"
    "civis.utils.run_job(script.id).result()"
)
#: The status bar's kernel item once a kernel is connected and idle.
KERNEL_IDLE = re.compile(r"^(?!No Kernel).+ \| Idle$")
CELLS = {"setup": 0, "sql": 1, "markdown": 2, "jobs": 3, "files": 4, "blocking": 5, "complete": 6}

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium missing"),
    pytest.mark.skipif(
        not (BUILT / "package.json").exists(), reason="lab extension not built (jlpm build:prod)"
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook() -> nbformat.NotebookNode:
    nb = new_notebook(
        cells=[
            new_code_cell("%load_ext civis_jupyter\nimport os"),
            new_code_cell(SQL),
            new_markdown_cell("%%civis_sql\nSELECT is plain text here"),
            new_code_cell("%civis_jobs"),
            new_code_cell("%civis_files"),
            new_code_cell(BLOCKING),
            new_code_cell("%%civis_sql\nSELECT * FROM "),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from civis_jupyter.platform import LocalPlatform

    root = tmp_path_factory.mktemp("lab")
    nbformat.write(_notebook(), root / "demo.ipynb")
    extensions = root / "jupyter_path" / "labextensions"
    extensions.mkdir(parents=True)
    (extensions / "civis-jupyter").symlink_to(BUILT, target_is_directory=True)
    with LocalPlatform(data_dir=root / "platform", seed="demo", rate_limit=10**6) as platform:
        token = secrets.token_hex(16)
        port = _free_port()
        env = {
            **os.environ,
            **platform.env(),
            "JUPYTER_CONFIG_DIR": str(root / "cfg"),
            "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
            "JUPYTER_PATH": str(root / "jupyter_path"),
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
            yield url, token, platform
        finally:
            server.terminate()
            server.wait(30)


@pytest.fixture(scope="module")
def page(lab):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, token, _platform = lab
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
        page.set_default_timeout(60_000)
        page.goto(f"{url}/lab/tree/demo.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        # The execution indicator also reads 'idle' before there is a kernel (a cell
        # run then does nothing): wait for the status bar to show a kernel, idle.
        page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE).wait_for(timeout=120_000)
        yield page
        page.screenshot(path=str(ARTIFACTS / "lab-final.png"), full_page=True)
        browser.close()


@pytest.fixture(scope="module")
def api(lab):
    import civis_jupyter as civis

    _url, _token, platform = lab
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CIVIS_API_ENDPOINT", platform.endpoint)
        yield civis.APIClient(api_key=platform.api_key)


def _cell(page, name: str):
    return page.locator(".jp-Notebook .jp-Cell").nth(CELLS[name])


def _wait_done(page, name: str, timeout: float = 60_000) -> None:
    """Wait until a cell's run is over: its prompt shows an execution count."""
    prompt = _cell(page, name).locator(".jp-InputPrompt")
    page.wait_for_function(
        "el => /\\[\\d+\\]/.test(el.textContent)", arg=prompt.element_handle(), timeout=timeout
    )


@pytest.fixture(scope="module")
def loaded(page):
    """The page once its setup cell has run: ``civis_jupyter`` loaded in the kernel.

    Every test that needs the kernel side (``client``, the magics, the runs
    feed, completion) asks for it, so each of them also passes when run alone.
    """
    _run(page, "setup")
    _wait_done(page, "setup", timeout=120_000)
    assert "Error" not in _cell(page, "setup").locator(".jp-OutputArea").inner_text()
    return page


@pytest.fixture(scope="module")
def queried(loaded):
    """The page once the SQL cell has run and shown its table (one run, in the panel too)."""
    _run(loaded, "sql")
    _cell(loaded, "sql").locator(".civis-table").wait_for(timeout=120_000)
    return loaded


def _run(page, name: str) -> None:
    """Run one cell from its editor with Shift+Enter."""
    _cell(page, name).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def _open_panel(page):
    panel = page.locator("#civis-jupyter-runs")
    if not panel.is_visible():
        page.locator(
            ".jp-SideBar.jp-mod-right [title='Civis runs'], "
            ".jp-SideBar.jp-mod-right li[data-id='civis-jupyter-runs']"
        ).first.click()
    panel.wait_for(state="visible")
    return panel


def _shown_seconds(text: str) -> float:
    """Seconds of a time the panel shows (``0.4s``, ``12s``, ``1m 05s``, ``1h 02m 05s``)."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"([\d.]+)([hms])", text)
    assert parts and "".join(n + u for n, u in parts) == text.replace(" ", ""), text
    return sum(float(n) * units[u] for n, u in parts)


def _seconds(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


FIND_SPAN = """([index, word]) => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    for (const span of cell.querySelectorAll('.cm-content span')) {
        if (span.textContent.trim() === word) return getComputedStyle(span).color;
    }
    return null;
}"""


def _color_of(page, cell_index: int, word: str) -> str:
    """The colour of a highlighted word, once the editor has highlighted it."""
    handle = page.wait_for_function(FIND_SPAN, arg=[cell_index, word])
    return handle.json_value()


def test_sql_cells_are_highlighted_when_the_notebook_opens(page):
    python_keyword = _color_of(page, CELLS["setup"], "import")
    assert _color_of(page, CELLS["sql"], "SELECT") == python_keyword
    assert _color_of(page, CELLS["sql"], "GROUP") == python_keyword
    assert "SELECT" in _cell(page, "markdown").inner_text()
    page.screenshot(path=str(ARTIFACTS / "lab-highlighting.png"))


def _rides(table) -> list[int]:
    column = table.locator(".civis-table-column").nth(1)
    texts = column.locator(":scope > div").all_inner_texts()
    assert texts, table.inner_html()[:3000]
    return [int(t.replace(",", "")) for t in texts]


def test_the_table_sorts_when_a_header_is_clicked(queried):
    page = queried
    table = _cell(page, "sql").locator(".civis-table")
    card = _cell(page, "sql").locator(".civis-run")
    assert card.count() >= 1
    assert "rows 1-10 of 20" in table.inner_text()
    top = _rides(table)
    assert top == sorted(top, reverse=True) and len(top) == 10
    assert card.first.locator("button:has-text('Cancel')").is_hidden()
    assert "run None" not in card.first.inner_text()
    header = table.locator(".civis-table-header", has_text="rides")
    assert header.get_attribute("title") == "Sort by rides (click again to reverse)"
    header.click()
    page.wait_for_function(
        "el => el.textContent.includes('▲')", arg=header.element_handle(), timeout=30_000
    )
    bottom = _rides(table)
    assert bottom == sorted(bottom) and max(bottom) < min(top)
    header.click()
    page.wait_for_function("el => el.textContent.includes('▼')", arg=header.element_handle())
    assert _rides(table) == top
    for tip in ("First page", "Previous page", "Next page", "Last page"):
        assert table.locator(f"button[title='{tip}']").count() == 1
    style = table.locator(".civis-table-column").nth(1).locator(":scope > div").first
    assert "right" in style.evaluate("e => getComputedStyle(e).textAlign")
    table.screenshot(path=str(ARTIFACTS / "lab-table.png"))
    card.first.screenshot(path=str(ARTIFACTS / "lab-status-card.png"))


def test_the_panel_shows_names_and_durations_of_the_runs(queried, api):
    page = queried
    panel = _open_panel(page)
    row = panel.locator(".civis-run-row", has_text="SELECT stationname")
    row.wait_for()
    header = panel.locator("thead th").all_inner_texts()
    assert header[:3] == ["Run", "State", "Time"]
    assert row.locator(".civis-run-state").inner_text() == "succeeded"
    assert row.locator("button").count() == 0  # no cancel for an ended run
    job_id, run_id = int(row.get_attribute("data-job-id")), int(row.get_attribute("data-run-id"))
    run = api.jobs.get_runs(job_id, run_id)
    expected = _seconds(run["finished_at"]) - _seconds(run["started_at"])
    cell = row.locator(".civis-run-elapsed")
    assert float(cell.get_attribute("data-duration")) == pytest.approx(expected, abs=0.002)
    shown = cell.inner_text()
    assert _shown_seconds(shown) == pytest.approx(expected, abs=0.051 if expected < 10 else 0.51)
    page.wait_for_timeout(2100)  # a finished run's time must not grow as the panel ticks
    assert row.locator(".civis-run-elapsed").inner_text() == shown
    name = row.locator(".civis-run-name")
    assert name.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"
    assert name.evaluate("e => e.getBoundingClientRect().height") < 30  # one line
    assert name.evaluate("e => e.getBoundingClientRect().width") > 60  # readable
    panel_box, row_box = panel.bounding_box(), row.bounding_box()
    assert row_box["x"] + row_box["width"] <= panel_box["x"] + panel_box["width"] + 1
    panel.screenshot(path=str(ARTIFACTS / "lab-runs-panel.png"))


def test_the_jobs_and_files_browsers(loaded):
    page = loaded
    _run(page, "jobs")
    jobs = _cell(page, "jobs").locator(".civis-jobs")
    jobs.wait_for(timeout=60_000)
    assert "include hidden jobs" in jobs.inner_text()
    assert re.search(r"jobs 1-\d+ of \d+", jobs.inner_text())
    box = jobs.bounding_box()
    area = _cell(page, "jobs").locator(".jp-OutputArea-output").first.bounding_box()
    assert box["x"] + box["width"] <= area["x"] + area["width"] + 1  # fits the output
    assert jobs.locator("option", has_text="SQL script · succeeded").count() == 0
    jobs.get_by_text("include hidden jobs").click()
    jobs.locator("option", has_text="SQL script · succeeded").first.wait_for(state="attached")
    jobs.screenshot(path=str(ARTIFACTS / "lab-jobs-browser.png"))
    _run(page, "files")
    files = _cell(page, "files").locator(".civis-files")
    files.wait_for(timeout=60_000)
    assert re.search(r"files (1-\d+|none) of \d+", files.inner_text())
    assert files.locator("input[placeholder='file name (empty: all)']").input_value() == ""
    files.screenshot(path=str(ARTIFACTS / "lab-files-browser.png"))


def _ticks(page, row) -> bool:
    """Whether a live row's time grows in the browser between the kernel's updates.

    Only the panel's ticker changes the text of a rendered time cell (a new
    snapshot from the kernel renders new cells), so one cell is watched until
    its text changes; if a snapshot replaced it first, the new one is watched.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        cell = row.locator(".civis-run-elapsed").element_handle()
        before = cell.inner_text()
        try:
            page.wait_for_function(
                "([el, before]) => el.isConnected && el.textContent !== before",
                arg=[cell, before],
                timeout=2500,  # the ticker runs every second
            )
        except PlaywrightTimeout:  # no tick on this cell: retried only if it was replaced
            if cell.evaluate("el => el.isConnected"):
                return False
            continue
        if cell.evaluate("el => el.isConnected"):
            return True
    return False


def test_cancel_in_the_panel_while_the_cell_waits(loaded, api):
    page = loaded
    _run(page, "blocking")
    panel = _open_panel(page)
    row = panel.locator(".civis-run-row", has_text="panel cancel target")
    row.locator(".civis-run-state", has_text="running").wait_for(timeout=60_000)
    assert _ticks(page, row)  # live time ticks
    row.locator("button.civis-run-cancel").click()
    row.locator(".civis-run-state", has_text="cancelled").wait_for(timeout=30_000)
    job_id, run_id = int(row.get_attribute("data-job-id")), int(row.get_attribute("data-run-id"))
    assert api.jobs.get_runs(job_id, run_id)["state"] == "cancelled"
    # The cell's own prompt, not the kernel's status: the cancel request on the
    # control channel has its own busy/idle while the cell still runs.
    _wait_done(page, "blocking", timeout=30_000)
    assert "Cancelled" in _cell(page, "blocking").locator(".jp-OutputArea").inner_text()


def test_completion_popup_by_keyboard(loaded):
    page = loaded
    editor = _cell(page, "complete").locator(".jp-InputArea-editor")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Tab")
    completer = page.locator(".jp-Completer")
    completer.wait_for(state="visible", timeout=30_000)
    assert "public" in completer.inner_text()  # the only database's schemas
    page.screenshot(path=str(ARTIFACTS / "lab-completion.png"))
    first = completer.locator(".jp-Completer-item.jp-mod-active .jp-Completer-match").inner_text()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([el, name]) => el.textContent.includes('FROM ' + name)",
        arg=[editor.element_handle(), first.strip()],
    )
