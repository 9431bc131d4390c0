#!/usr/bin/env bash
# Lint and format check (ruff, configured in pyproject.toml); creates .venv when missing.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
