#!/usr/bin/env bash
# The README's test command: creates .venv when missing, installs, runs the whole suite.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec .venv/bin/python -m pytest "$@"
