"""Lines a test wants printed in the run's terminal summary (see tests/conftest.py)."""

from __future__ import annotations

import pytest

LINES = pytest.StashKey[list[str]]()


def report(config: pytest.Config, line: str) -> None:
    """Print ``line`` in the run's terminal summary."""
    config.stash.setdefault(LINES, []).append(line)
