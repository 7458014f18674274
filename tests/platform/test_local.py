"""LocalPlatform's life cycle: reset, users, environment."""

from __future__ import annotations

import requests

from civis_jupyter.platform import LocalPlatform


def test_reset_starts_over(tmp_path):
    with LocalPlatform(data_dir=tmp_path) as platform:
        old_key = platform.api_key
        other = platform.create_user("someone")
        session = requests.Session()
        session.auth = (old_key, "")
        project = session.post(
            platform.endpoint + "projects", json={"name": "p", "description": ""}
        ).json()
        platform.reset()
        assert platform.api_key != old_key
        for key in (old_key, other):
            assert requests.get(platform.endpoint + "users/me", auth=(key, "")).status_code == 401
        fresh = requests.Session()
        fresh.auth = (platform.api_key, "")
        assert fresh.get(f"{platform.endpoint}projects/{project['id']}").status_code == 404
        assert [d["name"] for d in fresh.get(platform.endpoint + "databases").json()] == ["local"]
        assert platform.env() == {
            "CIVIS_API_ENDPOINT": platform.endpoint,
            "CIVIS_API_KEY": platform.api_key,
        }


def test_users_see_the_database_and_have_a_default_credential(tmp_path):
    with LocalPlatform(data_dir=tmp_path) as platform:
        key = platform.create_user("analyst")
        session = requests.Session()
        session.auth = (key, "")
        assert session.get(platform.endpoint + "users/me").json()["username"] == "analyst"
        creds = session.get(
            platform.endpoint + "credentials", params={"type": "Database", "default": "true"}
        ).json()
        assert len(creds) == 1 and creds[0]["username"] == "analyst"
        assert "api_key" not in repr(platform) and key not in repr(platform)
