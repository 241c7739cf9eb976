#!/usr/bin/env bash
# The image's install steps, in one place: the Dockerfile runs this, and tests/deploy runs it
# into a fresh virtualenv to prove the steps work.
#
#   scripts/install-image.sh VENV APP_DIR [SOURCE_DIR]
#
# VENV        virtualenv to create (if missing) and install the package into (non-editable)
# APP_DIR     where the scenarios go: APP_DIR/scenarios/*.py
# SOURCE_DIR  the project checkout (default: this script's parent directory)
#
# Locust ships only the locustfile to workers, so the plugin must be installed wherever a
# worker runs: this installs the package itself, not just the scenarios.
set -euo pipefail
if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
  echo "usage: $0 VENV APP_DIR [SOURCE_DIR]" >&2
  exit 2
fi
venv=$1
app=$2
src=${3:-"$(cd "$(dirname "$0")/.." && pwd)"}
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check "$src"
mkdir -p "$app/scenarios"
cp "$src"/scenarios/*.py "$app/scenarios/"
# Prove the install: the plugin imports and the entry points exist.
"$venv/bin/python" -c "import loadtest.plugin, locust; print('loadtest', loadtest.plugin.__name__, 'on locust', locust.__version__)"
test -x "$venv/bin/locust" && test -x "$venv/bin/loadtest"
