"""``civis-jupyter platform``: run the embedded Civis Platform in the foreground."""

from __future__ import annotations

import argparse
import os
import threading
import warnings
from typing import Any

__all__ = ["DEFAULT_MAX_RUNS", "add_parser", "parse_faults", "parse_max_runs", "run"]

#: ``--max-runs`` default, as the platform's (``runner.DEFAULT_MAX_RUNS``): 4 per core.
#: Not imported from there, so that building the parser does not load the platform.
DEFAULT_MAX_RUNS = 4 * (os.cpu_count() or 1)


def parse_max_runs(text: str) -> int | None:
    """Parse ``--max-runs``: a count, or 0 / ``none`` for no cap.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else.
    """
    if text.strip().lower() in ("0", "none"):
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise argparse.ArgumentTypeError(f"bad --max-runs {text!r}: a count, or 0 for no cap")
    return value


def parse_faults(text: str) -> dict[int, float]:
    """Parse ``429=0.1,503=0.05`` into ``{429: 0.1, 503: 0.05}``.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else.
    """
    faults: dict[int, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        status, sep, probability = part.partition("=")
        try:
            if not sep:
                raise ValueError
            code, chance = int(status), float(probability)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"bad fault {part!r}: use STATUS=PROBABILITY, e.g. 429=0.1"
            ) from None
        if not 400 <= code <= 599 or not 0 <= chance <= 1:
            raise argparse.ArgumentTypeError(f"bad fault {part!r}: status 4xx/5xx, chance 0..1")
        faults[code] = chance
    return faults


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``platform`` command to a subparsers object."""
    parser = subparsers.add_parser(
        "platform",
        help="run the embedded local Civis Platform",
        description="Run the embedded Civis Platform until Ctrl-C and print how to use it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--data-dir", default=None, help="keep data here across restarts")
    parser.add_argument("--seed", choices=["demo"], default=None, help="load the demo data")
    parser.add_argument(
        "--database",
        action="append",
        default=None,
        metavar="NAME",
        help="a database the platform offers (repeatable; the first is the default; "
        "default: one named local)",
    )
    parser.add_argument("--no-exec", action="store_true", help="do not run scripts' commands")
    parser.add_argument("--faults", type=parse_faults, default={}, help="e.g. 429=0.1,503=0.05")
    parser.add_argument("--latency", type=float, default=0.0, help="ms added to every request")
    parser.add_argument("--rate-limit", type=int, default=1000, help="requests/5 min per key")
    parser.add_argument(
        "--max-runs",
        type=parse_max_runs,
        default=DEFAULT_MAX_RUNS,
        help=f"runs running at once, the rest queue (default {DEFAULT_MAX_RUNS}: 4 per core; "
        "0: no cap)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Start the platform, print the endpoint and key to export, wait for Ctrl-C.

    Parameters
    ----------
    args : argparse.Namespace
    stop : threading.Event, optional
        Set it to stop (tests); otherwise runs until interrupted.

    Returns
    -------
    int
        Exit status.
    """
    from ..platform import LocalPlatform

    max_runs = getattr(args, "max_runs", DEFAULT_MAX_RUNS)
    platform = LocalPlatform(
        data_dir=args.data_dir,
        seed=args.seed,
        execute=not args.no_exec,
        faults=args.faults,
        latency=args.latency / 1000.0,
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        max_runs=max_runs,
        databases=getattr(args, "database", None),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # said once, below
        platform.start()
    try:
        _serve(platform, stop)
    finally:
        platform.stop()
    return 0


def _sandbox_line(platform: Any) -> str:
    from ..platform.runner import UNSANDBOXED_WARNING

    if not platform.execute:
        return "Scripts' commands are not executed (--no-exec)."
    if platform.sandboxed:
        return (
            "Runs are sandboxed: each sees only its own processes and its own "
            "directory of the data dir."
        )
    return f"WARNING: {UNSANDBOXED_WARNING}"


def _serve(platform: Any, stop: threading.Event | None) -> None:
    """Print how to use the started platform; wait for ``stop`` or Ctrl-C."""
    cap = platform.max_runs or "no cap"
    print(f"Civis local platform at {platform.endpoint} (data in {platform.data_dir})")
    print("Use it from a shell or a notebook with:")
    print(f"  export CIVIS_API_ENDPOINT={platform.endpoint}")
    print(f"  export CIVIS_API_KEY={platform.api_key}")
    print(_sandbox_line(platform))
    print(f"At most {cap} runs at once; the others queue.")
    print("Press Ctrl-C to stop.", flush=True)
    waiter = stop or threading.Event()
    try:
        while not waiter.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("\nStopping.")
