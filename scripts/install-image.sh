#!/usr/bin/env bash
# The image's install steps, in one place: the Dockerfile's build stage runs this, and
# tests/deploy runs it into a fresh virtualenv to prove the steps work.
#
#   scripts/install-image.sh VENV APP_DIR [SOURCE_DIR]
#
# VENV        virtualenv to create (if missing) and install the package into (non-editable)
# APP_DIR     where the scenarios go: APP_DIR/scenarios/*.py
# SOURCE_DIR  the project checkout (default: this script's parent directory)
#
# Locust ships only the locustfile to workers, so the plugin must be installed wherever a
# worker runs: this installs the package itself, not just the scenarios.
#
# Wheels only, except hdrhistogram: it publishes x86_64 wheels but none for arm64 (aarch64), so
# it is always compiled from its sdist, on every architecture, and the path the tests take on
# x86_64 is the one an arm64 build takes. This needs a C compiler and the C library's headers
# (Debian: gcc libc6-dev; Python's own headers ship with the python:3.11 images). Every other
# dependency must come as a wheel: a release without one for the build's platform makes pip
# pick an older release that has one, or fail here, never a silent source build that the
# image cannot do.
set -euo pipefail
if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
  echo "usage: $0 VENV APP_DIR [SOURCE_DIR]" >&2
  exit 2
fi
venv=$1
app=$2
src=${3:-"$(cd "$(dirname "$0")/.." && pwd)"}
python=${PYTHON:-python3}

if ! command -v "${CC:-cc}" >/dev/null && ! command -v gcc >/dev/null; then
  echo "$0: hdrhistogram is compiled from source and there is no C compiler: install gcc and libc6-dev (Debian) first." >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check \
  --only-binary :all: --no-binary hdrhistogram "$src"
mkdir -p "$app/scenarios"
cp "$src"/scenarios/*.py "$app/scenarios/"
# Prove the install: the plugin and hdrhistogram's C extension import, the entry points exist.
"$venv/bin/python" -c "import loadtest.plugin, locust, pyhdrh; print('loadtest', loadtest.plugin.__name__, 'on locust', locust.__version__)"
test -x "$venv/bin/locust" && test -x "$venv/bin/loadtest"
