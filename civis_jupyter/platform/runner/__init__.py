"""The run state machine for every kind of job, with its executors and live logs.

Every run, whatever its job (query, SQL script, import, CSV preprocess,
container / Python / custom script), goes through one state machine::

    queued -> running -> succeeded | failed | cancelled
    queued -> cancelled

:class:`Runner` persists runs, their log lines and their outputs in SQLite
(``runs.sqlite3`` in the platform's data directory), so they survive a
restart; :meth:`Runner.recover` turns runs that a previous process left
queued or running into failed runs ("platform restarted") and kills the
processes those runs left behind.

At most ``max_runs`` runs are ``running`` at once (four per core by default;
``None`` for no cap); the others stay ``queued`` and start in the order they
were created as running ones end. A run is reported done only once its work
has stopped: for a command, once its process is reaped and its output is in
the logs.

Executors are callables taking a :class:`RunContext`. Python callables do SQL
and imports, on a small shared pool of threads; :func:`command_executor` runs
a shell command as a subprocess in the run's own working directory and
process group, with ``CIVIS_API_KEY`` (a key of the run's user, minted for the
run and revoked when it ends), ``CIVIS_API_ENDPOINT``, ``CIVIS_JOB_ID`` and
``CIVIS_RUN_ID`` set and a ``civis`` command on ``PATH`` backed by this
package's CLI. One thread per runner reads every command's output (its lines
stream into the run's logs while it runs) and reaps every process, so a run
costs no thread of its own. Cancelling kills the whole process group.

Sandbox: where Linux namespaces are available (``unshare`` and ``setpriv``
from util-linux, as root or with unprivileged user namespaces), each command
runs in its own PID and mount namespace with no capabilities: it sees only
its own processes (not other runs', nor their environment and keys, nor the
platform's), and the platform's data directory is hidden behind an empty
read-only file system except for the run's own directory. Everything else
(the network, including the platform's API, and the rest of the file system)
is shared with the platform's user. Where namespaces are unavailable, commands
run unsandboxed and the platform says so when it starts
(:attr:`Runner.sandboxed`).

When the platform does not execute commands (``execute=False``), command runs
fail at once with an error that says so; SQL, imports and preprocessing still
run, since they execute no user commands.
"""

from __future__ import annotations

from ...api.states import ACTIVE_STATES, DONE_STATES
from ..clock import iso_now
from ._commands import NO_EXEC_ERROR as NO_EXEC_ERROR
from ._commands import CommandExecutor, command_executor
from ._context import KILL_GRACE as KILL_GRACE
from ._context import (
    AlreadyRunning,
    Executor,
    InvalidTransition,
    RunCancelled,
    RunContext,
    RunHost,
)
from ._machine import CANCEL_WAIT as CANCEL_WAIT
from ._machine import DEFAULT_MAX_RUNS, Runner
from ._machine import WORKER_THREADS as WORKER_THREADS
from ._machine import _max_runs as _max_runs
from ._pump import DRAIN_TIMEOUT as DRAIN_TIMEOUT
from ._pump import MAX_LINE as MAX_LINE
from ._recover import RUN_MARK as RUN_MARK
from ._sandbox import _PREFIXES as _PREFIXES
from ._sandbox import UNSANDBOXED_WARNING as UNSANDBOXED_WARNING
from ._sandbox import Sandbox, find_sandbox

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_MAX_RUNS",
    "DONE_STATES",
    "AlreadyRunning",
    "CommandExecutor",
    "Executor",
    "InvalidTransition",
    "RunCancelled",
    "RunContext",
    "RunHost",
    "Runner",
    "Sandbox",
    "command_executor",
    "find_sandbox",
    "iso_now",
]
