#!/usr/bin/env bash
# ansible-test needs the collection at .../ansible_collections/stackhop/upgrade: copy the
# files git would ship there and run the sanity tests on that copy.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${STACKHOP_VENV:-$repo/.venv}
dest="$repo/build/sanity/ansible_collections/stackhop/upgrade"
rm -rf "$dest" && mkdir -p "$dest"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
  rsync -a --from0 --files-from=- "$repo/" "$dest/"
cd "$dest"
# ansible-test wants a git work tree to list the collection's files.
git init -q . && git add -A >/dev/null
export PATH="$venv/bin:$PATH"
ansible-test sanity --python "$(python -c 'import sys;print("%d.%d"%sys.version_info[:2])')" \
  --requirements --color no "$@"
# Every module, plugin and role entry point documented as antsibull-docs renders it, and
# the changelog fragments valid: what the docs site of a collection is built from (only
# in the whole run: `scripts/sanity.sh --test pep8` runs that test alone).
(($#)) && exit 0
ANSIBLE_COLLECTIONS_PATH="$repo/build/sanity" antsibull-docs lint-collection-docs --plugin-docs .
antsibull-changelog lint
