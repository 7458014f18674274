from __future__ import annotations

import pytest

import civis_jupyter as civis


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    from civis_jupyter.platform import LocalPlatform

    with LocalPlatform(data_dir=tmp_path_factory.mktemp("ns"), seed="demo", rate_limit=10**6) as p:
        yield p


@pytest.fixture
def client(platform, monkeypatch):
    monkeypatch.setenv("CIVIS_API_ENDPOINT", platform.endpoint)
    monkeypatch.setenv("CIVIS_API_KEY", platform.api_key)
    return civis.APIClient()


def container(client, command, name="job"):
    return client.scripts.post_containers(
        {"cpu": 256, "memory": 512}, name=name, docker_command=command, docker_image_name="img"
    )
