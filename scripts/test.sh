#!/usr/bin/env bash
# CI's tier of the tests on a fresh Debian 12 machine: set up (idempotent), then
# ansible-test sanity, ansible-lint (production profile) and pytest (unit, integration,
# one lab region through the main job's upgrade). The longer rehearsals, which pytest
# skips here, are scripts/rehearse.sh's.
#
#   scripts/test.sh              # all of it; the lab tier (tests/lab) runs beside the rest
#   scripts/test.sh PYTEST-ARGS  # only pytest with these arguments (e.g. tests/nova -x)
#
# Without arguments the lab tier (the lab region's chain: tests marked region_chain, see
# tests/lab/conftest.py) starts first, in the background, at normal priority: its deploy,
# staging and upgrade are the run's longest path, and its upgrade's packet and API figures
# must not be those of starved cores. Sanity, lint and every other test run beside it in a
# session of their own whose scheduler autogroup (and processes) have nice 10 and the
# lowest best-effort I/O level: they take the cycles the lab leaves, on both cores.
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
started=$(date +%s)
stamp() { printf '%s (%d s)' "$1" $(( $(date +%s) - started )); }

# Run a command in a session of its own at low priority. With autogroup scheduling (the
# kernel's default) a process's nice only weighs against its own session's processes, so
# the session's autogroup gets the nice too; the lab hosts' daemons each run in sessions
# of their own at nice 0.
low() {
  setsid -w bash -c '{ echo 10 >/proc/self/autogroup; } 2>/dev/null || true
    exec nice -n 10 ionice -c 2 -n 7 "$@"' low "$@"
}

echo "== $(stamp 'pytest, lab tier'): the lab region's chain in the background, log build/ci/lab.log"
python -m pytest tests/lab -m region_chain --basetemp=/tmp/stackhop-ci-lab \
  --junitxml="$ci/lab-junit.xml" --durations=25 >"$ci/lab.log" 2>&1 &
lab_pid=$!
# the background jobs end with this script: each low one is its session's process group
stop_jobs() {
  local job
  for job in $(jobs -p); do kill -- "-$job" 2>/dev/null || kill "$job" 2>/dev/null; done
}
trap stop_jobs INT TERM

failed=()
# Sanity and lint side by side: each is mostly one process.
echo "== $(stamp 'ansible-test sanity and ansible-lint (production profile)'): side by side, logs build/ci/sanity.log, build/ci/lint.log"
low scripts/sanity.sh >"$ci/sanity.log" 2>&1 &
sanity_pid=$!
# A private HOME: ansible-lint installs the collection it checks under
# ~/.ansible/collections, and a copy left there by an older run would be linted instead.
rm -rf "$repo/build/lint-home" && mkdir -p "$repo/build/lint-home"
HOME="$repo/build/lint-home" low ansible-lint --profile production --offline >"$ci/lint.log" 2>&1 &
lint_pid=$!
wait "$sanity_pid" || failed+=("ansible-test sanity")
echo "== $(stamp 'ansible-test sanity'): done; its output:"
cat "$ci/sanity.log"
wait "$lint_pid" || failed+=("ansible-lint")
echo "== $(stamp 'ansible-lint'): done; its output:"
cat "$ci/lint.log"
echo "== $(stamp 'pytest, every test beside the lab tier'): two workers, a file on one"
low python -m pytest -m "not region_chain" -n 2 --dist loadfile --basetemp=/tmp/stackhop-ci-rest \
  --junitxml="$ci/rest-junit.xml" --durations=25 || failed+=("pytest beside the lab")

echo "== $(stamp 'pytest, lab tier'): waiting for it"
wait "$lab_pid" || failed+=("pytest, lab tier")
echo "== $(stamp 'pytest, lab tier'): its output (build/ci/lab.log)"
cat "$ci/lab.log"
echo "== $(stamp 'done')"
if ((${#failed[@]})); then
  printf 'test.sh: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
