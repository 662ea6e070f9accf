"""A private MariaDB that accepts TLS connections only (require_secure_transport=ON), with a
CA, a server certificate for 127.0.0.1, a client certificate and a second, unrelated CA, all
made with ``openssl`` in the test's tmp dir."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from tests.lib.private_mariadb import PrivateMariadb

PASSWORD = "tls-S3cret-pw"
DATABASE = "dbtls"
X509_USER = "tls_x509"  # REQUIRE X509: logs in with a client certificate only


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=120)


def _ca(name, cwd):
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=stackhop test %s" % name, "-keyout", "%s.key" % name, "-out", "%s.pem" % name,
             cwd=cwd)


def _signed(name, ca, cn, ext, cwd):
    (cwd / ("%s.ext" % name)).write_text(ext)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % cn,
             "-keyout", "%s.key" % name, "-out", "%s.csr" % name, cwd=cwd)
    _openssl("x509", "-req", "-in", "%s.csr" % name, "-CA", "%s.pem" % ca, "-CAkey", "%s.key" % ca,
             "-CAcreateserial", "-days", "2", "-extfile", "%s.ext" % name, "-out", "%s.pem" % name,
             cwd=cwd)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """{name: path}: ca, server, client (cert and key), other_ca and other_client (signed by it)."""
    if not shutil.which("openssl"):
        pytest.fail("openssl is not installed; add openssl to scripts/apt-packages.txt")
    d = tmp_path_factory.mktemp("db-tls")
    _ca("ca", d)
    _ca("other_ca", d)
    # the server's certificate names 127.0.0.1 only: "localhost" is a name mismatch
    _signed("server", "ca", "127.0.0.1", "subjectAltName=IP:127.0.0.1\n"
            "extendedKeyUsage=serverAuth\n", d)
    _signed("client", "ca", X509_USER, "extendedKeyUsage=clientAuth\n", d)
    _signed("other_client", "other_ca", X509_USER, "extendedKeyUsage=clientAuth\n", d)
    for key in d.glob("*.key"):
        key.chmod(0o600)
    return {p.stem + ("_key" if p.suffix == ".key" else ""): str(p)
            for p in d.iterdir() if p.suffix in (".pem", ".key")}


@pytest.fixture(scope="session")
def tls_mariadb(tmp_path_factory, tls_files):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = PrivateMariadb(tmp_path_factory.mktemp("tls-mariadb"), port, extra_args=[
        "--ssl-ca=%s" % tls_files["ca"], "--ssl-cert=%s" % tls_files["server"],
        "--ssl-key=%s" % tls_files["server_key"], "--require-secure-transport=ON"])
    db.start()
    # the socket counts as secure transport: root keeps its socket login
    db.sql(["CREATE DATABASE %s" % DATABASE,
            "CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s' REQUIRE X509" % (X509_USER, PASSWORD),
            "GRANT ALL ON `%s`.* TO '%s'@'127.0.0.1'" % (DATABASE, X509_USER)])
    yield db
    db.stop()
