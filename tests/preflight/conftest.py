"""A private MariaDB on a free loopback port (own datadir, own socket) for the pre-flight tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from tests.lib.private_mariadb import free_port

PORT = int(os.environ.get("STACKHOP_RM_MARIADB_PORT") or free_port())


class PrivateMariaDB:
    def __init__(self, port=PORT):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="rm-mariadb-")
        self.datadir = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.proc = None

    def start(self):
        subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + self.datadir,
                        "--user=root", "--auth-root-authentication-method=normal",
                        "--skip-test-db"], check=True, capture_output=True, timeout=120)
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", "--datadir=" + self.datadir, "--user=root",
             "--bind-address=127.0.0.1", "--port=%d" % self.port, "--socket=" + self.socket,
             "--pid-file=" + os.path.join(self.dir, "mysqld.pid"), "--skip-name-resolve",
             "--log-error=" + os.path.join(self.dir, "error.log"),
             "--innodb-buffer-pool-size=16M", "--skip-log-bin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _attempt in range(100):
            if os.path.exists(self.socket) and self.sql("SELECT 1", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("private MariaDB did not start: see %s/error.log" % self.dir)

    def sql(self, statement, database=None, check=True):
        argv = ["mariadb", "--no-defaults", "--protocol=socket", "-S", self.socket,
                "-uroot", "-N", "-B", "-e", statement]
        if database:
            argv.insert(-2, database)
        return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=60)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb():
    if not shutil.which("mariadbd"):
        pytest.fail("mariadbd is not installed; add mariadb-server to scripts/apt-packages.txt")
    db = PrivateMariaDB()
    db.start()
    yield db
    db.stop()
