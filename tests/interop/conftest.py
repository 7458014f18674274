"""The official civis 2.10.1 client, unchanged, against a LocalPlatform."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

civis = pytest.importorskip("civis")

from civis_jupyter.platform import LocalPlatform  # noqa: E402


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """One seeded platform per test module, with CIVIS_API_ENDPOINT pointing at it."""
    data_dir = tmp_path_factory.mktemp("platform")
    with LocalPlatform(data_dir=data_dir, seed="demo") as p, pytest.MonkeyPatch.context() as mp:
        mp.setenv("CIVIS_API_ENDPOINT", p.endpoint)
        mp.delenv("CIVIS_API_KEY", raising=False)
        yield p


@pytest.fixture(scope="module")
def client(platform: LocalPlatform) -> Any:
    """The official client, built from the platform's own /endpoints spec."""
    return civis.APIClient(api_key=platform.api_key)


@pytest.fixture(scope="module")
def database(client: Any) -> str:
    """The name of the platform's default database."""
    return client.databases.list()[0].name


def wait_until(predicate: Callable[[], Any], timeout: float = 60, what: str = "it") -> Any:
    """Poll a platform state until it holds (runs live in other processes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
