"""A fleet on the lab (issue 21): the lab region with 32 computes in 4 AZs of 2 racks, 3 VMs on
each, the control plane at the target release 2025.1 and the computes at 2024.1, the probe
between vm1 (cmp1, az1) and vm2 (cmp2, az2) running throughout. In order:

1. every compute runs the real nova-compute and OVS agent, every VM is ACTIVE; the memory of
   each compute (PSS) is recorded;
2. the cost model is fitted from runs of one AZ (8 computes at batch sizes 1, 25 % and 100 %)
   and of each AZ's canary (4 computes), each rolled back; playbooks/plan.yml with that model
   estimates the whole fleet at 25 % (20 batches), and the measured run is within 20 % of it,
   with no VM packet lost beyond the idle lab's rate;
3. neutron-server under agent restarts: all 32 at once and at the default
   neutron_compute_restart_throttle; the default keeps every bound of bench/neutron_load.py.

The rehearsal ``fleet`` (scripts/rehearse.sh fleet; several hours on 2 cores, about 20 GB of
the machine's memory). STACKHOP_FLEET_COMPUTES changes the size (the AZ run then holds that
size's first AZ). Figures: build/lab/fleet-figures.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from bench import bench_agent_restarts as bar
from bench import bench_fleet as bf
from bench import neutron_load as nl
from lab.labctl import Lab
from tests.lib.ansible_runner import REPO, VENV, ansible_env, run_playbook
from tests.lib.region_lab import controllers_at_release

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(6 * 3600),
              pytest.mark.rehearsal("fleet")]

LAB = "fleet"
COMPUTES = int(os.environ.get("STACKHOP_FLEET_COMPUTES", "32"))
VMS_PER_COMPUTE = 3
TARGET = "2025.1"
FIGURES = REPO / "build" / "lab" / "fleet-figures.json"
# the probe's pair only: locating all the fleet's VMs costs a CLI call each
PROBE_VMS = {"lab_vm_servers": [
    {"name": "vm1", "az": "az1:cmp1", "network": "{{ lab_provider_network.name }}"},
    {"name": "vm2", "az": "az2:cmp2", "network": "{{ lab_provider_network.name }}"}]}
FIGS = {}


def save(key, value):
    FIGS[key] = value
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(FIGS, indent=1) + "\n")


def play(lab, path, extra=None, timeout=4 * 3600):
    argv = [str(VENV / "bin" / "ansible-playbook"), "-i", str(lab.inventory), str(path)]
    if extra:
        argv += ["-e", json.dumps(extra)]
    proc = subprocess.run(argv, env=ansible_env(), cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout, check=False)
    # the whole output, since the lab is gone when the test's error is read
    log = REPO / "build" / "results" / ("fleet-%s.log" % Path(path).stem)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(proc.stdout + proc.stderr)
    fatal = [line for line in proc.stdout.splitlines() if line.startswith(("fatal:", "failed:"))]
    assert proc.returncode == 0, (path, str(log), fatal[:5], proc.stdout[-4000:], proc.stderr[-2000:])
    return proc


@pytest.fixture(scope="module")
def fleet():
    Lab(LAB).destroy()
    inventory = REPO / "build" / "lab" / LAB / "hosts.yml"
    t0 = time.monotonic()
    subprocess.run([str(REPO / "scripts" / "lab-up.sh"), "--lab", LAB, "--computes", str(COMPUTES),
                    "--vms-per-compute", str(VMS_PER_COMPUTE), "--hosts-only"],
                   env=ansible_env({"STACKHOP_VENV": str(VENV)}), cwd=str(REPO), check=True,
                   capture_output=True, text=True)
    # the control plane at the target release, the computes at the current one (as the
    # rehearsal compute-upgrade): group_vars of this lab only
    controllers_at_release(inventory, TARGET)
    lab = bf.FleetLab(inventory)
    try:
        play(lab, REPO / "lab" / "playbooks" / "deploy.yml")
        play(lab, REPO / "lab" / "playbooks" / "vms.yml")
        save("deploy_s", round(time.monotonic() - t0, 1))
        play(lab, REPO / "lab" / "playbooks" / "probe.yml", dict(PROBE_VMS, lab_probe_action="start"))
        play(lab, REPO / "playbooks" / "stage_release.yml", {"stackhop_target_release": TARGET})
        yield lab
    finally:
        Lab(LAB).destroy()


def openstack(lab, *argv):
    out = lab.exec(lab.controller, "OS_CLOUD=lab-admin /opt/stackhop/venvs/%s/bin/openstack %s -f json"
                   % (TARGET, " ".join(argv))).stdout
    return json.loads(out)


def idle_rate(lab, seconds=60):
    lab.probe("reset")
    time.sleep(seconds)
    fig = lab.probe()
    return fig["icmp"]["lost"] / max(1.0, fig.get("seconds") or 1.0)


def test_every_compute_runs_the_real_services(fleet):
    services = openstack(fleet, "compute", "service", "list", "--service", "nova-compute")
    assert sorted(s["Host"] for s in services if s["State"] == "up") == sorted(fleet.computes)
    agents = openstack(fleet, "network", "agent", "list", "--agent-type", "open-vswitch")
    assert {a["Host"] for a in agents if a["Alive"]} >= set(fleet.computes)
    servers = openstack(fleet, "server", "list", "--all-projects", "--long")
    assert len([s for s in servers if s["Status"] == "ACTIVE"]) == COMPUTES * VMS_PER_COMPUTE
    pss = {h: round(fleet.host_pss_mib(h)) for h in fleet.computes}
    memory = {"per_compute_mib_median": sorted(pss.values())[len(pss) // 2], "per_compute_mib_max": max(pss.values()),
              "controller_mib": round(fleet.host_pss_mib(fleet.controller))}
    print("\nfleet of %d computes: PSS per compute median %d MiB, max %d MiB; controller %d MiB" % (
        COMPUTES, memory["per_compute_mib_median"], memory["per_compute_mib_max"], memory["controller_mib"]))
    save("memory", memory)


def test_model_from_one_az_predicts_the_whole_fleet(fleet, tmp_path):
    from ansible_collections.stackhop.upgrade.plugins.module_utils import compute_cost
    rate = idle_rate(fleet)
    out = REPO / "build" / "results"
    out.mkdir(parents=True, exist_ok=True)
    rows = [bf.measure(fleet, str(tmp_path), percent, bf.BASELINE, index, out, az=az, canary_only=canary)
            for index, (percent, az, canary) in enumerate(
                [(1, "az1", False), (25, "az1", False), (100, "az1", False), (25, None, True)], 1)]
    for row in rows:
        assert row["rc"] == 0 and row["rollback_rc"] == 0, row
    model = compute_cost.fit(rows)
    coefficients = {k: model[k] for k in compute_cost.COEFFICIENTS}
    proc = run_playbook(REPO / "playbooks" / "plan.yml", inventory=fleet.inventory, extra_vars={
        "stackhop_plan_offline": True, "stackhop_plan_dir": str(tmp_path / "plan"),
        "stackhop_compute_batch_percent": 25,
        "stackhop_compute_cost_model": dict(coefficients, source="the fleet rehearsal's runs of az1")})
    assert proc.returncode == 0, proc.stdout[-3000:]
    plan = json.loads(next((tmp_path / "plan").glob("plan-*.json")).read_text())
    estimate = plan["compute_estimate"]["total_s"]
    default = compute_cost.estimate(plan["compute_batches"])["total_s"]
    fleet.probe("reset")
    whole = bf.measure(fleet, str(tmp_path), 25, bf.BASELINE, 5, out, rollback=False)
    probe = fleet.probe()
    assert whole["rc"] == 0, whole
    print("\n" + bf.table(rows + [whole]))
    print("fitted: %s; plan's estimate of the fleet at 25 %%: %.0f s (the 2-compute model's: %.0f s); "
          "measured %.0f s; ICMP %d of %d lost" % (json.dumps(coefficients), estimate, default,
                                                   whole["seconds"], probe["icmp"]["lost"], probe["icmp"]["sent"]))
    save("cost_model", {"rows": rows, "fit": coefficients, "max_error_pct": model["max_error_pct"]})
    save("upgrade_fleet", {"estimate_s": estimate, "default_model_estimate_s": default, "row": whole,
                           "probe": probe, "idle_lost_per_s": rate})
    assert compute_cost.within(estimate, whole["seconds"], 20), (estimate, whole["seconds"])
    assert nl.vm_lost_excess(probe, rate) == 0, probe
    assert probe["tcp"]["resets"] == 0, probe


def test_default_throttle_keeps_neutron_server_under_its_bounds(fleet):
    import yaml
    default = yaml.safe_load((REPO / "roles" / "neutron_compute" / "defaults" / "main.yml").read_text())[
        "neutron_compute_restart_throttle"]
    idle = bar.window(fleet, 60)
    rate = idle["probe"]["icmp"]["lost"] / max(1.0, idle["probe"].get("seconds") or 1.0)
    idle["vm_lost_excess"] = 0
    rows = []
    for throttle in (COMPUTES, default):
        path = bar.restart_play(REPO / "build" / "lab" / ("fleet-restart-%d.json" % throttle), throttle)
        row = bar.window(fleet, 60, lambda path=path: fleet.playbook(
            path, env={"ANSIBLE_FORKS": str(max(10, COMPUTES))})[0])
        row.update(throttle=throttle, vm_lost_excess=nl.vm_lost_excess(row["probe"], rate))
        rows.append(row)
        time.sleep(60)
    print("\n" + bar.table(idle, rows))
    save("agent_restarts", {"idle": idle, "rows": rows, "bounds": nl.BOUNDS})
    assert all(r["rc"] == 0 for r in rows), rows
    assert nl.broken_bounds(rows[-1]) == [], rows[-1]
