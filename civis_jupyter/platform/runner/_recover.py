"""Crash recovery: finding and killing the processes a crashed platform's runs left."""

from __future__ import annotations

import contextlib
import os
import signal

#: Environment variable marking every process of a run (found again after a crash).
RUN_MARK = "CIVIS_RUN_MARK"


def _start_ticks(pid: int) -> int | None:
    """When a process started (clock ticks after boot), or ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields follow the last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[19])


def _kill_orphans(runs: list[tuple[int | None, int | None, str | None]]) -> None:
    """SIGKILL what runs of a crashed platform left: by recorded pid, then by marker."""
    for pid, started, _marker in runs:
        if pid and started is not None and _start_ticks(pid) == started:
            # The very process the run started: its group is the run's (it
            # leads a session), and in a sandbox it holds the namespace.
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    marks = {f"{RUN_MARK}={m}".encode() + b"\0" for _, _, m in runs if m}
    if not marks or not os.path.isdir("/proc"):
        return
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                environ = b"\0" + f.read()
        except OSError:
            continue
        if any(b"\0" + mark in environ for mark in marks):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)
