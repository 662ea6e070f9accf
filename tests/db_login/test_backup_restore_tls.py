"""playbooks/backup.yml and playbooks/restore_databases.yml against the TLS-only private
MariaDB, as a user created REQUIRE X509: stackhop_db_tls reaches the dump and client tools
through their 0600 option file (never argv) and the community.mysql modules as options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.backup.conftest import play, recap
from tests.db_login.conftest import PASSWORD
from tests.lib.ansible_runner import VENV

pytestmark = pytest.mark.needs_root

ADMIN = "tls_admin"
DB = "dbtls_bk"


@pytest.fixture(scope="module")
def admin(tls_mariadb):
    tls_mariadb.sql([
        "CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s' REQUIRE X509" % (ADMIN, PASSWORD),
        "GRANT ALL PRIVILEGES ON *.* TO '%s'@'127.0.0.1'" % ADMIN,
        "CREATE DATABASE %s" % DB,
        "CREATE TABLE %s.t (id INT PRIMARY KEY, name VARCHAR(32))" % DB,
        "INSERT INTO %s.t VALUES (1, 'one'), (2, 'two'), (3, 'three')" % DB])
    return ADMIN


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp("tls-inv") / "hosts.yml"
    path.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local",
        "ansible_python_interpreter": str(VENV / "bin" / "python"),
        "backup_db_password": PASSWORD, "db_restore_db_password": PASSWORD}}}}))
    path.chmod(0o600)
    return path


def tls(files, **more):
    return dict({"ca_cert": files["ca"], "client_cert": files["client"],
                 "client_key": files["client_key"]}, **more)


def backup_vars(db, tmp, files, backup_id):
    return {"stackhop_backup_hosts": "localhost", "backup_dir": str(tmp / "backups"),
            "backup_id": backup_id, "backup_db_host": "127.0.0.1", "backup_db_port": db.port,
            "backup_db_user": ADMIN, "backup_databases": [DB], "backup_config_paths": [],
            "backup_state_paths": [], "stackhop_db_tls": tls(files)}


def test_backup_and_restore_over_tls(tls_mariadb, tls_files, admin, inventory, tmp_path):
    proc = play("backup.yml", backup_vars(tls_mariadb, tmp_path, tls_files, "tls-set"), inventory)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert PASSWORD not in proc.stdout + proc.stderr
    set_dir = tmp_path / "backups" / "tls-set"
    manifest = json.loads((set_dir / "manifest.json").read_text())
    assert DB in manifest["databases"]

    tls_mariadb.sql("DELETE FROM %s.t WHERE id > 1" % DB)
    proc = play("restore_databases.yml", {
        "stackhop_backup_hosts": "localhost", "db_restore_set_dir": str(set_dir),
        "db_restore_db_host": "127.0.0.1", "db_restore_db_port": tls_mariadb.port,
        "db_restore_db_user": ADMIN, "stackhop_db_tls": tls(tls_files)}, inventory)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert PASSWORD not in proc.stdout + proc.stderr
    assert tls_mariadb.sql("SELECT COUNT(*) FROM %s.t" % DB)[0][0] == 3


def test_backup_without_tls_is_refused_by_the_server(tls_mariadb, tls_files, admin, inventory, tmp_path):
    extra = backup_vars(tls_mariadb, tmp_path, tls_files, "no-tls")
    extra["stackhop_db_tls"] = {}
    proc = play("backup.yml", extra, inventory)
    assert proc.returncode != 0 and recap(proc)["failed"] >= 1
    assert "Access denied for user" in proc.stdout, proc.stdout[-3000:]
    assert not Path(tmp_path / "backups" / "no-tls" / "manifest.json").exists()
