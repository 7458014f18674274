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


if __name__ == "__main__":
    main()
