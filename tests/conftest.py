"""Summary lines tests report for the end of the run, also under pytest-xdist.

A test calls :func:`tests.summary.report` (for example the fuzz test with the number of
requests it made); workers hand their lines to the controller, which prints
them all in the terminal summary.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.summary import LINES as _LINES


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the lines over
        workeroutput["summary_lines"] = session.config.stash.get(_LINES, [])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    lines = getattr(node, "workeroutput", {}).get("summary_lines", [])
    node.config.stash.setdefault(_LINES, []).extend(lines)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for line in config.stash.get(_LINES, []):
        terminalreporter.write_line(line)
