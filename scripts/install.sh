#!/usr/bin/env bash
# Create .venv in the checkout and install the project into it.
#   scripts/install.sh          the product
#   scripts/install.sh test     the product, test tools, and Debian's chromium for page tests
set -euo pipefail
cd "$(dirname "$0")/.."
extra=${1:-}
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: a CPU build; a looser requirement can pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
if [ "$extra" = "test" ]; then
  .venv/bin/python -m pip install --quiet -e ".[test,cluster]"
  if [ ! -x /usr/bin/chromium ]; then
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
else
  .venv/bin/python -m pip install --quiet -e .
fi
