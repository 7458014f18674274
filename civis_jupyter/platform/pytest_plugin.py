"""pytest fixtures that give tests a running embedded Civis Platform.

Registered through the ``pytest11`` entry point of ``civis_jupyter`` (via
:mod:`civis_jupyter.testing`), so any project that installs civis_jupyter can
use them:

- ``civis_platform``: one :class:`LocalPlatform` for the test session;
- ``civis_user``: a fresh user (API key) on it for each test, so tests do not
  see each other's objects;
- ``civis_env``: ``CIVIS_API_ENDPOINT`` / ``CIVIS_API_KEY`` set for that user;
- ``civis_client``: an :class:`~civis_jupyter.APIClient` for that user.

Use ``--civis-seed=demo`` to load the demo tables into the session platform.

The platform is imported when a test first asks for one of these fixtures, so
the plugin costs other test sessions nothing; without the ``platform`` extra
such a test fails with a one-line message saying what to install.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["civis_client", "civis_env", "civis_platform", "civis_user", "pytest_addoption"]

_users = itertools.count(1)


def pytest_addoption(parser: Any) -> None:
    """Add ``--civis-seed`` (``demo`` or ``none``)."""
    group = parser.getgroup("civis_jupyter")
    group.addoption(
        "--civis-seed",
        default="none",
        choices=("none", "demo"),
        help="Seed of the civis_platform fixture's platform (default: none).",
    )


@pytest.fixture(scope="session")
def civis_platform(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A running LocalPlatform shared by the session's tests."""
    from .._extras import MissingExtraError

    try:
        from . import LocalPlatform
    except MissingExtraError as exc:
        pytest.fail(str(exc), pytrace=False)
    seed = request.config.getoption("--civis-seed", default="none")
    with LocalPlatform(seed=None if seed == "none" else seed, rate_limit=10**6) as platform:
        yield platform


@pytest.fixture
def civis_user(civis_platform: Any) -> str:
    """The API key of a new user, unique to this test."""
    return civis_platform.create_user(f"user{next(_users)}")


@pytest.fixture
def civis_env(civis_platform: Any, civis_user: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Environment variables pointing clients at the platform as this test's user."""
    env = {"CIVIS_API_ENDPOINT": civis_platform.endpoint, "CIVIS_API_KEY": civis_user}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def civis_client(civis_env: dict) -> Any:
    """An APIClient for this test's user."""
    from ..api.client import APIClient

    return APIClient()
