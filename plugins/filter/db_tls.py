# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""The one TLS setting of the database login (``stackhop_db_tls``) in the forms the
services and the client tools read it.

Each filter's documentation is in the YAML file of the same name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover
    from urllib import quote

KEYS = ("ca_cert", "client_cert", "client_key", "check_hostname")


def _tls(value):
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError("stackhop_db_tls must be a dict of ca_cert, client_cert, "
                                 "client_key and check_hostname, not %r." % type(value).__name__)
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise AnsibleFilterError("stackhop_db_tls has unknown key%s %s: use ca_cert, client_cert, "
                                 "client_key and check_hostname." % (
                                     "s" if len(unknown) > 1 else "", ", ".join(unknown)))
    return dict((k, v) for k, v in value.items() if v not in (None, ""))


def _bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y")


def db_tls_query(value):
    """The query string (with its ``?``) a mysql+pymysql URL needs for the TLS setting, or ''.

    SQLAlchemy turns ssl_ca, ssl_cert, ssl_key and ssl_check_hostname into PyMySQL's ssl
    dict: with a CA the certificate and, unless check_hostname is false, the name are
    verified, as the stackhop database modules do.
    """
    tls = _tls(value)
    if not any(tls.get(k) for k in KEYS[:3]):
        return ""
    parts = []
    for key, name in (("ca_cert", "ssl_ca"), ("client_cert", "ssl_cert"), ("client_key", "ssl_key")):
        if tls.get(key):
            parts.append("%s=%s" % (name, quote(str(tls[key]), safe="/")))
    if "check_hostname" in tls and not _bool(tls["check_hostname"]):
        parts.append("ssl_check_hostname=false")
    return "?" + "&".join(parts)


def db_tls_client_options(value, mariadb=True):
    """Option-file lines (a list of ``name=value``) of the mysql/mariadb client tools for
    the TLS setting, or []: MariaDB's ssl-verify-server-cert, MySQL's ssl-mode."""
    tls = _tls(value)
    if not any(tls.get(k) for k in KEYS[:3]):
        return []
    lines = []
    for key, name in (("ca_cert", "ssl-ca"), ("client_cert", "ssl-cert"), ("client_key", "ssl-key")):
        if tls.get(key):
            lines.append("%s=%s" % (name, tls[key]))
    verify_name = bool(tls.get("ca_cert")) and _bool(tls.get("check_hostname", True))
    if mariadb:
        lines.append("ssl")
        if verify_name:
            lines.append("ssl-verify-server-cert")
    else:
        lines.append("ssl-mode=%s" % ("VERIFY_IDENTITY" if verify_name
                                      else "VERIFY_CA" if tls.get("ca_cert") else "REQUIRED"))
    return lines


class FilterModule(object):
    def filters(self):
        return {"db_tls_query": db_tls_query, "db_tls_client_options": db_tls_client_options}
