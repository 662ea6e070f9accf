#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: set up (idempotent), bring the lab region up
# on release 2024.1 (lab hosts, a real OpenStack deployed by Ansible, two VMs pinging,
# reusing every cached venv), then start the data-plane probe between the VMs and upgrade
# the region to 2025.1 with playbooks/upgrade_region.yml (target code staged, pre-flight,
# backup, blue-green control plane with the API downtime probe, computes AZ by AZ with
# canary and approval, verify), print the figures and where the report is; then the
# module benchmarks.
#   STACKHOP_MAIN_UPGRADE=0 stops after bringing the region up; STACKHOP_MAIN_BENCH=0
#   skips the benchmarks. A second run finds the region upgraded and changes nothing.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${STACKHOP_VENV:-$repo/.venv}
"$repo/scripts/setup.sh"
export PATH="$venv/bin:$PATH"
cd "$repo"
out="$repo/build/results"
mkdir -p "$out"
upgrade_id=${STACKHOP_UPGRADE_ID:-lab-2024.1-to-2025.1}
# Written once upgrade_region.yml passed: lab-up.sh would put release N back on an
# upgraded region, so a second run goes straight to upgrade_region.yml (which then
# changes nothing) while the lab is still up.
upgraded="$repo/build/lab/stackhop.upgraded-$upgrade_id"
if [ -e "$upgraded" ] && python tests/lab/labctl.py status --lab stackhop >/dev/null 2>&1; then
  echo "== lab region: up, already upgraded by $upgrade_id"
else
  rm -f "$upgraded"
  echo "== lab region (scripts/lab-up.sh)"
  "$repo/scripts/lab-up.sh"
fi
if [ "${STACKHOP_MAIN_UPGRADE:-1}" = 1 ]; then
echo "== data-plane probe between vm1 (az1) and vm2 (az2)"
ansible-playbook playbooks/lab_probe.yml -e lab_probe_reset=true
echo "== upgrade_region.yml 2024.1 -> 2025.1 (upgrade id $upgrade_id)"
t0=$(date +%s)
STACKHOP_REPORT_DIR="$repo/build/reports/$upgrade_id" ansible-playbook playbooks/upgrade_region.yml \
  -e stackhop_target_release=2025.1 -e @inventories/lab/acknowledgements-2025.1.yml \
  -e stackhop_approval=auto -e control_plane_api_probe=true -e stackhop_lab_probe=true \
  -e stackhop_upgrade_id="$upgrade_id" | tee "$out/upgrade_region.log"
touch "$upgraded"
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
