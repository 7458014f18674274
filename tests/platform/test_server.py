"""The platform's HTTP layer over real HTTP: auth, routing, paging, limits, faults."""

from __future__ import annotations

import base64
import itertools
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from civis_jupyter.platform import LocalPlatform


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    with LocalPlatform(data_dir=tmp_path_factory.mktemp("server"), rate_limit=10**6) as p:
        yield p


def _session(key: str) -> requests.Session:
    session = requests.Session()
    session.auth = (key, "")
    return session


_counter = itertools.count()


@pytest.fixture
def api(platform):
    return _session(platform.create_user(f"user{next(_counter)}"))


def test_no_key_or_a_bad_key_is_401_with_www_authenticate(platform):
    for headers in (
        {},
        {"Authorization": "Basic " + base64.b64encode(b"nope:").decode()},
        {"Authorization": "Bearer nope"},
    ):
        r = requests.get(platform.endpoint + "users/me", headers=headers)
        assert r.status_code == 401
        assert "Basic" in r.headers["WWW-Authenticate"]
        assert r.json()["code"] == 401 and r.json()["error"] == "unauthorized"


def test_basic_and_bearer_are_both_accepted(platform):
    basic = requests.get(platform.endpoint + "users/me", auth=(platform.api_key, ""))
    bearer = requests.get(
        platform.endpoint + "users/me", headers={"Authorization": f"Bearer {platform.api_key}"}
    )
    assert basic.status_code == bearer.status_code == 200
    assert basic.json()["username"] == bearer.json()["username"] == "civis"


def test_literal_segments_win_and_ids_are_integers(platform, api):
    types = api.get(platform.endpoint + "credentials/types")
    assert types.status_code == 200 and isinstance(types.json(), list)
    assert api.get(platform.endpoint + "credentials/abc").status_code == 404
    assert api.get(platform.endpoint + "credentials/").status_code == 200  # trailing slash


def test_unknown_path_is_404_and_wrong_verb_405(platform, api):
    assert api.get(platform.endpoint + "no_such_thing").status_code == 404
    assert api.patch(platform.endpoint + "credentials/types", json={}).status_code == 405


def test_bodies_are_validated_with_civis_errors(platform, api):
    r = api.post(platform.endpoint + "scripts/sql", json={"name": "x"})
    assert r.status_code == 400
    assert r.json()["errorDescription"].endswith("is required") and r.json()["code"] == 400
    r = api.post(
        platform.endpoint + "scripts/sql",
        json={"name": 5, "sql": "select 1", "remoteHostId": 1, "credentialId": 1},
    )
    assert r.status_code == 400 and "name must be of type string" in r.json()["errorDescription"]
    r = api.post(
        platform.endpoint + "workflows",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and "not valid JSON" in r.json()["errorDescription"]


@pytest.mark.parametrize(
    "segment",
    [
        "9223372036854775808",  # 2**63: beyond SQLite's integers
        "99999999999999999999999999",
        "%C2%B2",  # superscript two: str.isdigit() says yes
        "%D9%A3",  # Arabic-Indic three: int() accepts it
        "-1",
        "1.0",
    ],
)
def test_ids_that_are_not_ascii_digits_within_64_bits_are_404(platform, api, segment):
    for path in (f"files/{segment}", f"projects/{segment}/shares", f"jobs/1/runs/{segment}"):
        r = api.get(platform.endpoint + path)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"] == "not_found"
    r = api.delete(f"{platform.endpoint}projects/1/shares/users/{segment}")
    assert r.status_code == 404


def test_the_largest_64_bit_id_is_an_ordinary_missing_object(platform, api):
    r = api.get(platform.endpoint + f"files/{2**63 - 1}")
    assert r.status_code == 404 and r.json()["code"] == 404


@pytest.mark.parametrize("value", ["%C2%B2", "99999999999999999999", "1_0", "ten"])
def test_integer_query_values_that_are_not_64_bit_ascii_integers_are_400(platform, api, value):
    r = api.get(f"{platform.endpoint}projects?limit={value}")
    assert r.status_code == 400
    assert r.json()["errorDescription"].startswith("limit must be a 64-bit integer")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 64 levels"),
        (b'{"a": ' * 65 + b"1" + b"}" * 65, "nested more than 64 levels"),
        (b'{"name": 18446744073709551616}', "integer that does not fit in 64 bits"),
        (b'{"name": -9223372036854775809}', "integer that does not fit in 64 bits"),
        (b'{"name": 1e999}', "number that is not finite"),
        (b'{"name": NaN}', "not valid JSON"),
        (b'{"name": "\\ud800"}', "lone surrogate"),
        (b'{"\\udc00": "x"}', "lone surrogate"),
        (b'{"name": "\xff"}', "not valid JSON"),
    ],
    ids=[
        "100000-deep",
        "65-deep",
        "2**64",
        "-2**63-1",
        "1e999",
        "NaN",
        "lone-surrogate-value",
        "lone-surrogate-key",
        "not-utf8",
    ],
)
def test_bodies_the_platform_cannot_hold_are_400(platform, api, raw, why):
    r = api.post(
        platform.endpoint + "projects", data=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert why in r.json()["errorDescription"] and r.json()["code"] == 400


def test_bodies_nested_64_levels_are_accepted(platform, api):
    nested: dict = {"leaf": 1}
    for _ in range(62):
        nested = {"n": nested}
    body = {"name": "deep", "description": "", "extra": nested}
    r = api.post(platform.endpoint + "projects", json=body)
    assert r.status_code == 200, r.text


def test_204_answers_carry_no_body(platform, api):
    me = api.get(platform.endpoint + "users/me").json()
    r = api.post(f"{platform.endpoint}users/{me['id']}/access_email")
    assert r.status_code == 204 and r.content == b""


def test_an_unexpected_exception_is_a_logged_500_in_the_civis_format(
    platform, api, monkeypatch, caplog
):
    from civis_jupyter.platform import contract as platform_api

    def broken(req):
        raise RuntimeError("behaviour bug")

    monkeypatch.setitem(platform_api.HANDLERS, ("get", "credentials/types"), broken)
    with caplog.at_level("ERROR", logger="tornado.application"):
        r = api.get(platform.endpoint + "credentials/types")
    assert r.status_code == 500
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {
        "error": "internal_server_error",
        "errorDescription": "The server failed to handle this request.",
        "code": 500,
    }
    logged = "\n".join(rec.getMessage() + str(rec.exc_info) for rec in caplog.records)
    assert "RuntimeError" in logged and "behaviour bug" not in r.text
    assert api.auth[0] not in logged


def test_post_scripts_makes_a_sql_script_that_get_scripts_finds(platform, api):
    database = api.get(platform.endpoint + "databases").json()[0]["id"]
    credential = api.get(platform.endpoint + "credentials", params={"type": "Database"}).json()
    body = {
        "name": "legacy",
        "sql": "select 1",
        "remoteHostId": database,
        "credentialId": credential[0]["id"],
    }
    made = api.post(platform.endpoint + "scripts", json=body)
    assert made.status_code == 200, made.text
    script = made.json()
    assert script["type"] == "script/sql" and script["name"] == "legacy"
    found = api.get(f"{platform.endpoint}scripts/{script['id']}")
    assert found.status_code == 200 and found.json()["type"] == "script/sql"
    sql = api.get(f"{platform.endpoint}scripts/sql/{script['id']}").json()
    assert sql["sql"] == "select 1"
    missing = api.post(platform.endpoint + "scripts", json={"name": "x"})
    assert missing.status_code == 400


def test_snake_and_camel_bodies_are_the_same(platform, api):
    a = api.post(platform.endpoint + "projects", json={"name": "p", "description": "d"}).json()
    b = api.post(
        platform.endpoint + "projects", json={"name": "p", "description": "d", "auto_share": True}
    ).json()
    assert a["name"] == b["name"] == "p" and b["autoShare"] is True


def test_lists_page_with_headers_and_empty_past_the_end(platform, api):
    ids = [
        api.post(
            platform.endpoint + "projects", json={"name": f"page{i}", "description": ""}
        ).json()["id"]
        for i in range(7)
    ]
    r = api.get(platform.endpoint + "projects", params={"limit": 3, "page_num": 2})
    assert r.status_code == 200 and len(r.json()) == 3
    assert r.headers["X-Pagination-Per-Page"] == "3"
    assert r.headers["X-Pagination-Current-Page"] == "2"
    assert r.headers["X-Pagination-Total-Entries"] == "7"
    assert r.headers["X-Pagination-Total-Pages"] == "3"
    assert api.get(platform.endpoint + "projects", params={"limit": 3, "page_num": 9}).json() == []
    everything = api.get(platform.endpoint + "projects", params={"limit": 50}).json()
    assert sorted(p["id"] for p in everything) == sorted(ids)


def test_every_response_carries_rate_limit_headers(platform, api):
    r = api.get(platform.endpoint + "users/me")
    assert int(r.headers["X-RateLimit-Limit"]) == 10**6
    assert int(r.headers["X-RateLimit-Remaining"]) < 10**6


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    with LocalPlatform(data_dir=tmp_path, rate_limit=5) as p:
        api = _session(p.api_key)
        codes = [api.get(p.endpoint + "users/me").status_code for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2
        last = api.get(p.endpoint + "users/me")
        assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1
        assert last.headers["X-RateLimit-Remaining"] == "0"


def test_faults_are_injected_before_handlers(tmp_path):
    with LocalPlatform(data_dir=tmp_path, faults={503: 0.5}, rate_limit=10**6) as p:
        api = _session(p.api_key)
        codes = [api.get(p.endpoint + "users/me").status_code for _ in range(200)]
    assert set(codes) == {200, 503}
    assert 50 < codes.count(503) < 150


def test_objects_of_others_are_invisible_until_shared(platform):
    alice = _session(platform.create_user("alice"))
    bob_key = platform.create_user("bob")
    bob = _session(bob_key)
    project = alice.post(
        platform.endpoint + "projects", json={"name": "secret", "description": "s"}
    ).json()
    url = f"{platform.endpoint}projects/{project['id']}"
    assert bob.get(url).status_code == 404
    assert bob.put(url, json={"name": "mine"}).status_code == 404
    bob_id = bob.get(platform.endpoint + "users/me").json()["id"]
    shared = alice.put(url + "/shares/users", json={"userIds": [bob_id], "permissionLevel": "read"})
    assert shared.status_code == 200
    assert bob_id in [u["id"] for u in shared.json()["readers"]["users"]]
    assert bob.get(url).json()["name"] == "secret"
    assert bob.put(url, json={"name": "mine"}).status_code == 403
    assert all(
        p["id"] != project["id"]
        for p in _session(platform.create_user("carol")).get(platform.endpoint + "projects").json()
    )


def test_archive_and_generic_sub_resources(platform, api):
    wf = api.post(platform.endpoint + "workflows", json={"name": "w"}).json()
    url = f"{platform.endpoint}workflows/{wf['id']}"
    assert api.put(url + "/archive", json={"status": True}).json()["archived"] is True
    assert wf["id"] not in [w["id"] for w in api.get(platform.endpoint + "workflows").json()]
    archived = api.get(platform.endpoint + "workflows", params={"archived": "true"}).json()
    assert wf["id"] in [w["id"] for w in archived]
    assert api.get(url + "/dependencies").json() == []
    assert api.patch(url, json={"description": "new"}).json()["description"] == "new"
    project = api.post(platform.endpoint + "projects", json={"name": "p", "description": ""})
    project_url = f"{platform.endpoint}projects/{project.json()['id']}"
    assert api.delete(project_url).status_code in (200, 204)
    assert api.get(project_url).status_code == 404


def test_every_operation_answers_without_server_errors(platform):
    api = _session(platform.create_user("smoke"))
    errors = []
    for op in platform.spec.iter_operations(include_skipped=True):
        if "api_keys" in op.path and op.verb == "delete":
            continue  # would revoke the smoke user's own key
        path = "/".join("1" if s.startswith("{") else s for s in op.segments)
        r = api.request(
            op.verb.upper(),
            platform.endpoint + path,
            json={} if op.verb in ("post", "put", "patch") else None,
        )
        if r.status_code >= 500 or r.status_code == 401:
            errors.append((op.verb, op.path, r.status_code, r.text[:200]))
    in_spec = sum(
        verb in ("get", "post", "put", "patch", "delete")
        for ops in platform.spec.raw["paths"].values()
        for verb in ops
    )
    assert len(list(platform.spec.iter_operations(include_skipped=True))) == in_spec
    assert errors == []


def test_official_client_builds_the_same_surface_from_endpoints(platform, monkeypatch):
    civis = pytest.importorskip("civis")
    monkeypatch.setenv("CIVIS_API_ENDPOINT", platform.endpoint)
    bundled = Path(civis.__file__).parent / "resources" / "civis_api_spec.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = civis.APIClient(api_key=platform.api_key)
        reference = civis.APIClient(api_key="x", local_api_spec=str(bundled))

    def surface(client) -> dict[str, list[str]]:
        resources = [n for n in vars(client) if hasattr(getattr(client, n), "_call_api")]
        return {
            r: sorted(
                m
                for m in dir(getattr(client, r))
                if not m.startswith("_") and callable(getattr(getattr(client, r), m))
            )
            for r in resources
        }

    served = surface(client)
    assert "scripts" in served and served == surface(reference)


def test_endpoints_needs_a_key_and_serves_no_prose(platform):
    assert requests.get(platform.endpoint + "endpoints").status_code == 401
    spec = requests.get(platform.endpoint + "endpoints", auth=(platform.api_key, "")).json()
    assert spec["swagger"] == "2.0" and len(spec["paths"]) == 673
    descriptions = {
        r.get("description")
        for p in spec["paths"].values()
        for o in p.values()
        for r in o["responses"].values()
    }
    assert descriptions == {"success"}


def test_32_concurrent_clients_without_errors(platform):
    keys = [platform.create_user(f"c{i}") for i in range(4)]

    def work(i):
        s = _session(keys[i % 4])
        return [s.get(platform.endpoint + "users/me").status_code for _ in range(10)]

    with ThreadPoolExecutor(32) as pool:
        codes = [c for batch in pool.map(work, range(32)) for c in batch]
    assert codes == [200] * 320


def test_state_survives_a_restart_and_live_runs_come_back_failed(tmp_path: Path):
    with LocalPlatform(data_dir=tmp_path) as first:
        key, endpoint_a = first.api_key, first.endpoint
        api = _session(key)
        project = api.post(endpoint_a + "projects", json={"name": "kept", "description": ""}).json()
        script = api.post(
            endpoint_a + "scripts/containers",
            json={
                "name": "long",
                "requiredResources": {"cpu": 256, "memory": 512},
                "dockerCommand": "sleep 600",
                "dockerImageName": "x",
            },
        ).json()
        run = api.post(f"{endpoint_a}scripts/containers/{script['id']}/runs").json()
        assert run["state"] in ("queued", "running")
    with LocalPlatform(data_dir=tmp_path) as second:
        assert second.api_key == key
        api = _session(key)
        assert api.get(f"{second.endpoint}projects/{project['id']}").json()["name"] == "kept"
        after = api.get(f"{second.endpoint}scripts/containers/{script['id']}/runs/{run['id']}")
        assert after.json()["state"] == "failed"


# -- request bodies validated with jsonschema against the operation's schema ------------------

_CONTAINER = {
    "name": "validated",
    "requiredResources": {"cpu": 1, "memory": 1},
    "dockerImageName": "img",
    "dockerCommand": "true",
}


def _error(response: requests.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 400 and body["error"] == "bad_request"
    return body["errorDescription"]


def test_a_nested_property_of_the_wrong_type_is_named_with_its_path(platform, api):
    body = {**_CONTAINER, "requiredResources": {"cpu": "many", "memory": 1}}
    r = api.post(platform.endpoint + "scripts/containers", json=body)
    assert _error(r) == "requiredResources.cpu must be of type integer"


def test_a_missing_property_of_an_array_item_is_named_with_its_index(platform, api):
    body = {**_CONTAINER, "params": [{"name": "A", "type": "string"}, {"name": "B"}]}
    r = api.post(platform.endpoint + "scripts/containers", json=body)
    assert _error(r) == "type is required in params[1]"


def test_a_value_outside_an_enum_lists_the_allowed_ones(platform, api):
    body = {"name": "q", "sql": "select 1", "remoteHostId": 1, "credentialId": 1}
    r = api.post(platform.endpoint + "scripts/sql", json={**body, "userContext": "someone"})
    assert _error(r) == "userContext must be one of: runner, author"


def test_nulls_and_user_owned_keys_pass_validation(platform, api):
    body = {
        **_CONTAINER,
        "dockerImageTag": None,
        "params": None,
        "arguments": {"ANY": ["shape", 1, {"nested": True}]},
    }
    r = api.post(platform.endpoint + "scripts/containers", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["arguments"] == {"ANY": ["shape", 1, {"nested": True}]}


def test_a_body_that_is_not_an_object_is_refused(platform, api):
    r = api.post(platform.endpoint + "scripts/containers", json=[_CONTAINER])
    assert _error(r) == "body must be of type object"
