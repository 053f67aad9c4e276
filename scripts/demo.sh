#!/usr/bin/env bash
# The main job: install overcast and run the demo on the embedded local drivers.
source "$(dirname "$0")/env.sh"
install_overcast
exec "$PY" -m overcast.demo "$@"
