#!/usr/bin/env bash
# Install everything the tests need on a bare machine, then run them:
# Python packages (the package with its test extra, which brings every other
# extra: platform, ml, parallel, polars, workflows, demo; building it also
# builds the JupyterLab extension with jlpm), Debian's Chromium for the browser
# tests, the extension's own jest tests, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet -e '.[test]'
(cd labextension && jlpm install --immutable >/dev/null && jlpm test --silent)
python3 -m pytest -n 2 -p no:cacheprovider "$@"
