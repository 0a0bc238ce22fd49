#!/usr/bin/env bash
# Set-up command two: install what the tests need, then lint, type-check and run every test
# (the real-model `slow` and headless-Chromium `browser` tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
scripts/typecheck.sh
.venv/bin/python -m pytest -m "" "$@"
