"""The command executor: a shell command as the run's process, watched by the pump."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

from ._context import KILL_GRACE, RunCancelled, RunContext
from ._keys import _mint_key, _revoke_key
from ._pump import _Proc
from ._recover import RUN_MARK

NO_EXEC_ERROR = (
    "Running commands is switched off on this platform (it was started with "
    "--no-exec / execute=False); start it with execution enabled to run scripts."
)


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[3])


def _write_shim(bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "civis"
    shim.write_text(
        "#!/bin/sh\n"
        "# The civis command inside platform runs: this package's CLI.\n"
        f'exec "{sys.executable}" -c "import sys; from civis_jupyter.cli import main; '
        'sys.exit(main())" "$@"\n'
    )
    shim.chmod(0o755)


class CommandExecutor:
    """An executor that runs a shell command as the run's process.

    Made by :func:`command_executor`. The runner starts it with
    :meth:`start_async` (the process is then watched by the runner's single
    pump thread); calling it blocks until the process ends, like any executor.

    Parameters
    ----------
    command : str
        The command (e.g. a container script's ``dockerCommand``).
    env : mapping, optional
        Extra environment variables, read when the run starts.
    shell : str
        The shell that interprets the command.
    cancel_timeout : float, optional
        Seconds between SIGTERM and SIGKILL when cancelled.
    prepare : callable, optional
        Called with the :class:`RunContext` before the process starts (e.g.
        to write a script file into the run's directory).
    """

    def __init__(
        self,
        command: str,
        env: Mapping[str, str] | None = None,
        shell: str = "/bin/bash",
        cancel_timeout: float | None = None,
        prepare: Callable[[RunContext], None] | None = None,
    ):
        self.command = command
        self.env = env
        self.shell = shell
        self.grace = KILL_GRACE if cancel_timeout is None else max(0.0, float(cancel_timeout))
        self.prepare = prepare

    def __repr__(self) -> str:
        return f"CommandExecutor({self.command!r})"

    def __call__(self, ctx: RunContext) -> None:
        """Run the command and wait for it to end.

        Raises
        ------
        RunCancelled
            If the run was cancelled.
        RuntimeError
            If it exited with a non-zero status or could not start.
        """
        ended = threading.Event()
        errors: list[BaseException | None] = []

        def done(error: BaseException | None) -> None:
            errors.append(error)
            ended.set()

        self.start_async(ctx, done)
        ended.wait()
        if errors[0] is not None:
            raise errors[0]

    def start_async(self, ctx: RunContext, done: Callable[[BaseException | None], None]) -> None:
        """Start the process; ``done(error)`` is called once it ended.

        Parameters
        ----------
        ctx : RunContext
            The run.
        done : callable
            Called on the pump thread with ``None`` (success), a
            :class:`RunCancelled` or the failure; never called if this raises.

        Raises
        ------
        RuntimeError
            If the platform does not execute commands or there is no command.
        """
        platform = ctx.platform
        if not getattr(platform, "execute", True):
            raise RuntimeError(NO_EXEC_ERROR)
        if not self.command or not str(self.command).strip():
            raise RuntimeError("the script has no command to run")
        if self.prepare is not None:
            self.prepare(ctx)
        ctx.check()
        runner = ctx.runner
        run_dir = ctx.run_dir.resolve()
        work = run_dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        _write_shim(run_dir / "bin")
        key = _mint_key(platform, ctx.user_id, ctx.run_id)
        try:
            argv = [self.shell, "-c", str(self.command)]
            if runner.sandbox is not None:
                argv = runner.sandbox.argv(runner.data_dir.resolve(), run_dir, work, argv)
            popen = subprocess.Popen(
                argv,
                cwd=work,
                env=self._environment(ctx, run_dir, key),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except BaseException:
            if key:
                _revoke_key(platform, key)
            raise

        def on_exit(proc: _Proc) -> None:
            ctx.on_cancel(None)
            try:
                if key:
                    _revoke_key(platform, key)
            finally:
                done(_outcome(ctx, proc))

        proc = _Proc(popen, self.grace, on_exit, ctx.run_id)
        runner._pump.add(proc)
        ctx.on_cancel(lambda: runner._pump.terminate(proc))
        try:
            runner._record_process(ctx.run_id, popen.pid)
        except sqlite3.Error:  # only crash recovery needs it; the run goes on
            traceback.print_exc()

    def _environment(self, ctx: RunContext, run_dir: Path, key: str | None) -> dict[str, str]:
        full_env = dict(os.environ)
        full_env.pop("CIVIS_API_KEY", None)
        full_env.update(self.env or {})
        python_path = [_package_root()]
        if full_env.get("PYTHONPATH"):
            python_path.append(full_env["PYTHONPATH"])
        full_env.update(
            {
                "CIVIS_API_ENDPOINT": str(getattr(ctx.platform, "endpoint", "")),
                "CIVIS_JOB_ID": str(ctx.job_id),
                "CIVIS_RUN_ID": str(ctx.run_id),
                RUN_MARK: ctx.marker,
                "PATH": os.pathsep.join(
                    [
                        str(run_dir / "bin"),
                        str(Path(sys.executable).parent),
                        full_env.get("PATH", ""),
                    ]
                ),
                "PYTHONPATH": os.pathsep.join(python_path),
                "PYTHONUNBUFFERED": "1",
                "HOME": full_env.get("HOME", str(run_dir / "work")),
            }
        )
        if key:
            full_env["CIVIS_API_KEY"] = key
        return full_env


def _outcome(ctx: RunContext, proc: _Proc) -> BaseException | None:
    """How a finished command ended: ``None``, cancelled or its failure."""
    if ctx.cancelled.is_set():
        return RunCancelled()
    code = proc.code
    if not code:
        return None
    detail = f": {proc.last_error}" if proc.last_error else ""
    if code < 0:
        return RuntimeError(f"the process was killed by signal {-code}{detail}")
    return RuntimeError(f"the process exited with status {code}{detail}")


def command_executor(
    command: str,
    env: Mapping[str, str] | None = None,
    shell: str = "/bin/bash",
    cancel_timeout: float | None = None,
    prepare: Callable[[RunContext], None] | None = None,
) -> CommandExecutor:
    """An executor that runs a shell command as the run's process.

    Parameters
    ----------
    command : str
        The command (e.g. a container script's ``dockerCommand``).
    env : mapping, optional
        Extra environment variables (script parameters, ...), read when the
        run starts.
    shell : str
        The shell that interprets the command.
    cancel_timeout : float, optional
        Seconds between SIGTERM and SIGKILL when the run is cancelled (a
        script's ``cancelTimeout``); :data:`KILL_GRACE` when not given.
    prepare : callable, optional
        Called with the run's :class:`RunContext` before the process starts.

    Returns
    -------
    CommandExecutor
        The executor: it fails the run on a non-zero exit status.
    """
    return CommandExecutor(command, env, shell, cancel_timeout, prepare)
