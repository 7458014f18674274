"""Loading, caching and sharing the API spec."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest

import civis_jupyter as civis
from civis_jupyter.api import spec as spec_module
from civis_jupyter.api.resources import _LazyMethod, resource_class

from .conftest import API_KEY


@pytest.fixture(autouse=True)
def _fresh_download_cache():
    spec_module.clear_spec_cache()
    yield
    spec_module.clear_spec_cache()


@pytest.mark.parametrize("kind", ["dict", "ordereddict", "str_path", "pathlib", "json_text"])
def test_local_spec_in_every_form(kind, official_spec_path: Path, official_spec: dict):
    source = {
        "dict": official_spec,
        "ordereddict": json.loads(official_spec_path.read_text(), object_pairs_hook=OrderedDict),
        "str_path": str(official_spec_path),
        "pathlib": official_spec_path,
        "json_text": official_spec_path.read_text(),
    }[kind]
    client = civis.APIClient(api_key="k", local_api_spec=source)
    assert "scripts" in client.resources
    assert client.resources == sorted(spec_module.load_spec(official_spec_path).resources)


def test_local_spec_with_force_refresh_is_a_type_error(official_spec_path):
    with pytest.raises(TypeError, match="cannot be used together"):
        civis.APIClient(api_key="k", local_api_spec=official_spec_path, force_refresh_api_spec=True)


def test_bad_local_spec_type_is_a_clear_error():
    with pytest.raises(TypeError, match="local_api_spec"):
        civis.APIClient(api_key="k", local_api_spec=42)


def test_spec_file_is_parsed_once_per_process(official_spec_path):
    a = civis.APIClient(api_key="k", local_api_spec=official_spec_path)
    b = civis.APIClient(api_key="k", local_api_spec=str(official_spec_path))
    assert a.spec is b.spec


def test_spec_is_downloaded_with_the_key_and_cached(api_server, official_spec_path):
    a = civis.APIClient()
    b = civis.APIClient()
    downloads = api_server.requests_to("/endpoints")
    assert len(downloads) == 1
    assert downloads[0].headers["Authorization"].startswith("Basic ")
    assert a.spec is b.spec and "scripts" in a.resources
    assert a.resources == sorted(spec_module.load_spec(official_spec_path).resources)


def test_cache_is_per_key(api_server):
    civis.APIClient()
    civis.APIClient(api_key="another-key")
    assert len(api_server.requests_to("/endpoints")) == 2


def test_force_refresh_downloads_again(api_server):
    civis.APIClient()
    civis.APIClient(force_refresh_api_spec=True)
    assert len(api_server.requests_to("/endpoints")) == 2


def test_cached_spec_expires_after_its_ttl(api_server, monkeypatch):
    civis.APIClient()
    monkeypatch.setattr(spec_module, "spec_ttl", lambda: -1.0)
    civis.APIClient()
    assert len(api_server.requests_to("/endpoints")) == 2


def test_ttl_is_short_in_interactive_python(monkeypatch):
    monkeypatch.setattr("sys.ps1", ">>> ", raising=False)
    assert spec_module.spec_ttl() == 15 * 60
    monkeypatch.delattr("sys.ps1")
    assert spec_module.spec_ttl() == 24 * 3600


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_while_downloading_says_so(api_server, status):
    api_server.route(
        "GET",
        "/endpoints",
        {"error": "unauthorized", "errorDescription": "no"},
        status=status,
        headers={"WWW-Authenticate": 'Basic realm="civis"'},
    )
    with pytest.raises(civis.CivisAPIKeyError) as info:
        civis.APIClient()
    assert "wrong or expired" in str(info.value)
    assert API_KEY not in str(info.value)


def test_missing_key_explains_how_to_set_it(monkeypatch, official_spec_path):
    monkeypatch.delenv("CIVIS_API_KEY", raising=False)
    with pytest.raises(civis.CivisAPIKeyError, match="CIVIS_API_KEY"):
        civis.APIClient(local_api_spec=official_spec_path)


def test_methods_are_built_lazily_and_shared(official_spec: dict):
    raw = json.loads(json.dumps(official_spec))  # a spec nobody has touched yet
    first = civis.APIClient(api_key="k", local_api_spec=raw)
    cls = resource_class(first.spec, "workflows")
    assert all(isinstance(v, _LazyMethod) for k, v in vars(cls).items() if k == "list")
    first.workflows.list  # noqa: B018 - touching builds it
    assert not isinstance(vars(cls)["list"], _LazyMethod)
    lazy_left = sum(isinstance(v, _LazyMethod) for v in vars(cls).values())
    assert lazy_left == len(first.spec.resources["workflows"]) - 1
    second = civis.APIClient(api_key="k", local_api_spec=raw)
    assert type(second.workflows) is cls
