"""A real IPython shell with the extension loaded, against the embedded platform."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def demo_platform() -> Iterator[object]:
    from civis_jupyter.platform import LocalPlatform

    with LocalPlatform(seed="demo") as platform:
        yield platform


@pytest.fixture
def platform_env(demo_platform, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CIVIS_API_ENDPOINT", demo_platform.endpoint)
    monkeypatch.setenv("CIVIS_API_KEY", demo_platform.api_key)
    monkeypatch.delenv("CIVIS_DEFAULT_DATABASE", raising=False)
    return demo_platform


@pytest.fixture
def database(platform_env) -> str:
    import civis_jupyter as civis

    return civis.APIClient().databases.list()[0]["name"]


@pytest.fixture
def shell(platform_env, tmp_path, monkeypatch) -> Iterator[object]:
    from IPython.testing.globalipapp import get_ipython, start_ipython

    monkeypatch.chdir(tmp_path)
    ip = start_ipython() or get_ipython()
    ip.run_line_magic("load_ext", "civis_jupyter")
    yield ip
    ip.run_line_magic("unload_ext", "civis_jupyter")
    for name in [n for n in ip.user_ns if not n.startswith("_") and n not in ("In", "Out")]:
        if name not in ("exit", "quit", "get_ipython"):
            ip.user_ns.pop(name, None)
