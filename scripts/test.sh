#!/usr/bin/env bash
# CI's tier of the tests on a fresh Debian 12 machine: set up (idempotent), then
# ansible-test sanity, ansible-lint (production profile) and pytest (unit, integration,
# one lab region through the main job's upgrade). The longer rehearsals, which pytest
# skips here, are scripts/rehearse.sh's.
#
#   scripts/test.sh              # all of it; the lab tier (tests/lab) runs beside the rest
#   scripts/test.sh PYTEST-ARGS  # only pytest with these arguments (e.g. tests/unit -x)
#
# Without arguments the lab tier (the lab region's chain: tests marked region_chain, see
# tests/lab/conftest.py) starts first, in the background: its region's deploy
# waits mostly on package installs in the lab hosts, which leaves room for sanity, lint
# and the tests that need no lab. The lab's upgrade, whose packet counts must not be
# those of two starved cores, waits until the rest is done ($STACKHOP_QUIET_FILE).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${STACKHOP_VENV:-$repo/.venv}
"$repo/scripts/setup.sh"
export PATH="$venv/bin:$PATH"
cd "$repo"

if (($#)); then
  exec python -m pytest "$@"
fi

ci="$repo/build/ci"
rm -rf "$ci" && mkdir -p "$ci"
quiet="$ci/quiet"
started=$(date +%s)
stamp() { printf '%s (%d s)' "$1" $(( $(date +%s) - started )); }

echo "== $(stamp 'pytest, lab tier'): the lab region's chain in the background, log build/ci/lab.log"
STACKHOP_QUIET_FILE="$quiet" python -m pytest tests/lab -m region_chain --basetemp=/tmp/stackhop-ci-lab \
  --junitxml="$ci/lab-junit.xml" --durations=25 >"$ci/lab.log" 2>&1 &
lab_pid=$!
# the lab's upgrade must not wait forever when this script stops early
trap 'touch "$quiet"' EXIT

failed=()
# Sanity and lint side by side: each is mostly one process, and the deploy beside them
# waits on the lab hosts' package installs, so two cores have room for both.
echo "== $(stamp 'ansible-test sanity and ansible-lint (production profile)'): side by side, logs build/ci/sanity.log, build/ci/lint.log"
scripts/sanity.sh >"$ci/sanity.log" 2>&1 &
sanity_pid=$!
# A private HOME: ansible-lint installs the collection it checks under
# ~/.ansible/collections, and a copy left there by an older run would be linted instead.
rm -rf "$repo/build/lint-home" && mkdir -p "$repo/build/lint-home"
HOME="$repo/build/lint-home" ansible-lint --profile production --offline >"$ci/lint.log" 2>&1 &
lint_pid=$!
wait "$sanity_pid" || failed+=("ansible-test sanity")
echo "== $(stamp 'ansible-test sanity'): done; its output:"
cat "$ci/sanity.log"
wait "$lint_pid" || failed+=("ansible-lint")
echo "== $(stamp 'ansible-lint'): done; its output:"
cat "$ci/lint.log"
echo "== $(stamp 'pytest, every test beside the lab tier'): two workers, a file on one"
python -m pytest -m "not region_chain" -n 2 --dist loadfile --basetemp=/tmp/stackhop-ci-rest \
  --junitxml="$ci/rest-junit.xml" --durations=25 || failed+=("pytest beside the lab")
touch "$quiet"

echo "== $(stamp 'pytest, lab tier'): waiting for it (the upgrade starts now)"
wait "$lab_pid" || failed+=("pytest, lab tier")
echo "== $(stamp 'pytest, lab tier'): its output (build/ci/lab.log)"
cat "$ci/lab.log"
echo "== $(stamp 'done')"
if ((${#failed[@]})); then
  printf 'test.sh: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
