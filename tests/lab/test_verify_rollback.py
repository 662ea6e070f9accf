"""verify and rollback on the lab region at 2024.1 (issue 8; proof 4's restore and checksum
path, timed).

One region shared by the tests of this module, in order:

1. the preflight role saves the inventories; playbooks/verify.yml passes (every smoke
   test, a server booted on an old compute ACTIVE, inventories equal, logs scanned); a
   renamed server makes it fail with one sentence naming it;
2. in place: release N stopped and backed up (the backup refuses a dump whose tables
   changed while it ran), started again, then data and a config change, then
   playbooks/rollback.yml: every table's checksum equals the dump's, the change is gone,
   the config is back, the inventories equal those saved before; the time is printed;
3. blue-green: release N stopped on ctl-old and backed up (the upgrade's dump point), the
   databases changed, every service address moved to ctl-new (the state after a
   blue-green switch), the API probe polling every API from the switch namespace;
   rollback.yml restores, starts N on ctl-old and moves every address back; the probe's
   downtime per API and the rollback's time are printed.

The rehearsal ``verify-rollback`` (scripts/rehearse.sh verify-rollback): the region ``vrreg``
is deployed by scripts/lab-up.sh (7-15 min); STACKHOP_LAB_REGION=<lab> uses a deployed one.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.lib.region_lab import failed_tasks, region_lab, task_results
from tests.lib.ansible_runner import REPO

# the first test's setup deploys the region: longer than pytest.ini's timeout on 2 cores
pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(3600),
              pytest.mark.rehearsal("verify-rollback")]

PLAYBOOKS = REPO / "playbooks"
VENV = "/opt/stackhop/venvs/2024.1"
OPENSTACK = VENV + "/bin/openstack"
COMPONENTS = ["keystone", "glance", "placement", "nova", "neutron", "cinder"]
# tempest (on in the lab) is the tempest rehearsal's: here the extra vars' interpreter (the
# release venv's, for pre-flight) would also be tempest_run's, which needs tempest's own
# The backups here are release N's for the rollbacks: the region has no target staged, so
# the test-upgrade of the copies (its own tests: tests/backup/test_path_migrations.py and
# the main job's upgrade) is off.
COMMON = {"stackhop_cloud": "lab-admin", "verify_api_host": "ctl-old", "verify_tempest": False,
          "backup_verify_path_migrations": False}
RESULTS = REPO / "build" / "results"


@pytest.fixture(scope="module")
def region():
    lab = region_lab("vrreg")
    # main's preflight calls a bare `openstack` for the agents: give it the release's
    lab.exec("ctl-old", "ln", "-sf", OPENSTACK, "/usr/local/bin/openstack")
    yield lab
    lab.destroy()


def osc(lab, *argv, check=True):
    return lab.exec("ctl-old", "env", "OS_CLOUD=lab-admin", OPENSTACK, *argv, check=check)


def run(lab, playbook, tmp_path, extra=None, ok=True):
    extra_vars = dict(COMMON, **(extra or {}))
    t0 = time.monotonic()
    proc, doc = lab.playbook(PLAYBOOKS / playbook, extra_vars=extra_vars, env={
        "STACKHOP_REPORT_DIR": str(tmp_path / "report"), "STACKHOP_REPORT_SUMMARY": "false"})
    seconds = time.monotonic() - t0
    if ok:
        assert proc.returncode == 0, failed_tasks(doc) or proc.stderr[-3000:]
    return proc, doc, seconds


def save_inventories(lab, tmp_path):
    run(lab, "preflight.yml", tmp_path, {
        "stackhop_preflight_hosts": "ctl-old", "preflight_checks": ["saved_inventories"],
        "ansible_python_interpreter": VENV + "/bin/python", "preflight_cloud": "lab-admin",
        "preflight_components": COMPONENTS})


UNITS = ["keystone", "glance-api", "placement-api", "nova-api", "nova-conductor", "nova-scheduler",
         "neutron-server", "cinder-api", "cinder-scheduler", "cinder-volume"]


def stop_writers(lab):
    """Stop release N on ctl-old, as the upgrade does before it dumps (nothing writes then:
    the agents and computes reach the databases only through neutron-server and
    nova-conductor). The backup role refuses a dump whose tables changed meanwhile."""
    lab.exec("ctl-old", "systemctl", "stop", *UNITS)


def start_writers(lab):
    lab.exec("ctl-old", "systemctl", "start", *UNITS)
    deadline = time.monotonic() + 300
    while osc(lab, "flavor", "list", check=False).returncode != 0:
        assert time.monotonic() < deadline, "the APIs did not come back"
        time.sleep(3)


def sql(lab, statement):
    return lab.exec("ctl-old", "mariadb", "--batch", "--skip-column-names", "-e", statement).stdout.strip()


def rollback_report(tmp_path):
    files = sorted((tmp_path / "report").glob("rollback-[0-9]*.json"))
    assert files, "rollback wrote no report"
    return json.loads(files[-1].read_text())


def test_verify_passes_then_names_a_difference(region, tmp_path):
    save_inventories(region, tmp_path)
    _proc, doc, seconds = run(region, "verify.yml", tmp_path, {"verify_components": COMPONENTS})
    checks = json.loads(sorted((tmp_path / "report").glob("verify-*.json"))[-1].read_text())
    smoke = {(c["component"], c["check"]): c for c in checks["smoke"]}
    assert all(c["status"] in ("ok", "skipped") for c in smoke.values()), smoke
    boots = [c for c in checks["smoke"] if c["check"].startswith("server create on")]
    assert boots and boots[0]["status"] == "ok" and "ACTIVE on" in boots[0]["detail"]
    # cinder-volume with cinder's fake driver (lab/inventory/group_vars/all/cinder.yml): a real round trip
    assert smoke[("cinder", "volume create and delete")]["status"] == "ok", smoke[("cinder", "volume create and delete")]
    assert checks["inventories"] and all(v == [] for v in checks["inventories"].values())
    assert "ctl-old" in checks["logs"] and checks["logs"]["ctl-old"]["services"]
    print("\nverify on the lab region: %.1f s, %d smoke checks" % (seconds, len(smoke)))

    osc(region, "server", "set", "--name", "vm1-moved", "vm1")
    try:
        proc, doc, _seconds = run(region, "verify.yml", tmp_path, {"verify_checks": ["inventories"]}, ok=False)
        assert proc.returncode != 0
        msgs = [failure[2] for failure in failed_tasks(doc)]
        assert any("verify failed on ctl-old" in m and "name vm1 -> vm1-moved" in m for m in msgs), msgs
    finally:
        osc(region, "server", "set", "--name", "vm1", "vm1-moved")


def test_rollback_in_place_restores_every_table_and_the_configs(region, tmp_path):
    stop_writers(region)
    run(region, "backup.yml", tmp_path, {"backup_id": "vr-inplace", "backup_force": True,
                                         "backup_db_socket": "/run/mysqld/mysqld.sock"})
    start_writers(region)
    osc(region, "flavor", "create", "--ram", "64", "--vcpus", "1", "--disk", "0", "vr-canary")
    region.exec("ctl-old", "sh", "-c", "echo '# vr rollback canary' >> /etc/glance/glance-api.conf")

    _proc, doc, seconds = run(region, "rollback.yml", tmp_path, {
        "rollback_backup_sets": ["/var/backups/stackhop/vr-inplace"], "rollback_strategy": "in_place",
        "rollback_components": COMPONENTS, "rollback_verify_checks": ["smoke", "inventories"]})
    report = rollback_report(tmp_path)
    assert report["every_table_equal"] is True and len(report["databases"]) == 8
    assert all(db["equal"] and db["verified"] for db in report["databases"].values())
    names = osc(region, "flavor", "list", "-f", "value", "-c", "Name").stdout.split()
    assert "vr-canary" not in names, "the flavor created after the backup survived the rollback"
    conf = region.exec("ctl-old", "cat", "/etc/glance/glance-api.conf").stdout
    assert "vr rollback canary" not in conf, "the config changed after the backup was not restored"
    assert region.exec("ctl-old", "systemctl", "is-active", "glance-api").stdout.strip() == "active"
    print("\nin-place rollback to 2024.1: serving after %.1f s, %.1f s with the verification "
          "(%.1f s wall), 8 databases, every table's checksum equal"
          % (report["serving_seconds"], report["seconds"], seconds))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rollback-in-place.json").write_text(json.dumps(dict(report, wall_s=seconds), indent=1))
    assert report["serving_seconds"] < 300, "release N served again only after 5 minutes"


def test_rollback_blue_green_moves_every_address_back(region, tmp_path):
    # the rolled-back components' addresses (the lab's list also holds the variant ironic's)
    addresses = {service: address for service, address in region.hostvars["ctl-old"]["stackhop_service_addresses"].items()
                 if service in COMPONENTS}
    # the state after a blue-green switch: release N stopped on ctl-old and dumped (the
    # upgrade's dump point), the databases changed by the new release, every address on ctl-new
    stop_writers(region)
    run(region, "backup.yml", tmp_path, {"backup_id": "vr-bluegreen", "backup_force": True,
                                         "backup_db_socket": "/run/mysqld/mysqld.sock"})
    before = sql(region, "SELECT description FROM keystone.project WHERE name = 'admin'")
    sql(region, "UPDATE keystone.project SET description = 'vr-canary-bg' WHERE name = 'admin'")
    sql(region, "UPDATE nova_api.flavors SET name = 'vr-canary-bg' WHERE name = 'm1.lab'")
    for service, address in addresses.items():
        region.exec("ctl-old", "ip", "addr", "del", address + "/32", "dev", "eth0", check=False)
        region.exec("ctl-new", "ip", "addr", "add", address + "/32", "dev", "eth0", check=False)
    run(region, "api_probe.yml", tmp_path, {"api_probe_services": COMPONENTS,
                                            "api_probe_state_dir": str(tmp_path / "probe-state"),
                                            "api_probe_report_dir": str(tmp_path / "report")})
    try:

        _proc, doc, seconds = run(region, "rollback.yml", tmp_path, {
            "rollback_backup_sets": ["/var/backups/stackhop/vr-bluegreen"], "rollback_strategy": "blue_green",
            "rollback_components": COMPONENTS, "rollback_verify_checks": ["smoke"]})
    finally:
        _probe_proc, probe_doc, _probe_seconds = run(region, "api_probe.yml", tmp_path, {
            "api_probe_action": "stop", "api_probe_state_dir": str(tmp_path / "probe-state")})
    report = rollback_report(tmp_path)
    assert report["every_table_equal"] is True
    for address in addresses.values():
        assert address in region.addresses("ctl-old") and address not in region.addresses("ctl-new")
    assert sql(region, "SELECT description FROM keystone.project WHERE name = 'admin'") == before
    assert "m1.lab" in osc(region, "flavor", "list", "-f", "value", "-c", "Name").stdout.split()
    facts = {}
    for res in task_results(probe_doc, "Publish the figures as api_probe_report").values():
        facts.update(res.get("ansible_facts", {}))
    services = facts["api_probe_report"]["services"]
    print("\nblue-green rollback to 2024.1: serving after %.1f s, %.1f s with the verification (%.1f s wall); "
          "API downtime while rolling back:" % (report["serving_seconds"], report["seconds"], seconds))
    for name, row in sorted(services.items()):
        print("  %-9s down %.1f s in %d windows (longest %.1f s), %.1f polls/s"
              % (name, row["down_s"], row["windows"], row["longest_s"], row["polls_per_s"]))
        assert not row["ongoing"], "%s is still down after the rollback" % name
        assert row["polls_per_s"] >= 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rollback-blue-green.json").write_text(json.dumps(
        dict(report, wall_s=seconds, api_downtime={k: {x: v[x] for x in ("down_s", "longest_s", "windows")}
                                                   for k, v in services.items()}), indent=1))
    assert report["serving_seconds"] < 300, "release N served again only after 5 minutes"
