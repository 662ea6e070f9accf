"""Ironic deployed and upgraded (issue 19 part 1, DeNA's last component), on a lab region
of its own: the rehearsal ``ironic`` (scripts/rehearse.sh ironic).

The region is the lab's with the inventory variant ``ironic`` (lab/inventory-variants/
ironic.yml, STACKHOP_LAB_VARIANT=ironic): ironic-api (uwsgi), ironic-conductor and
nova-compute-ironic (nova-compute with nova's ironic driver, its own unit and config) on
ctl-old; two fake-hardware nodes (resource class BAREMETAL_LAB) and a bare-metal server
``bm1`` on one of them, booted without a network (lab/roles/lab_baremetal). The README's
main command upgrades it 2024.1 -> 2025.1 blue-green with the VMs' probe running; ironic
comes last: stopped on ctl-old, dumped, ironic-dbsync upgrade and online data migrations
of 2025.1, /tftpboot and the image caches copied, started on ctl-new, smoke-tested (node
list), its address moved, then nova's side of the move (after_ironic.yml). Proven:

* the upgrade passes, with 0 ICMP lost between the VMs; ironic's API downtime is in the
  report; ironic's units run 2025.1 on ctl-new, none on ctl-old;
* the phases the run recorded for ironic are exactly those the plan lists;
* ``bm1`` is ACTIVE, its node ``active`` with the same instance; nova's host fields
  (instances.host, launched_on, the compute nodes' host, the API's host) name ctl-new;
  the aggregate holds ctl-new instead of ctl-old; ctl-old has no nova-compute record;
* a second bare-metal server ``bm2`` boots (on the other node) and is deleted again.

The rehearsal ``ironic-in-place`` runs the same module on a region of the variant
``ironic-in-place`` (the same, upgraded in place): ironic's units then run 2025.1 on
ctl-old, and nova's records and the aggregate keep naming ctl-old (nothing moves).

Figures go to build/lab/ironic-figures.json (in place: ironic-in-place-figures.json)
and are printed.
"""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm
from tests.lib.cp_lab import log, report, run_playbook
# the region chain's region and helpers (module-scoped fixtures, shared)
from tests.lab.test_upgrade_region import (  # noqa: F401  pylint: disable=unused-import
    REPORT_DIR, assert_no_packet_lost, main_job_probe, planned_steps, recorded_steps, region, run_figures,
    run_main_job, state,
)
from tests.lib.ansible_runner import REPO

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(7200),
              pytest.mark.rehearsal("ironic", "ironic-in-place")]

CURRENT, TARGET = "2024.1", "2025.1"
OLD, NEW = "ctl-old", "ctl-new"
# the variant's strategy (ironic: blue_green, ironic-in-place: in_place), and where
# ironic and nova-compute-ironic serve after the upgrade
STRATEGY = "in_place" if os.environ.get("STACKHOP_LAB_VARIANT") == "ironic-in-place" else "blue_green"
AFTER = NEW if STRATEGY == "blue_green" else OLD
IRONIC_UNITS = ["ironic-api", "ironic-conductor", "nova-compute-ironic"]
FIGURES_FILE = REPO / "build" / "lab" / ("ironic-figures.json" if STRATEGY == "blue_green"
                                         else "ironic-in-place-figures.json")
FIGURES = {}


def _save():
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=1, sort_keys=True) + "\n")


def sql(region, query):
    """Rows of ``query`` on the lab's MariaDB (ctl-old), as root over its socket."""
    out = region.exec(OLD, "mariadb", "-N", "-B", "-e", query).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def cli(region, host, release, *argv):
    """JSON of an openstack command on a controller, with that release's client."""
    out = region.exec(host, "env", "OS_CLOUD=lab-admin", "/opt/stackhop/venvs/%s/bin/openstack" % release,
                      *argv, "-f", "json").stdout
    return json.loads(out)


def server(region, host, release, name):
    data = cli(region, host, release, "server", "show", name)
    return {"id": data["id"], "status": data["status"], "host": data.get("OS-EXT-SRV-ATTR:host"),
            "node": data.get("OS-EXT-SRV-ATTR:hypervisor_hostname")}


def node(region, host, release, node_id):
    """A node as ironic's API lists it (openstacksdk: the client has no baremetal commands)."""
    code = ("import json, openstack; n = openstack.connect(cloud='lab-admin').baremetal.get_node(%r); "
            "print(json.dumps({'name': n.name, 'provision_state': n.provision_state, "
            "'instance_id': n.instance_id, 'power_state': n.power_state}))" % node_id)
    return json.loads(region.exec(host, "/opt/stackhop/venvs/%s/bin/python" % release, "-c", code).stdout)


def nova_rows(region, instance_id):
    """(host, launched_on, node) of the instance and the host of its node's compute node."""
    inst = sql(region, "SELECT host, launched_on, node FROM nova.instances WHERE uuid = '%s'" % instance_id)[0]
    cn = sql(region, "SELECT host FROM nova.compute_nodes WHERE hypervisor_hostname = '%s' AND deleted = 0"
             % inst[2])
    return {"host": inst[0], "launched_on": inst[1], "node": inst[2], "compute_node_host": cn[0][0] if cn else None}


@pytest.fixture(scope="module")
def before(region):
    hv = region.hostvars
    assert "ironic" in hv[OLD]["stackhop_components"], (
        "this lab has no ironic: bring it up with STACKHOP_LAB_VARIANT=ironic (scripts/rehearse.sh ironic does)")
    try:
        return _read_before(region)
    except Exception as exc:  # pylint: disable=broad-except
        # a run of this upgrade that stopped mid-move left the bare-metal API down: the
        # state that run saved before it started is the one compared (said in the figures)
        saved = json.loads(FIGURES_FILE.read_text()) if FIGURES_FILE.exists() else {}
        if not saved.get("before"):
            raise
        log("ironic: the state before the upgrade cannot be read now (%s); the one saved before the "
            "first run of this upgrade is compared" % str(exc).splitlines()[0][:200])
        FIGURES["before"] = dict(saved["before"], read="saved before an earlier run of this upgrade")
        _save()
        return saved["before"]


def _read_before(region):
    bm1 = server(region, OLD, CURRENT, "bm1")
    assert bm1["status"] == "ACTIVE" and bm1["host"] == OLD, bm1
    got = {"bm1": bm1, "node": node(region, OLD, CURRENT, bm1["node"]), "nova": nova_rows(region, bm1["id"])}
    assert got["node"]["provision_state"] == "active" and got["node"]["instance_id"] == bm1["id"], got
    assert got["nova"]["host"] == got["nova"]["launched_on"] == OLD, got
    nodes = sql(region, "SELECT name, provision_state FROM ironic.nodes ORDER BY name")
    assert len(nodes) == 2, nodes
    FIGURES["before"] = dict(got, nodes=nodes)
    _save()
    return got


@pytest.fixture(scope="module")
def upgraded(region, before):
    run = run_main_job(region, "ironic-upgrade")
    probe = main_job_probe(region) if run.rc == 0 else {}
    rep = report(REPORT_DIR)
    FIGURES["upgrade"] = run_figures(run, probe, rep, REPORT_DIR)
    _save()
    log("ironic: upgrade %s -> %s: %s" % (CURRENT, TARGET, json.dumps(FIGURES["upgrade"], indent=1)))
    return run, probe, rep


def test_upgrade_passes_and_ironic_runs_the_target_on_the_new_node(upgraded, state, region):
    run, probe, rep = upgraded
    assert region.hostvars[OLD].get("stackhop_control_plane_strategy", "blue_green") == STRATEGY
    assert_no_packet_lost(run, probe, rep)
    for unit in IRONIC_UNITS:
        assert state.unit_release(AFTER, unit) == TARGET, unit
        assert state.unit_state(AFTER, unit).get("ActiveState") == "active", unit
        if STRATEGY == "blue_green":
            assert state.unit_state(OLD, unit).get("ActiveState") != "active", unit
    down = FIGURES["upgrade"]["api_down_s"]
    assert "ironic" in down and down["ironic"][0] > 0, down


def test_the_plan_lists_exactly_the_steps_the_executor_ran(upgraded, region):
    """The main job's plan-equals-execution check on this region, ironic included: every
    component's recorded control-plane phases are its plan steps', in the plan's order."""
    control, _hosts = recorded_steps(upgraded[0].record)
    plan = planned_steps(region, STRATEGY, first=OLD)
    FIGURES["ironic_phases"] = {"planned": plan.get("ironic"), "ran": control.get("ironic")}
    _save()
    assert "ironic" in plan and plan["ironic"] == rm.control_plane_phases("ironic", CURRENT, TARGET, STRATEGY)
    assert list(control) == list(plan)
    assert control == plan


def test_the_baremetal_server_stays_and_nova_points_at_the_new_compute(upgraded, region, before):
    """Blue-green: nova's records and the aggregate move to ctl-new; in place: they keep ctl-old."""
    bm1 = server(region, AFTER, TARGET, "bm1")
    after = {"bm1": bm1, "node": node(region, AFTER, TARGET, bm1["node"]), "nova": nova_rows(region, bm1["id"])}
    aggregate = cli(region, AFTER, TARGET, "aggregate", "show", "lab-baremetal")
    services = cli(region, AFTER, TARGET, "compute", "service", "list", "--service", "nova-compute")
    FIGURES["after"] = dict(after, aggregate_hosts=aggregate.get("hosts"),
                            nova_compute_hosts=sorted(s["Host"] for s in services))
    _save()
    assert bm1["status"] == "ACTIVE" and bm1["id"] == before["bm1"]["id"], bm1
    assert bm1["node"] == before["bm1"]["node"], bm1
    assert after["node"]["provision_state"] == "active" and after["node"]["instance_id"] == bm1["id"], after
    assert bm1["host"] == AFTER, bm1
    assert after["nova"] == {"host": AFTER, "launched_on": AFTER, "node": bm1["node"], "compute_node_host": AFTER}, after
    assert aggregate.get("hosts") == [AFTER], aggregate
    assert AFTER in [s["Host"] for s in services], services
    if STRATEGY == "blue_green":
        assert OLD not in [s["Host"] for s in services], services


def test_a_second_baremetal_server_boots_and_is_deleted(upgraded, region, before):
    out = REPO / "build" / "lab" / "ironic-baremetal.json"
    run = run_playbook(region, REPO / "tests" / "lab" / "playbooks" / "baremetal.yml", "ironic-bm2", {
        "lab_baremetal_on": AFTER, "lab_baremetal_venv": "/opt/stackhop/venvs/%s" % TARGET,
        "lab_baremetal_host": AFTER, "lab_baremetal_servers": ["bm1", "bm2"], "lab_baremetal_out": str(out)})
    assert run.rc == 0, run.text[-4000:]
    got = json.loads(out.read_text())
    bm2 = [s for s in got["servers"] if s["name"] == "bm2"][0]
    FIGURES["bm2"] = bm2
    FIGURES["bm2_seconds"] = round(run.seconds, 1)
    _save()
    assert bm2["status"] == "ACTIVE" and bm2["host"] == AFTER, bm2
    assert bm2["node"] != before["bm1"]["node"] and bm2["node_state"] == "active", bm2
    assert bm2["node_instance"] == bm2["id"], bm2
    # an action on it reaches the new nova-compute-ironic: deleted, its node available again
    region.exec(AFTER, "env", "OS_CLOUD=lab-admin", "/opt/stackhop/venvs/%s/bin/openstack" % TARGET,
                "server", "delete", "--wait", "bm2")
    freed = node(region, AFTER, TARGET, bm2["node"])
    FIGURES["bm2_deleted_node"] = freed
    _save()
    assert freed["instance_id"] is None and freed["provision_state"] in ("available", "cleaning", "deleting"), freed
