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
    def __init__(self, basedir, port, extra_args=()):
        self.basedir = Path(basedir)
        self.port = int(port)
        self.extra_args = list(extra_args)  # more mariadbd options (TLS, for example)
        self.datadir = self.basedir / "data"
        self.socket = self.basedir / "mysqld.sock"
        self.pidfile = self.basedir / "mysqld.pid"
        self.log = self.basedir / "mysqld.log"
        self.proc = None

    def start(self, timeout=60):
        if self.datadir.exists():
            shutil.rmtree(self.datadir)
        self.basedir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", "--user=root",
             "--datadir=%s" % self.datadir, "--auth-root-authentication-method=socket",
             "--skip-test-db"],
            check=True, capture_output=True, text=True)
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", "--user=root", "--datadir=%s" % self.datadir,
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
