"""The CivisML worker: what a training, prediction or registration run does.

A run of a CivisML template executes ``python -m civis_jupyter.platform.civisml
train|predict|register`` as an ordinary platform run. The worker reads its
arguments from the environment (the custom script's arguments), talks to the
platform only through the API with the run's own key (``CIVIS_API_KEY``,
``CIVIS_API_ENDPOINT``, ``CIVIS_JOB_ID``, ``CIVIS_RUN_ID``), and attaches
its results to the run as file outputs, ``model_info.json`` last.

A run that fails attaches only a ``model_info.json`` whose ``run.status`` is
``"exception"`` and whose ``run.stack_trace`` is the one-line error (so that
clients reading the metadata raise it at once), prints that line last on
standard error (so it is the run's error) and exits with status 1. Tables
are written only once everything else succeeded.

This module is the entry point (:func:`main`); the actions live in
:mod:`.train`, :mod:`.predict` and :mod:`.register`, the run's arguments and
outputs in :mod:`.run` and :mod:`.args`, output tables in :mod:`.outputs`.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence

from .errors import CivisMLError
from .messages import _one_line, _recorder
from .predict import BATCH_ROWS, predict
from .register import register
from .run import CIVISML_VERSION, Run
from .train import train

__all__ = ["BATCH_ROWS", "CIVISML_VERSION", "main", "predict", "register", "train"]

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


ACTIONS: dict[str, Callable[[Run], None]] = {
    "train": train,
    "predict": predict,
    "register": register,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one CivisML action (``train``, ``predict`` or ``register``).

    Returns
    -------
    int
        0 on success, 1 on failure (the error is the last line on stderr).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in ACTIONS:
        print(
            f"usage: python -m civis_jupyter.platform.civisml {{{'|'.join(ACTIONS)}}}",
            file=sys.stderr,
        )
        return 2
    action = args[0]
    for name in _THREAD_VARIABLES:  # one BLAS thread per process unless told otherwise
        os.environ.setdefault(name, os.environ.get("N_JOBS") or "1")
    run: Run | None = None
    try:
        run = Run.from_env()
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _recorder(run)
            ACTIONS[action](run)
        return 0
    except Exception as exc:  # every failure ends the run with one line
        if not isinstance(exc, CivisMLError):
            traceback.print_exc(file=sys.stdout)
        message = _one_line(exc)
        if run is not None:
            run.fail(message)
        sys.stdout.flush()
        print(f"CivisML {action} failed: {message}", file=sys.stderr, flush=True)
        return 1
