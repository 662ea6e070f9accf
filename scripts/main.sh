#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: set up (idempotent), bring the lab region up
# on release 2024.1 (lab hosts, a real OpenStack deployed by Ansible, two VMs pinging,
# reusing every cached venv), then the module benchmarks.
#   STACKHOP_MAIN_UPGRADE=1 also starts the data-plane probe between the VMs and upgrades
#   the region to 2025.1 with playbooks/upgrade_region.yml (pre-flight, backup, blue-green
#   control plane with the API downtime probe, computes AZ by AZ with canary and approval,
#   verify), printing the figures and where the report is. Off by default until that
#   whole-region run has passed end to end (issue 10). STACKHOP_MAIN_BENCH=0 skips the
#   benchmarks.
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
upgrade_id=${STACKHOP_UPGRADE_ID:-lab-2024.1-to-2025.1}
if [ "${STACKHOP_MAIN_UPGRADE:-0}" = 1 ]; then
echo "== data-plane probe between vm1 (az1) and vm2 (az2)"
ansible-playbook playbooks/lab_probe.yml -e lab_probe_reset=true >/dev/null
echo "== upgrade_region.yml 2024.1 -> 2025.1 (upgrade id $upgrade_id)"
t0=$(date +%s)
ansible-playbook playbooks/upgrade_region.yml -e stackhop_target_release=2025.1 \
  -e stackhop_approval=auto -e control_plane_api_probe=true -e stackhop_lab_probe=true \
  -e stackhop_upgrade_id="$upgrade_id" | tee "$out/upgrade_region.log"
echo "upgrade_region.yml: $(( $(date +%s) - t0 )) s" | tee -a "$out/upgrade_region.log"
echo "report: $repo/build/reports/$upgrade_id/report.html"
fi
[ "${STACKHOP_MAIN_BENCH:-1}" = 1 ] || exit 0
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
echo "Figures written to $out/ (the upgrade report, with STACKHOP_MAIN_UPGRADE=1:"
echo "$repo/build/reports/$upgrade_id/report.html)."
echo "The lab region is up (tests/lab/labctl.py status; destroy it with:"
echo ".venv/bin/python tests/lab/labctl.py destroy --lab stackhop)"
