"""Many futures at once: ours vs the official civis 2.10.1 client, in one run.

For each scenario, N container runs of ``sleep 2`` are started together on a
fresh embedded platform (in its own process, so that it does not share the
interpreter with the clients), then each client follows them with N futures,
``CivisFuture(client.jobs.get_runs, (job, run))`` (poller ``jobs``) or
``CivisFuture(client.scripts.get_containers_runs, (job, run))`` (poller
``containers``: the ContainerFuture's). Reported per client:

- end-noticed lag: seconds between a run's ``finished_at`` and the moment its
  future's done-callback ran (median and max);
- requests the client sent while following, and how many were answered 429;
- threads the client used for following (peak);
- futures not resolved by the deadline.

Scenarios: N in {50, 200} x added latency in {0, 50 ms} x rate limit
{off, Civis's real 1000 requests / 5 minutes per key}. Starting the runs
takes 2N requests, which count against the rate limit as they would on Civis.

Run: ``python benchmarks/bench_futures.py [--sizes 50,200] [--latencies 0,0.05]
[--limits off,real] [--clients ours,official] [--pollers jobs] [--deadline 90]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
import warnings
from concurrent import futures as cf
from typing import Any

import requests

RATE_LIMITS = {"off": 10**9, "real": 1000}


# -- the platform, in a child process ------------------------------------------------------


def _serve(latency: float, rate_limit: int, conn: Any) -> None:
    from civis_jupyter.platform import LocalPlatform

    kwargs: dict[str, Any] = {"latency": latency, "rate_limit": rate_limit}
    has_max_runs = "max_runs" in inspect.signature(LocalPlatform).parameters
    if has_max_runs:
        kwargs["max_runs"] = None
    platform = LocalPlatform(**kwargs)
    if not has_max_runs:  # the runner reads the attribute when the platform starts
        platform.max_runs = None
    with platform:
        conn.send((platform.endpoint, platform.api_key, has_max_runs))
        conn.recv()  # until told to stop


class Platform:
    """A LocalPlatform in a child process, for one scenario."""

    def __init__(self, latency: float, rate_limit: int):
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(latency, rate_limit, child), daemon=True)
        self._proc.start()
        self.endpoint, self.api_key, self.max_runs_param = self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.terminate()


# -- counting requests -----------------------------------------------------------------------


class Counter:
    """Counts requests sent to one endpoint (all sessions), and 429 answers."""

    def __init__(self) -> None:
        self.endpoint = ""
        self.active = False
        self.sent = 0
        self.throttled = 0
        self._lock = threading.Lock()
        self._real = requests.Session.send
        counter = self

        def send(session: requests.Session, request: Any, **kwargs: Any) -> Any:
            response = counter._real(session, request, **kwargs)
            if counter.active and str(request.url).startswith(counter.endpoint):
                with counter._lock:
                    counter.sent += 1
                    counter.throttled += response.status_code == 429
            return response

        requests.Session.send = send  # type: ignore[method-assign]

    def start(self, endpoint: str) -> None:
        with self._lock:
            self.endpoint, self.active, self.sent, self.throttled = endpoint, True, 0, 0

    def stop(self) -> tuple[int, int]:
        with self._lock:
            self.active = False
            return self.sent, self.throttled


# -- one scenario ----------------------------------------------------------------------------


def _finished(result: Any) -> float | None:
    value = result.get("finished_at") if result is not None else None
    if not value:
        return None
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _start_runs(ours_lib: Any, n: int) -> tuple[Any, list[tuple[int, int]]]:
    """Create N container scripts, then start one run of each, all at once."""
    setup = ours_lib.APIClient()
    with cf.ThreadPoolExecutor(16) as pool:
        scripts = list(
            pool.map(
                lambda i: setup.scripts.post_containers(
                    {"cpu": 256, "memory": 512},
                    name=f"bench sleep {i}",
                    docker_command="sleep 2",
                    docker_image_name="x",
                )["id"],
                range(n),
            )
        )
        runs = list(pool.map(lambda job: (job, setup.jobs.post_runs(job)["id"]), scripts))
    return setup, runs


def _our_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(("civis-poll", "civis-callback"))}


def _official_threads(futs: list[Any]) -> set[threading.Thread]:
    from civis.polling import _ResultPollingThread

    mine = {id(f) for f in futs}
    return {
        t
        for t in threading.enumerate()
        if isinstance(t, _ResultPollingThread) and id(t.pollable_result) in mine
    }


def scenario(
    kind: str, n: int, latency: float, limit: str, deadline: float, counter: Counter, poller: str
) -> dict[str, Any]:
    """Run one scenario; return a dict of measurements."""
    platform = Platform(latency, RATE_LIMITS[limit])
    os.environ["CIVIS_API_ENDPOINT"] = platform.endpoint
    os.environ["CIVIS_API_KEY"] = platform.api_key
    try:
        import civis_jupyter

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import civis

            client = civis_jupyter.APIClient() if kind == "ours" else civis.APIClient()
        lib = civis_jupyter if kind == "ours" else civis
        client.users.get_me()  # warm up (and, for the official client, load the spec)
        _setup, runs = _start_runs(civis_jupyter, n)
        noticed: dict[int, float] = {}
        counter.start(platform.endpoint)
        peak = {"threads": 0}
        futs: list[Any] = []
        watching = threading.Event()

        def sample() -> None:
            while not watching.wait(0.02):
                found = _our_threads() if kind == "ours" else _official_threads(futs)
                peak["threads"] = max(peak["threads"], len(found))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for index, (job, run) in enumerate(runs):
                method = (
                    client.jobs.get_runs if poller == "jobs" else client.scripts.get_containers_runs
                )
                fut = lib.futures.CivisFuture(
                    method, (job, run), client=client, poll_on_creation=False
                )
                fut.add_done_callback(lambda _f, i=index: noticed.setdefault(i, time.time()))
                futs.append(fut)
            done, _ = cf.wait(futs, timeout=deadline)
        sent, throttled = counter.stop()
        watching.set()
        sampler.join()
        lags = []
        for index, fut in enumerate(futs):
            if fut in done and index in noticed and fut.exception(0) is None:
                end = _finished(fut.result(0))
                if end is not None:
                    lags.append(noticed[index] - end)
        unresolved = n - len(lags)
        lags.sort()
        padded = lags + [float("inf")] * unresolved
        return {
            "median": statistics.median(padded),
            "max": padded[-1] if padded else float("nan"),
            "requests": sent,
            "429s": throttled,
            "threads": peak["threads"],
            "unresolved": unresolved,
            "max_runs_param": platform.max_runs_param,
        }
    finally:
        platform.stop()


def _fmt(value: float) -> str:
    return "  >deadline" if value == float("inf") else f"{value:9.2f}s"


def main() -> None:
    """Run the scenarios and print one line per scenario and client."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200")
    parser.add_argument("--latencies", default="0,0.05")
    parser.add_argument("--limits", default="off,real")
    parser.add_argument("--clients", default="ours,official")
    parser.add_argument("--pollers", default="jobs")
    parser.add_argument("--deadline", type=float, default=90.0)
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING, format="  [log] %(name)s: %(message)s")
    counter = Counter()
    print(
        f"{'futures':>7} {'latency':>7} {'limit':>5} {'poller':>10} {'client':>8} "
        f"{'median lag':>11} {'max lag':>11} {'requests':>8} {'429s':>5} {'threads':>7} "
        f"{'unresolved':>10}"
    )
    note = None
    grid = [
        (n, latency, limit, poller, kind)
        for n in [int(x) for x in args.sizes.split(",")]
        for latency in [float(x) for x in args.latencies.split(",")]
        for limit in args.limits.split(",")
        for poller in args.pollers.split(",")
        for kind in args.clients.split(",")
    ]
    for n, latency, limit, poller, kind in grid:
        out = scenario(kind, n, latency, limit, args.deadline, counter, poller)
        note = note or (None if out["max_runs_param"] else "max_runs")
        print(
            f"{n:>7} {latency * 1000:>5.0f}ms {limit:>5} {poller:>10} {kind:>8} "
            f"{_fmt(out['median'])} {_fmt(out['max'])} {out['requests']:>8} "
            f"{out['429s']:>5} {out['threads']:>7} {out['unresolved']:>10}",
            flush=True,
        )
    if note:
        print("(LocalPlatform has no max_runs parameter yet: the attribute was set to None.)")
    sys.stdout.flush()
    os._exit(0)  # the official client's polling threads may still sleep on Retry-After


if __name__ == "__main__":
    main()
