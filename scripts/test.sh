#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: set up (idempotent), then
# ansible-test sanity, ansible-lint (production profile) and pytest.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${STACKHOP_VENV:-$repo/.venv}
"$repo/scripts/setup.sh"
export PATH="$venv/bin:$PATH"
cd "$repo"
echo "== ansible-test sanity"
scripts/sanity.sh
echo "== ansible-lint (production profile)"
ansible-lint --profile production --offline
echo "== pytest"
python -m pytest "$@"
