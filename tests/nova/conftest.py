"""Fixtures for nova tests: a private MariaDB and a real nova 2024.1 from PyPI.

``nova_venv``   a cached venv with nova 29.x (tests/lib/openstack_venv.py).
``mariadb``     one private MariaDB per session on a free loopback port (own datadir/socket).
``nova_schema`` the nova_api and nova schemas made once by nova-manage api_db sync /
                db sync, dumped so each test gets fresh copies in a second.
``nova_env``    per test: its own nova_api / nova / nova_cell0 databases loaded from
                that dump, a nova.conf pointing at them, and helpers to add compute
                nodes and instances.
"""

from __future__ import annotations

import datetime
import itertools
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.lib.openstack_venv import NOVA_2024_1, ensure_venv
from tests.lib.private_mariadb import PrivateMariadb, free_port

PORT = int(os.environ.get("STACKHOP_NC_MARIADB_PORT") or free_port())
DB_PASSWORD = "ncDbPw-7Gq2xLw9"
MQ_PASSWORD = "ncMqPw-4Rt8zKp3"
SECRETS = (DB_PASSWORD, MQ_PASSWORD)
_COUNTER = itertools.count()

NOVA_CONF = """[DEFAULT]
transport_url = rabbit://nova:{mq}@127.0.0.1:5672/
state_path = {state}
[api_database]
connection = mysql+pymysql://nova:{db}@127.0.0.1:{port}/{prefix}nova_api?charset=utf8
[database]
connection = mysql+pymysql://nova:{db}@127.0.0.1:{port}/{prefix}nova?charset=utf8
[oslo_concurrency]
lock_path = {state}/lock
"""


def assert_no_secret(result, *extra):
    """The whole JSON output and stderr of a module run hold no password."""
    text = result.stdout + result.stderr
    for secret in SECRETS + extra:
        assert secret not in text, "a password leaked into the output"


@pytest.fixture(scope="session")
def nova_venv():
    return ensure_venv(*NOVA_2024_1)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    db = PrivateMariadb(tmp_path_factory.mktemp("nc-mariadb"), PORT)
    db.start()
    yield db
    db.stop()


class NovaEnv:
    def __init__(self, db, venv, workdir, prefix):
        self.db = db
        self.venv = Path(venv)
        self.nova_manage = str(self.venv / "bin" / "nova-manage")
        self.workdir = Path(workdir)
        self.prefix = prefix
        self.api_db, self.cell_db, self.cell0_db = (
            prefix + "nova_api", prefix + "nova", prefix + "nova_cell0")
        self.conf = self.workdir / "nova.conf"
        (self.workdir / "state" / "lock").mkdir(parents=True, exist_ok=True)
        self.conf.write_text(NOVA_CONF.format(mq=MQ_PASSWORD, db=DB_PASSWORD, port=db.port,
                                              prefix=prefix, state=self.workdir / "state"))
        os.chmod(self.conf, 0o600)
        self.api_url = "mysql+pymysql://nova:%s@127.0.0.1:%d/%s?charset=utf8" % (
            DB_PASSWORD, db.port, self.api_db)
        self.cell_url = "mysql+pymysql://nova:%s@127.0.0.1:%d/%s?charset=utf8" % (
            DB_PASSWORD, db.port, self.cell_db)
        self.hosts = 0
        self.instances = 0

    def args(self, **extra):
        base = {"nova_manage": self.nova_manage, "config_file": str(self.conf)}
        base.update(extra)
        return base

    def manage(self, *argv, check=True):
        proc = subprocess.run([self.nova_manage, "--config-file", str(self.conf)] + list(argv),
                              capture_output=True, text=True, check=False, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError("nova-manage %s: rc=%d %s %s" % (
                " ".join(argv), proc.returncode, proc.stdout[-1500:], proc.stderr[-1500:]))
        return proc

    def sql(self, stmts, database=None, args=None):
        return self.db.sql(stmts, database or self.api_db, args)

    def add_computes(self, names, database=None):
        database = database or self.cell_db
        now = datetime.datetime.utcnow()
        for name in names:
            self.db.sql(
                "INSERT INTO services (created_at, host, `binary`, topic, report_count, "
                "disabled, deleted, version, uuid, forced_down) "
                "VALUES (%s, %s, 'nova-compute', 'compute', 1, 0, 0, 66, %s, 0)",
                database, (now, name, str(uuid.uuid4())))
            self.db.sql(
                "INSERT INTO compute_nodes (created_at, service_id, host, hypervisor_hostname, "
                "uuid, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, local_gb_used, "
                "hypervisor_type, hypervisor_version, cpu_info, deleted, mapped) "
                "VALUES (%s, NULL, %s, %s, %s, 8, 16384, 100, 0, 0, 0, 'fake', 1000, '{}', 0, 0)",
                database, (now, name, name, str(uuid.uuid4())))

    def add_instances(self, count, host="compute-1", database=None):
        database = database or self.cell_db
        start = datetime.datetime(2024, 1, 1)
        uuids = []
        for _index in range(count):
            self.instances += 1
            u = str(uuid.uuid4())
            uuids.append(u)
            self.db.sql(
                "INSERT INTO instances (created_at, uuid, project_id, user_id, host, node, "
                "vm_state, deleted, hostname, display_name) "
                "VALUES (%s, %s, 'p1', 'u1', %s, %s, 'active', 0, %s, %s)",
                database, (start + datetime.timedelta(minutes=self.instances), u, host, host,
                           "vm-%d" % self.instances, "vm-%d" % self.instances))
        return uuids

    def cells(self):
        return self.sql("SELECT uuid, name, transport_url, database_connection "
                        "FROM cell_mappings ORDER BY id")

    def count(self, table, where="1=1"):
        return self.sql("SELECT COUNT(*) FROM %s WHERE %s" % (table, where))[0][0]

    def snapshot(self):
        return {"api": self.db.dump(self.api_db), "cell": self.db.dump(self.cell_db)}


@pytest.fixture(scope="session")
def nova_schema(mariadb, nova_venv, tmp_path_factory):
    """Dump files of the nova_api and nova schemas made by nova-manage's own syncs."""
    work = tmp_path_factory.mktemp("nc-schema")
    mariadb.create_user("nova", DB_PASSWORD, ["tmpl_nova_api", "tmpl_nova", "tmpl_nova_cell0"])
    env = NovaEnv(mariadb, nova_venv, work, "tmpl_")
    env.manage("api_db", "sync")
    env.manage("db", "sync")
    dumps = {}
    for kind, name in (("api", env.api_db), ("cell", env.cell_db)):
        path = work / ("%s.sql" % kind)
        with open(path, "w") as out:
            subprocess.run(["mariadb-dump", "--socket=%s" % mariadb.socket, "-uroot",
                            "--skip-comments", name], stdout=out, check=True)
        dumps[kind] = path
    return dumps


@pytest.fixture
def nova_env(mariadb, nova_venv, nova_schema, tmp_path):
    """Fresh nova_api / nova / (empty) nova_cell0 databases and a nova.conf for one test."""
    prefix = "t%d_" % next(_COUNTER)
    env = NovaEnv(mariadb, nova_venv, tmp_path, prefix)
    mariadb.create_user("nova", DB_PASSWORD, [env.api_db, env.cell_db, env.cell0_db])
    for kind, name in (("api", env.api_db), ("cell", env.cell_db)):
        with open(nova_schema[kind]) as dump:
            subprocess.run(["mariadb", "--socket=%s" % mariadb.socket, "-uroot", name],
                           stdin=dump, check=True)
    yield env
    mariadb.sql(["DROP DATABASE IF EXISTS `%s`" % d
                 for d in (env.api_db, env.cell_db, env.cell0_db)])
