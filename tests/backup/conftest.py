"""Fixtures of the backup/restore tests: a private MariaDB (binary log on) on
127.0.0.1 (a free port) with its own datadir and socket, seeded with service databases that hold
real data, and helpers to run playbooks/backup.yml and playbooks/restore_databases.yml
against it on localhost.

When the nova 2024.1 venv that tests/lib/openstack_venv.py builds is in the cache
(~/.cache/stackhop/venvs/nova-2024.1-*), nova_api and nova get their real schemas from
``nova-manage``; nova_api is left at its initial revision so that the verification load
can run nova's real migrations on the ``nova_api_upgrade`` copy. Without it, a small
SQL migration stands in (the test says so).
"""

from __future__ import annotations

import atexit
import glob
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql
import pytest

from tests.lib.ansible_runner import REPO, VENV, run_playbook
from tests.lib.private_mariadb import RootSql


def _free_port():
    """A loopback port nothing listens on now: a fixed one collides with a server some
    other run left behind (seen: 33408 taken, every test of the module in error)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PORT = int(os.environ.get("STACKHOP_BK_MARIADB_PORT") or _free_port())
ADMIN = "bk_admin"
# quotes, a backslash and a space: the option file must carry them intact
PASSWORD = 'bk "S3cr\\et" %s' % secrets.token_hex(6)
NOVA_USER, NOVA_PASSWORD = "bk_nova", "bk-nova-%s" % secrets.token_hex(6)
NOVA_API_INITIAL = "d67eeaabee36"


class PrivateMariaDB(RootSql):
    """mariadbd with --no-defaults, a private datadir and socket, loopback only."""

    def __init__(self, port=PORT, log_bin=True, tcp=True):
        self.port = port
        self.log_bin = log_bin
        self.tcp = tcp
        self.dir = tempfile.mkdtemp(prefix="bk-mariadb-")
        self.datadir = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.proc = None

    def start(self):
        subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + self.datadir,
                        "--user=root", "--auth-root-authentication-method=socket",
                        "--skip-test-db"], check=True, capture_output=True, timeout=120)
        argv = ["mariadbd", "--no-defaults", "--datadir=" + self.datadir, "--user=root",
                "--socket=" + self.socket, "--pid-file=" + os.path.join(self.dir, "mysqld.pid"),
                "--log-error=" + os.path.join(self.dir, "error.log"), "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=2"]
        argv += (["--bind-address=127.0.0.1", "--port=%d" % self.port] if self.tcp
                 else ["--skip-networking"])
        argv += (["--log-bin=" + os.path.join(self.datadir, "binlog"), "--server-id=1",
                  "--binlog-format=ROW"] if self.log_bin else ["--skip-log-bin"])
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited: see %s/error.log" % self.dir)
            try:
                self.root().close()
                return self
            except pymysql.err.OperationalError:
                time.sleep(0.2)
        raise RuntimeError("private MariaDB did not start: see %s/error.log" % self.dir)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def databases(self):
        return {r[0] for r in self.sql("SHOW DATABASES")}

    def checksums(self, database):
        """{table: CHECKSUM TABLE value} of every base table, read independently."""
        tables = [r[0] for r in self.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema=%s "
            "AND table_type='BASE TABLE'", args=(database,))]
        if not tables:
            return {}
        rows = self.sql("CHECKSUM TABLE " + ", ".join("`%s`.`%s`" % (database, t) for t in tables))
        return {r[0].split(".", 1)[1]: r[1] for r in rows}


def nova_venv():
    """The cached nova 2024.1 venv (built by tests/lib/openstack_venv.py), or None."""
    for path in sorted(glob.glob(os.path.expanduser(
            os.environ.get("STACKHOP_VENV_CACHE", "~/.cache/stackhop/venvs") + "/nova-2024.1-*"))):
        if os.path.exists(os.path.join(path, ".stackhop-complete")) and \
                os.path.exists(os.path.join(path, "bin", "nova-manage")):
            return Path(path)
    return None


def nova_conf(api_db, main_db, port=PORT):
    return ("[api_database]\nconnection = mysql+pymysql://%s:%s@127.0.0.1:%d/%s\n"
            "[database]\nconnection = mysql+pymysql://%s:%s@127.0.0.1:%d/%s\n"
            % (NOVA_USER, NOVA_PASSWORD, port, api_db, NOVA_USER, NOVA_PASSWORD, port, main_db))


def seed(db, workdir, venv):
    """Service databases with real data; returns a description of what was made."""
    conn = db.root()
    with conn.cursor() as cur:
        cur.execute("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY %%s" % ADMIN, (PASSWORD,))
        cur.execute("GRANT ALL ON *.* TO '%s'@'127.0.0.1' WITH GRANT OPTION" % ADMIN)
        cur.execute("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY %%s" % NOVA_USER, (NOVA_PASSWORD,))
        cur.execute("GRANT ALL ON *.* TO '%s'@'127.0.0.1'" % NOVA_USER)
    conn.close()
    # keystone: users, projects, assignments with a foreign key; a view; a trigger
    db.sql("CREATE DATABASE keystone CHARACTER SET utf8mb4")
    db.sql([
        "CREATE TABLE project (id VARCHAR(64) PRIMARY KEY, name VARCHAR(64) NOT NULL, "
        "domain_id VARCHAR(64) NOT NULL, extra TEXT, enabled TINYINT(1)) ENGINE=InnoDB",
        "CREATE TABLE user (id VARCHAR(64) PRIMARY KEY, extra TEXT, enabled TINYINT(1), "
        "created_at DATETIME, last_active_at DATE) ENGINE=InnoDB",
        "CREATE TABLE assignment (type VARCHAR(16), actor_id VARCHAR(64), target_id VARCHAR(64), "
        "role_id VARCHAR(64), PRIMARY KEY (type, actor_id, target_id, role_id), "
        "FOREIGN KEY (target_id) REFERENCES project (id)) ENGINE=InnoDB",
        "CREATE TABLE revocation_event (id INT AUTO_INCREMENT PRIMARY KEY, user_id VARCHAR(64), "
        "issued_before DATETIME(6) NOT NULL, audit_id VARCHAR(32)) ENGINE=InnoDB",
        "CREATE VIEW enabled_users AS SELECT id FROM user WHERE enabled = 1",
        "CREATE TRIGGER user_stamp BEFORE INSERT ON user FOR EACH ROW "
        "SET NEW.created_at = COALESCE(NEW.created_at, '2024-01-01 00:00:00')",
    ], database="keystone")
    conn = db.root("keystone")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO project VALUES (%s, %s, 'default', %s, 1)",
                        [("p%04d" % i, "project-%d" % i, json.dumps({"description": "é ü 漢 %d" % i}))
                         for i in range(200)])
        cur.executemany("INSERT INTO user (id, extra, enabled, last_active_at) VALUES (%s, %s, %s, NULL)",
                        [("u%05d" % i, json.dumps({"email": "u%d@example.org" % i}), i % 7 != 0)
                         for i in range(3000)])
        cur.executemany("INSERT INTO assignment VALUES ('UserProject', %s, %s, 'member')",
                        [("u%05d" % i, "p%04d" % (i % 200)) for i in range(3000)])
        cur.executemany("INSERT INTO revocation_event (user_id, issued_before, audit_id) "
                        "VALUES (%s, NOW(6), %s)",
                        [("u%05d" % i, secrets.token_hex(8)) for i in range(20000)])
    conn.close()
    # glance: images with binary checksums and NULLs
    db.sql("CREATE DATABASE glance")
    db.sql([
        "CREATE TABLE images (id VARCHAR(36) PRIMARY KEY, name VARCHAR(255), size BIGINT, "
        "status VARCHAR(30) NOT NULL, checksum VARBINARY(32), os_hash_value BLOB, "
        "deleted TINYINT(1) NOT NULL DEFAULT 0) ENGINE=InnoDB",
    ], database="glance")
    conn = db.root("glance")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO images VALUES (%s, %s, %s, 'active', %s, %s, 0)",
                        [("%08d-0000-0000-0000-000000000000" % i, "cirros-%d" % i if i % 5 else None,
                          i * 1048576, os.urandom(16), os.urandom(64)) for i in range(500)])
    conn.close()
    db.sql("CREATE DATABASE placement")
    db.sql(["CREATE TABLE placement.resource_providers (id INT AUTO_INCREMENT PRIMARY KEY, "
            "uuid VARCHAR(36) NOT NULL UNIQUE, name VARCHAR(200), generation INT)",
            "INSERT INTO placement.resource_providers (uuid, name, generation) "
            "SELECT UUID(), CONCAT('cmp', seq), seq FROM seq_1_to_50"], database="placement")
    real_nova = venv is not None
    db.sql(["CREATE DATABASE nova_api", "CREATE DATABASE nova", "CREATE DATABASE nova_cell0"])
    if real_nova:
        conf = Path(workdir, "nova.conf")
        conf.write_text(nova_conf("nova_api", "nova"))
        manage = str(venv / "bin" / "nova-manage")
        subprocess.run([manage, "--config-file", str(conf), "api_db", "sync", NOVA_API_INITIAL],
                       check=True, capture_output=True, timeout=300)
        subprocess.run([manage, "--config-file", str(conf), "db", "sync"],
                       check=True, capture_output=True, timeout=300)
        db.sql(["INSERT INTO nova_api.flavors (name, id, memory_mb, vcpus, swap, flavorid, "
                "rxtx_factor, root_gb, ephemeral_gb, disabled, is_public) "
                "SELECT CONCAT('m1.f', seq), seq, 512 * seq, seq, 0, CONCAT('f', seq), 1.0, 1, 0, 0, 1 "
                "FROM seq_1_to_40"], database="nova_api")
        db.sql(["INSERT INTO nova.services (created_at, host, `binary`, topic, report_count, "
                "disabled, deleted, version, forced_down) SELECT NOW(), CONCAT('cmp', seq), "
                "'nova-compute', 'compute', seq, 0, 0, 66, 0 FROM seq_1_to_30"], database="nova")
    else:
        # stand-in for a service schema at an older revision (see the module docstring)
        db.sql(["CREATE TABLE nova_api.alembic_version (version_num VARCHAR(32) PRIMARY KEY)",
                "INSERT INTO nova_api.alembic_version VALUES ('%s')" % NOVA_API_INITIAL,
                "CREATE TABLE nova_api.flavors (id INT PRIMARY KEY, name VARCHAR(255))",
                "INSERT INTO nova_api.flavors SELECT seq, CONCAT('m1.f', seq) FROM seq_1_to_40",
                "CREATE TABLE nova.services (id INT AUTO_INCREMENT PRIMARY KEY, host VARCHAR(255), "
                "report_count INT NOT NULL DEFAULT 0)",
                "INSERT INTO nova.services (host, report_count) SELECT CONCAT('cmp', seq), seq "
                "FROM seq_1_to_30"],
               database="nova")
    return {"real_nova": real_nova, "venv": venv}


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    if not shutil.which("mariadbd"):
        pytest.fail("mariadbd is not installed; add mariadb-server to scripts/apt-packages.txt")
    db = PrivateMariaDB().start()
    work = tmp_path_factory.mktemp("bk-seed")
    try:
        db.seed = seed(db, work, nova_venv())
        yield db
    finally:
        db.stop()


@pytest.fixture(scope="session")
def inventory(tmp_path_factory):
    """localhost with the passwords as host vars: the harness itself never puts them on
    ansible-playbook's command line (the tests watch every process's argv)."""
    path = tmp_path_factory.mktemp("bk-inv") / "hosts.yml"
    path.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local",
        "ansible_python_interpreter": str(VENV / "bin" / "python"),
        "backup_db_password": PASSWORD,
        "db_restore_db_password": PASSWORD}}}}))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def backup_vars(mariadb, tmp_path_factory):
    """Base variables of the backup role for the private server (configs and state too)."""
    root = tmp_path_factory.mktemp("bk-files")
    etc = root / "etc"
    for svc in ("keystone", "nova"):
        (etc / svc).mkdir(parents=True)
        (etc / svc / ("%s.conf" % svc)).write_text("[DEFAULT]\ndebug = false\n")
    images = root / "var/lib/glance/images"
    images.mkdir(parents=True)
    (images / "00000001-0000-0000-0000-000000000000").write_bytes(os.urandom(256 * 1024))
    return {
        "stackhop_backup_hosts": "localhost",
        "backup_dir": str(root / "backups"),
        "backup_db_host": "127.0.0.1",
        "backup_db_port": PORT,
        "backup_db_user": ADMIN,
        "backup_config_paths": [str(etc / "keystone"), str(etc / "nova"), str(etc / "glance")],
        "backup_state_paths": [str(images), str(root / "tftpboot")],
    }


def restore_vars(set_dir):
    return {"stackhop_backup_hosts": "localhost", "db_restore_set_dir": str(set_dir),
            "db_restore_db_host": "127.0.0.1", "db_restore_db_port": PORT,
            "db_restore_db_user": ADMIN}


def migration_vars(mariadb):
    """backup_verify_migrations for nova_api: nova's real migrations when the venv is there."""
    venv = mariadb.seed["venv"]
    if venv is not None:
        return [{"database": "nova_api",
                 "argv": [str(venv / "bin" / "nova-manage"), "--config-file",
                          "@config@", "api_db", "sync"],
                 "config": nova_conf("nova_api_upgrade", "nova_upgrade")}]
    # stand-in migration: one real schema change applied with the mariadb client
    return [{"database": "nova_api",
             "argv": ["mariadb", "--defaults-extra-file=@config@",
                      "@database@", "-e",
                      "ALTER TABLE flavors ADD COLUMN description TEXT; "
                      "UPDATE alembic_version SET version_num='cdeec0c85668'"],
             "config": "[client]\nuser=%s\npassword=%s\nhost=127.0.0.1\nport=%d\n"
                       % (NOVA_USER, NOVA_PASSWORD, PORT)}]


REPORTS = tempfile.mkdtemp(prefix="bk-reports-")
atexit.register(shutil.rmtree, REPORTS, True)


def play(name, extra_vars, inventory, check=False, tags=None, env=None):
    """Run one of the project's playbooks; the upgrade report goes to a private tmp dir."""
    return run_playbook(REPO / "playbooks" / name, extra_vars=extra_vars, inventory=inventory,
                        check=check, tags=tags,
                        extra_env=dict({"STACKHOP_REPORT_DIR": REPORTS}, **(env or {})))


def recap(proc):
    """The PLAY RECAP counters of localhost (machine-readable line of the default callback)."""
    for line in proc.stdout.splitlines():
        if line.startswith("localhost") and "ok=" in line:
            return {k: int(v) for k, v in (f.split("=") for f in line.split(":", 1)[1].split())}
    raise AssertionError("no recap:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-2000:]))
