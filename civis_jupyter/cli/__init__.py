"""The ``civis-jupyter`` command (also the ``civis`` command inside platform runs).

Subcommands: ``files upload|download``, ``jobs list|follow-log``, ``sql``,
``api RESOURCE METHOD [--param value ...]`` for any API operation,
``platform`` (the embedded platform) and ``demo`` (the tour). Errors are one
line on stderr with a non-zero exit status; never a traceback for API
errors, a missing key or bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._version import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand.

    Returns
    -------
    argparse.ArgumentParser
    """
    from . import api_cmd, demo_cmd, platform_cmd, tools_cmd

    parser = argparse.ArgumentParser(
        prog="civis-jupyter", description="Work with Civis Platform from the command line."
    )
    parser.add_argument("--version", action="version", version=f"civis-jupyter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    tools_cmd.add_parsers(sub)
    api_cmd.add_parser(sub)
    platform_cmd.add_parser(sub)
    demo_cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    from .._extras import MissingExtraError
    from ..api.errors import CivisAPIError, CivisAPIKeyError, CivisJobFailure

    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CivisAPIKeyError as exc:
        print(f"civis-jupyter: {exc}", file=sys.stderr)
    except CivisAPIError as exc:
        print(f"civis-jupyter: API error {exc}", file=sys.stderr)
    except CivisJobFailure as exc:
        print(f"civis-jupyter: the run failed: {exc}", file=sys.stderr)
    except MissingExtraError as exc:
        print(f"civis-jupyter: {exc}", file=sys.stderr)
    except (OSError, ValueError, TypeError) as exc:
        print(f"civis-jupyter: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("civis-jupyter: interrupted", file=sys.stderr)
        return 130
    return 1
