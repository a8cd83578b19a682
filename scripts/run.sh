#!/usr/bin/env bash
# Set up (see setup.sh) and launch the application; with no arguments it opens the bundled
# sample clip with the bundled default model. Without a display it starts a virtual one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  exec xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/endodepth-gui "$@"
fi
exec .venv/bin/endodepth-gui "$@"
