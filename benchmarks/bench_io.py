"""civis.io and futures benchmarks, side by side with the official civis 2.10.1 client.

On one embedded platform, in one run:

1. ``read_civis_sql`` of 1M rows x 5 columns into pandas: ours vs official.
2. ``dataframe_to_civis`` of the same frame: ours vs official.
3. Futures on container runs of 1-20 s (``sleep N``): median time between the
   run's end and the future noticing it, and the number of requests each
   client made while waiting. All durations run at once per client, so the
   benchmark takes about as long as the longest run, twice.
4. 200 concurrent futures: threads used by each client.

Run: ``python benchmarks/bench_io.py [--rows 1000000] [--durations 1,2,5,10,20]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import threading
import time
import warnings

import numpy as np
import pandas as pd

from civis_jupyter.platform import LocalPlatform

SQL = "select * from scratch.bench_frame"


def _frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "value": rng.normal(size=rows),
            "label": rng.choice(["red", "green", "blue", "cyan"], size=rows),
            "count": rng.integers(0, 1000, size=rows),
            "flag": rng.random(rows) < 0.5,
        }
    )


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _end_latency(fut_result: dict, noticed: float) -> float:
    finished = fut_result.get("finished_at") or fut_result.get("finishedAt")
    end = dt.datetime.fromisoformat(str(finished).replace("Z", "+00:00")).timestamp()
    return noticed - end


def _one_future(lib: object, client: object, seconds: int, counter) -> tuple[float, int]:
    """Wait on one run of ``sleep seconds``; return (notice latency, requests while waiting)."""
    script = client.scripts.post_containers(
        {"cpu": 256, "memory": 512},
        name=f"sleep {seconds}",
        docker_command=f"sleep {seconds}",
        docker_image_name="x",
    )
    run = client.jobs.post_runs(script["id"])
    before = counter()
    fut = lib.futures.CivisFuture(client.jobs.get_runs, (script["id"], run["id"]), client=client)
    result = fut.result()
    noticed = time.time()
    data = result.json() if hasattr(result, "json") else result
    return _end_latency(data, noticed), counter() - before


def main() -> None:
    """Run the benchmarks and print ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--durations", default="1,2,5,10,20")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    durations = [int(d) for d in args.durations.split(",")]
    frame = _frame(args.rows)
    with LocalPlatform(rate_limit=10**9) as platform:
        os.environ["CIVIS_API_ENDPOINT"] = platform.endpoint
        os.environ["CIVIS_API_KEY"] = platform.api_key
        import civis_jupyter

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import civis

            theirs = civis.APIClient()
        ours = civis_jupyter.APIClient()
        civis_jupyter.io.dataframe_to_civis(
            frame, "local", "scratch.bench_frame", existing_table_rows="drop", client=ours
        ).result()

        def read_ours() -> None:
            civis_jupyter.io.read_civis_sql(SQL, "local", return_as="pandas", client=ours)

        def read_theirs() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                civis.io.read_civis_sql(SQL, "local", return_as="pandas", client=theirs)

        def write_ours() -> None:
            civis_jupyter.io.dataframe_to_civis(
                frame, "local", "scratch.bench_ours", existing_table_rows="drop", client=ours
            ).result()

        def write_theirs() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                civis.io.dataframe_to_civis(
                    frame,
                    "local",
                    "scratch.bench_theirs",
                    existing_table_rows="drop",
                    client=theirs,
                ).result()

        rows = []
        for label, mine, official in [
            (f"read_civis_sql {args.rows:,} x 5 -> pandas", read_ours, read_theirs),
            (f"dataframe_to_civis {args.rows:,} x 5", write_ours, write_theirs),
        ]:
            a = statistics.median(_timed(mine) for _ in range(args.repeat))
            b = statistics.median(_timed(official) for _ in range(args.repeat))
            rows.append((label, a, b))
        width = max(len(r[0]) for r in rows)
        print(f"{'measurement':<{width}}  {'ours':>8}  {'official':>8}  ratio")
        for label, a, b in rows:
            print(f"{label:<{width}}  {a:7.2f}s  {b:7.2f}s  {a / b:.2f}")

        import requests

        sent = {"n": 0}
        real_send = requests.Session.send

        def counting_send(self, request, **kwargs):
            if self is not ours._transport.session:  # the official client's sessions
                sent["n"] += 1
            return real_send(self, request, **kwargs)

        requests.Session.send = counting_send
        results: dict[str, list] = {"ours": [], "official": []}

        def follow(kind: str, seconds: int) -> None:
            if kind == "ours":
                out = _one_future(
                    civis_jupyter, ours, seconds, lambda: ours._transport.requests_sent
                )
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = _one_future(civis, theirs, seconds, lambda: sent["n"])
            results[kind].append(out)

        try:
            for seconds in durations:  # one future at a time per client, both clients at once
                pair = [
                    threading.Thread(target=follow, args=(k, seconds), name=f"{k}-{seconds}")
                    for k in ("ours", "official")
                ]
                for t in pair:
                    t.start()
                for t in pair:
                    t.join()
        finally:
            requests.Session.send = real_send
        for kind in ("ours", "official"):
            lat = statistics.median(r[0] for r in results[kind])
            req = sum(r[1] for r in results[kind])
            print(
                f"future end notice, runs of {durations} s, {kind:>8}: median latency "
                f"{lat:.3f}s, requests while waiting {req}"
            )

        queries = [
            ours.queries.post(
                platform.default_database_id,
                f"select {i}",
                10,
                credential=ours.default_database_credential_id,
            )
            for i in range(200)
        ]
        futs = [
            civis_jupyter.futures.CivisFuture(
                ours.queries.get, (q["id"],), client=ours, poll_on_creation=False
            )
            for q in queries
        ]
        pollers = [t for t in threading.enumerate() if t.name == "civis-poller"]
        for f in futs:
            f.result()
        print(
            f"200 concurrent futures: {len(pollers)} polling thread(s) for ours "
            "(the official client starts one thread per future)"
        )


if __name__ == "__main__":
    main()
