"""Packaging: a light core import, extras that say what to install, a lazy pytest plugin.

Each check runs in a fresh interpreter (a subprocess), since what matters is
what one import brings into ``sys.modules``. Missing extras are simulated by
blocking their modules in that interpreter (``sys.modules[name] = None``): an
import then fails and ``importlib.util.find_spec`` finds nothing, exactly as
when the package is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from civis_jupyter import _extras
from civis_jupyter._extras import MissingExtraError, needs, require

#: Modules that only extras bring; the core must not import any of them.
EXTRA_MODULES = ("tornado", "duckdb", "pyarrow", "sklearn", "nbclient", "jupyterlab", "ipykernel")

#: Prepended to a subprocess's script: ``block({"tornado"})`` makes those
#: modules (and their submodules) look not installed.
BLOCKER = textwrap.dedent(
    """
    import sys

    def block(names):
        for name in names:
            sys.modules[name] = None
    """
)


def run_python(
    script: str, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``script`` (after BLOCKER) in a fresh interpreter in ``tmp_path``."""
    full_env = {**os.environ, **(env or {})}
    for name in ("CIVIS_API_KEY", "CIVIS_API_ENDPOINT"):
        full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(script)],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def loaded_after(script: str, tmp_path: Path) -> list[str]:
    """Which of EXTRA_MODULES (and tenacity) are imported after ``script``."""
    watch = [*EXTRA_MODULES, "tenacity"]
    report = f"print(json.dumps([m for m in {watch!r} if m in sys.modules]))"
    done = run_python(f"import json, sys\n{textwrap.dedent(script)}\n{report}\n", tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the core imports only the core ------------------------------------------------
def test_import_civis_jupyter_loads_no_extra(tmp_path):
    assert loaded_after("import civis_jupyter", tmp_path) == []


def test_client_io_futures_and_testing_load_no_extra_nor_tenacity(tmp_path, official_spec_path):
    # tenacity imports tornado whenever tornado is installed: it waits for
    # the first request, so building a client stays as quick as the import.
    script = f"""
    import civis_jupyter as civis
    import civis_jupyter.futures, civis_jupyter.io, civis_jupyter.utils, civis_jupyter.testing
    client = civis.APIClient(api_key="k", local_api_spec={str(official_spec_path)!r})
    client.scripts.post_containers
    mock = civis_jupyter.testing.create_client_mock()
    """
    assert loaded_after(script, tmp_path) == []


def test_jupyter_extension_loads_no_extra(tmp_path):
    script = """
    import civis_jupyter.jupyter.extension, civis_jupyter.jupyter.magics
    """
    # pandas itself imports pyarrow (a core dependency) when it is installed.
    assert set(loaded_after(script, tmp_path)) <= {"pyarrow"}


def test_platform_package_and_pytest_plugin_import_the_server_only_when_used(tmp_path):
    script = """
    import civis_jupyter.platform, civis_jupyter.platform.pytest_plugin
    assert "tornado" not in sys.modules
    from civis_jupyter.platform import LocalPlatform
    assert "tornado" in sys.modules
    """
    assert "tornado" in loaded_after(script, tmp_path)


# -- missing extras are one line naming the extra ---------------------------------
def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The last stderr line, checked to be the only non-traceback output."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines, done.stdout
    return lines[-1]


def test_platform_without_its_extra_says_which_extra(tmp_path):
    done = run_python(
        """
        block({"tornado", "duckdb"})
        from civis_jupyter.platform import LocalPlatform
        """,
        tmp_path,
    )
    assert done.returncode == 1
    last = one_line_error(done)
    assert last.startswith("civis_jupyter._extras.MissingExtraError: ")
    assert "pip install 'civis-jupyter[platform]'" in last
    assert "tornado" in last


def test_missing_extra_is_a_module_not_found_error_for_importorskip(tmp_path):
    done = run_python(
        """
        block({"duckdb"})
        try:
            from civis_jupyter.platform import LocalPlatform
        except ModuleNotFoundError as exc:
            print(type(exc).__name__, exc.name, exc.extra)
        """,
        tmp_path,
    )
    assert done.stdout.split() == ["MissingExtraError", "duckdb", "platform"], done.stderr


@pytest.mark.parametrize(
    ("command", "blocked", "extra"),
    [
        ("platform", {"tornado"}, "platform"),
        ("demo", {"nbclient"}, "demo"),
        ("demo", {"ipykernel"}, "demo"),
        # The demo needs the platform too: the message names the demo extra.
        ("demo", {"duckdb"}, "demo"),
    ],
)
def test_cli_commands_without_their_extra_print_one_line(tmp_path, command, blocked, extra):
    done = run_python(
        f"""
        block({blocked!r})
        from civis_jupyter.cli import main
        sys.exit(main([{command!r}]))
        """,
        tmp_path,
    )
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("civis-jupyter: ")
    assert f"pip install 'civis-jupyter[{extra}]'" in done.stderr


def test_ml_without_its_extra_names_it(tmp_path):
    done = run_python(
        """
        block({"sklearn"})
        import civis_jupyter.ml
        """,
        tmp_path,
    )
    assert done.returncode == 1
    assert "civis-jupyter[ml]" in one_line_error(done)


# -- require / needs ------------------------------------------------------------------
def make_package(root: Path, name: str, body: str) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text(body)


def test_require_returns_the_module_or_names_the_extra():
    assert require("json", "platform") is json
    with pytest.raises(MissingExtraError) as info:
        require("civis_jupyter_no_such_dependency.sub", "demo", "civis-jupyter demo")
    assert info.value.name == "civis_jupyter_no_such_dependency.sub"
    assert info.value.extra == "demo"
    assert str(info.value) == (
        "civis-jupyter demo needs civis_jupyter_no_such_dependency.sub, which is not "
        "installed: pip install 'civis-jupyter[demo]'"
    )


def test_require_leaves_a_broken_installed_module_alone(tmp_path, monkeypatch):
    # An installed module that fails to import its own dependency is a bug
    # to see, not a missing extra to install.
    make_package(tmp_path, "cj_broken_pkg", "import cj_missing_inner_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("cj_broken_pkg", "ml")
    assert not isinstance(info.value, MissingExtraError)
    assert info.value.name == "cj_missing_inner_dependency"


def test_require_refuses_an_unknown_extra():
    with pytest.raises(ValueError, match="no extra 'plaform'"):
        require("json", "plaform")


def test_needs_turns_a_missing_third_party_module_into_the_extra(tmp_path, monkeypatch):
    make_package(tmp_path, "cj_uses_missing", "import cj_missing_third_party\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtraError) as info, needs("parallel", "civis.parallel"):
        import cj_uses_missing  # noqa: F401
    assert info.value.name == "cj_missing_third_party"
    assert "pip install 'civis-jupyter[parallel]'" in str(info.value)


def test_needs_leaves_a_missing_module_of_the_package_alone():
    with pytest.raises(ModuleNotFoundError) as info, needs("platform"):
        import civis_jupyter.no_such_module  # noqa: F401
    assert not isinstance(info.value, MissingExtraError)


def test_needs_names_the_outer_extra_of_nested_requirements():
    with pytest.raises(MissingExtraError) as info, needs("demo", "the demo"):
        require("civis_jupyter_no_such_platform_dep", "platform")
    assert info.value.extra == "demo"
    assert "civis-jupyter[demo]" in str(info.value)


def test_extras_match_pyproject():
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert set(declared) - {"test"} == _extras.EXTRAS


def test_core_dependencies_leave_the_heavy_parts_to_extras():
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text())["project"]
    core = {dep.split(">")[0].split("=")[0].split("<")[0] for dep in project["dependencies"]}
    heavy = {"duckdb", "tornado", "scikit-learn", "jupyterlab", "ipykernel", "nbclient"}
    assert not core & heavy
    extras = project["optional-dependencies"]
    assert "civis-jupyter[platform,ml]" in extras["demo"]
    assert extras["test"][0] == "civis-jupyter[all]"


# -- the pytest plugin ------------------------------------------------------------
PLUGIN_TESTS = """
import sys


def test_no_fixture_no_platform():
    assert sys.modules.get("tornado") is None  # not imported (or blocked)
    assert "civis_jupyter.platform.local" not in sys.modules


def test_with_the_platform(civis_client):
    assert civis_client.users.get_me()["id"] > 0
"""


def run_pytest(tmp_path: Path, *args: str, conftest: str = "") -> subprocess.CompletedProcess:
    (tmp_path / "test_downstream.py").write_text(PLUGIN_TESTS)
    (tmp_path / "conftest.py").write_text(BLOCKER + conftest)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    plugins = ["-p", "civis_jupyter.testing", "-p", "no:cacheprovider"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-q", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_pytest_plugin_imports_no_platform_for_tests_without_its_fixtures(tmp_path):
    done = run_pytest(tmp_path, "-k", "no_fixture")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_pytest_plugin_fixture_starts_the_platform_when_asked(tmp_path):
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_pytest_plugin_without_the_platform_extra_fails_in_one_line(tmp_path):
    done = run_pytest(tmp_path, conftest='\nblock({"tornado"})\n')
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed" in done.stdout and "1 error" in done.stdout
    message = "needs tornado, which is not installed: pip install 'civis-jupyter[platform]'"
    assert message in done.stdout
    assert "Traceback" not in done.stdout and "MissingExtraError" not in done.stdout
