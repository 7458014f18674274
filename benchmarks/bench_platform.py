"""Embedded platform benchmarks: requests per second and concurrent clients.

Measures on loopback, in one run:

1. Requests per second for a simple authenticated GET (``/users/me``) from
   one client over a kept-alive connection.
2. 32 concurrent clients (threads, each with its own session) doing GETs:
   total requests per second, and the number of errors (must be 0).
3. Both clients side by side through their whole stack: ``users.get_me()``
   calls per second with civis_jupyter vs the official civis 2.10.1 client.
4. ``GET /jobs`` median latency with 0 jobs, 50 (one full page) and 1,000
   jobs (goal: 1,000 within 2x of 0: a page costs O(limit), not O(all jobs)).
5. Threads used by 200 concurrent ``sleep 2`` container runs with no cap on
   runs (goal: bounded, not a few per run).

Run: ``python benchmarks/bench_platform.py [--seconds 3] [--jobs 1000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import requests

from civis_jupyter.platform import LocalPlatform


def _rate(call, seconds: float) -> tuple[float, int]:
    count = errors = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        try:
            call()
        except Exception:  # counted, not fatal: the benchmark reports errors
            errors += 1
        count += 1
    return count / (time.perf_counter() - start), errors


def _jobs_platform(jobs: int, stack: contextlib.ExitStack) -> tuple[str, requests.Session]:
    """A platform holding ``jobs`` container scripts: its ``/jobs`` URL and a session."""
    platform = stack.enter_context(LocalPlatform(rate_limit=10**9, execute=False))
    session = requests.Session()
    session.auth = (platform.api_key, "")
    body = {"requiredResources": {"cpu": 1, "memory": 1}, "dockerCommand": "true"}
    for _ in range(jobs):
        session.post(platform.endpoint + "scripts/containers", json=body).raise_for_status()
    return platform.endpoint + "jobs", session


def bench_jobs_list(jobs: int = 1000, samples: int = 200) -> dict[int, float]:
    """``GET /jobs`` median latency with 0 jobs, one full page (50) and ``jobs`` jobs.

    Each job count has its own platform (container scripts created through
    the API); the requests alternate between the platforms so that all three
    medians see the same machine load.

    Parameters
    ----------
    jobs : int, optional
        How many jobs the largest platform holds.
    samples : int, optional
        Requests per platform.

    Returns
    -------
    dict
        Job count -> median milliseconds per ``GET /jobs``.
    """
    counts = (0, 50, jobs)
    with contextlib.ExitStack() as stack:
        targets = {n: _jobs_platform(n, stack) for n in counts}
        times: dict[int, list[float]] = {n: [] for n in counts}
        for i in range(samples + 5):
            for n in counts:
                url, session = targets[n]
                start = time.perf_counter()
                session.get(url).raise_for_status()
                if i >= 5:  # the first requests warm up
                    times[n].append((time.perf_counter() - start) * 1000)
    medians = {n: statistics.median(t) for n, t in times.items()}
    print(
        f"GET /jobs median latency:           {medians[0]:6.1f} ms at 0 jobs, "
        f"{medians[50]:6.1f} ms at 50 (one page), {medians[jobs]:6.1f} ms at {jobs}: "
        f"{medians[jobs] / medians[0]:.1f}x the empty list (goal <= 2x), "
        f"{medians[jobs] / medians[50]:.1f}x one page"
    )
    return medians


def bench_run_threads(runs: int = 200) -> None:
    """Threads used by ``runs`` concurrent ``sleep 2`` container runs, with no cap on runs.

    Before runs shared one pump thread this was 4 threads per run (200 runs:
    661 threads); now it is bounded whatever the number of runs.
    """
    import threading

    with LocalPlatform(rate_limit=10**9, max_runs=None) as platform:
        http = requests.Session()
        http.auth = (platform.api_key, "")
        base = platform.endpoint
        body = {"requiredResources": {"cpu": 1, "memory": 1}, "dockerCommand": "sleep 2"}
        jobs = [http.post(base + "scripts/containers", json=body).json()["id"] for _ in range(runs)]
        before = threading.active_count()
        start = time.perf_counter()
        run_ids = []
        for job in jobs:
            answer = http.post(f"{base}scripts/containers/{job}/runs")
            answer.raise_for_status()
            run_ids.append(answer.json()["id"])
        peak_threads = peak_running = 0
        while True:
            peak_threads = max(peak_threads, threading.active_count())
            states = [platform.runner.get(run_id)["state"] for run_id in run_ids]
            peak_running = max(peak_running, states.count("running"))
            if all(state not in ("queued", "running") for state in states):
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        failed = len(states) - states.count("succeeded")
        print(
            f"{runs} concurrent 'sleep 2' runs (no cap, sandboxed={platform.sandboxed}): "
            f"threads {before} -> peak {peak_threads} (+{peak_threads - before}), "
            f"peak running {peak_running}, all done in {elapsed:.1f} s, not succeeded {failed}"
        )


def main() -> None:
    """Run the benchmarks and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--jobs", type=int, default=1000, help="jobs for the /jobs latency")
    args = parser.parse_args()
    with LocalPlatform(rate_limit=10**9) as platform:
        url = platform.endpoint + "users/me"
        session = requests.Session()
        session.auth = (platform.api_key, "")

        def one() -> None:
            session.get(url).raise_for_status()

        rps, errors = _rate(one, args.seconds)
        print(f"simple GET, one client:             {rps:8.0f} req/s  errors={errors}")

        def worker(_i: int) -> tuple[int, int]:
            s = requests.Session()
            s.auth = (platform.api_key, "")
            ok = bad = 0
            deadline = time.perf_counter() + args.seconds
            while time.perf_counter() < deadline:
                r = s.get(url)
                ok, bad = (ok + 1, bad) if r.status_code == 200 else (ok, bad + 1)
            return ok, bad

        start = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(worker, range(32)))
        elapsed = time.perf_counter() - start
        total = sum(ok for ok, _ in results)
        failures = sum(bad for _, bad in results)
        print(
            f"32 concurrent clients:              {total / elapsed:8.0f} req/s  errors={failures}"
        )

        os.environ["CIVIS_API_ENDPOINT"] = platform.endpoint
        import civis_jupyter

        ours = civis_jupyter.APIClient(api_key=platform.api_key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import civis

            theirs = civis.APIClient(api_key=platform.api_key)
        ours_rps, _ = _rate(ours.users.get_me, args.seconds)
        theirs_rps, _ = _rate(theirs.users.get_me, args.seconds)
        print(
            f"users.get_me() through each client: ours {ours_rps:6.0f}/s, "
            f"official {theirs_rps:6.0f}/s, ratio {ours_rps / theirs_rps:.2f}x"
        )
    bench_jobs_list(args.jobs)
    bench_run_threads()


if __name__ == "__main__":
    main()
