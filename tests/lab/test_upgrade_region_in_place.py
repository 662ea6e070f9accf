"""playbooks/upgrade_region.yml, the next hop: the region 2025.1 -> 2025.2 IN PLACE.

Issue 10, proof 2. The region chain's module after test_upgrade_region.py, on the same
region (its control plane serves 2025.1 from ctl-new, its computes run 2025.1): the same
command with ``stackhop_control_plane_strategy=in_place`` (HULK, CERN) upgrades the
controller that serves where it stands (neutron 2025.2 has no neutron-server: neutron-api
under uwsgi, neutron-rpc-server and neutron-periodic-workers replace it), then the
computes az1 then az2, with the VMs' data-plane probe running throughout. Proven:

* the run passes; 0 ICMP lost and 0 TCP resets between vm1 (az1) and vm2 (az2);
* every unit of the region runs 2025.2, the network node's agents too;
* a second run changes nothing.

The rehearsal ``region-in-place`` (scripts/rehearse.sh region-in-place: this module after
test_upgrade_region.py on a lab region of its own, ~50 min). Figures go to
build/lab/upgrade-region-in-place-figures.json and are printed.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.lib.cp_lab import COMPONENTS, api_downtime, log, run_playbook
# the region chain's region and its state reader (module-scoped fixtures, shared)
from tests.lab.test_upgrade_region import (  # noqa: F401  pylint: disable=unused-import
    assert_computes_run, assert_no_packet_lost, region, second_run, state, upgrade_with_probe,
)
from tests.lib.ansible_runner import REPO

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400),
              pytest.mark.rehearsal("region-in-place")]

# the product's upgrade_region.yml, wrapped with the lab probe's figures
PLAYBOOK = REPO / "lab" / "playbooks" / "upgrade_region.yml"
CURRENT, TARGET = "2025.1", "2025.2"
UPGRADE_ID = "region-2025.1-to-2025.2"
REPORT_DIR = REPO / "build" / "reports" / UPGRADE_ID
FIGURES_FILE = REPO / "build" / "lab" / "upgrade-region-in-place-figures.json"
FIGURES = {}
# neutron-server's successors in 2025.2 (roles/neutron_controller)
CONTROL_UNITS = ["keystone", "glance-api", "placement-api", "nova-api", "nova-conductor",
                 "nova-scheduler", "neutron-api", "neutron-rpc-server",
                 "neutron-periodic-workers", "cinder-api", "cinder-scheduler", "cinder-volume"]


def _save():
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=1, sort_keys=True) + "\n")


def _upgrade(region, name):
    extra = yaml.safe_load((REPO / "lab" / "inventory" / "acknowledgements-2025.2.yml").read_text())
    extra.update({"stackhop_current_release": CURRENT, "stackhop_target_release": TARGET,
                  "stackhop_control_plane_strategy": "in_place",
                  "stackhop_upgrade_id": UPGRADE_ID, "stackhop_approval": "auto",
                  "control_plane_api_probe": True})
    return run_playbook(region, PLAYBOOK, name, extra, report_dir=REPORT_DIR, timeout=5000)


@pytest.fixture(scope="module")
def upgraded(region, state):
    """The one in-place run, with the probe running from before it to after it."""
    serving = state.unit_release("ctl-new", "nova-api")
    assert serving == CURRENT, "this hop starts from the region test_upgrade_region.py " \
        "upgraded (ctl-new serving %s); found nova-api on %s" % (CURRENT, serving)
    run, probe, rep, FIGURES["upgrade"] = upgrade_with_probe(
        region, _upgrade, "upgrade-region-in-place", REPORT_DIR)
    _save()
    log("upgrade_region.yml %s -> %s in place: %s" % (
        CURRENT, TARGET, json.dumps(FIGURES["upgrade"], indent=1)))
    return run, probe, rep


def test_in_place_hop_passes_without_losing_a_packet(upgraded):
    run, probe, rep = upgraded
    assert_no_packet_lost(run, probe, rep)
    assert set(api_downtime(REPORT_DIR)) >= set(COMPONENTS)
    assert rep["status"] == "ok", rep.get("failed_phases")


def test_every_unit_runs_2025_2_where_it_ran(upgraded, state):
    for unit in CONTROL_UNITS:
        assert state.unit_release("ctl-new", unit) == TARGET, unit
        assert state.unit_state("ctl-new", unit).get("ActiveState") == "active", unit
    assert state.unit_state("ctl-new", "neutron-server").get("UnitFileState") != "enabled"
    assert_computes_run(state, TARGET)


def test_second_in_place_run_changes_nothing(upgraded, region):
    run, FIGURES["second_run"] = second_run(region, _upgrade, "upgrade-region-in-place-again")
    _save()
    assert run.rc == 0, run.text[-6000:]
    assert all(v == 0 for v in run.changed().values()), run.changed()
