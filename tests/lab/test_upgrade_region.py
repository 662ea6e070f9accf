"""playbooks/upgrade_region.yml on the session's lab region: 2024.1 -> 2025.1 (SLURP).

The region chain's last module (tests/lab/conftest.py): the region deployed by the
``lab_region`` fixture, after pre-flight's tests restored every break they made, is
upgraded as an operator would, with one command: pre-flight, backup, blue-green control
plane (ctl-old -> ctl-new, the API of every service polled at 4 Hz), computes az1 then az2
(canary, approval ``auto``, batches), verify. The lab's data-plane probe runs between vm1
(az1) and vm2 (az2) throughout. Proven (issue 10, proofs 1 and 4):

* the run passes; 0 ICMP lost and 0 TCP resets between the VMs;
* every unit of the region runs 2025.1; the report (report.json, report.html) holds every
  phase, each service's API downtime and the data-plane figures;
* a second run of the same command on the upgraded region changes nothing;
* a new server boots on an upgraded compute and the VMs reach it.

Figures go to build/lab/upgrade-region-figures.json and are printed.
"""

from __future__ import annotations

import datetime
import json
import re
import time

import pytest
import yaml

from tests.lab.cp_lab import COMPONENTS, LabState, api_downtime, log, report, run_playbook
from tests.lab.region_lab import RegionLab
from tests.lib.ansible_runner import REPO
from tests.report import chromium

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400)]

PLAYBOOK = REPO / "playbooks" / "upgrade_region.yml"
CURRENT, TARGET = "2024.1", "2025.1"
UPGRADE_ID = "region-2024.1-to-2025.1"
REPORT_DIR = REPO / "build" / "reports" / UPGRADE_ID
FIGURES_FILE = REPO / "build" / "lab" / "upgrade-region-figures.json"
FIGURES = {}
COMPUTES = ("cmp1", "cmp2")
CONTROL_UNITS = ["keystone", "glance-api", "placement-api", "nova-api", "nova-conductor",
                 "nova-scheduler", "neutron-server", "cinder-api", "cinder-scheduler"]


def _save():
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=1, sort_keys=True) + "\n")


def _ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _spans(record, key, hosts=None, skip_components=()):
    """Wall seconds from the first start to the last end of the run's phases, per ``key``
    (only the phases of ``hosts`` when given, none of ``skip_components``)."""
    spans = {}
    for phase in (record or {}).get("phases", []):
        k = phase.get(key)
        if not k or (hosts and phase.get("host") not in hosts) \
                or phase.get("component") in skip_components:
            continue
        lo, hi = spans.get(k, (None, None))
        start, end = _ts(phase["start"]), _ts(phase["end"])
        spans[k] = (start if lo is None else min(lo, start), end if hi is None else max(hi, end))
    return {k: round(hi - lo, 1) for k, (lo, hi) in spans.items()}


def _probe(region, action, **extra):
    vars_ = {"lab_probe_action": action}
    vars_.update(extra)
    run = run_playbook(region, REPO / "playbooks" / "lab_probe.yml", "region-probe-%s" % action, vars_)
    assert run.rc == 0, run.text[-3000:]
    if action == "report":
        return json.loads((REPO / "build" / "lab" / "probe-report.json").read_text())
    return None


def _upgrade(region, name):
    extra = yaml.safe_load((REPO / "inventories" / "lab" / "acknowledgements-2025.1.yml").read_text())
    extra.update({"stackhop_target_release": TARGET, "stackhop_upgrade_id": UPGRADE_ID,
                  "stackhop_approval": "auto", "control_plane_api_probe": True,
                  "stackhop_lab_probe": True})
    return run_playbook(region, PLAYBOOK, name, extra, report_dir=REPORT_DIR, timeout=5000)


@pytest.fixture(scope="module")
def region(lab_region):
    """The region chain's region (every test that records a figure saves it at once)."""
    return RegionLab(lab_region.parent.name, owned=False)


@pytest.fixture(scope="module")
def state(region):
    return LabState(region)


def upgrade_with_probe(region, upgrade, name, report_dir):
    """One upgrade run (``upgrade(region, name)``) with the VMs' probe running from before
    it to after it; (run, probe figures, report, the run's figures)."""
    _probe(region, "start", lab_probe_reset=True)
    time.sleep(5)
    run = upgrade(region, name)
    probe = _probe(region, "report")
    rep = report(report_dir)
    figures = {
        "rc": run.rc, "total_s": round(run.seconds),
        "phases_s": _spans(run.record, "phase"),
        "components_s": _spans(run.record, "component"),
        # a compute's own upgrade: code, Open vSwitch, agent, nova-compute (not the staging
        # before the window, nor the region-wide verify after it)
        "per_compute_s": _spans(run.record, "host", hosts=COMPUTES, skip_components=(
            "release_code", "verify", "logs", "region", "summary", "inventories", "api")),
        "api_down_s": api_downtime(report_dir),
        "vm_icmp": probe.get("icmp"), "vm_tcp": probe.get("tcp"),
        "report_status": rep.get("status"), "log": str(run.log)}
    return run, probe, rep, figures


def second_run(region, upgrade, name):
    """The same command again on the upgraded region: (run, its figures)."""
    run = upgrade(region, name)
    return run, {"rc": run.rc, "total_s": round(run.seconds),
                 "changed": run.changed() if run.record else None}


def assert_no_packet_lost(run, probe):
    assert run.rc == 0, run.text[-6000:]
    assert probe["icmp"]["sent"] > 1000, probe
    assert probe["icmp"]["lost"] == 0, probe
    assert probe["tcp"]["resets"] == 0 and probe["tcp"]["reconnects"] == 0, probe


def assert_computes_run(state, release):
    for cmp in COMPUTES:
        for unit in ("nova-compute", "neutron-openvswitch-agent"):
            assert state.unit_release(cmp, unit) == release, (cmp, unit)
            assert state.unit_state(cmp, unit).get("ActiveState") == "active", (cmp, unit)
    for unit in ("neutron-dhcp-agent", "neutron-openvswitch-agent"):
        assert state.unit_release("ctl-old", unit) == release, unit


@pytest.fixture(scope="module")
def upgraded(region):
    """The one upgrade run, with the probe running from before it to after it."""
    run, probe, rep, FIGURES["upgrade"] = upgrade_with_probe(region, _upgrade, "upgrade-region", REPORT_DIR)
    _save()
    log("upgrade_region.yml %s -> %s: %s" % (CURRENT, TARGET, json.dumps(FIGURES["upgrade"], indent=1)))
    return run, probe, rep


def test_upgrade_region_passes_without_losing_a_packet(upgraded):
    run, probe, _rep = upgraded
    assert_no_packet_lost(run, probe)


def test_every_unit_runs_the_target(upgraded, state):
    for unit in CONTROL_UNITS:
        assert state.unit_release("ctl-new", unit) == TARGET, unit
        st = state.unit_state("ctl-old", unit)
        assert st.get("ActiveState") != "active", "%s still runs on ctl-old" % unit
    assert_computes_run(state, TARGET)


def test_the_report_holds_phases_downtime_and_the_data_plane(upgraded):
    _run, _probe_fig, rep = upgraded
    assert (REPORT_DIR / "report.html").stat().st_size > 0
    phases = {p["phase"] for p in rep["phases"]}
    assert {"preflight", "backup", "verify"} <= phases, phases
    down = api_downtime(REPORT_DIR)
    assert set(down) >= set(COMPONENTS), down
    assert rep.get("dataplane"), "the report has no data-plane figures"
    assert rep["status"] == "ok", rep.get("failed_phases")


@pytest.mark.skipif(chromium.binary() is None, reason="chromium is not installed (scripts/apt-packages.txt)")
def test_the_report_of_the_rehearsal_renders_in_chromium(upgraded):
    """The operator's view of this rehearsal: every phase of the run on the timeline, an
    API-down band per service, a screenshot that is not blank."""
    _run, _probe_fig, rep = upgraded
    dom = chromium.dump_dom(REPORT_DIR / "report.html")
    assert '<svg id="timeline"' in dom
    drawn = set(re.findall(r'class="phase" data-phase="([a-z_]+)" data-component="([a-z0-9_-]+)" '
                           r'data-host="([a-z0-9-]+)"', dom))
    assert drawn == {(p["phase"], p["component"], p["host"]) for p in rep["phases"]}
    for service in COMPONENTS:
        assert 'class="apidown" data-service="%s"' % service in dom, service
    png = chromium.screenshot(REPORT_DIR / "report.html", REPO / "build" / "lab" / "upgrade-region-report.png",
                              width=1600, height=1000)
    stats = chromium.pixel_stats(png)
    assert stats["distinct"] > 50 and stats["non_white"] > 0.05, stats


def test_second_run_changes_nothing(upgraded, region):
    run, FIGURES["second_run"] = second_run(region, _upgrade, "upgrade-region-again")
    _save()
    assert run.rc == 0, run.text[-6000:]
    assert run.record, "the report callback recorded no run"
    assert all(v == 0 for v in run.changed().values()), run.changed()


def test_a_new_server_boots_on_an_upgraded_compute_and_is_reached(upgraded, region):
    """Last: verify compares the region with its inventory from before the upgrade, so a
    server created after it would be "new" to the second run."""
    servers = [{"name": "vm1", "az": "az1", "network": "provider-vlan100"},
               {"name": "vm2", "az": "az2", "network": "provider-vlan100"},
               {"name": "vm3", "az": "az2", "network": "provider-vlan100"}]
    t0 = time.monotonic()
    run = run_playbook(region, REPO / "playbooks" / "lab_vms.yml", "region-vm3",
                       {"lab_vm_servers": servers, "stackhop_release": TARGET})
    FIGURES["new_server_s"] = round(time.monotonic() - t0, 1)
    _save()
    assert run.rc == 0, run.text[-4000:]
