# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""The database login options the stackhop database modules share (doc fragment
``stackhop.upgrade.db_login``) and the one way they connect with PyMySQL.

TLS follows community.mysql's options: ``ca_cert`` verifies the server's certificate
(and, unless ``check_hostname`` is false, that it names ``login_host``); ``client_cert``
and ``client_key`` log in with a certificate. Without any of them nothing about TLS is
passed to PyMySQL, so its own default applies, as before these options existed.
"""

from __future__ import absolute_import, division, print_function

import os

try:
    import ssl
except ImportError:  # pragma: no cover - Python without OpenSSL
    ssl = None

# the collection's one guarded PyMySQL import
from ansible_collections.stackhop.upgrade.plugins.module_utils.dburl import pymysql
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import StackhopError

__metaclass__ = type

TLS_FILES = (
    ("ca_cert", "the CA certificate that signed the database server's certificate"),
    ("client_cert", "the client certificate the database user logs in with"),
    ("client_key", "the private key of client_cert"),
)

# server errors that mean "this connection must use TLS" (MySQL's ER_SECURE_TRANSPORT_REQUIRED,
# MariaDB's) and the driver's "the server offers no TLS" (CR_SSL_CONNECTION_ERROR)
_INSECURE_TRANSPORT = (3159, 4151)
_ACCESS_DENIED = 1045
_NO_SERVER_TLS = 2026


def db_login_argument_spec():
    """A fresh copy of the login options (a module adds its own beside them)."""
    return dict(
        login_user=dict(type="str", required=True),
        login_password=dict(type="str", default="", no_log=True),
        login_host=dict(type="str", default="127.0.0.1"),
        login_port=dict(type="int", default=3306),
        login_unix_socket=dict(type="path"),
        connect_timeout=dict(type="int", default=10),
        ca_cert=dict(type="path", aliases=["ssl_ca"]),
        client_cert=dict(type="path", aliases=["ssl_cert"]),
        client_key=dict(type="path", aliases=["ssl_key"], no_log=False),
        check_hostname=dict(type="bool"),
    )


def db_where(params):
    """The server a module connects to, as an error names it."""
    if params["login_unix_socket"]:
        return params["login_unix_socket"]
    return "%s:%s" % (params["login_host"], params["login_port"])


def db_uses_tls(params):
    """True when a TLS option asks for TLS (check_hostname alone does not)."""
    return any(params.get(name) for name, _what in TLS_FILES)


def db_tls_kwargs(params):
    """PyMySQL's TLS keyword arguments for the login options, checked before connecting.

    {} without ca_cert, client_cert and client_key (the driver's default, unchanged).
    A missing file, a key without its certificate or check_hostname without ca_cert
    raises one sentence that names the option.
    """
    for name, what in TLS_FILES:
        path = params.get(name)
        if path and not os.path.isfile(path):
            raise StackhopError(
                "%s %s does not exist or is not a file: give the path of %s on the host "
                "that runs the module." % (name, path, what))
    ca_cert, client_cert, client_key = (params.get(n) for n, _w in TLS_FILES)
    check_hostname = params.get("check_hostname")
    if client_key and not client_cert:
        raise StackhopError(
            "client_key %s is given without client_cert: give client_cert too (the "
            "certificate of that key)." % client_key)
    if check_hostname and not ca_cert:
        raise StackhopError(
            "check_hostname is true but ca_cert is not given, so the server's name cannot "
            "be checked: give ca_cert (the CA that signed the server's certificate).")
    if not db_uses_tls(params):
        return {}
    kwargs = {}
    if ca_cert:
        kwargs["ssl_ca"] = ca_cert
        kwargs["ssl_verify_cert"] = True
        # community.mysql's semantics: with a CA, the name is checked unless turned off
        kwargs["ssl_verify_identity"] = check_hostname is not False
    else:
        # a client certificate alone encrypts but does not verify the server (mysql --ssl)
        kwargs["ssl_verify_cert"] = False
        kwargs["ssl_verify_identity"] = False
    if client_cert:
        kwargs["ssl_cert"] = client_cert
    if client_key:
        kwargs["ssl_key"] = client_key
    return kwargs


def db_connect_kwargs(params):
    """Every keyword argument db_connect passes to ``pymysql.connect``."""
    kwargs = dict(user=params["login_user"], password=params["login_password"] or "",
                  connect_timeout=params["connect_timeout"], charset="utf8mb4")
    if params["login_unix_socket"]:
        kwargs["unix_socket"] = params["login_unix_socket"]
    else:
        kwargs["host"] = params["login_host"]
        kwargs["port"] = params["login_port"]
    kwargs.update(db_tls_kwargs(params))
    return kwargs


def _tls_fix(params, exc, fix):
    """The fix a connection error calls for: which TLS option, or the caller's ``fix``."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    cause = getattr(exc, "original_exception", None)
    text = str(exc)
    if ssl is not None and isinstance(cause, ssl.SSLError):
        verify = getattr(ssl, "SSLCertVerificationError", ())
        if verify and isinstance(cause, verify):
            if getattr(cause, "verify_code", None) == 62 or "hostname mismatch" in text.lower() \
                    or "doesn't match" in text or "IP address mismatch" in text:
                return ("its certificate does not name %s: set login_host to a name its "
                        "certificate holds, or check_hostname to false" % params["login_host"])
            if params.get("ca_cert"):
                return ("its certificate is not signed by ca_cert %s: set ca_cert to the CA "
                        "that signed it" % params["ca_cert"])
            return "its certificate cannot be verified: set ca_cert to the CA that signed it"
        return ("the TLS handshake failed: check client_cert and client_key (the server must "
                "trust the CA that signed client_cert) and ca_cert")
    if db_uses_tls(params) and code != _NO_SERVER_TLS and "SSL" in text:
        # TLS 1.3: the server refuses the client certificate after the handshake, so the
        # driver sees "server has gone away (SSLEOFError ...)" on its first read
        return ("the TLS handshake failed: check client_cert and client_key (the server must "
                "trust the CA that signed client_cert) and ca_cert")
    if code == _NO_SERVER_TLS:
        return ("the server offers no TLS: turn TLS on in the server, or leave ca_cert, "
                "client_cert and client_key unset")
    if code in _INSECURE_TRANSPORT or "insecure transport" in text:
        return ("the server accepts TLS connections only: give ca_cert (and client_cert "
                "and client_key if the user logs in with a certificate)")
    if code == _ACCESS_DENIED and not params.get("client_cert"):
        return ("%s, or give client_cert and client_key if the user must log in with a "
                "certificate" % fix.rstrip(". "))
    return fix.rstrip(". ")


def db_connect(params, fix, mask=None):
    """A PyMySQL connection from the login options; a failure raises one sentence that
    names the server, the user and ``fix`` (or the TLS option to fix); ``mask`` hides
    secrets in the driver's text."""
    kwargs = db_connect_kwargs(params)
    tls = " over TLS" if db_uses_tls(params) else ""
    try:
        return pymysql.connect(**kwargs)
    except pymysql.MySQLError as exc:
        reason = str(exc.args[-1] if exc.args else exc)
        raise StackhopError("Cannot connect to the database server %s as %s%s (%s): %s." % (
            db_where(params), params["login_user"], tls, mask(reason) if mask else reason,
            _tls_fix(params, exc, fix)))
    except TypeError as exc:
        if "ssl_" not in str(exc):
            raise
        raise StackhopError(
            "The PyMySQL on this host is too old for ca_cert, client_cert and client_key "
            "(%s): install PyMySQL 0.10 or later in the interpreter the module runs with." % exc)
    except OSError as exc:
        # ssl.SSLError is an OSError: PyMySQL loads the files before it connects
        if not tls:
            raise
        raise StackhopError(
            "Cannot load the TLS files for the database server %s (%s): check that "
            "client_cert and client_key are a PEM certificate and its key and ca_cert a "
            "PEM CA certificate." % (db_where(params), exc))
