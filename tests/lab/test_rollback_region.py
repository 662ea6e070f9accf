"""playbooks/rollback.yml after a whole-region upgrade: the computes, then the control plane,
back to 2024.1 (issue 22 part 4, "rollback that includes the computes"; NHN rolled back in
production).

The rehearsal ``region-rollback`` (scripts/rehearse.sh region-rollback): after
test_upgrade_region.py on a lab region of its own (the README's main command, 2024.1 ->
2025.1 blue-green, computes az1 then az2), with the VMs' data-plane probe running from
before to after, one rollback.yml of the region: the computes in the upgrade's batches
(playbooks/rollback_computes.yml: OVS agent with fail_mode secure kept and its ports'
conntrack zones, release N's agent started throttled, nova-compute's record lowered to
2024.1's version and release N started), then the control plane (the dumps the upgrade
took of each component right after it stopped, restored on ctl-old, the addresses moved
back, verify's smoke checks with a server booted). Proven:

* the run passes; 0 ICMP lost and 0 TCP resets between vm1 (az1) and vm2 (az2);
* every unit of the region runs 2024.1 again (ctl-old's control plane and agents, the
  computes' nova-compute and OVS agent), nothing of 2025.1 runs on ctl-new;
* every table of every database equals its dump (the restore's checksums);
* a server boots (verify's smoke check, on a compute back on 2024.1);
* the rollback's duration is in its report (the computes', the control plane's, the
  region's), beside MCP's 5-10 minutes;
* a second run of rollback_computes.yml changes nothing.

Figures go to build/lab/rollback-region-figures.json and are printed.
"""

from __future__ import annotations

import json

import pytest

from tests.lib.cp_lab import COMPONENTS, log, run_playbook
# the region chain's region and its state reader (module-scoped fixtures, shared)
from tests.lab.test_upgrade_region import (  # noqa: F401  pylint: disable=unused-import
    COMPUTES, CONTROL_UNITS, UPGRADE_ID, _spans, assert_computes_run, assert_no_packet_lost, region, state,
    upgrade_with_probe,
)
from tests.lib.ansible_runner import REPO

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400),
              pytest.mark.rehearsal("region-rollback")]

CURRENT, TARGET = "2024.1", "2025.1"
REPORT_DIR = REPO / "build" / "reports" / (UPGRADE_ID + "-rollback")
FIGURES_FILE = REPO / "build" / "lab" / "rollback-region-figures.json"
FIGURES = {}
# MCP's rollback of a region (seed 004): 5 to 10 minutes
MCP_SECONDS = (300, 600)


def _save():
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=1, sort_keys=True) + "\n")


def rollback_extra(upgrade_id, report_dir):
    """rollback.yml's variables for the blue-green upgrade ``upgrade_id`` of the lab region."""
    return {"stackhop_current_release": CURRENT, "stackhop_target_release": TARGET,
            "stackhop_upgrade_id": upgrade_id, "stackhop_approval": "auto",
            "stackhop_cloud": "lab-admin", "stackhop_output_dir": str(report_dir),
            "rollback_strategy": "blue_green", "rollback_components": COMPONENTS,
            # the dumps the upgrade took of each component right after it stopped (the
            # region's full backup ran with the cloud up: nova.services moves with every
            # heartbeat and the restore would refuse its checksums)
            "rollback_backup_sets": ["/var/backups/stackhop/%s-%s" % (upgrade_id, c) for c in COMPONENTS],
            "rollback_restore_configs": False, "rollback_verify_checks": ["smoke"],
            "verify_tempest": False}


def _rollback(region, name):
    return run_playbook(region, REPO / "playbooks" / "rollback.yml", name, rollback_extra(UPGRADE_ID, REPORT_DIR),
                        report_dir=REPORT_DIR, timeout=5000)


def _latest(pattern):
    files = sorted(REPORT_DIR.glob(pattern))
    assert files, "the rollback wrote no %s in %s" % (pattern, REPORT_DIR)
    return json.loads(files[-1].read_text())


@pytest.fixture(scope="module")
def rolled_back(region, state):
    """The one rollback of the region, with the probe running from before it to after it."""
    for cmp in COMPUTES:
        serving = state.unit_release(cmp, "nova-compute")
        assert serving == TARGET, "this rollback starts from the region test_upgrade_region.py upgraded " \
            "(%s's nova-compute on %s); found %s" % (cmp, TARGET, serving)
    run, probe, rep, figures = upgrade_with_probe(region, _rollback, "rollback-region", REPORT_DIR)
    # the control plane's report (rollback-<time>.json), not rollback-computes.json beside it
    report = _latest("rollback-[0-9]*.json") if run.rc == 0 else {}
    figures.update({
        "rollback_s": report.get("region_seconds"), "computes_s": report.get("computes_seconds"),
        "control_plane_s": report.get("seconds"), "serving_s": report.get("serving_seconds"),
        "per_compute_rollback_s": (report.get("computes") or {}).get("hosts"),
        "compute_phases_s": _spans(run.record, "phase", hosts=COMPUTES),
        "mcp_s": list(MCP_SECONDS)})
    FIGURES["rollback"] = figures
    _save()
    log("rollback.yml %s -> %s of the region: %s" % (TARGET, CURRENT, json.dumps(figures, indent=1)))
    return run, probe, rep, report


def test_rollback_of_the_region_loses_no_packet(rolled_back):
    run, probe, rep, _report = rolled_back
    assert_no_packet_lost(run, probe, rep)


def test_every_unit_runs_2024_1_again(rolled_back, state):
    for unit in CONTROL_UNITS:
        assert state.unit_release("ctl-old", unit) == CURRENT, unit
        assert state.unit_state("ctl-old", unit).get("ActiveState") == "active", unit
        assert state.unit_state("ctl-new", unit).get("ActiveState") != "active", unit
    assert_computes_run(state, CURRENT)


def test_every_table_equals_the_dump(rolled_back):
    _run, _probe_fig, _rep, report = rolled_back
    assert report["every_table_equal"] is True
    assert all(db["equal"] and db["verified"] for db in report["databases"].values()), report["databases"]


def test_a_server_boots_after_the_rollback(rolled_back):
    checks = _latest("verify-*.json")
    boots = [c for c in checks["smoke"] if c["check"].startswith("server create on")]
    assert boots and boots[0]["status"] == "ok" and "ACTIVE on" in boots[0]["detail"], boots


def test_the_rollbacks_duration_is_in_its_report(rolled_back):
    run, _probe_fig, rep, report = rolled_back
    computes = report["computes"]
    assert computes and computes["release"] == CURRENT and sorted(computes["hosts"]) == sorted(COMPUTES)
    assert all(computes["hosts"][h] for h in COMPUTES), computes["hosts"]
    assert 0 < report["computes_seconds"] < report["region_seconds"]
    # the callback's phases of the computes' rollback: the agent's and nova-compute's
    phases = {(p["phase"], p["component"]) for p in (run.record or {}).get("phases", []) if p.get("host") in COMPUTES}
    assert {("stop", "neutron"), ("start", "neutron"), ("verify", "neutron"), ("start", "nova"),
            ("verify", "nova"), ("done", "compute")} <= phases, sorted(phases)
    assert rep.get("status") == "ok", rep.get("failed_phases")
    print("\nrollback of the region to %s: %.0f s (computes %.0f s, control plane %.0f s, serving after %.0f s); "
          "MCP: %d-%d min" % (CURRENT, report["region_seconds"], report["computes_seconds"], report["seconds"],
                              report["serving_seconds"], MCP_SECONDS[0] // 60, MCP_SECONDS[1] // 60))


def test_second_rollback_of_the_computes_changes_nothing(rolled_back, region):
    run = run_playbook(region, REPO / "playbooks" / "rollback_computes.yml", "rollback-computes-again",
                       rollback_extra(UPGRADE_ID, REPORT_DIR), report_dir=REPORT_DIR, timeout=1800)
    FIGURES["second_run"] = {"rc": run.rc, "total_s": round(run.seconds),
                             "changed": run.changed() if run.record else None}
    _save()
    assert run.rc == 0, run.text[-6000:]
    assert all(v == 0 for v in run.changed().values()), run.changed()
