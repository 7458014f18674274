"""Our client and the official civis 2.10.1 client expose the same API surface."""

from __future__ import annotations

import inspect
import warnings

import civis
import pytest

import civis_jupyter

KINDS = {
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword",
}


def _surface(client, resources):
    out = {}
    for name in resources:
        resource = getattr(client, name)
        for attr in dir(resource):
            if attr.startswith("_"):
                continue
            fn = getattr(resource, attr)
            if not callable(fn):
                continue
            sig = inspect.signature(fn)
            out[(name, attr)] = [
                (p.name, KINDS[p.kind], p.default is inspect.Parameter.empty)
                for p in sig.parameters.values()
            ]
    return out


@pytest.fixture(scope="module")
def both(official_spec_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official = civis.APIClient(api_key="x", local_api_spec=str(official_spec_path))
    ours = civis_jupyter.APIClient(api_key="x", local_api_spec=official_spec_path)
    official_resources = sorted(
        n
        for n in dir(official)
        if isinstance(getattr(type(official), n, None), type(None))
        and not n.startswith("_")
        and hasattr(getattr(official, n), "_call_api")
    )
    return official, official_resources, ours


def test_same_resources(both):
    _official, official_resources, ours = both
    assert "scripts" in official_resources and len(official_resources) > 1
    assert ours.resources == official_resources


def test_same_methods_with_same_signatures(both):
    official, official_resources, ours = both
    theirs = _surface(official, official_resources)
    mine = _surface(ours, ours.resources)
    assert len(mine) > len(ours.resources)
    assert set(mine) == set(theirs)
    different = {k for k in mine if mine[k] != theirs[k]}
    assert not different, sorted(different)[:5]


def test_paginated_methods_take_iterator(both):
    official, official_resources, ours = both
    theirs = {
        key
        for key, params in _surface(official, official_resources).items()
        if any(name == "iterator" for name, _kind, _required in params)
    }
    paginated = {
        (op.resource, name)
        for op in ours.spec.operations
        if op.paginated
        for name in (op.name, op.alias)
        if name
    }
    assert paginated and paginated == theirs
    assert "iterator" in inspect.signature(ours.jobs.list).parameters
    assert "iterator" not in inspect.signature(ours.jobs.get).parameters
