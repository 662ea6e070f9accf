"""Issue 8: the control-plane upgrade rehearsed on a lab region, one lab chained through
the proofs (playbooks/upgrade_control_plane.yml, roles/control_plane).

Two rehearsals (scripts/rehearse.sh NAME), each deploying its own 2024.1 lab first
(~10-15 min here). ``control-plane`` (lab ``cpt``), in order on one lab:
  (1) 2024.1 -> 2025.1 blue-green ctl-old -> ctl-new, computes stay on 2024.1; then a
      server created on an old compute becomes ACTIVE, and the VMs kept pinging;
  (7) API downtime per service, polled at 4 Hz by stackhop.upgrade.api_probe, printed;
  (6) a second run changes nothing (changed=0 on every host);
  (2) in place 2025.1 -> 2025.2 on the controller that now serves (neutron 2025.2 has no
      neutron-server: neutron-api under uwsgi, neutron-rpc-server, periodic workers);
      back to 2024.1 with vr's rollback.yml.
``fast-forward`` (lab named by STACKHOP_CP_LAB_NAME, ``cpffu`` in the rehearsal):
  (3) fast-forward 2024.1 -> 2025.2 blue-green: every intermediate release's migrations
      in order, shown in the output; with
  (5) failures on the way: MariaDB stopped mid-migration, a service killed, the play
      interrupted (SIGINT); each time a plain re-run from the top converges, nothing lost.

STACKHOP_CP_LAB=<lab> reuses a deployed 2024.1 lab region (left running afterwards).
Figures: build/cp-test/figures.json and the test output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from tests.lib.cp_lab import (
    COMPONENTS, CONTROL_UNITS, OUT, PLAYBOOK, LabState, api_downtime, component_seconds, log,
    migration_lines, run_playbook,
)
from tests.lab.conftest import region_chain_enabled
from tests.lib.region_lab import RegionLab, _lab_up
from tests.lib.ansible_runner import REPO

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(3600),
              pytest.mark.rehearsal("control-plane")]

LAB = os.environ.get("STACKHOP_CP_LAB_NAME", "cpt")
ADDRESSES = {"keystone": "10.20.0.101", "glance": "10.20.0.102", "placement": "10.20.0.103",
             "nova": "10.20.0.104", "neutron": "10.20.0.105", "cinder": "10.20.0.106"}
FIGURES = {}


def _save_figures():
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "figures.json").write_text(json.dumps(FIGURES, indent=1, sort_keys=True))


@pytest.fixture(scope="module")
def lab(request):
    reuse = os.environ.get("STACKHOP_CP_LAB")
    if not reuse and region_chain_enabled():
        # The region chain (tests/lab/conftest.py): the session's region after pre-flight.
        reuse = request.getfixturevalue("lab_region").parent.name
    if reuse:
        region = RegionLab(reuse, owned=False)
    else:
        subprocess.run([sys.executable, str(REPO / "lab" / "labctl.py"), "destroy",
                        "--lab", LAB], check=False, capture_output=True)
        seconds = _lab_up(LAB, hosts_only=False)
        region = RegionLab(LAB, owned=True, seconds=seconds)
        FIGURES["lab_deploy_s"] = round(seconds)
        log("lab %s deployed (2024.1) in %.0f s" % (LAB, seconds))
    yield region
    _save_figures()
    region.destroy()


@pytest.fixture(scope="module")
def state(lab):
    return LabState(lab)


def _probe(lab, action, extra=None):
    vars_ = {"lab_probe_action": action}
    vars_.update(extra or {})
    run = run_playbook(lab, REPO / "lab" / "playbooks" / "probe.yml", "probe-%s" % action, vars_)
    assert run.rc == 0, run.text[-3000:]
    return json.loads((REPO / "build" / "lab" / "probe-report.json").read_text()) \
        if action == "report" else None


def _upgrade(lab, name, target, strategy="blue_green", upgrade_id=None, **kw):
    extra = {"stackhop_target_release": target, "stackhop_control_plane_strategy": strategy,
             "stackhop_upgrade_id": upgrade_id or name}
    extra.update(kw.pop("extra_vars", {}))
    return run_playbook(lab, PLAYBOOK, name, extra, report_dir=OUT / "reports" / (upgrade_id or name),
                        **kw)


def _check_serving(state, host, release, old=None):
    """Every API's address on ``host``, its units on ``release``; ``old`` runs none."""
    held = state.addresses(host)
    for comp, addr in ADDRESSES.items():
        assert addr in held, "%s's address %s is not on %s" % (comp, addr, host)
    for comp, units in CONTROL_UNITS.items():
        for unit in units:
            if comp == "neutron" and release >= "2025.2":
                unit = "neutron-api"
            assert state.unit_release(host, unit) == release, "%s on %s" % (unit, host)
            st = state.unit_state(host, unit)
            assert st.get("ActiveState") == "active", "%s on %s: %s" % (unit, host, st)
    if old:
        held_old = state.addresses(old)
        for comp, addr in ADDRESSES.items():
            assert addr not in held_old, "%s's address is still on %s" % (comp, old)
        for units in CONTROL_UNITS.values():
            for unit in units:
                st = state.unit_state(old, unit)
                assert st.get("ActiveState") != "active" and st.get("UnitFileState") != "enabled", \
                    "%s still runs on %s: %s" % (unit, old, st)


def _server_on_old_compute(state, release, name, host="cmp1", zone="az1"):
    """Boot a server on an old compute through the upgraded API; (status, host, seconds)."""
    state.openstack("ctl-new", release, "server", "delete", "--wait", name, check=False)
    t0 = time.monotonic()
    proc = state.openstack("ctl-new", release, "server", "create", "--flavor", "m1.lab",
                           "--image", "lab-fake", "--network", "provider-vlan100",
                           "--availability-zone", "%s:%s" % (zone, host), "--wait", name,
                           "-f", "json", check=False)
    seconds = time.monotonic() - t0
    try:
        server = json.loads(proc.stdout)
    except ValueError:
        server = {"status": "create failed: %s" % (proc.stderr or proc.stdout)[-400:]}
    state.openstack("ctl-new", release, "server", "delete", "--wait", name, check=False)
    return server.get("status"), server.get("OS-EXT-SRV-ATTR:host"), round(seconds, 1)


def test_blue_green_2025_1(lab, state):
    """(1)+(7): blue-green 2024.1 -> 2025.1, computes on 2024.1 keep working."""
    _probe(lab, "start", {"lab_probe_reset": True})
    run = _upgrade(lab, "bg-2025.1", "2025.1", extra_vars={"control_plane_api_probe": True})
    assert run.rc == 0, run.text[-5000:]
    # the callback prints the message in a YAML list, single-quoted: ' is written ''
    assert "2025.1's migrations of nova, nova_cell0 ran in" in run.text.replace("''", "'")
    _check_serving(state, "ctl-new", "2025.1", old="ctl-old")
    # the network node's agents were upgraded in place; the computes were not touched
    assert state.unit_release("ctl-old", "neutron-dhcp-agent") == "2025.1"
    assert state.unit_release("ctl-old", "neutron-openvswitch-agent") == "2025.1"
    for cmp in ("cmp1", "cmp2"):
        assert state.unit_release(cmp, "nova-compute") == "2024.1"
    agents = state.openstack_json("ctl-new", "2025.1", "network", "agent", "list")
    assert agents and all(a["Alive"] for a in agents), agents
    services = state.openstack_json("ctl-new", "2025.1", "compute", "service", "list")
    assert not [s for s in services if s["Host"] == "ctl-old"], "old nova services remain"
    status, host, boot_s = _server_on_old_compute(state, "2025.1", "cp-after-2025-1")
    assert (status, host) == ("ACTIVE", "cmp1")
    probe = _probe(lab, "report")
    FIGURES["bg_2025_1"] = {
        "total_s": round(run.seconds), "components_s": component_seconds(run),
        "api_down_s": api_downtime(run.report_dir), "server_on_2024_1_compute_s": boot_s,
        "vm_icmp": probe.get("icmp"), "vm_tcp": probe.get("tcp")}
    _save_figures()
    log("blue-green 2024.1 -> 2025.1: %s" % json.dumps(FIGURES["bg_2025_1"], indent=1))
    down = FIGURES["bg_2025_1"]["api_down_s"]
    assert set(down) >= set(COMPONENTS), "the API probe did not report every service: %s" % down
    assert probe["icmp"]["lost"] == 0 and probe["tcp"]["resets"] == 0, probe


def test_second_run_changes_nothing(lab, state):
    """(6): the finished upgrade run again: changed=0 everywhere."""
    run = _upgrade(lab, "bg-2025.1-again", "2025.1")
    assert run.rc == 0, run.text[-5000:]
    FIGURES["second_run"] = {"total_s": round(run.seconds), "changed": run.changed()}
    _save_figures()
    assert run.record, "the report callback recorded no run"
    assert all(v == 0 for v in run.changed().values()), run.changed()
    _check_serving(state, "ctl-new", "2025.1", old="ctl-old")


def test_in_place_2025_2(lab, state):
    """(2): in place 2025.1 -> 2025.2 on the controller that serves now (ctl-new)."""
    run = _upgrade(lab, "ip-2025.2", "2025.2", strategy="in_place", extra_vars={
        "stackhop_current_release": "2025.1", "control_plane_compute_release": "2024.1"})
    assert run.rc == 0, run.text[-5000:]
    _check_serving(state, "ctl-new", "2025.2")
    for unit in ("neutron-rpc-server", "neutron-periodic-workers"):
        assert state.unit_state("ctl-new", unit).get("ActiveState") == "active"
    assert state.unit_state("ctl-new", "neutron-server").get("UnitFileState") != "enabled"
    status, host, boot_s = _server_on_old_compute(state, "2025.2", "cp-after-2025-2")
    FIGURES["ip_2025_2"] = {"total_s": round(run.seconds), "components_s": component_seconds(run),
                            "server_on_2024_1_compute": [status, host, boot_s]}
    _save_figures()


def test_rollback_to_2024_1(lab, state):
    """Back to 2024.1 with vr's rollback from the dumps (1) took of each component right
    after it stopped (a dump of the running cloud records table checksums outside its
    snapshot: nova.services moves with every heartbeat, and the restore refuses it)."""
    run = run_playbook(lab, REPO / "playbooks" / "rollback.yml", "rollback-2024.1", {
        "stackhop_current_release": "2024.1", "stackhop_target_release": "2025.2",
        "stackhop_cloud": "lab-admin", "rollback_restore_configs": False,
        "rollback_backup_sets": ["/var/backups/stackhop/bg-2025.1-%s" % c for c in COMPONENTS]})
    FIGURES["rollback"] = {"total_s": round(run.seconds), "rc": run.rc}
    _save_figures()
    assert run.rc == 0, run.text[-5000:]
    _check_serving(state, "ctl-old", "2024.1")


def _lab_sql(lab, sql):
    """Rows (tab-separated lines) of ``sql`` run as root on the lab's MariaDB (ctl-old)."""
    return lab.exec("ctl-old", "mariadb", "-N", "-B", "-e", sql).stdout.splitlines()


@pytest.mark.rehearsal("fast-forward")
def test_a_copy_that_cannot_be_migrated_stops_the_region_before_the_control_plane(lab, state):
    """Issue 22 part 6 (MCP's test-upgrade, on by default): a column added locally to nova's
    console_auth_tokens under the name 2025.1's migration gives it (tls_port) is nothing
    the pre-flight can see (the alembic revisions are upstream's), but 2025.1's nova-manage
    db sync fails on the backup's nova_upgrade copy ("Duplicate column name"). The region
    flow (playbooks/upgrade_region.yml 2024.1 -> 2025.1) stops in its backup phase with
    one sentence naming the database, the release and the error, before the control plane
    phase, with nothing changed: ctl-old serves 2024.1, ctl-new runs nothing, every
    database records the revisions it had, no copy and no temporary account are left.
    (2024.1 -> 2025.2 cannot pass the pre-flight here: neutron 25.0.0's (2024.2's)
    neutron-status crashes on SQLAlchemy 2, "Textual SQL expression 'SHOW TABLES;'
    should be explicitly declared as text"; 2025.1's has the fix.)"""
    dbs = ("keystone", "glance", "placement", "nova_api", "nova", "nova_cell0", "neutron", "cinder")

    def revisions():
        return {db: sorted(_lab_sql(lab, "SELECT version_num FROM %s.alembic_version" % db)) for db in dbs}

    before = revisions()
    _lab_sql(lab, "ALTER TABLE nova.console_auth_tokens ADD COLUMN tls_port INT")
    try:
        extra = yaml.safe_load((REPO / "lab" / "inventory" / "acknowledgements-2025.1.yml").read_text())
        extra.update({"stackhop_current_release": "2024.1", "stackhop_target_release": "2025.1",
                      "stackhop_upgrade_id": "ffu-copy-fails", "stackhop_approval": "auto"})
        run = run_playbook(lab, REPO / "playbooks" / "upgrade_region.yml", "ffu-copy-fails", extra,
                           report_dir=OUT / "reports" / "ffu-copy-fails", timeout=3600)
        after = revisions()
    finally:
        _lab_sql(lab, "ALTER TABLE nova.console_auth_tokens DROP COLUMN tls_port")
    text = " ".join(run.text.replace("''", "'").split())
    FIGURES["ffu_copy_fails"] = {"rc": run.rc, "s": round(run.seconds)}
    _save_figures()
    assert run.rc != 0
    sentence = "the test-upgrade stopped the upgrade before anything in the region changed: release 2025.1's nova-manage"
    assert sentence in text, run.text[-5000:]
    tail = text.split(sentence, 1)[1][:2000]
    assert "failed on nova_upgrade, the copy of database nova" in tail and "tls_port" in tail, tail
    # keystone's copy passed first (component by component)
    assert "Migrate the copy with its release's command, 2025.1 keystone-manage db_sync on keystone_upgrade" in text
    assert "PLAY [Upgrade the control plane, component by component]" not in run.text
    assert "PLAY [Read where each component of the control plane runs]" not in run.text
    assert after == before
    _check_serving(state, "ctl-old", "2024.1")
    for units in CONTROL_UNITS.values():
        for unit in units:
            assert state.unit_state("ctl-new", unit).get("ActiveState") != "active", unit
    assert not [d for d in _lab_sql(lab, "SHOW DATABASES") if d.endswith("_upgrade")]
    assert _lab_sql(lab, "SELECT COUNT(*) FROM mysql.user WHERE User = 'stackhop_copies'") == ["0"]


@pytest.mark.rehearsal("fast-forward")
def test_fast_forward_2025_2_with_failures(lab, state):
    """(3)+(5): 2024.1 -> 2025.2 blue-green fast-forward; MariaDB stopped mid-run, a
    service killed, the play interrupted; plain re-runs converge; nothing lost."""
    before = {
        "servers": sorted(s["Name"] for s in state.openstack_json(
            "ctl-old", "2024.1", "server", "list", "--all-projects")),
        "networks": sorted(n["Name"] for n in state.openstack_json("ctl-old", "2024.1", "network", "list")),
        "ports": len(state.openstack_json("ctl-old", "2024.1", "port", "list")),
        "images": sorted(i["Name"] for i in state.openstack_json("ctl-old", "2024.1", "image", "list")),
    }
    uid = "ffu-2025.2"
    runs = []

    def stop_db():
        lab.exec("ctl-old", "systemctl", "stop", "mariadb")

    # 1. MariaDB stops while nova's 2024.2 migrations run on the new node
    runs.append(_upgrade(lab, "ffu-1-db-stopped", "2025.2", upgrade_id=uid, triggers=[
        (r"Nova cell schema migrations \(main and cell0\) of 2024.2", stop_db)]))
    assert runs[-1].rc != 0
    lab.exec("ctl-old", "systemctl", "start", "mariadb")
    # 2. a plain re-run; keystone on the new node is killed (SIGKILL) while nova registers
    #    in it, and the play is interrupted (Ctrl-C) once neutron's migrations start
    runs.append(_upgrade(lab, "ffu-2-killed-interrupted", "2025.2", upgrade_id=uid, triggers=[
        (r"TASK \[Register nova in keystone\]",
         lambda: lab.exec("ctl-new", "systemctl", "kill", "--kill-whom=main", "--signal=KILL",
                         "keystone", check=False))],
        interrupt_on=r"Neutron schema migrations of 2024.2"))
    assert runs[-1].rc != 0
    # 3. plain re-runs until it converges (one should do)
    runs.append(_upgrade(lab, "ffu-3-rerun", "2025.2", upgrade_id=uid))
    assert runs[-1].rc == 0, runs[-1].text[-5000:]
    _check_serving(state, "ctl-new", "2025.2", old="ctl-old")
    text = "".join(r.text for r in runs)
    lines = migration_lines(text)
    order = {}
    for rel, dbs, what in lines:
        if what == "ran" and rel not in order.setdefault(dbs, []):
            order[dbs].append(rel)
    for dbs in ("keystone", "glance", "placement", "nova_api", "nova, nova_cell0", "neutron", "cinder"):
        assert order.get(dbs) == ["2024.2", "2025.1", "2025.2"], (dbs, order.get(dbs))
    after = {
        "servers": sorted(s["Name"] for s in state.openstack_json(
            "ctl-new", "2025.2", "server", "list", "--all-projects")),
        "networks": sorted(n["Name"] for n in state.openstack_json("ctl-new", "2025.2", "network", "list")),
        "ports": len(state.openstack_json("ctl-new", "2025.2", "port", "list")),
        "images": sorted(i["Name"] for i in state.openstack_json("ctl-new", "2025.2", "image", "list")),
    }
    assert after == before
    again = _upgrade(lab, "ffu-4-again", "2025.2", upgrade_id=uid)
    assert again.rc == 0 and all(v == 0 for v in again.changed().values()), again.changed()
    status, host, boot_s = _server_on_old_compute(state, "2025.2", "cp-after-ffu")
    FIGURES["ffu_2025_2"] = {
        "runs": [{"name": r.log.stem, "rc": r.rc, "s": round(r.seconds),
                  "components_s": component_seconds(r)} for r in runs],
        "migration_order": order, "second_run_changed": again.changed(),
        "server_on_2024_1_compute": [status, host, boot_s]}
    _save_figures()
