"""The database moved with the control plane (issue 22 part 1, DeNA's blue-green), on a lab
region of its own: the rehearsal ``db-move`` (scripts/rehearse.sh db-move).

The region is the lab's, with the inventory variant ``dbmove`` (lab/inventory-variants/
dbmove.yml, STACKHOP_LAB_VARIANT=dbmove): a second, empty MariaDB on ctl-new
(stackhop_db_new). The README's main command upgrades it 2024.1 -> 2025.1 blue-green
with the VMs' probe running: each component's dump is loaded into ctl-new's MariaDB
(accounts copied, every table compared with the dump's), migrated there, and the
services on ctl-new use it. Then rollback.yml of the region, with the probe: the computes,
then the control plane back on ctl-old serving from ctl-old's MariaDB, nothing restored.
Proven:

* the upgrade passes; 0 ICMP lost and 0 TCP resets between vm1 (az1) and vm2 (az2);
* ctl-new's services name ctl-new's database server, which holds every service database;
  nova's cell mappings name it there and ctl-old's server still on ctl-old;
* ctl-old's server is untouched by the move: every table equals the dump the move took;
* the rollback passes with 0 ICMP lost; it switched back (no dump restored), every table
  of the old server equal to the dumps before release N started; every unit runs 2024.1
  on ctl-old against ctl-old's server; a server boots.

Figures go to build/lab/db-move-figures.json and are printed. Written, not yet run (the
machine's two cores were busy with other rehearsals): what it measures is not in the docs.
"""

from __future__ import annotations

import json

import pytest

from tests.lib.cp_lab import COMPONENTS, log, run_playbook, side_addresses
# the region chain's region and helpers (module-scoped fixtures, shared)
from tests.lab.test_upgrade_region import (  # noqa: F401  pylint: disable=unused-import
    CONTROL_UNITS, REPORT_DIR, UPGRADE_ID, assert_computes_run, assert_no_packet_lost, main_job_probe, region,
    run_figures, run_main_job, state, upgrade_with_probe,
)
from tests.lib.cp_lab import report
from tests.lib.ansible_runner import REPO

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(7200),
              pytest.mark.rehearsal("db-move")]

CURRENT, TARGET = "2024.1", "2025.1"
OLD, NEW = "ctl-old", "ctl-new"
DATABASES = ["keystone", "glance", "placement", "nova_api", "nova", "nova_cell0", "neutron", "cinder"]
ROLLBACK_DIR = REPO / "build" / "reports" / (UPGRADE_ID + "-rollback")
FIGURES_FILE = REPO / "build" / "lab" / "db-move-figures.json"
FIGURES = {}
# the component whose dump holds each database (the control plane's sets)
SETS = {"keystone": "keystone", "glance": "glance", "placement": "placement", "nova_api": "nova",
        "nova": "nova", "nova_cell0": "nova", "neutron": "neutron", "cinder": "cinder"}


def _save():
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=1, sort_keys=True) + "\n")


def sql(region, host, query):
    """Rows of ``query`` on ``host``'s MariaDB, as root over its socket (tab-separated)."""
    out = region.exec(host, "mariadb", "-N", "-B", "-e", query).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def checksums(region, host, database):
    tables = [r[0] for r in sql(region, host, "SELECT table_name FROM information_schema.tables WHERE "
                                              "table_schema='%s' AND table_type='BASE TABLE'" % database)]
    if not tables:
        return {}
    rows = sql(region, host, "CHECKSUM TABLE " + ", ".join("`%s`.`%s`" % (database, t) for t in tables))
    return {r[0].split(".", 1)[1]: int(r[1]) for r in rows}


def dumped(region, database):
    """Every table's checksum the move's dump recorded (the set of its component on ctl-old)."""
    path = "/var/backups/stackhop/%s-%s/manifest.json" % (UPGRADE_ID, SETS[database])
    manifest = json.loads(region.exec(OLD, "cat", path).stdout)
    return {t: int(s) for t, s in manifest["databases"][database]["tables"].items()}


def connection(region, host, path, section="database"):
    text = region.exec(host, "cat", path).stdout
    lines = text.split("[%s]" % section, 1)[1].splitlines()
    return [line.split("=", 1)[1].strip() for line in lines if line.startswith("connection")][0]


@pytest.fixture(scope="module")
def addresses(region):
    return side_addresses(region, OLD, NEW, "stackhop_db_address_new", "new side's database server", "dbmove",
                          "db-move")


@pytest.fixture(scope="module")
def upgraded(region, addresses):
    assert sql(region, NEW, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'keystone'") \
        == [["0"]], "ctl-new's MariaDB holds keystone before the upgrade: this lab was upgraded already"
    run = run_main_job(region, "db-move-upgrade")
    probe = main_job_probe(region) if run.rc == 0 else {}
    rep = report(REPORT_DIR)
    FIGURES["upgrade"] = run_figures(run, probe, rep, REPORT_DIR)
    _save()
    log("db-move: upgrade %s -> %s: %s" % (CURRENT, TARGET, json.dumps(FIGURES["upgrade"], indent=1)))
    return run, probe, rep


def test_upgrade_moves_the_database_without_losing_a_packet(upgraded):
    run, probe, rep = upgraded
    assert_no_packet_lost(run, probe, rep)
    # the plan's load phase ran for every component
    loads = {p["component"] for p in (run.record or {}).get("phases", []) if p.get("phase") == "load"}
    assert loads == set(COMPONENTS), loads


def test_the_new_node_serves_from_the_new_server(upgraded, region, addresses, state):
    for unit in CONTROL_UNITS:
        assert state.unit_release(NEW, unit) == TARGET, unit
    for path in ("/etc/keystone/keystone.conf", "/etc/glance/glance-api.conf", "/etc/placement/placement.conf",
                 "/etc/neutron/neutron.conf", "/etc/cinder/cinder.conf"):
        section = "placement_database" if "placement" in path else "database"
        assert "@%s/" % addresses[NEW] in connection(region, NEW, path, section), path
    assert "@%s/" % addresses[NEW] in connection(region, NEW, "/etc/nova/nova.conf", "api_database")
    present = {r[0] for r in sql(region, NEW, "SHOW DATABASES")}
    assert set(DATABASES) <= present, present
    cells = dict(sql(region, NEW, "SELECT name, database_connection FROM nova_api.cell_mappings"))
    assert all("@%s/" % addresses[NEW] in url for url in cells.values()), "cell mappings on ctl-new"
    old_cells = dict(sql(region, OLD, "SELECT name, database_connection FROM nova_api.cell_mappings"))
    assert all("@%s/" % addresses[OLD] in url for url in old_cells.values()), "cell mappings on ctl-old"


def test_the_old_server_is_untouched_by_the_move(upgraded, region):
    differ = {db: sorted(t for t, s in checksums(region, OLD, db).items() if dumped(region, db).get(t) != s)
              for db in DATABASES}
    FIGURES["old_server_tables_differing_after_upgrade"] = differ
    _save()
    assert not any(differ.values()), differ


def _rollback(region, name):
    extra = {"stackhop_current_release": CURRENT, "stackhop_target_release": TARGET,
             "stackhop_upgrade_id": UPGRADE_ID, "stackhop_approval": "auto", "stackhop_cloud": "lab-admin",
             "stackhop_output_dir": str(ROLLBACK_DIR), "rollback_strategy": "blue_green",
             "rollback_components": COMPONENTS, "rollback_restore_configs": False,
             "rollback_verify_checks": ["smoke"], "verify_tempest": False}
    return run_playbook(region, REPO / "playbooks" / "rollback.yml", name, extra,
                        report_dir=ROLLBACK_DIR, timeout=5000)


@pytest.fixture(scope="module")
def rolled_back(upgraded, region):
    assert upgraded[0].rc == 0, "the upgrade failed: nothing to roll back"
    run, probe, rep, figures = upgrade_with_probe(region, _rollback, "db-move-rollback", ROLLBACK_DIR)
    files = sorted(ROLLBACK_DIR.glob("rollback-[0-9]*.json"))
    rb = json.loads(files[-1].read_text()) if run.rc == 0 and files else {}
    figures.update({"rollback_s": rb.get("region_seconds"), "control_plane_s": rb.get("seconds"),
                    "serving_s": rb.get("serving_seconds"), "database_action": rb.get("database_action")})
    FIGURES["rollback"] = figures
    _save()
    log("db-move: rollback %s -> %s: %s" % (TARGET, CURRENT, json.dumps(figures, indent=1)))
    return run, probe, rep, rb


def test_rollback_switches_back_without_losing_a_packet(rolled_back):
    run, probe, rep, _rb = rolled_back
    assert_no_packet_lost(run, probe, rep)


def test_rollback_restores_nothing_and_every_table_equals_before(rolled_back):
    _run, _probe, _rep, rb = rolled_back
    assert rb["database_action"] == "switch_back" and rb["backup_sets"] == [], rb
    assert sorted(rb["databases"]) == sorted(DATABASES), rb["databases"]
    assert rb["every_table_equal"] is True
    assert all(db["verified"] and db["equal"] and db["load_duration"] is None for db in rb["databases"].values())


def test_release_n_serves_on_the_old_server_again(rolled_back, region, addresses, state):
    for unit in CONTROL_UNITS:
        assert state.unit_release(OLD, unit) == CURRENT, unit
        assert state.unit_state(OLD, unit).get("ActiveState") == "active", unit
        assert state.unit_state(NEW, unit).get("ActiveState") != "active", unit
    assert_computes_run(state, CURRENT)
    assert "@%s/" % addresses[OLD] in connection(region, OLD, "/etc/keystone/keystone.conf")
    assert "@%s/" % addresses[OLD] in connection(region, OLD, "/etc/nova/nova.conf", "api_database")
    checks = json.loads(sorted(ROLLBACK_DIR.glob("verify-*.json"))[-1].read_text())
    boots = [c for c in checks["smoke"] if c["check"].startswith("server create on")]
    assert boots and boots[0]["status"] == "ok", boots
