#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for EndoDepth: system libraries (when root),
# a virtual environment in .venv and an editable install with the test extra.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES="libgl1 libegl1 libgomp1 libusb-1.0-0 libgl1-mesa-dri libxkbcommon-x11-0 libxcb-cursor0
 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-render-util0 libxcb-image0 libdbus-1-3
 libfontconfig1 xvfb xauth"

missing=""
if command -v dpkg-query >/dev/null 2>&1; then
  for p in $SYSTEM_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
fi
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1; then
  missing="$missing python3-venv"
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing system packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "setup: please install these system packages:$missing" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.endodepth-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing EndoDepth and its dependencies into .venv (log: .venv/install.log)"
  if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e ".[test]"; } \
      > .venv/install.log 2>&1; then
    tail -n 30 .venv/install.log >&2
    echo "setup: the install failed; the whole log is in .venv/install.log" >&2
    exit 1
  fi
  touch "$stamp"
fi
