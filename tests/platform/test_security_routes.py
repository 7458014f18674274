"""Isolation between users through the real server: kinds, rights, keys, nested lists, tables.

Every test talks HTTP to a LocalPlatform as an ordinary user (``alice``),
a second ordinary user (``bob``) and, where an administrator is needed,
the platform's first user.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from civis_jupyter.platform import LocalPlatform
from civis_jupyter.platform.store import Query, Store


@dataclass
class Who:
    """A user's id and an HTTP session carrying their key."""

    id: int
    http: requests.Session
    endpoint: str

    def call(self, verb: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(verb, self.endpoint + path.lstrip("/"), timeout=30, **kwargs)


def _session(key: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {key}"
    return s


def _who(platform: LocalPlatform, key: str) -> Who:
    http = _session(key)
    me = http.get(platform.endpoint + "users/me", timeout=30).json()
    return Who(me["id"], http, platform.endpoint)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with LocalPlatform(data_dir=tmp_path_factory.mktemp("sec"), rate_limit=10**6) as p:
        yield p


@pytest.fixture(scope="module")
def admin(platform: LocalPlatform) -> Who:
    return _who(platform, platform.api_key)


@pytest.fixture(scope="module")
def alice(platform: LocalPlatform) -> Who:
    return _who(platform, platform.create_user("alice"))


@pytest.fixture(scope="module")
def bob(platform: LocalPlatform) -> Who:
    return _who(platform, platform.create_user("bob"))


def _created(response: requests.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _container(who: Who, name: str = "job") -> int:
    body = {"name": name, "requiredResources": {"cpu": 1, "memory": 1}, "dockerCommand": "true"}
    return _created(who.call("post", "scripts/containers", json=body))["id"]


def _file_id(who: Who) -> int:
    return _created(who.call("post", "files", json={"name": "f.txt"}))["id"]


# -- 1. every route reaches only objects of its own kind ---------------------------------


def _is_admin(platform: LocalPlatform, user_id: int) -> bool:
    user = platform.store.identity.user(user_id)
    return bool(user["admin"]) or "admin" in user["roles"]


def test_patching_a_user_through_another_kind_is_404(platform: LocalPlatform, alice: Who) -> None:
    r = alice.call("patch", f"workflows/{alice.id}", json={"admin": True})
    assert r.status_code == 404
    assert not _is_admin(platform, alice.id)


def test_an_object_of_another_kind_is_404_on_every_verb(alice: Who) -> None:
    file_id = _file_id(alice)
    workflow = _created(alice.call("post", "workflows", json={"name": "wf"}))["id"]
    assert alice.call("get", f"credentials/{file_id}").status_code == 404
    assert alice.call("get", f"workflows/{file_id}").status_code == 404
    assert alice.call("patch", f"credentials/{workflow}", json={"name": "x"}).status_code == 404
    assert (
        alice.call("put", f"credentials/{file_id}/archive", json={"status": True}).status_code
        == 404
    )
    assert alice.call("get", f"credentials/{file_id}/shares").status_code == 404
    assert alice.call("delete", f"credentials/{file_id}").status_code == 404
    assert alice.call("get", f"files/{file_id}").status_code == 200
    assert alice.call("get", f"workflows/{workflow}").json()["name"] == "wf"


def test_deleting_a_user_through_groups_is_404_and_the_account_survives(alice: Who) -> None:
    assert alice.call("delete", f"groups/{alice.id}").status_code == 404
    group = _created(alice.call("post", "groups", json={"name": "g-survive"}))["id"]
    r = alice.call("delete", f"groups/{group}/members/{alice.id}")
    assert r.status_code == 404  # not a member: nothing to remove, and no user deleted
    assert alice.call("get", "users/me").status_code == 200
    assert alice.call("get", f"users/{alice.id}").json()["id"] == alice.id


def test_jobs_routes_reach_every_job_kind_and_nothing_else(alice: Who) -> None:
    container = _container(alice)
    python = _created(
        alice.call("post", "scripts/python3", json={"name": "py", "source": "print(1)"})
    )["id"]
    file_id = _file_id(alice)
    for job in (container, python):
        assert alice.call("get", f"jobs/{job}").json()["id"] == job
        assert alice.call("get", f"jobs/{job}/shares").status_code == 200
    archived = alice.call("put", f"jobs/{container}/archive", json={"status": True})
    assert archived.status_code == 200, archived.text
    assert alice.call("get", f"scripts/containers/{container}").json()["archived"] is True
    for other in (alice.id, file_id):
        assert alice.call("get", f"jobs/{other}").status_code == 404
        assert alice.call("get", f"jobs/{other}/shares").status_code == 404
        assert alice.call("put", f"jobs/{other}/archive", json={"status": True}).status_code == 404
        assert alice.call("delete", f"scripts/{other}").status_code == 404


def test_ids_past_the_stores_range_are_404(alice: Who) -> None:
    assert alice.call("get", f"workflows/{2**63}").status_code == 404
    assert alice.call("get", f"jobs/{2**64}/parents").status_code == 404


# -- rights: admin and roles ---------------------------------------------------------------


def test_a_user_cannot_change_their_own_admin_or_roles(platform: LocalPlatform, alice: Who) -> None:
    for body in ({"admin": True}, {"roles": ["sdm", "admin"]}):
        r = alice.call("patch", f"users/{alice.id}", json=body)
        assert r.status_code == 403, r.text
        assert next(iter(body)) in r.json()["errorDescription"]
    assert not _is_admin(platform, alice.id)
    renamed = alice.call("patch", f"users/{alice.id}", json={"name": "Alice A"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Alice A"


def test_only_an_admin_changes_another_user(
    platform: LocalPlatform, admin: Who, alice: Who
) -> None:
    carol = _who(platform, platform.create_user("carol"))
    assert alice.call("patch", f"users/{carol.id}", json={"name": "x"}).status_code == 403
    assert alice.call("patch", f"users/{carol.id}", json={"admin": True}).status_code == 403
    assert admin.call("patch", f"users/{admin.id}", json={"admin": False}).status_code == 403
    promoted = admin.call("patch", f"users/{carol.id}", json={"admin": True})
    assert promoted.status_code == 200, promoted.text
    assert platform.store.identity.user(carol.id)["admin"] is True
    assert "admin" in platform.store.identity.user(carol.id)["roles"]
    minted = carol.call("post", f"users/{alice.id}/api_keys", json={"name": "k", "expiresIn": 60})
    assert minted.status_code == 200  # an administrator manages anyone's keys


# -- keys --------------------------------------------------------------------------------------


def test_only_the_user_or_an_admin_manages_their_keys(admin: Who, alice: Who, bob: Who) -> None:
    body = {"name": "k", "expiresIn": 3600}
    assert alice.call("post", f"users/{admin.id}/api_keys", json=body).status_code == 403
    assert alice.call("get", f"users/{bob.id}/api_keys").status_code == 403
    bobs = _created(bob.call("post", "users/me/api_keys", json=body))
    assert alice.call("get", f"users/{bob.id}/api_keys/{bobs['id']}").status_code == 403
    assert alice.call("delete", f"users/{bob.id}/api_keys/{bobs['id']}").status_code == 403
    assert alice.call("get", f"users/{alice.id}/api_keys/{bobs['id']}").status_code == 404
    own = _created(alice.call("post", f"users/{alice.id}/api_keys", json=body))
    fresh = _session(own["token"])
    assert fresh.get(alice.endpoint + "users/me", timeout=30).json()["id"] == alice.id
    listed = admin.call("get", f"users/{alice.id}/api_keys").json()
    assert own["id"] in [k["id"] for k in listed]
    assert "token" not in listed[0] or listed[0]["token"] is None
    assert alice.call("delete", f"users/{alice.id}/api_keys/{own['id']}").status_code == 200
    assert fresh.get(alice.endpoint + "users/me", timeout=30).status_code == 401
    assert alice.call("get", f"users/{alice.id}/api_keys/{2**63}").status_code == 404
    assert alice.call("get", "users/not-a-user/api_keys").status_code == 404


# -- groups ------------------------------------------------------------------------------------


def test_group_members_are_added_by_writers_and_may_leave(alice: Who, bob: Who) -> None:
    group = _created(alice.call("post", "groups", json={"name": "team"}))["id"]
    workflow = _created(alice.call("post", "workflows", json={"name": "team-wf"}))["id"]
    share = {"groupIds": [group], "permissionLevel": "read"}
    assert alice.call("put", f"workflows/{workflow}/shares/groups", json=share).status_code == 200
    assert bob.call("put", f"groups/{group}/members/{bob.id}").status_code == 404
    assert bob.call("get", f"workflows/{workflow}").status_code == 404
    added = alice.call("put", f"groups/{group}/members/{bob.id}")
    assert added.status_code == 200, added.text
    assert [m["id"] for m in added.json()["members"]] == [bob.id]
    assert bob.call("get", f"workflows/{workflow}").status_code == 200
    assert group in [g["id"] for g in bob.call("get", "users/me").json()["groups"]]
    assert bob.call("delete", f"groups/{group}/members/{bob.id}").status_code == 204
    assert bob.call("get", "users/me").status_code == 200
    assert bob.call("get", f"workflows/{workflow}").status_code == 404


# -- 4. nested lists under objects another user cannot see ----------------------------------


def test_nested_lists_under_an_invisible_object_are_404(alice: Who, bob: Who) -> None:
    job = _container(alice)
    definition = 'version: "2.0"\nwf:\n  tasks:\n    t: {action: std.noop}\n'
    body = {"name": "nested", "definition": definition}
    workflow = _created(alice.call("post", "workflows", json=body))["id"]
    execution = _created(alice.call("post", f"workflows/{workflow}/executions", json={}))["id"]
    paths = [
        f"jobs/{job}/parents",
        f"jobs/{job}/children",
        f"jobs/{job}/workflows",
        f"jobs/{job}/runs",
        f"workflows/{workflow}/executions",
        f"workflows/{workflow}/executions/{execution}",
        f"workflows/{workflow}/git/commits",
    ]
    for path in paths:
        assert alice.call("get", path).status_code == 200, path
        assert bob.call("get", path).status_code == 404, path
    assert bob.call("post", f"workflows/{workflow}/executions", json={}).status_code == 404
    assert [e["id"] for e in alice.call("get", f"workflows/{workflow}/executions").json()] == [
        execution
    ]
    other = _created(alice.call("post", "workflows", json={"name": "other"}))["id"]
    assert alice.call("get", f"workflows/{other}/executions/{execution}").status_code == 404
    share = {"userIds": [bob.id], "permissionLevel": "read"}
    assert alice.call("put", f"jobs/{job}/shares/users", json=share).status_code == 200
    assert bob.call("get", f"jobs/{job}/parents").json() == []


# -- 5. tables and search --------------------------------------------------------------------


def _private_database(platform: LocalPlatform, table: str) -> int:
    store = platform.store
    fields = {"name": "private", "adapter": "duckdb"}
    db = store.objects.create("databases", fields, store.identity.admin_user())
    platform.warehouses.get(db["id"]).execute(f"create table {table} as select 1 as a, 'x' as b")
    return db["id"]


def test_tables_follow_their_databases_permissions(
    platform: LocalPlatform, admin: Who, bob: Who
) -> None:
    db = _private_database(platform, "secret_tbl")
    mine = admin.call("get", "tables", params={"database_id": db}).json()
    assert [t["name"] for t in mine] == ["secret_tbl"]
    tid = mine[0]["id"]
    assert bob.call("get", "tables", params={"database_id": db}).json() == []
    assert "secret_tbl" not in [t["name"] for t in bob.call("get", "tables").json()]
    for path in (f"tables/{tid}", f"tables/{tid}/columns", f"tables/{tid}/projects"):
        assert bob.call("get", path).status_code == 404, path
    assert bob.call("patch", f"tables/{tid}", json={"description": "x"}).status_code == 404
    found = bob.call("get", "search", params={"query": "secret_tbl", "type": "table"}).json()
    assert found["totalResults"] == 0
    found = admin.call("get", "search", params={"query": "secret_tbl", "type": "table"}).json()
    assert [r["id"] for r in found["results"]] == [tid]
    platform.store.permissions.share(db, "user", bob.id, "read")
    assert [c["name"] for c in bob.call("get", f"tables/{tid}/columns").json()] == ["a", "b"]
    assert bob.call("patch", f"tables/{tid}", json={"description": "x"}).status_code == 403
    assert bob.call("get", "search", params={"query": "secret_tbl"}).json()["totalResults"] == 1


def test_search_shows_only_objects_the_user_may_read(alice: Who, bob: Who) -> None:
    wf = _created(alice.call("post", "workflows", json={"name": "zebra-plan"}))["id"]
    params = {"query": "zebra"}
    assert [r["id"] for r in alice.call("get", "search", params=params).json()["results"]] == [wf]
    assert bob.call("get", "search", params=params).json()["results"] == []
    share = {"userIds": [bob.id], "permissionLevel": "read"}
    alice.call("put", f"workflows/{wf}/shares/users", json=share).raise_for_status()
    assert [r["id"] for r in bob.call("get", "search", params=params).json()["results"]] == [wf]
    assert bob.call("get", "search", params={"query": "zebra", "offset": "x"}).status_code == 400


# -- bad input -----------------------------------------------------------------------------


def test_creating_a_user_without_a_username_is_400(admin: Who) -> None:
    r = admin.call("post", "users", json={})
    assert r.status_code == 400 and "required" in r.json()["errorDescription"]
    body = {"name": "N", "email": "n@x", "primaryGroupId": 1}
    r = admin.call("post", "users", json=body)
    assert r.status_code == 400 and "user" in r.json()["errorDescription"]
    made = admin.call("post", "users", json={**body, "user": "newbie"})
    assert made.status_code == 200 and made.json()["user"] == "newbie"


def test_share_requests_with_null_or_unknown_ids(alice: Who, bob: Who) -> None:
    wf = _created(alice.call("post", "workflows", json={"name": "s"}))["id"]
    url = f"workflows/{wf}/shares/users"
    r = alice.call("put", url, json={"userIds": [None], "permissionLevel": "read"})
    assert r.status_code == 400 and "user_ids" in r.json()["errorDescription"]
    r = alice.call("put", url, json={"userIds": [bob.id, None], "permissionLevel": "read"})
    assert r.status_code == 400
    assert bob.call("get", f"workflows/{wf}").status_code == 404  # nothing half-applied
    missing = alice.call("put", url, json={"userIds": [10**12], "permissionLevel": "read"})
    assert missing.status_code == 404
    groups = alice.call(
        "put",
        f"workflows/{wf}/shares/groups",
        json={"groupIds": [bob.id], "permissionLevel": "read"},
    )
    assert groups.status_code == 404  # a user is not a group


# -- 6. lists page in SQL --------------------------------------------------------------------


def test_generic_lists_page_filter_and_order_in_sql(alice: Who, bob: Who) -> None:
    names = ["delta", "Alpha", "charlie", "bravo", "echo"]
    ids = [
        _created(alice.call("post", "projects", json={"name": n, "description": ""}))["id"]
        for n in names
    ]
    r = alice.call(
        "get", "projects", params={"limit": 2, "page_num": 2, "order": "name", "order_dir": "asc"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["X-Pagination-Total-Entries"] == "5"
    assert r.headers["X-Pagination-Total-Pages"] == "3"
    assert r.headers["X-Pagination-Current-Page"] == "2"
    assert [p["name"] for p in r.json()] == ["charlie", "delta"]
    desc = alice.call("get", "projects", params={"order": "name", "order_dir": "desc"}).json()
    assert [p["name"] for p in desc] == ["echo", "delta", "charlie", "bravo", "Alpha"]
    by_author = alice.call("get", "projects", params={"author": str(alice.id)}).json()
    assert sorted(p["id"] for p in by_author) == sorted(ids)
    none = bob.call("get", "projects", params={"limit": 2})
    assert none.json() == [] and none.headers["X-Pagination-Total-Entries"] == "0"
    assert alice.call("get", "projects", params={"order": "nope"}).status_code == 400


def test_jobs_list_pages_filters_and_orders(alice: Who, bob: Who) -> None:
    prefix = "pagedjob"
    ids = [_container(alice, f"{prefix}{i}") for i in range(5)]
    first = alice.call("get", "jobs", params={"q": prefix, "limit": 2})
    assert first.headers["X-Pagination-Total-Entries"] == "5"
    assert first.headers["X-Pagination-Total-Pages"] == "3"
    assert [j["id"] for j in first.json()] == ids[::-1][:2]
    last = alice.call("get", "jobs", params={"q": prefix, "limit": 2, "page_num": 3}).json()
    assert [j["id"] for j in last] == [ids[0]]
    asc = alice.call("get", "jobs", params={"q": prefix, "order_dir": "asc"}).json()
    assert [j["id"] for j in asc] == ids
    idle = alice.call("get", "jobs", params={"q": prefix, "state": "idle"})
    assert idle.headers["X-Pagination-Total-Entries"] == "5"
    assert alice.call("get", "jobs", params={"q": prefix, "state": "running"}).json() == []
    typed = alice.call("get", "jobs", params={"q": prefix, "type": "JobTypes::Import"}).json()
    assert typed == []
    alice.call("put", f"jobs/{ids[0]}/archive", json={"status": True}).raise_for_status()
    assert len(alice.call("get", "jobs", params={"q": prefix}).json()) == 4
    archived = alice.call("get", "jobs", params={"q": prefix, "archived": "true"}).json()
    assert [j["id"] for j in archived] == [ids[0]]
    assert bob.call("get", "jobs", params={"q": prefix}).json() == []
    body = {"name": f"{prefix}-hidden", "hidden": True, "dockerCommand": "true"}
    body["requiredResources"] = {"cpu": 1, "memory": 1}
    hidden = _created(alice.call("post", "scripts/containers", json=body))["id"]
    assert hidden not in [j["id"] for j in alice.call("get", "jobs", params={"q": prefix}).json()]
    shown = alice.call("get", "jobs", params={"q": prefix, "hidden": "true"}).json()
    assert hidden in [j["id"] for j in shown]


def test_store_migrates_a_data_dir_without_the_parent_and_hidden_columns(tmp_path: Path) -> None:
    path = tmp_path / "platform.sqlite3"
    store = Store(path)
    user = store.identity.create_user("u")
    child = store.objects.create("things/kids", {"name": "k", "_parent": {"id": 7}}, user)
    shown = store.objects.create("jobs/x", {"name": "shown"}, user)
    store.objects.create("jobs/x", {"name": "secret", "hidden": True}, user)
    store.close()
    con = sqlite3.connect(path)
    for index in ("objects_kind_parent", "objects_kind_hidden"):
        con.execute(f"DROP INDEX {index}")
    for column in ("parent", "hidden"):
        con.execute(f"ALTER TABLE objects DROP COLUMN {column}")
    con.commit()
    con.close()
    store = Store(path)
    try:
        total, found = store.objects.page(Query(("things/kids",), parent={"id": 7}), user)
        assert total == 1 and found[0]["id"] == child["id"]
        assert store.objects.page(Query(("things/kids",), parent={"id": 8}), user)[0] == 0
        visible = store.objects.page(Query(("jobs/x",), falsy=("hidden",)), user)[1]
        assert [o["id"] for o in visible] == [shown["id"]]
        assert store.objects.page(Query(("jobs/x",)), user)[0] == 2
    finally:
        store.close()
