"""The sandbox: probing ``unshare``/``setpriv`` and the namespace's init shell."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ._context import RunHost

# The first process of a run's PID namespace (its "init"): it hides the data
# directory behind an empty read-only tmpfs, puts the run's own directory back,
# then runs the command with no capabilities (so that it cannot undo the
# mounts) as its child, and exits with its status, which ends every process
# left in the namespace. Its own stderr goes to /dev/null so that the shell's
# "Terminated" notices do not end up in the run's logs.
_SANDBOX_INIT = r"""set -e
data=$1; run=$2; work=$3; shift 3
cd "$run"
mount -t tmpfs -o size=64k,mode=0755 civis-sandbox "$data"
mkdir -p "$run"
mount --no-canonicalize --bind . "$run"
mount -o remount,ro,bind "$data"
cd "$work"
set +e
exec 3>&2 2>/dev/null
(exec setpriv --bounding-set=-all --inh-caps=-all --ambient-caps=-all \
    --no-new-privs -- "$@") 2>&3 3>&-
exit $?
"""
_NAMESPACES = ("--pid", "--fork", "--mount-proc", "--mount", "--kill-child")
_PREFIXES = (
    ("unshare", *_NAMESPACES),
    ("unshare", "--user", "--map-root-user", *_NAMESPACES),
)
UNSANDBOXED_WARNING = (
    "Runs are not sandboxed on this machine (Linux namespaces unavailable: needs "
    "unshare and setpriv, and root or unprivileged user namespaces): a script can "
    "see other runs' processes and keys and read the platform's data directory."
)


@dataclass(frozen=True)
class Sandbox:
    """How a command is started in its own PID and mount namespaces.

    Attributes
    ----------
    prefix : tuple of str
        The ``unshare`` command line put in front of the sandbox's init.
    """

    prefix: tuple[str, ...]

    def argv(self, data_dir: Path, run_dir: Path, work: Path, argv: list[str]) -> list[str]:
        """The command line running ``argv`` in ``work``, with only ``run_dir`` of ``data_dir``.

        Parameters
        ----------
        data_dir : Path
            The directory to hide (absolute).
        run_dir : Path
            The run's own directory inside it, left visible.
        work : Path
            The working directory (inside ``run_dir``).
        argv : list of str
            The command.

        Returns
        -------
        list of str
        """
        return [
            *self.prefix,
            "--",
            "/bin/sh",
            "-c",
            _SANDBOX_INIT,
            "civis-sandbox",
            str(data_dir),
            str(run_dir),
            str(work),
            *argv,
        ]


_probe_lock = threading.Lock()
_probed: list[Sandbox | None] = []


def find_sandbox() -> Sandbox | None:
    """The sandbox that works on this machine, or ``None`` (probed once per process).

    Tries ``unshare`` as the current user, then with a user namespace, and
    checks that a sandboxed command sees its own init as PID 1, cannot see a
    file of the hidden directory and can write in its working directory.

    Returns
    -------
    Sandbox or None
    """
    with _probe_lock:
        if not _probed:
            _probed.append(_probe())
        return _probed[0]


def _probe() -> Sandbox | None:
    if not all(shutil.which(tool) for tool in ("unshare", "setpriv", "mount")):
        return None
    with tempfile.TemporaryDirectory(prefix="civis-probe-") as tmp:
        data = Path(tmp).resolve()
        run_dir = data / "runs" / "1"
        work = run_dir / "work"
        work.mkdir(parents=True)
        (data / "hidden").write_text("x")
        check = 'test ! -e "$0/hidden" && grep -q civis-sandbox /proc/1/cmdline && touch probe'
        for prefix in _PREFIXES:
            sandbox = Sandbox(prefix)
            argv = sandbox.argv(data, run_dir, work, ["/bin/sh", "-c", check, str(data)])
            try:
                done = subprocess.run(
                    argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL
                )
            except (OSError, subprocess.SubprocessError):
                continue
            if done.returncode == 0 and (work / "probe").exists():
                return sandbox
    return None


def _choose_sandbox(platform: RunHost) -> Sandbox | None:
    wanted = getattr(platform, "sandbox", None)
    if wanted is False or not getattr(platform, "execute", True):
        return None
    found = find_sandbox()
    if wanted is True and found is None:
        raise RuntimeError(UNSANDBOXED_WARNING)
    return found
