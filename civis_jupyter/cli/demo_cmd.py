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
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "notebooks_dir", "run", "run_notebook"]


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
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
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


def _write_html(nb: Any, target: Path) -> None:
    """An HTML report that reads offline: widgets show their static fallbacks."""
    try:
        from nbconvert import HTMLExporter
    except ImportError:  # the executed notebook is still there
        return
    import copy

    static = copy.deepcopy(nb)
    for cell in static.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and ("text/html" in data or "text/plain" in data):
                del data[WIDGET_VIEW]
    static.metadata.pop("widgets", None)
    body, _ = HTMLExporter().from_notebook_node(static)
    target.write_text(body, encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    """Start the demo platform, then run the tour or open JupyterLab.

    Returns
    -------
    int
        Exit status.
    """
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


def _lab(source: Path, out_dir: Path, env: dict[str, str]) -> int:
    if shutil.which("jupyter") is None:
        print("civis-jupyter demo --lab needs JupyterLab: pip install jupyterlab", file=sys.stderr)
        return 2
    workdir = out_dir / "notebooks"
    if not workdir.exists():
        shutil.copytree(source, workdir)
    print("Opening JupyterLab (Ctrl-C to stop)...", flush=True)
    try:
        return subprocess.call(
            ["jupyter", "lab", "--notebook-dir", str(workdir)], env={**os.environ, **env}
        )
    except KeyboardInterrupt:
        return 0
