#!/usr/bin/env bash
# The README's main job: creates .venv when missing, installs, runs the offline end-to-end demo.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec .venv/bin/uavm demo "$@"
