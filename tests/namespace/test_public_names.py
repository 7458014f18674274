"""Code written for the official client finds the same public names in ours.

Module by module, the official client's public names are its ``__all__``, or,
for modules without one, the classes and functions defined in that module or
in private modules of the civis package (not what it imports from the
standard library, requests, or its other public modules). Each must exist in
the matching ``civis_jupyter`` module, except the few listed below with the
reason.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import types
import warnings

import pytest

import civis_jupyter

official_civis = pytest.importorskip("civis")

MODULES = ["", "response", "base", "futures", "utils", "io", "parallel", "workflows", "loggers"]
MODULES += ["tests"]
if importlib.util.find_spec("civis_jupyter.ml") is not None:
    MODULES.append("ml")

#: (module, name) -> why ours does not have it.
NOT_PROVIDED = {
    ("base", "CivisAsyncResultBase"): "the official futures' base class; ours is CivisFuture",
    ("base", "Endpoint"): "the official resources' base class; ours builds them from the spec",
    ("base", "get_base_url"): "official transport plumbing; ours is civis_jupyter.api.transport",
    ("base", "get_headers"): "official transport plumbing",
    ("base", "open_session"): "official transport plumbing",
    ("base", "retry_request"): "official transport plumbing (ours retries with tenacity)",
    ("base", "tostr_urljoin"): "official transport plumbing",
}


def _official(module: str) -> types.ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return importlib.import_module(f"civis.{module}" if module else "civis")


def public_names(module: types.ModuleType) -> set[str]:
    """The public names of an official module, by the rule in this file's docstring."""
    if hasattr(module, "__all__"):
        return set(module.__all__)
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if (inspect.isclass(value) or inspect.isfunction(value)) and _defined_by(value, module):
            names.add(name)
    return names


def _defined_by(value: object, module: types.ModuleType) -> bool:
    """Whether the civis package defines ``value`` in ``module`` (or a private module)."""
    where = getattr(value, "__module__", "") or ""
    if where == module.__name__ or where.startswith(module.__name__ + "."):
        return True
    return where.startswith("civis.") and where.rsplit(".", 1)[-1].startswith("_")


CASES = [(m, n) for m in MODULES for n in sorted(public_names(_official(m)))]
CHECKED = [case for case in CASES if case not in NOT_PROVIDED]


@pytest.mark.parametrize(("module", "name"), CHECKED)
def test_ours_has_the_official_public_name(module, name):
    ours = importlib.import_module(f"civis_jupyter.{module}" if module else "civis_jupyter")
    assert hasattr(ours, name), f"civis_jupyter.{module} lacks {name}"


def test_the_exceptions_list_only_names_the_official_client_has():
    assert set(NOT_PROVIDED) <= set(CASES)


def test_top_level_modules_and_version_load_lazily():
    assert civis_jupyter.__version__
    for name in ("parallel", "workflows", "loggers", "futures", "io", "utils", "executors"):
        assert isinstance(getattr(civis_jupyter, name), types.ModuleType)
        assert name in dir(civis_jupyter)
    from civis_jupyter import executors, futures

    assert futures.CustomScriptExecutor is executors.CustomScriptExecutor
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        civis_jupyter.nonsense  # noqa: B018
    assert set(civis_jupyter.__all__) <= set(dir(civis_jupyter))


def test_camel_to_snake_converts_like_the_official_one():
    from civis.response import camel_to_snake as official

    from civis_jupyter.response import camel_to_snake

    for word in ("camelCase", "remoteHostId", "already_snake", "HTTPCode"):
        assert camel_to_snake(word) == official(word)
