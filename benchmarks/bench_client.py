"""Client benchmarks, side by side with the official civis 2.10.1 client.

Measures, in one run, and prints ratios (ours / official):

1. Building a client from the full real spec (a local file) in a fresh
   process: construction time, and import + construction time.
2. A second client in the same process: time and memory it adds.
3. 32 concurrent GETs from threads to a loopback server that takes 50 ms
   per request: wall time.

Run: ``python benchmarks/bench_client.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SPEC = Path(__import__("civis").__file__).parent / "resources" / "civis_api_spec.json"

FRESH = r"""
import time, json, sys, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
if sys.argv[1] == "ours":
    import civis_jupyter as lib
else:
    import civis as lib
t1 = time.perf_counter()
client = lib.APIClient(api_key="bench-key", local_api_spec=sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "build": t2 - t1}))
"""

SECOND = r"""
import time, json, sys, warnings, tracemalloc, gc
warnings.simplefilter("ignore")
if sys.argv[1] == "ours":
    import civis_jupyter as lib
else:
    import civis as lib
first = lib.APIClient(api_key="bench-key", local_api_spec=sys.argv[2])
first.scripts.post_sql  # touch a method, as a user would
gc.collect()
tracemalloc.start()
t0 = time.perf_counter()
second = lib.APIClient(api_key="bench-key", local_api_spec=sys.argv[2])
second.scripts.post_sql
t1 = time.perf_counter()
gc.collect()
size, _peak = tracemalloc.get_traced_memory()
print(json.dumps({"time": t1 - t0, "bytes": size}))
"""


def _run(script: str, which: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", script, which, str(SPEC)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _slow_server() -> tuple[ThreadingHTTPServer, str]:
    spec_bytes = SPEC.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = spec_bytes if self.path.startswith("/endpoints") else b'{"id": 1}'
            if not self.path.startswith("/endpoints"):
                time.sleep(0.05)  # the simulated server's own latency
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def _concurrent(client: object, n: int = 32) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda _: client.users.get_me(), range(n)))
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmarks and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rows = []
    for label, script, key in [
        ("client from full spec, fresh process: build", FRESH, "build"),
        ("client from full spec, fresh process: import+build", FRESH, None),
    ]:
        ours, theirs = [], []
        for _ in range(args.repeat):
            a, b = _run(script, "ours"), _run(script, "official")
            ours.append(a[key] if key else a["import"] + a["build"])
            theirs.append(b[key] if key else b["import"] + b["build"])
        rows.append((label, statistics.median(ours), statistics.median(theirs), "s"))

    second_ours = [_run(SECOND, "ours") for _ in range(args.repeat)]
    second_theirs = [_run(SECOND, "official") for _ in range(args.repeat)]
    rows.append(
        (
            "second client in the same process: time",
            statistics.median(r["time"] for r in second_ours),
            statistics.median(r["time"] for r in second_theirs),
            "s",
        )
    )
    rows.append(
        (
            "second client in the same process: memory",
            statistics.median(r["bytes"] for r in second_ours) / 2**20,
            statistics.median(r["bytes"] for r in second_theirs) / 2**20,
            "MiB",
        )
    )

    httpd, url = _slow_server()
    os.environ["CIVIS_API_ENDPOINT"] = url
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import civis

        import civis_jupyter

        ours_client = civis_jupyter.APIClient(api_key="bench-key", local_api_spec=SPEC)
        their_client = civis.APIClient(api_key="bench-key", local_api_spec=str(SPEC))
        ours_t = statistics.median(_concurrent(ours_client) for _ in range(args.repeat))
        theirs_t = statistics.median(_concurrent(their_client) for _ in range(args.repeat))
    httpd.shutdown()
    rows.append(("32 concurrent GETs, 50 ms server latency: wall", ours_t, theirs_t, "s"))

    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'ours':>10}  {'official':>10}  ratio")
    for label, ours_v, theirs_v, unit in rows:
        ratio = ours_v / theirs_v if theirs_v else float("nan")
        print(f"{label:<{width}}  {ours_v:>8.4f}{unit:>2}  {theirs_v:>8.4f}{unit:>2}  {ratio:.3f}")


if __name__ == "__main__":
    main()
