"""What a plain install costs: ours vs the official civis 2.10.1 client.

In two fresh virtual environments, ``pip install <this repository>`` and
``pip install civis==2.10.1``; then, for each:

- distributions: how many ``pip install`` added to a fresh venv;
- ``import``: seconds to ``import civis_jupyter`` / ``import civis``;
- ``import + APIClient``: the import plus reaching ``APIClient`` (the official
  package builds its client module on import; ours on first use), so the
  comparison is like for like either way.

Times are the median of ``--runs`` fresh interpreters, measured inside each
one around the import statement (interpreter start-up is the same for both
and left out). Ratios are ours / official: below 1 is lighter or faster.

Run: ``python benchmarks/bench_install.py [--runs 9] [--workdir DIR] [--reuse]``.
With ``--reuse``, venvs already in ``--workdir`` are used as they are.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OFFICIAL = "civis==2.10.1"

#: The import timed in a fresh interpreter, and the attribute then reached.
IMPORTS = {
    "ours": ("import civis_jupyter", "civis_jupyter.APIClient"),
    "official": ("import civis", "civis.APIClient"),
}


def python_of(env_dir: Path) -> Path:
    """The interpreter of a venv."""
    return env_dir / ("Scripts" if sys.platform == "win32" else "bin") / "python"


def installed(env_dir: Path) -> set[str]:
    """Names of the distributions installed in a venv."""
    out = subprocess.run(
        [str(python_of(env_dir)), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {row["name"].lower() for row in json.loads(out)}


def fresh_venv(env_dir: Path, requirement: str, reuse: bool) -> int:
    """Create a venv, ``pip install`` one requirement, return how many distributions it added.

    Parameters
    ----------
    env_dir : pathlib.Path
        Where the venv goes.
    requirement : str
        What to install (a path or a requirement specifier).
    reuse : bool
        Use an existing venv as it is (its count is then read from a marker).

    Returns
    -------
    int
    """
    marker = env_dir / "bench-added.json"
    if reuse and marker.exists():
        return len(json.loads(marker.read_text()))
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    before = installed(env_dir)
    print(f"  installing {requirement} into {env_dir} ...", file=sys.stderr, flush=True)
    done = subprocess.run(
        [str(python_of(env_dir)), "-m", "pip", "install", "--quiet", requirement],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"pip install {requirement} failed ({done.returncode})")
    added = sorted(installed(env_dir) - before)
    marker.write_text(json.dumps(added))
    return len(added)


def import_seconds(env_dir: Path, statement: str, touch: str | None, runs: int) -> float:
    """Median seconds of ``statement`` (then reading ``touch``) over fresh interpreters."""
    code = (
        "import time\n"
        "t = time.perf_counter()\n"
        f"{statement}\n" + (f"{touch}\n" if touch else "") + "print(time.perf_counter() - t)\n"
    )
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [str(python_of(env_dir)), "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=env_dir,  # not the repository: import the installed package
        ).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return statistics.median(times)


def measure(workdir: Path, runs: int, reuse: bool) -> dict[str, dict[str, float]]:
    """Counts and import times for both clients.

    Returns
    -------
    dict
        ``{"ours": {...}, "official": {...}}`` with ``distributions``,
        ``import_s`` and ``import_client_s``.
    """
    requirements = {"ours": str(REPO), "official": OFFICIAL}
    results: dict[str, dict[str, float]] = {}
    for label, requirement in requirements.items():
        env_dir = workdir / f"venv-{label}"
        count = fresh_venv(env_dir, requirement, reuse)
        statement, touch = IMPORTS[label]
        results[label] = {
            "distributions": count,
            "import_s": import_seconds(env_dir, statement, None, runs),
            "import_client_s": import_seconds(env_dir, statement, touch, runs),
        }
    return results


def report(results: dict[str, dict[str, float]]) -> str:
    """The table printed by the benchmark, with ratios ours / official."""
    ours, official = results["ours"], results["official"]
    rows = [
        ("distributions installed", "distributions", "{:.0f}"),
        ("import (s)", "import_s", "{:.3f}"),
        ("import + APIClient (s)", "import_client_s", "{:.3f}"),
    ]
    lines = [f"{'':26}{'ours':>10}{'official':>10}{'ratio':>8}"]
    for title, key, fmt in rows:
        ratio = ours[key] / official[key] if official[key] else float("nan")
        lines.append(
            f"{title:26}{fmt.format(ours[key]):>10}{fmt.format(official[key]):>10}{ratio:>7.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per timing")
    parser.add_argument("--workdir", type=Path, help="where the venvs go (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="reuse venvs in --workdir")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.workdir is None:
        with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
            results = measure(Path(tmp), args.runs, reuse=False)
    else:
        args.workdir.mkdir(parents=True, exist_ok=True)
        results = measure(args.workdir, args.runs, args.reuse)
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
