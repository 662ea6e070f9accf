#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: set up (idempotent), bring the lab region up
# on release 2024.1 (lab hosts, a real OpenStack deployed by Ansible, two VMs pinging),
# then demonstrate the data-plane modules on a private Open vSwitch and print the figures.
# (The upgrade issues turn the second half into upgrade_region.yml on the lab.)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${STACKHOP_VENV:-$repo/.venv}
"$repo/scripts/setup.sh"
export PATH="$venv/bin:$PATH"
cd "$repo"
out="$repo/build/results"
mkdir -p "$out"
echo "== lab region (scripts/lab-up.sh)"
"$repo/scripts/lab-up.sh"
run_bench() {
  local name=$1; shift
  echo "== $name $*"
  python -m "bench.$name" "$@" | tee "$out/$name${1:+-${*//[^a-z0-9]/}}.txt"
}
# DeNA's one-ovs-vsctl-per-port loop takes ~35 min for 2,000 ports: time 200, scale.
run_bench bench_ovs_other_config --ports 2000 --baseline-ports 200
run_bench bench_fail_mode_secure --trials 20
run_bench bench_conntrack_zone_pin
run_bench bench_conntrack_zone_pin --backend legacy
run_bench bench_lab
echo
echo "Figures written to $out/; the lab region is up (tests/lab/labctl.py status; destroy"
echo "it with: .venv/bin/python tests/lab/labctl.py destroy --lab stackhop)"
