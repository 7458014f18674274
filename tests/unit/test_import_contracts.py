"""The package's layers keep their import contracts (``lint-imports``).

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``): the
client (``api/``) imports neither the platform, the Jupyter side nor
``civis.io``; the platform never imports the Jupyter side; and the platform's
layers only import downwards (server, behaviours and the generic layer, the
contract, the services, request validation, the HTTP types).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = (
    "The client (api/) imports neither the platform, the Jupyter side nor civis.io",
    "The platform never imports the Jupyter side",
    "Platform layers, from the server down to the HTTP types",
)


def _lint_imports() -> subprocess.CompletedProcess[str]:
    command = shutil.which("lint-imports")
    if command is None:
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    return subprocess.run(
        [command, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_import_contract_is_kept() -> None:
    result = _lint_imports()
    report = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, report
    for name in CONTRACTS:
        assert f"{name} KEPT" in report, f"contract not checked: {name}"
