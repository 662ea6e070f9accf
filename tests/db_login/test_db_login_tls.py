"""The database modules against a private MariaDB that accepts TLS connections only
(require_secure_transport=ON, the user created REQUIRE X509): with ca_cert and the client
certificate they connect; without TLS, with a CA that did not sign the server's
certificate, with a missing ca_cert, a name mismatch or an untrusted client certificate they
fail with one sentence that names the server and the option to fix."""

from __future__ import annotations

import pytest

from tests.db_login.conftest import DATABASE, PASSWORD, X509_USER

pytestmark = pytest.mark.needs_root


def login(db, files, host="127.0.0.1", **tls):
    args = {"login_user": X509_USER, "login_password": PASSWORD, "login_host": host,
            "login_port": db.port}
    args.update({k: files.get(v, v) for k, v in tls.items() if isinstance(v, str)})
    args.update({k: v for k, v in tls.items() if not isinstance(v, str)})
    return args


FULL = {"ca_cert": "ca", "client_cert": "client", "client_key": "client_key"}


def full(**override):
    """FULL with some files replaced."""
    out = dict(FULL)
    out.update(override)
    return out


def preflight(ansible_module, db, files, **kw):
    return ansible_module("db_preflight", dict(login(db, files, **kw), database=DATABASE,
                                               required_privileges=["SELECT"]))


def assert_one_sentence(res, where, fix):
    assert res.failed, res
    msg = res["msg"]
    assert msg.startswith("Cannot connect to the database server %s as %s" % (where, X509_USER)), msg
    assert fix in msg, msg
    assert msg.endswith(".") and PASSWORD not in res.stdout


def test_preflight_connects_with_the_ca_and_the_client_certificate(ansible_module, tls_mariadb, tls_files):
    res = preflight(ansible_module, tls_mariadb, tls_files, **FULL)
    assert not res.failed, res
    assert res["status"] == "ok" and "SELECT" in res["privileges"]


def test_aliases_and_check_hostname_false_accept_another_name(ansible_module, tls_mariadb, tls_files):
    # the certificate names 127.0.0.1 only; check_hostname: false still verifies it against the CA
    res = preflight(ansible_module, tls_mariadb, tls_files, host="localhost", ssl_ca="ca",
                    ssl_cert="client", ssl_key="client_key", check_hostname=False)
    assert not res.failed, res


def test_a_name_mismatch_names_check_hostname(ansible_module, tls_mariadb, tls_files):
    res = preflight(ansible_module, tls_mariadb, tls_files, host="localhost", **FULL)
    assert_one_sentence(res, "localhost:%d" % tls_mariadb.port,
                        "its certificate does not name localhost: set login_host to a name its "
                        "certificate holds, or check_hostname to false.")


def test_migrate_connects_over_tls(ansible_module, tls_mariadb, tls_files):
    # db_migrate reads the revisions before and after the command: two TLS connections
    res = ansible_module("db_migrate", dict(login(tls_mariadb, tls_files, **FULL), argv=["/bin/true"],
                                            databases=[DATABASE], release="2025.1"))
    assert not res.failed, res
    assert res["ran"] and res["revisions_before"] == {DATABASE: []} == res["revisions_after"]


def test_without_tls_the_login_fails_with_one_sentence(ansible_module, tls_mariadb, tls_files):
    res = preflight(ansible_module, tls_mariadb, tls_files)
    # PyMySQL >= 1.1 tries TLS on its own, without a certificate: the REQUIRE X509 user is refused
    assert_one_sentence(res, "127.0.0.1:%d" % tls_mariadb.port,
                        "or give client_cert and client_key if the user must log in with a certificate.")


def test_a_wrong_ca_names_ca_cert(ansible_module, tls_mariadb, tls_files):
    res = preflight(ansible_module, tls_mariadb, tls_files, **full(ca_cert="other_ca"))
    assert_one_sentence(res, "127.0.0.1:%d" % tls_mariadb.port,
                        "its certificate is not signed by ca_cert %s: set ca_cert to the CA that "
                        "signed it." % tls_files["other_ca"])
    assert " over TLS (" in res["msg"]


def test_an_untrusted_client_certificate_names_client_cert(ansible_module, tls_mariadb, tls_files):
    res = preflight(ansible_module, tls_mariadb, tls_files,
                    **full(client_cert="other_client", client_key="other_client_key"))
    assert_one_sentence(res, "127.0.0.1:%d" % tls_mariadb.port, "check client_cert and client_key")


def test_a_missing_ca_cert_fails_before_connecting(ansible_module, tls_mariadb, tls_files):
    args = login(tls_mariadb, tls_files, **full(ca_cert="/nonexistent/tls/ca.pem"))
    res = ansible_module("db_migrate", dict(args, argv=["/bin/true"], databases=[DATABASE]))
    assert res.failed
    assert res["msg"] == ("ca_cert /nonexistent/tls/ca.pem does not exist or is not a file: give "
                          "the path of the CA certificate that signed the database server's "
                          "certificate on the host that runs the module.")
    assert "ran" not in res or not res["ran"]
