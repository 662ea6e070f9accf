#!/usr/bin/env bash
# CI's tier of the tests on a fresh Debian 12 machine: set up (idempotent), then
# ansible-test sanity, ansible-lint (production profile) and pytest (unit, integration,
# one lab region through the main job's upgrade). The longer rehearsals, which pytest
# skips here, are scripts/rehearse.sh's.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${STACKHOP_VENV:-$repo/.venv}
"$repo/scripts/setup.sh"
export PATH="$venv/bin:$PATH"
cd "$repo"
echo "== ansible-test sanity"
scripts/sanity.sh
echo "== ansible-lint (production profile)"
# A private HOME: ansible-lint installs the collection it checks under
# ~/.ansible/collections, and a copy left there by an older run would be linted instead.
rm -rf "$repo/build/lint-home" && mkdir -p "$repo/build/lint-home"
HOME="$repo/build/lint-home" ansible-lint --profile production --offline
echo "== pytest"
python -m pytest "$@"
