#!/usr/bin/env bash
# Install everything the checks need on a bare machine, then run them, cheapest
# first so that a mistake fails in seconds:
#   1. Python packages: the package with its test extra, which brings every
#      other extra (platform, ml, parallel, polars, workflows, demo) and the
#      checkers (ruff, mypy, import-linter); building it also builds the
#      JupyterLab extension with jlpm. Debian's Chromium for the browser tests.
#   2. ruff (lint and format check), mypy (the package: no error allowed), the
#      import contracts of the layers (lint-imports), and the stub of the API
#      resources against the spec.
#   3. The lab extension: tsc --noEmit, eslint, jest.
#   4. pytest (arguments to this script go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  step "Chromium (browser tests)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
step "Python packages (.[test])"
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet -e '.[test]'

step "ruff"
python3 -m ruff check .
python3 -m ruff format --check .
step "mypy"
python3 -m mypy
step "import contracts (lint-imports)"
"$(python3 -c 'import sys, os; print(os.path.dirname(sys.executable))')/lint-imports"
step "API stub in step with the spec"
python3 scripts/make_stub.py --check

step "lab extension: install, tsc, eslint, jest"
(
  cd labextension
  jlpm install --immutable >/dev/null
  jlpm typecheck
  jlpm lint
  jlpm test --silent
)

step "pytest"
python3 -m pytest -n 2 -p no:cacheprovider "$@"
