from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .apiserver import ApiServer, start, stop

OFFICIAL_SPEC = Path(__import__("civis").__file__).parent / "resources" / "civis_api_spec.json"
API_KEY = "unit-test-secret-key-0123456789"


@pytest.fixture(scope="session")
def official_spec_path() -> Path:
    return OFFICIAL_SPEC


@pytest.fixture(scope="session")
def official_spec(official_spec_path: Path) -> dict:
    return json.loads(official_spec_path.read_text())


@pytest.fixture
def api_server(monkeypatch: pytest.MonkeyPatch, official_spec: dict) -> Iterator[ApiServer]:
    server = ApiServer()
    server.route("GET", "/endpoints", official_spec)
    httpd = start(server)
    monkeypatch.setenv("CIVIS_API_ENDPOINT", server.url)
    monkeypatch.setenv("CIVIS_API_KEY", API_KEY)
    monkeypatch.delenv("CIVIS_JOB_ID", raising=False)
    monkeypatch.delenv("CIVIS_RUN_ID", raising=False)
    yield server
    stop(httpd)


@pytest.fixture
def client(api_server: ApiServer, official_spec_path: Path):
    import tenacity

    import civis_jupyter as civis

    fast = tenacity.Retrying(
        wait=tenacity.wait_none(),
        stop=tenacity.stop_after_attempt(4),
        retry_error_callback=lambda s: s.outcome.result(),
    )
    return civis.APIClient(local_api_spec=official_spec_path, retries=fast)
