"""civis_logger: INFO and below on stdout, above INFO on stderr, level from the environment."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from civis_jupyter.loggers import civis_logger

SCRIPT = """
import logging
from civis_jupyter.loggers import civis_logger
log = civis_logger("job", fmt="%(levelname)s:%(message)s")
log.debug("d")
log.info("i")
log.warning("w")
log.error("e")
"""


def _run(env_level: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CIVIS_LOG_LEVEL"}
    if env_level is not None:
        env["CIVIS_LOG_LEVEL"] = env_level
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )


def test_info_goes_to_stdout_and_warnings_to_stderr():
    done = _run(None)
    assert done.stdout.splitlines() == ["INFO:i"]
    assert done.stderr.splitlines() == ["WARNING:w", "ERROR:e"]


def test_level_comes_from_the_environment():
    done = _run("DEBUG")
    assert done.stdout.splitlines() == ["DEBUG:d", "INFO:i"]
    done = _run("ERROR")
    assert done.stdout == ""
    assert done.stderr.splitlines() == ["ERROR:e"]


def test_explicit_level_and_formatter_win(capsys: pytest.CaptureFixture[str]):
    log = civis_logger(
        "test_loggers.explicit",
        level=logging.WARNING,
        fmt=logging.Formatter("[%(name)s] %(message)s"),
    )
    log.info("hidden")
    log.warning("shown")
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "[test_loggers.explicit] shown\n"
    assert log.propagate is False
