#!/usr/bin/env bash
# Install everything the tests need on a bare machine, then run them.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet -e '.[test]'
python3 -m pytest -n 2 -p no:cacheprovider "$@"
