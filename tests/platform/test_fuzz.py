"""Schemathesis against the platform's served spec, as an ordinary user: no 5xx.

The big run loads the spec from ``GET /endpoints`` of a live LocalPlatform
(demo data, commands not executed, faults off, rate limit out of reach) and,
with a fixed seed, sends each operation the cases of schemathesis's coverage
phase (boundary values of valid input; ``CIVIS_FUZZ_COVERAGE_MODE=all`` adds
wrong types everywhere, about five times the requests) and ``MAX_EXAMPLES``
fuzzed cases, valid and invalid, checking ``not_a_server_error``. Operations
are split into ``SHARDS`` tests so ``pytest -n 2`` spreads them over both
workers; each shard reports how many requests it made in the run's summary (and ``-rP`` or
``-s``). Operations that would end the fuzzing user's own access (revoking
its key, ending its sessions) are left out there and tested apart below.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error

from civis_jupyter.platform import LocalPlatform
from tests.summary import report

#: Fixed seed: every run sends the same cases.
SEED = 20261123
#: Fuzzed cases per operation (on top of the coverage phase's cases).
MAX_EXAMPLES = 2
#: Shards of the operations, each one test (spread over the xdist workers).
SHARDS = 2
#: Cases of the coverage phase: ``positive`` (boundary values of valid input)
#: keeps the run to about a minute; ``all`` adds wrong types and odd strings
#: everywhere (about five times the requests), for a deeper run by hand.
COVERAGE_MODE = os.environ.get("CIVIS_FUZZ_COVERAGE_MODE", "positive")
#: Seconds one request may take before it counts as a failure.
REQUEST_TIMEOUT = 30.0
#: Operations that end the fuzzing user's own access; tested apart.
SELF_ENDING = frozenset(
    {
        ("DELETE", "/users/{id}/api_keys/{key_id}"),
        ("DELETE", "/users/{id}/sessions"),
    }
)


@pytest.fixture(scope="module")
def fuzz_platform(tmp_path_factory) -> Iterator[LocalPlatform]:
    """A demo platform that records runs without executing commands."""
    with LocalPlatform(
        data_dir=tmp_path_factory.mktemp("fuzz"),
        seed="demo",
        execute=False,
        rate_limit=10**9,
    ) as platform:
        yield platform


@pytest.fixture(scope="module")
def fuzzer_key(fuzz_platform: LocalPlatform) -> str:
    """The API key of an ordinary (non-admin) user."""
    return fuzz_platform.create_user("fuzzer")


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "suppress-health-check": ["all"],
            "request-timeout": REQUEST_TIMEOUT,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                "no-shrink": True,
            },
            "phases": {
                "examples": {"enabled": False},
                "coverage": {
                    "enabled": True,
                    "unexpected-methods": [],
                    "generation": {"mode": COVERAGE_MODE},
                },
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
        }
    )


def _shard(method: str, path: str) -> int:
    digest = hashlib.sha256(f"{method.upper()} {path}".encode()).digest()
    return digest[0] % SHARDS


@pytest.fixture
def served_schema(fuzz_platform: LocalPlatform, fuzzer_key: str) -> Any:
    """The spec the platform serves at ``GET /endpoints``, aimed at it as the fuzzer."""
    schema = schemathesis.openapi.from_url(
        fuzz_platform.endpoint + "endpoints", config=_config(), auth=(fuzzer_key, ""), timeout=30
    )
    schema.config.update(
        base_url=fuzz_platform.endpoint.rstrip("/"),
        basic_auth=(fuzzer_key, ""),
        request_timeout=REQUEST_TIMEOUT,
    )
    return schema


@pytest.fixture
def sent(request: pytest.FixtureRequest) -> Iterator[Counter[tuple[str, int]]]:
    """Counts one shard's requests by operation and status; prints the totals
    in the run's summary and checks that the fuzzer got through (a tenth of
    the answers are 2xx)."""
    counts: Counter[tuple[str, int]] = Counter()
    yield counts
    operations = len({label for label, _ in counts})
    statuses = Counter()
    for (_, status), n in counts.items():
        statuses[f"{status // 100}xx"] += n
    report(
        request.config,
        f"schemathesis ({request.node.name}): {counts.total()} requests over "
        f"{operations} operations, no 5xx ({dict(sorted(statuses.items()))})",
    )
    assert statuses["2xx"] > counts.total() // 10, "the fuzzer's key did not reach the API"


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def _self_ending(ctx: Any) -> bool:
    op = ctx.operation
    return (op.method.upper(), op.path) in SELF_ENDING


def _shard_test(shard: int) -> Any:
    """The no-5xx test over the operations of one shard."""

    def in_shard(ctx: Any) -> bool:
        return _shard(ctx.operation.method, ctx.operation.path) == shard

    in_shard.__name__ = f"in_shard_{shard}"
    lazy = schemathesis.pytest.from_fixture("served_schema").include(in_shard).exclude(_self_ending)

    @pytest.mark.slow
    @lazy.parametrize()
    def test(case: Any, sent: Counter[tuple[str, int]], fuzzer_key: str) -> None:
        response = case.call()
        sent[case.operation.label, response.status_code] += 1
        case.validate_response(response, checks=[not_a_server_error])
        if response.request.headers.get("Authorization") == _basic(fuzzer_key):
            # Only cases that drop or spoil the key may be turned away as
            # unauthenticated: the fuzzer must reach the operations.
            assert response.status_code != 401, response.request.url

    test.__name__ = f"test_no_operation_answers_5xx_shard{shard}"
    return test


test_no_operation_answers_5xx_shard0 = _shard_test(0)
test_no_operation_answers_5xx_shard1 = _shard_test(1)


def _as(key: str) -> requests.Session:
    session = requests.Session()
    session.auth = (key, "")
    return session


def test_a_user_revoking_their_own_key_loses_access_without_a_5xx(fuzz_platform):
    base = fuzz_platform.endpoint
    api = _as(fuzz_platform.create_user("revoker"))
    other = _as(fuzz_platform.create_user("bystander"))
    me = api.get(base + "users/me").json()["id"]
    others_key = other.get(base + "users/me/api_keys").json()[0]["id"]
    for bad in ("9223372036854775808", "%C2%B2", "abc", str(others_key)):
        r = api.delete(f"{base}users/{me}/api_keys/{bad}")
        assert r.status_code == 404, (bad, r.text)
    assert other.get(base + "users/me").status_code == 200
    [key] = api.get(base + "users/me/api_keys").json()
    revoked = api.delete(f"{base}users/{me}/api_keys/{key['id']}")
    assert revoked.status_code == 200 and revoked.json()["revokedAt"]
    assert api.get(base + "users/me").status_code == 401
    assert api.delete(f"{base}users/{me}/api_keys/{key['id']}").status_code == 401


def test_a_user_ending_their_own_sessions_keeps_their_api_key(fuzz_platform):
    base = fuzz_platform.endpoint
    api = _as(fuzz_platform.create_user("sessions"))
    me = api.get(base + "users/me").json()["id"]
    for bad in ("9223372036854775808", "%C2%B2", "abc"):
        assert api.delete(f"{base}users/{bad}/sessions").status_code == 404
    ended = api.delete(f"{base}users/{me}/sessions")
    assert ended.status_code < 500, ended.text
    assert api.get(base + "users/me").json()["id"] == me
