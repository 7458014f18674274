"""``civis-jupyter demo``: the embedded platform with demo data, and the tour.

Starts a :class:`~civis_jupyter.platform.LocalPlatform` seeded with the demo
data, runs the tour notebook headless in a real kernel (showing progress cell
by cell), and writes the executed notebook and an HTML report. With
``--lab`` it opens JupyterLab on the notebooks instead, against the same
platform.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "lab_command", "notebooks_dir", "report_html", "run", "run_notebook"]


def notebooks_dir() -> Path:
    """Where the bundled notebooks are (the repository's or the installed copy).

    Returns
    -------
    pathlib.Path
    """
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "notebooks", package / "_notebooks"):
        if (candidate / "tour.ipynb").exists():
            return candidate
    raise FileNotFoundError("the civis_jupyter notebooks are not installed")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` command to a subparsers object."""
    parser = subparsers.add_parser(
        "demo",
        help="run the tour notebook against the embedded platform with demo data",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--notebook", default="tour.ipynb", help="notebook to run (default: tour.ipynb)"
    )
    parser.add_argument(
        "--output-dir", default="civis-demo", help="where results go (default: ./civis-demo)"
    )
    parser.add_argument("--lab", action="store_true", help="open JupyterLab instead")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.set_defaults(func=run)
    return parser


def _progress(index: int, total: int, source: str, started: float) -> None:
    width = 24
    filled = int(width * index / max(total, 1))
    first = (source.strip().splitlines() or [""])[0][:50]
    bar = "#" * filled + "-" * (width - filled)
    line = f"\r[{bar}] {index}/{total} cells  {time.monotonic() - started:5.1f}s  {first:<50}"
    sys.stdout.write(line)
    sys.stdout.flush()


def run_notebook(path: Path, out_dir: Path, env: dict[str, str], timeout: int = 600) -> Path:
    """Execute a notebook in a fresh kernel; write it and its HTML report.

    Parameters
    ----------
    path : pathlib.Path
        The notebook.
    out_dir : pathlib.Path
        Where ``<name>.ipynb`` (executed) and ``<name>.html`` go.
    env : dict
        Environment variables for the kernel (endpoint and key).
    timeout : int, optional
        Seconds allowed per cell.

    Returns
    -------
    pathlib.Path
        The executed notebook.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        If a cell fails (the partial notebook is still written).
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    started = time.monotonic()
    done = [0]

    def on_cell_start(cell: Any, cell_index: int) -> None:
        if cell.cell_type == "code":
            _progress(done[0], len(code_cells), cell.source, started)

    def on_cell_complete(cell: Any, cell_index: int) -> None:
        if cell.cell_type == "code":
            done[0] += 1
            _progress(done[0], len(code_cells), cell.source, started)

    work = out_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    sockets = Path(tempfile.mkdtemp(prefix="civis-kernel-"))  # short: socket paths are limited
    km = _kernel_manager(sockets)
    client = NotebookClient(
        nb,
        timeout=timeout,
        km=km,
        resources={"metadata": {"path": str(work)}},
        store_widget_state=True,
        on_cell_start=on_cell_start,
        on_cell_complete=on_cell_complete,
    )
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    executed = out_dir / path.name
    try:
        client.execute()
    finally:
        if km.has_kernel:  # the client does not own the manager it was given
            km.shutdown_kernel()
        shutil.rmtree(sockets, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        sys.stdout.write("\n")
        _scrub(nb, env)
        nbformat.write(nb, executed)
        _write_html(nb, executed.with_suffix(".html"))
    return executed


def _kernel_manager(sockets: Path) -> Any:
    """A kernel manager for a local kernel talking over IPC (Unix sockets).

    Over TCP, ipykernel warns that the connection is not encrypted; the demo's
    kernel is on this machine, so IPC serves and keeps the output quiet.

    Parameters
    ----------
    sockets : pathlib.Path
        A private directory for the sockets (an absolute path: the kernel
        runs in another working directory).
    """
    from jupyter_client.manager import KernelManager

    if os.name == "nt":  # no IPC transport on Windows
        return KernelManager(kernel_name="python3")
    return KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "kernel"))


def _scrub(nb: Any, env: dict[str, str]) -> None:
    """Remove the API key from anything a notebook could have printed."""
    import json

    import nbformat

    key = env.get("CIVIS_API_KEY")
    if not key:
        return
    text = json.dumps(nb)
    if key in text:
        cleaned = json.loads(text.replace(key, "<CIVIS_API_KEY>"))
        nb.clear()
        nb.update(nbformat.from_dict(cleaned))


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: The lab template without the scripts it fetches from a CDN (require.js for
#: widgets, MathJax, Mermaid): the report opens offline and sends no request.
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def report_html(nb: Any) -> str:
    """An HTML report of a notebook that reads offline.

    Widgets show their static fallbacks, ``%%civis_sql`` cells are highlighted
    as SQL, and the page loads nothing from the network.

    Parameters
    ----------
    nb : nbformat.NotebookNode

    Returns
    -------
    str
    """
    import copy

    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    static = copy.deepcopy(nb)
    for cell in static.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and ("text/html" in data or "text/plain" in data):
                del data[WIDGET_VIEW]
    static.metadata.pop("widgets", None)
    config = Config()
    config.HighlightMagicsPreprocessor.enabled = True
    config.HighlightMagicsPreprocessor.languages = {"%%civis_sql": "sql"}
    exporter = HTMLExporter(
        config=config,
        extra_loaders=[DictLoader({"civis_report.html.j2": OFFLINE_TEMPLATE})],
        template_file="civis_report.html.j2",
    )
    body, _ = exporter.from_notebook_node(static)
    return body


def _write_html(nb: Any, target: Path) -> None:
    """Write the offline HTML report (nothing if nbconvert is not installed)."""
    try:
        import nbconvert  # noqa: F401
    except ImportError:  # the executed notebook is still there
        return
    target.write_text(report_html(nb), encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    """Start the demo platform, then run the tour or open JupyterLab.

    Returns
    -------
    int
        Exit status.
    """
    from .._extras import check, needs

    with needs("demo", "civis-jupyter demo"):
        check("demo", "ipykernel", feature="civis-jupyter demo")  # the tour's kernel
        from nbclient.exceptions import CellExecutionError

        from ..platform import LocalPlatform

    source = notebooks_dir()
    notebook = source / args.notebook
    if not notebook.exists():
        print(f"civis-jupyter demo: no notebook {args.notebook!r} in {source}", file=sys.stderr)
        return 2
    out_dir = Path(args.output_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    print("Starting the embedded Civis platform with demo data...", flush=True)
    with LocalPlatform(data_dir=out_dir / "platform", seed="demo") as platform:
        env = platform.env()
        print(f"Platform at {platform.endpoint} (data in {platform.data_dir})")
        if args.lab:
            return _lab(source, out_dir, env)
        print(f"Running {notebook.name} headless:")
        try:
            executed = run_notebook(notebook, out_dir, env, timeout=args.timeout)
        except CellExecutionError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "a cell failed"
            print(f"civis-jupyter demo: the tour stopped: {first}", file=sys.stderr)
            print(f"Partial results: {out_dir / notebook.name}", file=sys.stderr)
            return 1
    print(f"Done. Executed notebook: {executed}")
    print(f"HTML report:       {executed.with_suffix('.html')}")
    return 0


def lab_command(workdir: Path) -> list[str] | None:
    """The command starting JupyterLab from this interpreter's environment.

    Parameters
    ----------
    workdir : pathlib.Path
        The directory JupyterLab opens.

    Returns
    -------
    list of str or None
        ``None`` if JupyterLab is not installed next to this interpreter.
    """
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        return None
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workdir}"]
    if os.name != "nt":
        command.append("--KernelManager.transport=ipc")  # a local kernel: no TCP warning
        if os.geteuid() == 0:
            command.append("--allow-root")
    return command


def _lab(source: Path, out_dir: Path, env: dict[str, str]) -> int:
    workdir = out_dir / "notebooks"
    command = lab_command(workdir)
    if command is None:
        print(
            "civis-jupyter demo --lab needs JupyterLab: pip install 'civis-jupyter[demo]'",
            file=sys.stderr,
        )
        return 2
    if not workdir.exists():
        shutil.copytree(source, workdir)
    print("Opening JupyterLab (Ctrl-C to stop)...", flush=True)
    try:
        return subprocess.call(command, env={**os.environ, **env})
    except KeyboardInterrupt:
        return 0
