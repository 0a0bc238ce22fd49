#!/usr/bin/env bash
# Set-up command one: install, build an index of the demo articles, and serve it.
#   scripts/demo.sh [PORT]      then open http://127.0.0.1:PORT/ (default 8000)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
.venv/bin/semsearch build scripts/demo/articles --out demo-index
exec .venv/bin/semsearch serve --index demo-index --host 127.0.0.1 --port "${1:-8000}"
