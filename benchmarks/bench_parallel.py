"""joblib on Civis Platform: our backend vs the official civis 2.10.1 one, in one run.

A batch of small tasks (``pow(i, 2)``, 24 of them by default) goes through
``joblib.Parallel(n_jobs=8)`` under each backend, against one embedded
platform running in its own process (as ``civis-jupyter platform`` would).
Each task is one platform run (batch size 1) under both backends. Reported
per backend: wall time of the ``Parallel`` call (median of ``--repeat``
rounds, the backends alternating), and the ratio ours / official. The results
are checked against the local computation.

Run: ``python benchmarks/bench_parallel.py [--tasks 24] [--n-jobs 8] [--repeat 1]
[--backends ours,official]``. Exits non-zero if ``--max-ratio`` is given and
exceeded.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
import warnings
from typing import Any


def _serve(conn: Any) -> None:
    from civis_jupyter.platform import LocalPlatform

    with LocalPlatform(rate_limit=10**9) as platform:
        conn.send((platform.endpoint, platform.api_key))
        conn.recv()  # until told to stop


class Platform:
    """A LocalPlatform in a child process."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        self.endpoint, self.api_key = self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.terminate()


def _factory(which: str) -> Any:
    if which == "ours":
        import civis_jupyter
        from civis_jupyter.parallel import make_backend_factory

        return make_backend_factory(client=civis_jupyter.APIClient())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import civis
        import civis.parallel

    return civis.parallel.make_backend_factory(client=civis.APIClient())


def run_once(which: str, tasks: int, n_jobs: int) -> float:
    """Seconds for one ``Parallel`` call of ``tasks`` tasks under one backend."""
    import joblib

    joblib.register_parallel_backend(f"civis-{which}", _factory(which))
    started = time.perf_counter()
    with joblib.parallel_config(f"civis-{which}"):
        results = joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(pow)(i, 2) for i in range(tasks))
    elapsed = time.perf_counter() - started
    if results != [i**2 for i in range(tasks)]:
        raise AssertionError(f"{which}: wrong results {results}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table; the exit status checks ``--max-ratio``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=24)
    parser.add_argument("--n-jobs", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--backends", default="ours,official")
    parser.add_argument("--max-ratio", type=float, default=None)
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    platform = Platform()
    os.environ["CIVIS_API_ENDPOINT"] = platform.endpoint
    os.environ["CIVIS_API_KEY"] = platform.api_key
    times: dict[str, list[float]] = {b: [] for b in backends}
    try:
        for round_ in range(args.repeat):
            order = backends if round_ % 2 == 0 else backends[::-1]
            for which in order:
                times[which].append(run_once(which, args.tasks, args.n_jobs))
    finally:
        platform.stop()
    print(f"{args.tasks} tasks, n_jobs={args.n_jobs}, {args.repeat} round(s)")
    medians = {b: statistics.median(t) for b, t in times.items()}
    for which, median in medians.items():
        rounds = ", ".join(f"{t:.1f}" for t in times[which])
        print(f"  {which:9s} {median:6.2f} s   (rounds: {rounds})")
    if {"ours", "official"} <= medians.keys():
        ratio = medians["ours"] / medians["official"]
        print(f"  ratio ours / official: {ratio:.2f}")
        if args.max_ratio is not None and ratio > args.max_ratio:
            print(f"  ratio above {args.max_ratio}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
