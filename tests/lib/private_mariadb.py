"""A private MariaDB server (own datadir, socket, pid file, loopback port) for tests.

Nothing here touches a system MariaDB: the server runs with ``--no-defaults`` from a
datadir made by ``mariadb-install-db`` and listens on 127.0.0.1:PORT and its own socket.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pymysql


def free_port():
    """A loopback port nothing listens on now: a fixed one collides with a server some
    other run left behind, or with another pytest run beside this one (scripts/test.sh)."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RootSql:
    """Root SQL over a server's unix socket (``self.socket``), for the test servers."""

    def root(self, database=None):
        """A root connection over the private socket (autocommit)."""
        return pymysql.connect(unix_socket=str(self.socket), user="root", database=database,
                               autocommit=True, connect_timeout=5)

    def sql(self, statements, database=None, args=None):
        """Run statements (a string or a list); return the rows of the last one."""
        if isinstance(statements, str):
            statements = [statements]
        conn = self.root(database)
        try:
            with conn.cursor() as cur:
                rows = ()
                for stmt in statements:
                    cur.execute(stmt, args)
                    rows = cur.fetchall()
                return rows
        finally:
            conn.close()


class PrivateMariadb(RootSql):
    def __init__(self, basedir, port, extra_args=(), user="root"):
        self.basedir = Path(basedir)
        self.user = user  # the system user mariadbd runs as (it owns the datadir)
        self.port = int(port)
        self.extra_args = list(extra_args)  # more mariadbd options (TLS, for example)
        self.datadir = self.basedir / "data"
        self.socket = self.basedir / "mysqld.sock"
        self.pidfile = self.basedir / "mysqld.pid"
        self.log = self.basedir / "mysqld.log"
        self.proc = None

    def start(self, timeout=60, fresh=True):
        """Start the server; ``fresh``: on a new datadir (else on the one there)."""
        if fresh:
            if self.datadir.exists():
                shutil.rmtree(self.datadir)
            self.basedir.mkdir(parents=True, exist_ok=True)
            shutil.chown(self.basedir, self.user, self.user)
            subprocess.run(
                ["mariadb-install-db", "--no-defaults", "--user=%s" % self.user,
                 "--datadir=%s" % self.datadir, "--auth-root-authentication-method=socket",
                 "--skip-test-db"],
                check=True, capture_output=True, text=True)
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", "--user=%s" % self.user, "--datadir=%s" % self.datadir,
             "--socket=%s" % self.socket, "--pid-file=%s" % self.pidfile,
             "--port=%d" % self.port, "--bind-address=127.0.0.1",
             "--log-error=%s" % self.log, "--skip-name-resolve",
             "--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=2",
             "--max-connections=500"] + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited with %s: %s" % (
                    self.proc.returncode, self.log.read_text()[-2000:]))
            try:
                self.root().close()
                return self
            except pymysql.err.OperationalError:
                time.sleep(0.3)
        raise RuntimeError("mariadbd did not answer within %d s" % timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def create_user(self, user, password, databases):
        stmts = ["CREATE USER IF NOT EXISTS '%s'@'127.0.0.1' IDENTIFIED BY '%s'" % (user, password),
                 "CREATE USER IF NOT EXISTS '%s'@'localhost' IDENTIFIED BY '%s'" % (user, password)]
        for db in databases:
            stmts.append("CREATE DATABASE IF NOT EXISTS `%s`" % db)
            stmts.append("GRANT ALL ON `%s`.* TO '%s'@'127.0.0.1'" % (db, user))
            stmts.append("GRANT ALL ON `%s`.* TO '%s'@'localhost'" % (db, user))
        self.sql(stmts)

    def dump(self, database):
        """Every table's rows, sorted (to compare a database before and after)."""
        out = {}
        conn = self.root(database)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW TABLES")
                for (table,) in cur.fetchall():
                    cur.execute("SELECT * FROM `%s`" % table)
                    out[table] = sorted(repr(r) for r in cur.fetchall())
        finally:
            conn.close()
        return out


GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"


class PrivateGaleraCluster:
    """A real MariaDB Galera cluster of ``size`` private servers on loopback (galera-4 from
    Debian), each with its own datadir, socket and ports: client, group communication (gcomm),
    incremental and full state transfer (rsync). The first node bootstraps the cluster; the
    others join it by a state transfer, one at a time. ``basedir`` must be on a path the
    user mysql can reach."""

    def __init__(self, basedir, size=3, name="stackhop-test"):
        self.basedir = Path(basedir)
        self.name = name
        self.ports = [{"client": free_port(), "gcomm": free_port(), "ist": free_port(), "sst": free_port()}
                      for _node in range(size)]
        # mariadbd as mysql, as the package runs it: the rsync daemon of a state transfer
        # runs as the server's user, and as root it would drop to nobody
        self.basedir.mkdir(parents=True, exist_ok=True)
        self.basedir.chmod(0o755)
        self.nodes = [PrivateMariadb(self.basedir / ("node%d" % (i + 1)), p["client"], self._wsrep_args(i),
                                     user="mysql")
                      for i, p in enumerate(self.ports)]

    def _wsrep_args(self, index):
        ports = self.ports[index]
        members = ",".join("127.0.0.1:%d" % p["gcomm"] for p in self.ports)
        return ["--wsrep-on=ON", "--wsrep-provider=%s" % GALERA_PROVIDER,
                "--wsrep-cluster-name=%s" % self.name, "--wsrep-cluster-address=gcomm://%s" % members,
                "--wsrep-node-name=node%d" % (index + 1), "--wsrep-node-address=127.0.0.1",
                "--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d;"
                "gcache.size=32M" % (ports["gcomm"], ports["ist"]),
                "--wsrep-sst-method=rsync", "--wsrep-sst-receive-address=127.0.0.1:%d" % ports["sst"],
                "--binlog-format=ROW", "--default-storage-engine=InnoDB", "--innodb-autoinc-lock-mode=2"]

    def start(self, timeout=120):
        """Node 1 bootstraps the cluster; each other node joins it by a full state transfer."""
        first = self.nodes[0]
        first.extra_args = first.extra_args + ["--wsrep-new-cluster"]
        first.start(timeout)
        first.extra_args.remove("--wsrep-new-cluster")
        for node in self.nodes[1:]:
            node.start(timeout)
            self.wait_synced(node, timeout)
        return self

    @staticmethod
    def status(node):
        return dict((k, v) for k, v in node.sql("SHOW GLOBAL STATUS LIKE 'wsrep%'"))

    def wait_synced(self, node, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.status(node).get("wsrep_local_state_comment") == "Synced":
                    return
            except pymysql.err.OperationalError:
                pass
            time.sleep(0.5)
        raise RuntimeError("Galera node %s is not Synced after %d s: %s" % (
            node.basedir.name, timeout, node.log.read_text()[-2000:]))

    def stop(self):
        for node in reversed(self.nodes):
            node.stop()
