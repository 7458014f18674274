"""The pump: one thread per runner reading every command's output and reaping it."""

from __future__ import annotations

import collections
import contextlib
import os
import selectors
import signal
import sqlite3
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._machine import Runner

#: Seconds a command's pipes may stay open after it exited (a leftover holds them).
DRAIN_TIMEOUT = 5.0
#: Longest log line kept whole; longer output without a newline is split.
MAX_LINE = 1 << 20


class _Proc:
    """A command's process as the pump sees it."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        grace: float,
        on_exit: Callable[[_Proc], None],
        run_id: int,
    ):
        self.proc = proc
        self.grace = grace
        self.on_exit = on_exit
        self.run_id = run_id
        self.buffers = {"info": bytearray(), "error": bytearray()}
        self.lines: list[tuple[str, str]] = []
        self.open_streams = 2
        self.code: int | None = None
        self.last_error = ""
        self.kill_at: float | None = None
        self.drain_until: float | None = None
        self.pidfd: int | None = None
        self.terminated = False

    def take(self, level: str, data: bytes, final: bool = False) -> None:
        """Add output bytes; complete lines become log lines."""
        buf = self.buffers[level]
        buf += data
        parts = buf.split(b"\n")
        rest = parts.pop()
        if final and rest:
            parts.append(rest)
            rest = bytearray()
        while len(rest) > MAX_LINE:
            parts.append(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        self.buffers[level] = bytearray(rest)
        for raw in parts:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            self.lines.append((line, level))
            if level == "error" and line.strip():
                self.last_error = line.strip()


class _Pump:
    """One thread per runner that reads every command's output and reaps it.

    Output lines go to the runs' logs; exits are seen through pidfds (polled
    where pidfds are unavailable). Signals are sent from this thread only,
    before the process is reaped, so that a reused process id is never hit.
    """

    def __init__(self, runner: Runner):
        self.runner = runner
        self._todo: collections.deque[Callable[[], None]] = collections.deque()
        self._procs: set[_Proc] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._sel: selectors.BaseSelector | None = None
        self._wake_r = self._wake_w = -1

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._sel = selectors.DefaultSelector()
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
            os.set_blocking(self._wake_w, False)
            self._sel.register(self._wake_r, selectors.EVENT_READ, None)
            self._thread = threading.Thread(target=self._loop, name="civis-run-pump", daemon=True)
            self._thread.start()

    def _call(self, fn: Callable[[], None]) -> None:
        """Have the pump thread run ``fn`` soon."""
        self._ensure_thread()
        self._todo.append(fn)
        if self._wake_w >= 0:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._wake_w, b"x")

    def add(self, proc: _Proc) -> None:
        """Watch a started process (from any thread)."""
        self._call(lambda: self._register(proc))

    def terminate(self, proc: _Proc) -> None:
        """SIGTERM a process group now, SIGKILL after its grace (from any thread)."""
        self._call(lambda: self._terminate(proc))

    def stop(self, timeout: float) -> None:
        """Kill what is left, stop the thread."""
        if self._thread is None:
            return

        def stopping() -> None:
            self._stopping = True
            for proc in list(self._procs):
                proc.grace = 0.0
                self._terminate(proc)

        self._call(stopping)
        self._thread.join(max(timeout, 1.0))

    # -- on the pump thread --------------------------------------------------------

    def _register(self, proc: _Proc) -> None:
        assert self._sel is not None
        self._procs.add(proc)
        popen = proc.proc
        for stream, level in ((popen.stdout, "info"), (popen.stderr, "error")):
            assert stream is not None
            self._sel.register(stream, selectors.EVENT_READ, (proc, level))
        with contextlib.suppress(AttributeError, OSError):
            proc.pidfd = os.pidfd_open(popen.pid)
            self._sel.register(proc.pidfd, selectors.EVENT_READ, (proc, "exit"))
        if proc.terminated:
            self._terminate(proc)

    def _terminate(self, proc: _Proc) -> None:
        if proc.code is not None or proc not in self._procs:
            proc.terminated = True  # not registered yet, or already reaped
            return
        proc.terminated = True
        with contextlib.suppress(OSError):
            os.killpg(proc.proc.pid, signal.SIGKILL if proc.grace <= 0 else signal.SIGTERM)
        deadline = time.monotonic() + proc.grace
        proc.kill_at = deadline if proc.kill_at is None else min(proc.kill_at, deadline)

    def _loop(self) -> None:
        assert self._sel is not None
        while True:
            for key, _mask in self._sel.select(self._timeout()):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._wake_r, 4096):
                            pass
                    continue
                proc, what = key.data
                if what == "exit":
                    self._exited(proc)
                else:
                    self._read(proc, key.fileobj, what)
            while self._todo:
                try:
                    self._todo.popleft()()
                except Exception:  # keep pumping for the other runs
                    traceback.print_exc()
            self._tick()
            if self._stopping and not self._procs:
                break
        self._sel.close()
        wake_r, wake_w = self._wake_r, self._wake_w
        self._wake_r = self._wake_w = -1
        os.close(wake_w)
        os.close(wake_r)

    def _timeout(self) -> float | None:
        now = time.monotonic()
        waits = []
        for proc in self._procs:
            if proc.pidfd is None and proc.code is None:
                waits.append(0.1)  # no pidfd: poll for the exit
            for when in (proc.kill_at, proc.drain_until):
                if when is not None:
                    waits.append(max(0.0, when - now))
        return min(waits) if waits else None

    def _read(self, proc: _Proc, stream: Any, level: str) -> None:
        try:
            data = os.read(stream.fileno(), 65536)
        except OSError:
            data = b""
        if data:
            proc.take(level, data)
        else:
            self._close_stream(proc, stream, level)

    def _close_stream(self, proc: _Proc, stream: Any, level: str) -> None:
        assert self._sel is not None
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(stream)
        stream.close()
        proc.take(level, b"", final=True)
        proc.open_streams -= 1

    def _exited(self, proc: _Proc) -> None:
        """The leader exited: kill what it left in its group, then reap it."""
        pid = proc.proc.pid
        if hasattr(os, "waitid") and hasattr(os, "WNOWAIT"):
            try:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
                    return  # still running (polling without a pidfd)
            except ChildProcessError:
                pass
            else:
                # Still a zombie: the group id cannot have been reused.
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
            proc.code = proc.proc.wait()
        else:
            code = proc.proc.poll()
            if code is None:
                return
            proc.code = code
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        proc.kill_at = None
        proc.drain_until = time.monotonic() + DRAIN_TIMEOUT
        if proc.pidfd is not None:
            assert self._sel is not None
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(proc.pidfd)
            os.close(proc.pidfd)
            proc.pidfd = None

    def _tick(self) -> None:
        now = time.monotonic()
        for proc in list(self._procs):
            if proc.code is None:
                if proc.kill_at is not None and now >= proc.kill_at:
                    proc.kill_at = None
                    with contextlib.suppress(OSError):
                        os.killpg(proc.proc.pid, signal.SIGKILL)
                if proc.pidfd is None:
                    self._exited(proc)
            elif proc.open_streams and proc.drain_until is not None and now >= proc.drain_until:
                # Something that left the group still holds the pipes: stop waiting.
                for stream, level in ((proc.proc.stdout, "info"), (proc.proc.stderr, "error")):
                    if stream is not None and not stream.closed:
                        self._close_stream(proc, stream, level)
            if proc.lines:
                lines, proc.lines = proc.lines, []
                with contextlib.suppress(sqlite3.ProgrammingError):
                    self.runner.append_logs(proc.run_id, lines)
            if proc.code is not None and not proc.open_streams:
                self._procs.discard(proc)
                try:
                    proc.on_exit(proc)
                except Exception:  # a bug in one run's ending must not stop the pump
                    traceback.print_exc()
