"""The official civis 2.10.1 client, unchanged, against a LocalPlatform."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

civis = pytest.importorskip("civis")

from civis_jupyter.platform import LocalPlatform  # noqa: E402

from ..polling import wait_until  # noqa: E402, F401  (the tests' one polling helper)


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
