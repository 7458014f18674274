"""Everyday commands: ``files``, ``jobs`` and ``sql``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["add_parsers"]


def _client() -> Any:
    from ..api.client import APIClient

    return APIClient()


def add_parsers(sub: Any) -> None:
    """Add the ``files``, ``jobs`` and ``sql`` commands."""
    files = sub.add_parser("files", help="upload and download Civis files")
    files_sub = files.add_subparsers(dest="files_command", metavar="ACTION", required=True)
    up = files_sub.add_parser("upload", help="upload a local file; prints its ID")
    up.add_argument("path", help="the local file")
    up.add_argument("--name", help="name in Civis (default: the file's name)")
    up.add_argument("--expires-at", default="DEFAULT", help="ISO time it expires")
    up.add_argument("--description", default=None)
    up.set_defaults(func=files_upload)
    down = files_sub.add_parser("download", help="download a Civis file to a local path")
    down.add_argument("file_id", type=int)
    down.add_argument("path", help="where to write it")
    down.set_defaults(func=files_download)

    jobs = sub.add_parser("jobs", help="list jobs and follow their logs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    ls = jobs_sub.add_parser("list", help="list jobs")
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--state", default=None, help="e.g. running, failed")
    ls.add_argument("--type", default=None, help="e.g. JobTypes::ContainerDocker")
    ls.add_argument("--search", default=None)
    ls.set_defaults(func=jobs_list)
    follow = jobs_sub.add_parser("follow-log", help="print a run's logs until it ends")
    follow.add_argument("job_id", type=int)
    follow.add_argument("run_id", type=int, nargs="?", default=None)
    follow.set_defaults(func=jobs_follow_log)

    sql = sub.add_parser("sql", help="run SQL and print (or save) the result")
    sql.add_argument("-d", "--database", required=True, help="database name or ID")
    sql.add_argument("-c", "--command", required=True, help="the SQL")
    sql.add_argument("-o", "--output", default=None, help="write the full result to this CSV")
    sql.add_argument("-n", type=int, default=100, help="rows to print (default 100)")
    sql.set_defaults(func=run_sql)


def files_upload(args: argparse.Namespace) -> int:
    """``files upload PATH``: print the new file's ID."""
    from ..io import file_to_civis

    if not os.path.isfile(args.path):
        raise OSError(f"no such file: {args.path}")
    file_id = file_to_civis(
        args.path,
        args.name or os.path.basename(args.path),
        expires_at=args.expires_at,
        description=args.description,
        client=_client(),
    )
    print(file_id)
    return 0


def files_download(args: argparse.Namespace) -> int:
    """``files download ID PATH``."""
    from ..io import civis_to_file

    partial = args.path + ".part"
    try:
        civis_to_file(args.file_id, partial, client=_client())
        os.replace(partial, args.path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return 0


def jobs_list(args: argparse.Namespace) -> int:
    """``jobs list``: one line per job."""
    params = {"limit": args.limit}
    for key in ("state", "type"):
        if getattr(args, key):
            params[key] = getattr(args, key)
    if args.search:
        params["q"] = args.search
    jobs = _client().jobs.list(**params)
    print(f"{'ID':>8}  {'STATE':<10}  {'TYPE':<28}  NAME")
    for job in jobs:
        kind = str(job.get("type") or "").replace("JobTypes::", "")
        print(f"{job['id']:>8}  {job.get('state') or '-'!s:<10}  {kind:<28}  {job.get('name')}")
    return 0


def jobs_follow_log(args: argparse.Namespace) -> int:
    """``jobs follow-log JOB [RUN]``: print log lines as they come, until the run ends."""
    from ..utils import job_logs

    client = _client()
    for line in job_logs(args.job_id, args.run_id, client=client):
        print(line.get("message", ""), flush=True)
    return 0


def run_sql(args: argparse.Namespace) -> int:
    """``sql -d DB -c SQL [-o out.csv] [-n N]``."""
    from ..io import read_civis_sql

    frame = read_civis_sql(args.command, args.database, return_as="pandas", client=_client())
    if args.output:
        frame.to_csv(args.output, index=False)
        print(f"wrote {len(frame)} rows to {args.output}", file=sys.stderr)
        return 0
    with_limit = frame.head(args.n)
    print(with_limit.to_string(index=False, na_rep="NULL", max_colwidth=60))
    if len(frame) > args.n:
        print(f"... {len(frame) - args.n} more rows (use -o FILE for all)")
    return 0
