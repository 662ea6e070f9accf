"""db_login: the TLS options' parsing, what db_connect passes to PyMySQL, and its one-sentence errors."""

from __future__ import annotations

import ssl

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.stackhop.upgrade.plugins.module_utils import db_login
from ansible_collections.stackhop.upgrade.plugins.module_utils.db_login import (
    db_connect,
    db_connect_kwargs,
    db_login_argument_spec,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.dburl import pymysql
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import StackhopError

FIX = "check the address and the user's password in the service configuration."


def parse(**args):
    """The options as AnsibleModule would hand them to the module."""
    result = ArgumentSpecValidator(db_login_argument_spec()).validate(dict({"login_user": "nova"}, **args))
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


@pytest.fixture
def pem(tmp_path):
    """Three files that exist (their content does not matter before connecting)."""
    paths = {}
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n")
        paths[name] = str(tmp_path / name)
    return paths


def test_without_tls_options_the_kwargs_are_the_old_ones():
    assert db_connect_kwargs(parse(login_password="pw", login_host="db1")) == {
        "user": "nova", "password": "pw", "connect_timeout": 10, "charset": "utf8mb4",
        "host": "db1", "port": 3306}
    # check_hostname alone turns nothing on
    assert "ssl_ca" not in db_connect_kwargs(parse(check_hostname=False))


def test_aliases_are_community_mysqls(pem):
    params = parse(ssl_ca=pem["ca.pem"], ssl_cert=pem["client.pem"], ssl_key=pem["client.key"])
    assert (params["ca_cert"], params["client_cert"], params["client_key"]) == (
        pem["ca.pem"], pem["client.pem"], pem["client.key"])
    assert params["check_hostname"] is None


def test_ca_cert_verifies_the_certificate_and_the_name_by_default(pem):
    kwargs = db_connect_kwargs(parse(ca_cert=pem["ca.pem"], client_cert=pem["client.pem"],
                                     client_key=pem["client.key"]))
    assert {k: v for k, v in kwargs.items() if k.startswith("ssl_")} == {
        "ssl_ca": pem["ca.pem"], "ssl_cert": pem["client.pem"], "ssl_key": pem["client.key"],
        "ssl_verify_cert": True, "ssl_verify_identity": True}


def test_check_hostname_false_keeps_the_certificate_check(pem):
    kwargs = db_connect_kwargs(parse(ca_cert=pem["ca.pem"], check_hostname="no"))
    assert kwargs["ssl_verify_cert"] is True and kwargs["ssl_verify_identity"] is False
    assert "ssl_cert" not in kwargs and "ssl_key" not in kwargs


def test_client_certificate_alone_encrypts_without_verifying(pem):
    kwargs = db_connect_kwargs(parse(client_cert=pem["client.pem"], client_key=pem["client.key"]))
    assert "ssl_ca" not in kwargs
    assert kwargs["ssl_verify_cert"] is False and kwargs["ssl_verify_identity"] is False


@pytest.mark.parametrize("option", ["ca_cert", "client_cert", "client_key"])
def test_a_missing_file_fails_before_connecting(monkeypatch, pem, option):
    monkeypatch.setattr(pymysql, "connect", lambda **kw: pytest.fail("connected"))
    args = {"ca_cert": pem["ca.pem"], "client_cert": pem["client.pem"], "client_key": pem["client.key"]}
    args[option] = "/nonexistent/db-tls/x.pem"
    with pytest.raises(StackhopError) as err:
        db_connect(parse(**args), FIX)
    assert err.value.msg.startswith("%s /nonexistent/db-tls/x.pem does not exist" % option)
    assert err.value.msg.count(". ") == 0 and err.value.msg.endswith(".")


def test_a_key_without_its_certificate_and_a_name_check_without_a_ca(pem):
    with pytest.raises(StackhopError, match="^client_key .* without client_cert: give client_cert"):
        db_connect_kwargs(parse(client_key=pem["client.key"]))
    with pytest.raises(StackhopError, match="^check_hostname is true but ca_cert is not given"):
        db_connect_kwargs(parse(check_hostname=True, client_cert=pem["client.pem"]))


def _wrapped(cause):
    """An OSError during the handshake as PyMySQL raises it (connections.connect)."""
    exc = pymysql.err.OperationalError(2003, "Can't connect to MySQL server on 'db1' (%s)" % cause)
    exc.original_exception = cause
    return exc


def _verify_error(code, message):
    exc = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s" % message)
    exc.verify_code, exc.verify_message = code, message
    return exc


@pytest.mark.parametrize("error, args, expected", [
    (_wrapped(_verify_error(20, "unable to get local issuer certificate")), {"ca_cert": "ca.pem"},
     "its certificate is not signed by ca_cert {ca}: set ca_cert to the CA that signed it."),
    (_wrapped(_verify_error(62, "Hostname mismatch, certificate is not valid for 'db1'.")),
     {"ca_cert": "ca.pem"},
     "its certificate does not name db1: set login_host to a name its certificate holds, "
     "or check_hostname to false."),
    (_wrapped(ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca")),
     {"ca_cert": "ca.pem", "client_cert": "client.pem", "client_key": "client.key"},
     "the TLS handshake failed: check client_cert and client_key"),
    (pymysql.err.OperationalError(2006, "MySQL server has gone away (SSLEOFError(8, 'EOF occurred "
                                  "in violation of protocol (_ssl.c:2427)'))"),
     {"ca_cert": "ca.pem", "client_cert": "client.pem"}, "the TLS handshake failed: check client_cert"),
    (pymysql.err.OperationalError(2026, "SSL is required but the server doesn't support it"),
     {"ca_cert": "ca.pem"}, "the server offers no TLS: turn TLS on in the server"),
    (pymysql.err.OperationalError(4151, "Connections using insecure transport are prohibited "
                                  "while --require_secure_transport=ON."), {},
     "the server accepts TLS connections only: give ca_cert"),
    (pymysql.err.OperationalError(1045, "Access denied for user 'nova'@'127.0.0.1' (using password: YES)"),
     {}, "check the address and the user's password in the service configuration, or give "
         "client_cert and client_key if the user must log in with a certificate."),
])
def test_connection_errors_name_the_server_and_the_option(monkeypatch, pem, error, args, expected):
    def connect(**kwargs):
        raise error
    monkeypatch.setattr(pymysql, "connect", connect)
    params = parse(login_host="db1", login_password="pw-secret",
                   **{k: pem[v] for k, v in args.items()})
    with pytest.raises(StackhopError) as err:
        db_connect(params, FIX)
    msg = err.value.msg
    assert msg.startswith("Cannot connect to the database server db1:3306 as nova%s (" % (
        " over TLS" if args else ""))
    assert expected.format(ca=pem["ca.pem"]) in msg
    assert msg.endswith(".") and "pw-secret" not in msg


def test_a_file_that_is_not_pem_names_the_options(monkeypatch, pem):
    def connect(**kwargs):
        raise ssl.SSLError(9, "[SSL] PEM lib (_ssl.c:3917)")
    monkeypatch.setattr(pymysql, "connect", connect)
    with pytest.raises(StackhopError, match="^Cannot load the TLS files for the database server db1:3306 "):
        db_connect(parse(login_host="db1", client_cert=pem["client.pem"]), FIX)


def test_a_pymysql_without_the_tls_keywords(monkeypatch, pem):
    def connect(user, password, connect_timeout, charset, host, port):
        raise AssertionError("not reached")
    monkeypatch.setattr(pymysql, "connect", connect)
    with pytest.raises(StackhopError, match="too old for ca_cert, client_cert and client_key"):
        db_connect(parse(ca_cert=pem["ca.pem"]), FIX)
    assert db_login.db_uses_tls(parse()) is False
