"""The backup role on one node of a real three-node MariaDB Galera cluster
(tests/lib/private_mariadb.PrivateGaleraCluster), binary log on: the dump takes no global
read lock (MariaDB's consistent snapshot gives the binlog position inside the
transaction, so ``--single-transaction --master-data`` needs no FLUSH TABLES WITH READ
LOCK, which on a Galera node would pause replication for the whole cluster), every write
a client makes on another node meanwhile succeeds, and every node stays Synced."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time

import pymysql
import pytest

from tests.backup.conftest import play
from tests.lib.ansible_runner import VENV
from tests.lib.private_mariadb import PrivateGaleraCluster

pytestmark = pytest.mark.needs_root

ROWS = 60000


@pytest.fixture(scope="module")
def cluster():
    base = tempfile.mkdtemp(prefix="sh-galera-bk-")
    os.chmod(base, 0o755)  # the servers run as mysql
    galera = PrivateGaleraCluster(base, name="stackhop-backup")
    galera.nodes[0].extra_args += ["--log-bin=node1-bin", "--server-id=1", "--log-slave-updates=ON"]
    try:
        galera.start()
        yield galera
    finally:
        galera.stop()
        shutil.rmtree(base, ignore_errors=True)


class Writer(threading.Thread):
    """Inserts rows on a node, one autocommit statement after the other, until stopped."""

    def __init__(self, node):
        super().__init__(daemon=True)
        self.node, self.stop_flag = node, threading.Event()
        self.ok, self.failed, self.longest = 0, [], 0.0

    def run(self):
        conn = pymysql.connect(unix_socket=str(self.node.socket), user="root", database="keystone",
                               autocommit=True)
        try:
            with conn.cursor() as cur:
                while not self.stop_flag.is_set():
                    t0 = time.monotonic()
                    try:
                        cur.execute("INSERT INTO probe (v) VALUES ('written during the dump')")
                        self.ok += 1
                    except pymysql.MySQLError as exc:
                        self.failed.append(str(exc))
                    self.longest = max(self.longest, time.monotonic() - t0)
        finally:
            conn.close()


def com_flush(node):
    return int(dict(node.sql("SHOW GLOBAL STATUS LIKE 'Com_flush'"))["Com_flush"])


def test_a_dump_on_one_node_takes_no_global_lock_and_writes_go_on(cluster, tmp_path):
    first, second = cluster.nodes[0], cluster.nodes[1]
    first.sql(["CREATE DATABASE keystone",
               "CREATE TABLE keystone.probe (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB",
               "CREATE TABLE keystone.bulk (id INT PRIMARY KEY, pad CHAR(200)) ENGINE=InnoDB"])
    for start in range(0, ROWS, 5000):
        first.sql("INSERT INTO bulk SELECT seq, REPEAT('x', 200) FROM seq_%d_to_%d"
                  % (start + 1, start + 5000), database="keystone")
    for node in cluster.nodes:
        cluster.wait_synced(node)
    inventory = tmp_path / "hosts.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": str(VENV / "bin" / "python")}}}}))
    flushes = com_flush(first)
    writer = Writer(second)
    writer.start()
    time.sleep(1)
    before = writer.ok
    proc = play("backup.yml", {"stackhop_backup_hosts": "localhost", "backup_dir": str(tmp_path / "bk"),
                               "backup_id": "galera", "backup_db_socket": str(first.socket),
                               "backup_databases": ["keystone"], "backup_verify_load": False,
                               "backup_config_paths": [], "backup_state_paths": []}, inventory)
    during = writer.ok - before
    writer.stop_flag.set()
    writer.join(30)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    manifest = json.loads((tmp_path / "bk" / "galera" / "manifest.json").read_text())
    record = manifest["databases"]["keystone"]
    # the binlog position was recorded (--master-data ran) ...
    assert record["binlog"]["file"].startswith("node1-bin.") and record["binlog"]["position"] > 0, record
    # ... without FLUSH TABLES WITH READ LOCK on the node dumped
    assert com_flush(first) == flushes
    assert writer.failed == [] and during > 0, (writer.failed[:3], during)
    for node in cluster.nodes:
        assert cluster.status(node)["wsrep_local_state_comment"] == "Synced"
    # (the counter does see a global read lock: one taken by hand counts)
    first.sql(["FLUSH TABLES WITH READ LOCK", "UNLOCK TABLES"])
    assert com_flush(first) == flushes + 1
    print("\n%d writes on node2 during the dump of node1, none failed; longest %.3f s; Com_flush unchanged"
          % (during, writer.longest))


def test_a_cluster_is_dumped_from_one_node_and_the_others_archive_their_files(cluster, tmp_path):
    """The region's three database servers are one Galera cluster: the databases are dumped,
    loaded into copies and checked on the first node only (three nodes making the same copies
    at once raced on the replicated <db>_upgrade databases: 'Unknown database'); the other
    nodes' sets hold their configs and no database."""
    first = cluster.nodes[0]
    first.sql(["CREATE DATABASE IF NOT EXISTS keystone",
               "CREATE TABLE IF NOT EXISTS keystone.probe (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB",
               "INSERT INTO keystone.probe (v) VALUES ('a row to copy')"])
    for node in cluster.nodes:
        cluster.wait_synced(node)
    configs = tmp_path / "etc-keystone"
    configs.mkdir()
    (configs / "keystone.conf").write_text("[DEFAULT]\ndebug = false\n")
    hosts = {}
    for index, node in enumerate(cluster.nodes, 1):
        hosts["db%d" % index] = {"ansible_connection": "local", "ansible_python_interpreter": str(VENV / "bin" / "python"),
                                 "backup_db_socket": str(node.socket), "backup_dir": str(tmp_path / ("bk%d" % index))}
    inventory = tmp_path / "hosts.json"
    inventory.write_text(json.dumps({"all": {"children": {"stackhop_db": {"hosts": hosts}}}}))
    proc = play("backup.yml", {"backup_id": "cluster", "backup_databases": ["keystone"], "backup_verify_load": True,
                               "backup_config_paths": [str(configs)], "backup_state_paths": []}, inventory)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    manifests = {i: json.loads((tmp_path / ("bk%d" % i) / "cluster" / "manifest.json").read_text()) for i in (1, 2, 3)}
    assert list(manifests[1]["databases"]) == ["keystone"] and manifests[1]["databases"]["keystone"]["verified"], manifests[1]
    for i in (2, 3):
        assert manifests[i]["databases"] == {} and manifests[i]["complete"], manifests[i]
        assert [f["paths"] for f in manifests[i]["files"]] == [[str(configs)]], manifests[i]["files"]
    for node in cluster.nodes:
        assert not node.sql("SHOW DATABASES LIKE 'keystone\\_upgrade'")
        assert cluster.status(node)["wsrep_local_state_comment"] == "Synced"
