#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: set up (idempotent), then demonstrate the
# collection's data-plane modules on a private Open vSwitch and print the figures.
# (Later milestones turn this into a rehearsed region upgrade of the built-in lab.)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${STACKHOP_VENV:-$repo/.venv}
"$repo/scripts/setup.sh"
export PATH="$venv/bin:$PATH"
cd "$repo"
out="$repo/build/results"
mkdir -p "$out"
for bench in bench/bench_*.py; do
  name=$(basename "$bench" .py)
  echo "== $name"
  python -m "bench.$name" | tee "$out/$name.txt"
done
echo
echo "Figures written to $out/"
