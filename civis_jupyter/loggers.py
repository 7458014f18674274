"""Logging for code that runs as a Civis Platform script.

Platform logs show a script's standard output as ordinary lines and its
standard error as warnings and errors. :func:`civis_logger` routes records
accordingly: ``INFO`` and below to stdout, ``WARNING`` and above to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

__all__ = ["civis_logger"]

#: Environment variable that sets the level when none is given.
LEVEL_VARIABLE = "CIVIS_LOG_LEVEL"


class _LevelBand(logging.Filter):
    """Pass records at or below ``ceiling`` (``upper=False``) or above it."""

    def __init__(self, ceiling: int, upper: bool) -> None:
        super().__init__()
        self.ceiling = ceiling
        self.upper = upper

    def filter(self, record: logging.LogRecord) -> bool:
        return (record.levelno > self.ceiling) == self.upper


def _handler(stream: TextIO, upper: bool, formatter: logging.Formatter) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.addFilter(_LevelBand(logging.INFO, upper))
    handler.setFormatter(formatter)
    return handler


def civis_logger(
    name: str | None = None,
    level: int | str | None = None,
    fmt: str | logging.Formatter = "%(message)s",
) -> logging.Logger:
    """A logger whose output reads well in a Civis Platform run's log.

    Parameters
    ----------
    name : str, optional
        Passed to :func:`logging.getLogger`; ``__name__`` is customary.
    level : int or str, optional
        The logger's level. Defaults to the ``CIVIS_LOG_LEVEL`` environment
        variable, else ``logging.INFO``.
    fmt : str or logging.Formatter, optional
        The record format (``"%(message)s"`` by default) or a formatter.

    Returns
    -------
    logging.Logger
        The logger, not propagating to the root logger (so records are not
        printed twice), with one handler for stdout (``INFO`` and below) and
        one for stderr (above ``INFO``).
    """
    logger = logging.getLogger(name)
    logger.setLevel(level if level is not None else os.getenv(LEVEL_VARIABLE) or logging.INFO)
    logger.propagate = False
    formatter = fmt if isinstance(fmt, logging.Formatter) else logging.Formatter(fmt)
    logger.addHandler(_handler(sys.stdout, upper=False, formatter=formatter))
    logger.addHandler(_handler(sys.stderr, upper=True, formatter=formatter))
    return logger
