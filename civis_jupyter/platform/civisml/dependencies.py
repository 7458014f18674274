"""A run's ``DEPENDENCIES``, pip-installed into its own directory."""

from __future__ import annotations

import subprocess
import sys

from .errors import CivisMLError
from .run import Run, _words, log


def install_dependencies(run: Run) -> None:
    """``pip install`` the run's ``DEPENDENCIES`` into its own directory."""
    if run.arg("GIT_CRED"):
        run.warnings.append(
            "civisml:0: UserWarning: GIT_CRED is ignored: the local platform cannot "
            "install private git repositories"
        )
    packages = _words(run.arg("DEPENDENCIES"))
    if not packages:
        return
    target = run.work / "dependencies"
    log(f"Installing {' '.join(packages)}")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), *packages],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise CivisMLError(f"installing DEPENDENCIES failed: {last}")
    sys.path.insert(0, str(target))
