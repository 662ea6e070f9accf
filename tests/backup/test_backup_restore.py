"""playbooks/backup.yml and playbooks/restore_databases.yml against a real private MariaDB.

The tests share one server and run in file order: the full backup set made first is the
one later tests restore from, corrupt (in a copy) and re-run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.backup.conftest import (NOVA_API_INITIAL, NOVA_PASSWORD, PASSWORD, PrivateMariaDB, migration_vars,
                                   play, recap, restore_vars)
from tests.lib.argv_sampler import ArgvSampler

pytestmark = pytest.mark.needs_root

SERVICE_DBS = ["keystone", "glance", "placement", "nova_api", "nova", "nova_cell0"]
STATE = {}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def assert_no_secret(proc):
    for text in (proc.stdout, proc.stderr):
        assert PASSWORD not in text
        assert PASSWORD.split()[-1] not in text  # the random part alone
        assert NOVA_PASSWORD not in text


MARIADB_TOOLS = ("mariadb-dump", "mysqldump", "mariadb", "mysql")


def password_options(sampler):
    """The argvs of MariaDB tools that carried a password option (the value is the
    secret's or any other)."""
    return [argv for _pid, argv in sampler.program_argvs
            if any(a.startswith("--password") or (a.startswith("-p") and len(a) > 2)
                   for a in argv[1:])]


def test_backup_full_set(mariadb, backup_vars, inventory):
    """Dumps, checksums, binlog position, table checksums, archives, verify load and a
    real migration of the nova_api_upgrade copy; no password anywhere."""
    before = {db: mariadb.checksums(db) for db in SERVICE_DBS}
    # every process's argv read on its exec: the admin password and its random part alone
    # (nova's is in the migration URL this test gives ansible-playbook's -e)
    sampler = ArgvSampler({"password": PASSWORD, "password.random": PASSWORD.split()[-1]},
                          programs=MARIADB_TOOLS).start()
    extra = dict(backup_vars, backup_id="bk-full", backup_verify_migrations=migration_vars(mariadb))
    t0 = time.monotonic()
    # -vvv: module arguments and results are printed, so a secret would show
    proc = play("backup.yml", extra, inventory, env={"ANSIBLE_VERBOSITY": "3"})
    STATE["backup_seconds"] = time.monotonic() - t0
    sampler.stop()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert_no_secret(proc)
    assert sampler.hits == [] and password_options(sampler) == [], sampler.report()
    # the sampler did see the dumps run
    assert "mariadb-dump" in sampler.programs_seen(), sampler.report()

    set_dir = Path(backup_vars["backup_dir"], "bk-full")
    manifest = json.loads((set_dir / "manifest.json").read_text())
    STATE["set_dir"], STATE["manifest"] = set_dir, manifest
    assert manifest["complete"] is True
    assert manifest["database_order"] == SERVICE_DBS
    assert sorted(manifest["databases"]) == sorted(SERVICE_DBS)
    assert manifest["missing_databases"] == ["neutron", "cinder", "ironic"]
    assert manifest["binlog_enabled"] is True and manifest["position_option"] == "--master-data=2"
    assert manifest["tool"] == "mariadb-dump" and "MariaDB" in manifest["server_version"]
    for db in SERVICE_DBS:
        rec = manifest["databases"][db]
        dump = set_dir / rec["file"]
        assert sha256(dump) == rec["sha256"]
        assert (set_dir / (rec["file"] + ".sha256")).read_text().split() == [rec["sha256"], rec["file"]]
        assert rec["size"] == dump.stat().st_size
        assert rec["binlog"]["file"].startswith("binlog.") and rec["binlog"]["position"] > 0
        assert rec["binlog"]["gtid"]
        assert rec["tables"] == before[db], db  # every table's checksum recorded
        assert rec["verified"] is True
        with gzip.open(dump, "rt", errors="replace") as f:
            text = f.read()
        assert "DROP DATABASE IF EXISTS `%s`" % db in text
        assert "-- CHANGE MASTER TO MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d;" % (
            rec["binlog"]["file"], rec["binlog"]["position"]) in text
    with gzip.open(set_dir / "keystone.sql.gz", "rt") as f:
        assert "TRIGGER user_stamp" in f.read()  # --triggers
    assert manifest["databases"]["nova_api"]["migrations"][0]["rc"] == 0
    assert not list(set_dir.glob("*.partial"))
    names = sorted(f["file"] for f in manifest["files"])
    assert names == ["configs.tar.gz", "state.tar"]
    for f in manifest["files"]:
        assert sha256(set_dir / f["file"]) == f["sha256"]
    assert oct((set_dir).stat().st_mode & 0o777) == "0o700"
    # the copies are gone, the originals untouched, the option file removed
    assert not {db + "_upgrade" for db in SERVICE_DBS} & mariadb.databases()
    assert {db: mariadb.checksums(db) for db in SERVICE_DBS} == before
    assert not [p for p in Path("/tmp").glob("stackhop-backup-*") if (p / "client.cnf").exists()]


def test_second_run_changes_nothing(backup_vars, inventory):
    proc = play("backup.yml", dict(backup_vars, backup_id="bk-full"), inventory)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert recap(proc)["changed"] == 0
    assert "is complete" in proc.stdout
    assert_no_secret(proc)


def test_check_mode_writes_nothing(backup_vars, inventory):
    proc = play("backup.yml", dict(backup_vars, backup_id="bk-check"), inventory, check=True)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert not Path(backup_vars["backup_dir"], "bk-check").exists()
    assert_no_secret(proc)


def test_verify_keeps_migrated_copy(mariadb, backup_vars, inventory):
    """backup_verify_keep: the nova_api_upgrade copy stays, migrated by the target release,
    while nova_api itself stays at its initial revision."""
    extra = dict(backup_vars, backup_id="bk-keep", backup_databases=["nova_api"],
                 backup_verify_keep=True, backup_verify_migrations=migration_vars(mariadb),
                 backup_config_paths=[], backup_state_paths=[])
    proc = play("backup.yml", extra, inventory)
    assert proc.returncode == 0, proc.stdout[-4000:]
    try:
        assert mariadb.sql("SELECT version_num FROM nova_api.alembic_version")[0][0] == NOVA_API_INITIAL
        copy_rev = mariadb.sql("SELECT version_num FROM nova_api_upgrade.alembic_version")[0][0]
        assert copy_rev != NOVA_API_INITIAL
        if mariadb.seed["real_nova"]:
            # nova's own migration added a column on the copy only
            assert mariadb.sql("SELECT COUNT(*) FROM information_schema.tables WHERE "
                               "table_schema='nova_api_upgrade' AND table_name='migrate_version'")[0][0] == 0
        assert mariadb.sql("SELECT COUNT(*) FROM nova_api_upgrade.flavors")[0][0] == 40
    finally:
        mariadb.sql("DROP DATABASE IF EXISTS nova_api_upgrade")


def test_failing_migration_stops_the_backup(mariadb, backup_vars, inventory):
    extra = dict(backup_vars, backup_id="bk-badmig", backup_databases=["placement"],
                 backup_config_paths=[], backup_state_paths=[],
                 backup_verify_migrations=[{"database": "placement", "argv": [
                     "sh", "-c", "echo 'cannot connect to mysql+pymysql://placement:pw/x-Secret@db/p' >&2; exit 3"]}])
    proc = play("backup.yml", extra, inventory)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "migration of placement_upgrade (sh) failed with exit code 3" in out
    assert "mysql+pymysql://***@db/p" in out
    assert "x-Secret" not in proc.stdout  # the task is no_log, its stderr masked
    assert "placement_upgrade" not in mariadb.databases()  # dropped in the always section
    assert not Path(backup_vars["backup_dir"], "bk-badmig", "manifest.json").exists()


def test_disk_space_refusal(backup_vars, inventory):
    extra = dict(backup_vars, backup_id="bk-space", backup_space_margin_mb=1 << 40)
    proc = play("backup.yml", extra, inventory)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "the backup set needs" in out and "MiB are free there" in out
    assert backup_vars["backup_dir"] in out
    assert not list(Path(backup_vars["backup_dir"], "bk-space").glob("*.sql.gz*"))
    assert_no_secret(proc)


def test_mysqldump_tool(mariadb, backup_vars, inventory):
    """The MySQL-named tool (Debian: a link to mariadb-dump) is driven the same way."""
    if not shutil.which("mysqldump"):
        pytest.skip("no mysqldump on this machine")
    extra = dict(backup_vars, backup_id="bk-mysqldump", backup_dump_tool="mysqldump",
                 backup_databases=["placement", "glance"], backup_verify_load=False)
    proc = play("backup.yml", extra, inventory)
    assert proc.returncode == 0, proc.stdout[-4000:]
    manifest = json.loads(Path(backup_vars["backup_dir"], "bk-mysqldump", "manifest.json").read_text())
    assert manifest["tool"] == "mysqldump"
    assert manifest["tool_path"].endswith("/mysqldump")
    assert manifest["tool_real_path"] == os.path.realpath(shutil.which("mysqldump"))
    assert manifest["databases"]["glance"]["tables"] == mariadb.checksums("glance")


def test_restore_refuses_a_corrupt_dump(mariadb, tmp_path, inventory):
    set_dir = tmp_path / "bk-full"
    shutil.copytree(STATE["set_dir"], set_dir)
    dump = set_dir / "glance.sql.gz"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    mariadb.sql("UPDATE keystone.project SET name = 'changed' WHERE id = 'p0001'")
    before = mariadb.checksums("keystone")
    proc = play("restore_databases.yml", restore_vars(set_dir), inventory)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "%s is corrupt" % dump in out
    assert "nothing was restored" in out
    assert mariadb.checksums("keystone") == before  # nothing loaded
    assert_no_secret(proc)


def test_restore_check_mode(mariadb, inventory):
    before = mariadb.checksums("keystone")
    proc = play("restore_databases.yml", restore_vars(STATE["set_dir"]), inventory, check=True)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "would restore" in proc.stdout
    assert mariadb.checksums("keystone") == before


def test_restore_brings_every_table_back(mariadb, inventory):
    manifest = STATE["manifest"]
    mariadb.sql([
        "UPDATE keystone.user SET enabled = 0",
        "DELETE FROM keystone.revocation_event WHERE id % 3 = 0",
        "DROP TABLE glance.images",
        "CREATE TABLE placement.added_by_upgrade (id INT)",
        "DELETE FROM nova_api.flavors WHERE id > 10",
        "UPDATE nova.services SET report_count = report_count + 1",
    ])
    assert mariadb.checksums("keystone") != manifest["databases"]["keystone"]["tables"]
    t0 = time.monotonic()
    proc = play("restore_databases.yml", restore_vars(STATE["set_dir"]), inventory,
                env={"ANSIBLE_VERBOSITY": "3"})
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert_no_secret(proc)
    for db in SERVICE_DBS:
        assert mariadb.checksums(db) == manifest["databases"][db]["tables"], db
    reports = sorted(STATE["set_dir"].glob("restore-*.json"))
    report = json.loads(reports[-1].read_text())
    assert set(report["databases"]) == set(SERVICE_DBS)
    assert all(r["equal"] and r["verified"] for r in report["databases"].values())
    assert seconds < 300, "restore took %.0f s, the target is 5 minutes" % seconds
    total = sum(manifest["databases"][db]["size"] for db in SERVICE_DBS)
    rows = mariadb.sql("SELECT SUM(table_rows) FROM information_schema.tables WHERE table_schema IN (%s)"
                       % ",".join("'%s'" % d for d in SERVICE_DBS))[0][0]
    print("\nbackup (with verify load and migration) %.1f s; restore of %d databases "
          "(%d KiB of gzip dumps, ~%d rows) %.1f s wall, %.1f s in the role; per database: %s"
          % (STATE["backup_seconds"], len(SERVICE_DBS), total // 1024, rows, seconds,
             report["seconds"], ", ".join("%s %.2f s" % (d, r["load_seconds"])
                                          for d, r in report["databases"].items())))


def test_server_without_binary_log(tmp_path, inventory):
    """A server without binary logging: the fact is recorded, nothing fails (socket login)."""
    db = PrivateMariaDB(log_bin=False, tcp=False).start()
    try:
        db.sql(["CREATE DATABASE keystone", "CREATE TABLE keystone.t (id INT PRIMARY KEY)",
                "INSERT INTO keystone.t VALUES (1), (2)"])
        extra = {"stackhop_backup_hosts": "localhost", "backup_dir": str(tmp_path / "b"),
                 "backup_id": "nobin", "backup_db_socket": db.socket, "backup_db_user": "root",
                 "backup_db_password": "",
                 "backup_config_paths": [], "backup_state_paths": []}
        proc = play("backup.yml", extra, inventory)
        assert proc.returncode == 0, proc.stdout[-4000:]
        manifest = json.loads((tmp_path / "b" / "nobin" / "manifest.json").read_text())
        assert manifest["binlog_enabled"] is False
        assert manifest["position_option"] is None
        assert manifest["databases"]["keystone"]["binlog"] is None
        assert manifest["databases"]["keystone"]["tables"] == db.checksums("keystone")
    finally:
        db.stop()


def test_backup_while_a_service_writes(tmp_path, inventory):
    """A running service writes to its database during the backup (nova.services'
    heartbeats): the table moves between the dump and the checksums read after it. The
    backup passes, names the table live, and records the checksum of what the dump holds
    (the copy's), so a restore is checked against the dump, not against a later state."""
    db = PrivateMariaDB(log_bin=True, tcp=False).start()
    stop = threading.Event()

    def heartbeat():
        while not stop.is_set():
            db.sql("UPDATE nova.services SET report_count = report_count + 1 WHERE id = 1")
            time.sleep(0.01)

    try:
        db.sql(["CREATE DATABASE nova",
                "CREATE TABLE nova.services (id INT PRIMARY KEY, report_count INT) ENGINE=InnoDB",
                "INSERT INTO nova.services VALUES (1, 0)",
                "CREATE TABLE nova.instances (id INT PRIMARY KEY) ENGINE=InnoDB",
                "INSERT INTO nova.instances VALUES (1), (2)"])
        writer = threading.Thread(target=heartbeat, daemon=True)
        writer.start()
        extra = {"stackhop_backup_hosts": "localhost", "backup_dir": str(tmp_path / "b"),
                 "backup_id": "live", "backup_db_socket": db.socket, "backup_db_user": "root",
                 "backup_db_password": "", "backup_databases": ["nova"],
                 "backup_config_paths": [], "backup_state_paths": []}
        proc = play("backup.yml", extra, inventory)
        stop.set()
        writer.join()
        assert proc.returncode == 0, proc.stdout[-4000:]
        rec = json.loads((tmp_path / "b" / "live" / "manifest.json").read_text())["databases"]["nova"]
        assert rec["live_tables"] == ["services"], rec
        assert "services changed while the dump was taken" in proc.stdout
        # the recorded checksum is the dump's: load the dump elsewhere and compare
        with gzip.open(tmp_path / "b" / "live" / rec["file"], "rt") as f:
            dump = f.read().replace("`nova`", "`nova_check`")
        subprocess.run(["mariadb", "--socket", db.socket, "-uroot"], input=dump, text=True,
                       check=True, capture_output=True)
        assert db.checksums("nova_check") == rec["tables"]
        assert rec["tables"]["instances"] == db.checksums("nova")["instances"]
    finally:
        stop.set()
        db.stop()
