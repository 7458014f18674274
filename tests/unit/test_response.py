"""Response objects: access, immutability, conversion, headers."""

from __future__ import annotations

import pickle

import pytest

import civis_jupyter as civis
from civis_jupyter.api.response import CivisImmutableResponseError

DATA = {
    "id": 3,
    "createdAt": "2026-01-01",
    "lastRun": {"runId": 9, "state": "succeeded"},
    "outputs": [{"objectType": "File", "objectId": 4}, 7],
    "arguments": {"myArg": 1, "OTHER": {"innerKey": 2}},
    "uploadFields": {"X-Amz-Credential": "c", "key": "k"},
}


def test_attribute_and_item_access_in_snake_case_with_camel_fallback():
    r = civis.Response(DATA)
    assert r.id == 3 and r["created_at"] == "2026-01-01" and r["createdAt"] == "2026-01-01"
    assert r.last_run.run_id == 9 and r.last_run["runId"] == 9
    assert r.outputs[0].object_type == "File" and r.outputs[1] == 7
    with pytest.raises(AttributeError):
        r.nope  # noqa: B018
    with pytest.raises(KeyError):
        r["nope"]


def test_in_works_for_both_spellings():
    r = civis.Response(DATA)
    assert "id" in r and "created_at" in r and "createdAt" in r and "nope" not in r


def test_case_of_arguments_and_header_like_keys_is_kept():
    r = civis.Response(DATA)
    assert r.arguments["myArg"] == 1 and r.arguments["OTHER"]["innerKey"] == 2
    assert r.upload_fields["X-Amz-Credential"] == "c"


def test_read_only():
    r = civis.Response(DATA)
    with pytest.raises(CivisImmutableResponseError, match=r"json\(\)"):
        r.id = 4
    with pytest.raises(CivisImmutableResponseError):
        r["id"] = 4


def test_json_gives_plain_dicts():
    r = civis.Response(DATA)
    plain = r.json()
    assert plain["last_run"] == {"run_id": 9, "state": "succeeded"}
    assert plain["outputs"][0] == {"object_type": "File", "object_id": 4}
    assert r.json(snake_case=False) == DATA
    plain["id"] = 99
    assert r.id == 3


def test_json_values_stay_raw():
    r = civis.Response({"objectType": "JSONValue", "value": {"someKey": {"x": 1}}})
    assert r.value == {"someKey": {"x": 1}}


def test_headers_and_rate_limit():
    r = civis.Response({"id": 1}, headers={"X-RateLimit-Remaining": "7", "X-RateLimit-Limit": "9"})
    assert (r.calls_remaining, r.rate_limit) == (7, 9)
    assert civis.Response({}).calls_remaining is None


def test_equality_repr_pickle_and_dict():
    r = civis.Response(DATA)
    assert r == civis.Response(dict(DATA)) and r == r.json()
    assert "created_at" in repr(r)
    assert pickle.loads(pickle.dumps(r)) == r
    assert dict(r)["id"] == 3 and set(r.keys()) >= {"id", "last_run"}


def test_list_response_keeps_headers():
    lr = civis.ListResponse([civis.Response({"aB": 1})], headers={"X-RateLimit-Remaining": "3"})
    assert lr.calls_remaining == 3 and lr.json() == [{"a_b": 1}] and lr[0].a_b == 1


def test_find_and_find_one():
    items = [
        civis.Response({"name": "a", "archived": False, "n": 1}),
        civis.Response({"name": "b", "archived": True, "n": 2}),
    ]
    assert civis.find(items, name="a") == [items[0]]
    assert civis.find(items, archived=True) == [items[1]]
    assert civis.find(items, n=lambda v: v > 1) == [items[1]]
    assert civis.find(items, missing=1) == []
    assert civis.find(items, lambda o: o.n == 1) == [items[0]]
    assert civis.find_one(items, name="b") is items[1]
    assert civis.find_one(items, name="zzz") is None
