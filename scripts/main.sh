#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: set up (idempotent), bring the lab region up
# on release 2024.1 (lab hosts, a real OpenStack deployed by Ansible, two VMs pinging,
# reusing every cached venv), stage the target release's code before the window, then start
# the data-plane probe between the VMs and upgrade the region to 2025.1 with
# playbooks/upgrade_region.yml, wrapped by lab/playbooks/upgrade_region.yml, which adds the
# probe's figures to the report (staged code found, pre-flight, backup, blue-green control
# plane with the API downtime probe, computes AZ by AZ with canary and approval, verify),
# print the figures and where the report is; then the module benchmarks.
#   STACKHOP_MAIN_UPGRADE=0 stops before the window (the region up, the target code staged);
#   STACKHOP_MAIN_BENCH=0 skips the benchmarks; STACKHOP_MAIN_TEMPEST=0 skips tempest's
#   smoke tests before and after the upgrade; STACKHOP_LAB=NAME works on another lab than
#   `stackhop` (CI uses its own).
# A second run finds the region upgraded and changes nothing but verify's results (tempest's
# run after the upgrade runs again; its run before is kept); a run after a failure
# resumes: a deployed region is not deployed again, a started upgrade goes on.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${STACKHOP_VENV:-$repo/.venv}
"$repo/scripts/setup.sh"
export PATH="$venv/bin:$PATH"
cd "$repo"
lab=${STACKHOP_LAB:-stackhop}
out="$repo/build/results"
mkdir -p "$out" "$repo/build/lab"
upgrade_id=${STACKHOP_UPGRADE_ID:-lab-2024.1-to-2025.1}
report_dir="$repo/build/reports/$upgrade_id"
if [ "$lab" = stackhop ]; then
  export ANSIBLE_INVENTORY="$repo/lab/inventory/hosts.yml"
else
  export ANSIBLE_INVENTORY="$repo/build/lab/$lab/hosts.yml"
fi
# Markers: lab-up.sh writes `deployed` once release N is up and the VMs ping; this script
# writes `upgraded-<id>` once upgrade_region.yml passed. Both mean nothing once the lab
# is gone (labctl.py status fails).
deployed="$repo/build/lab/$lab.deployed"
upgraded="$repo/build/lab/$lab.upgraded-$upgrade_id"

# Runs one step with its whole output on the terminal and in a log; on failure prints
# the failing task, its host and message, and what to do, then exits with the step's code.
step() {
  local name=$1 log=$2 hint=$3 rc
  shift 3
  echo "== $name"
  set +e
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" = 0 ] && return 0
  echo
  python - "$log" "$name" "$rc" "$hint" <<'PY'
import re, sys
log, step, rc, hint = sys.argv[1:]
lines = open(log, errors="replace").read().splitlines()
task = host = msg = ""
for i, line in enumerate(lines):
    if line.startswith("TASK ["):
        current = line[6:line.rfind("]")]
    m = re.match(r"^(?:fatal|failed): \[([^\]]+)\]", line)
    if m:
        task, host = locals().get("current", ""), m.group(1)
        after = " ".join(lines[i:i + 40])
        found = re.search(r"""["']?msg["']?:\s*["']?(.+?)(?:["']?,\s*["']\w+["']:|\s{2,}\w+:|$)""", after)
        msg = (found.group(1) if found else line)[:400]
# an error Ansible raises outside a task (a file it cannot load) ends the play with no "fatal:"
errors = [line[len("[ERROR]: "):] for line in lines if line.startswith("[ERROR]: ")]
if task:
    where = 'task "%s" on %s: %s' % (task, host, msg)
elif errors:
    where = "Ansible stopped: %s" % errors[-1][:400]
else:
    where = "no task failed; see the output above"
print("main.sh: FAILED at %s (exit %s): %s" % (step, rc, where))
print("What to do: %s The whole output is in %s." % (hint, log))
PY
  exit "$rc"
}

if { [ -e "$deployed" ] || [ -e "$upgraded" ]; } \
    && python lab/labctl.py status --lab "$lab" >/dev/null 2>&1; then
  echo "== lab region $lab: up ($(cat "$deployed" 2>/dev/null || echo "upgraded by $upgrade_id"))"
else
  rm -f "$deployed" "$repo/build/lab/$lab.upgraded-"*
  step "lab region $lab (scripts/lab-up.sh)" "$out/lab-up-$lab.log" \
    "fix the cause above and run ./scripts/main.sh again (the hosts stay up and the deploy goes on where it stopped); to start from nothing, run .venv/bin/python lab/labctl.py destroy --lab $lab first." \
    "$repo/scripts/lab-up.sh" --lab "$lab"
  echo "release 2024.1 deployed, VMs pinging: $(date -u +%FT%TZ)" > "$deployed"
fi
# Before the window, as an operator does: the target release's code built once and copied
# beside the running code on every host (a second run copies nothing). upgrade_region.yml
# stages too and then finds it done, so the window holds the upgrade, not the copy.
step "stage 2025.1's code on the region's hosts (playbooks/stage_release.yml)" "$out/stage-$lab.log" \
  "fix the cause above and run ./scripts/main.sh again; the copy goes on where it stopped." \
  env STACKHOP_REPORT_DIR="$report_dir" ansible-playbook playbooks/stage_release.yml \
    -e stackhop_target_release=2025.1 -e stackhop_upgrade_id="$upgrade_id"
if [ "${STACKHOP_MAIN_UPGRADE:-1}" = 1 ]; then
  step "data-plane probe between vm1 (az1) and vm2 (az2)" "$out/probe-start-$lab.log" \
    "check that vm1 and vm2 ping (ansible-playbook lab/playbooks/vms.yml) and run ./scripts/main.sh again." \
    ansible-playbook lab/playbooks/probe.yml -e lab_probe_reset=true
  # tempest's smoke tests before and after (on in the lab, ~8 min each on two cores);
  # STACKHOP_MAIN_TEMPEST=0 leaves them to the tempest rehearsal (CI does)
  tempest_off=()
  [ "${STACKHOP_MAIN_TEMPEST:-1}" = 1 ] || tempest_off=(-e verify_tempest=false)
  t0=$(date +%s)
  step "upgrade_region.yml 2024.1 -> 2025.1 (upgrade id $upgrade_id)" "$out/upgrade_region-$lab.log" \
    "the report ($report_dir/report.html) shows the phase that failed; fix the cause and run ./scripts/main.sh again: the upgrade resumes where it stopped (docs/upgrade-control-plane.md, 'Resume')." \
    env STACKHOP_REPORT_DIR="$report_dir" ansible-playbook lab/playbooks/upgrade_region.yml \
      -e stackhop_target_release=2025.1 -e @lab/inventory/acknowledgements-2025.1.yml \
      -e stackhop_approval=auto -e control_plane_api_probe=true \
      -e stackhop_upgrade_id="$upgrade_id" "${tempest_off[@]}"
  echo "upgrade_region.yml: $(( $(date +%s) - t0 )) s" | tee -a "$out/upgrade_region-$lab.log"
  touch "$upgraded"
  step "data-plane figures since the probe started" "$out/probe-report-$lab.log" \
    "check the probe on the controller (ansible-playbook lab/playbooks/probe.yml -e lab_probe_action=report)." \
    ansible-playbook lab/playbooks/probe.yml -e lab_probe_action=report \
      -e lab_probe_report_file="$out/probe-$lab.json"
  python - "$report_dir/report.json" "$out/probe-$lab.json" <<'PY'
import json, sys
report, probe = (json.load(open(p)) for p in sys.argv[1:])
print("\n== figures of the upgrade (%s)" % report.get("status"))
for api in report.get("api") or []:
    print("  API down  %-10s %6.1f s (longest window %.1f s)" % (
        api.get("service"), api.get("down_s", 0.0), api.get("longest_s", 0.0)))
icmp, tcp = probe.get("icmp", {}), probe.get("tcp", {})
print("  VMs: ICMP %s of %s lost, longest gap %s ms; TCP resets %s, reconnects %s" % (
    icmp.get("lost"), icmp.get("sent"), icmp.get("longest_gap_ms"), tcp.get("resets"),
    tcp.get("reconnects")))
PY
  echo "report: $report_dir/report.html"
fi
[ "${STACKHOP_MAIN_BENCH:-1}" = 1 ] || exit 0
run_bench() {
  local name=$1; shift
  step "benchmark $name $*" "$out/$name${1:+-${*//[^a-z0-9]/}}.txt" \
    "the benchmark's own message above says what it needs; run it alone with: .venv/bin/python -m bench.$name $*" \
    python -m "bench.$name" "$@"
}
# DeNA's one-ovs-vsctl-per-port loop takes ~35 min for 2,000 ports: time 200, scale.
run_bench bench_ovs_other_config --ports 2000 --baseline-ports 200
run_bench bench_fail_mode_secure --trials 20
run_bench bench_conntrack_zone_pin
run_bench bench_conntrack_zone_pin --backend legacy
run_bench bench_lab
# gaps and loss of the lab probe from CPU starvation alone (nothing upgraded): issue 21 item 6
run_bench bench_probe_starvation
echo
echo "Figures written to $out/ (the upgrade report: $report_dir/report.html)."
echo "The lab region is up (lab/labctl.py status --lab $lab; destroy it with:"
echo ".venv/bin/python lab/labctl.py destroy --lab $lab)"
