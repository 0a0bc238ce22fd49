#!/usr/bin/env bash
# mypy over the installed package layout. The folders index/, search/ and web/ install as
# semsearch.index, semsearch.search and semsearch.web (pyproject's package-dir), a mapping mypy
# cannot follow through an editable install; so it checks a throw-away tree of symbolic links
# shaped like the installed package, and the paths it prints are turned back into the real ones.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/semsearch"
for entry in semsearch/*; do ln -s "$root/$entry" "$tree/$entry"; done
for folder in index search web; do ln -s "$root/$folder" "$tree/semsearch/$folder"; done
status=0
(cd "$tree" && "$root/.venv/bin/mypy" --config-file "$root/pyproject.toml" semsearch "$@") \
  | sed -e "s#^semsearch/\(index\|search\|web\)/#\1/#" || status=$?
exit "$status"
