# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Open the MySQL/MariaDB database an OpenStack SQLAlchemy URL names, with PyMySQL.

OpenStack services store ``mysql+pymysql://user:password@host:port/db?charset=utf8``
URLs in their configuration and (nova) in the nova_api cell mappings. This reads
such a URL the way SQLAlchemy does and connects with PyMySQL, so modules can read
state without SQLAlchemy on the target. Errors never contain the password.
"""

from __future__ import absolute_import, division, print_function

import re

try:
    import configparser
except ImportError:  # pragma: no cover
    import ConfigParser as configparser

try:
    from urllib.parse import parse_qsl, unquote
except ImportError:  # pragma: no cover
    from urllib import unquote
    from urlparse import parse_qsl

try:
    import pymysql
    HAS_PYMYSQL = True
except ImportError:  # pragma: no cover - reported by the caller as one sentence
    pymysql = None
    HAS_PYMYSQL = False

from ansible_collections.stackhop.upgrade.plugins.module_utils.secrets import mask_url

__metaclass__ = type

# SQLAlchemy's own URL grammar (sqlalchemy.engine.url._parse_url): the password may
# hold anything but "@"; user, password and database are percent-decoded.
_SQLA_URL = re.compile(
    r"""^(?P<name>[\w+.\-]+)://
        (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
        (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
        (?:/(?P<database>[^?]*))?
        (?:\?(?P<query>.*))?$""", re.X | re.S)


class DbUrlError(Exception):
    """A URL that cannot be used; the message is safe to show (password masked)."""


def parse(url):
    """Dict of the parts of a SQLAlchemy URL (decoded), or DbUrlError."""
    match = _SQLA_URL.match(url or "")
    if not match:
        # Never echo a value that is not a URL: it may be a bare password.
        raise DbUrlError("a database URL is not in SQLAlchemy form "
                         "(dialect+driver://user:password@host/database)")
    parts = match.groupdict()
    for key in ("username", "password", "database"):
        if parts[key] is not None:
            parts[key] = unquote(parts[key])
    parts["host"] = parts.pop("ipv6host") or parts.pop("ipv4host", None)
    parts.pop("ipv4host", None)
    parts["query"] = dict(parse_qsl(parts["query"] or "", keep_blank_values=True))
    return parts


def with_database(url, database):
    """``url`` naming another database (query and credentials kept)."""
    match = _SQLA_URL.match(url or "")
    if not match:
        # Never echo a value that is not a URL: it may be a bare password.
        raise DbUrlError("a database URL is not in SQLAlchemy form "
                         "(dialect+driver://user:password@host/database)")
    start, end = match.span("database")
    if start == -1:
        query = match.group("query")
        base = url[:match.start("query") - 1] if query is not None else url
        return "%s/%s%s" % (base, database, "?" + query if query is not None else "")
    return url[:start] + database + url[end:]


def connect_args(url):
    """PyMySQL ``connect`` keyword arguments for a mysql:// SQLAlchemy URL."""
    parts = parse(url)
    dialect = parts["name"].split("+")[0]
    if dialect not in ("mysql", "mariadb"):
        raise DbUrlError("%s is not a MySQL/MariaDB URL (dialect %s); only MySQL and "
                         "MariaDB databases are supported" % (mask_url(url), dialect))
    query = parts["query"]
    args = {
        "host": parts["host"] or "localhost",
        "user": parts["username"] or "",
        "password": parts["password"] or "",
        "database": parts["database"] or None,
        "charset": query.get("charset", "utf8mb4"),
        "connect_timeout": 10,
        "autocommit": True,
    }
    if parts["port"]:
        try:
            args["port"] = int(parts["port"])
        except ValueError:
            raise DbUrlError("%s has an invalid port" % mask_url(url))
    if query.get("unix_socket"):
        args["unix_socket"] = query["unix_socket"]
    if query.get("read_default_file"):
        args["read_default_file"] = query["read_default_file"]
    ssl = dict((k[4:], v) for k, v in query.items()
               if k in ("ssl_ca", "ssl_cert", "ssl_key", "ssl_capath", "ssl_cipher"))
    if ssl:
        args["ssl"] = ssl
    return args


def connect(url):
    """A PyMySQL connection for ``url`` (autocommit); DbUrlError with a masked message."""
    if not HAS_PYMYSQL:
        raise DbUrlError("PyMySQL is not installed for the Python that runs the module; "
                         "install python3-pymysql (or PyMySQL) on the target")
    args = connect_args(url)
    try:
        return pymysql.connect(**args)
    except pymysql.MySQLError as exc:
        code = exc.args[0] if exc.args else None
        detail = exc.args[1] if len(exc.args) > 1 else str(exc)
        raise DbUrlError("cannot connect to %s (MySQL error %s: %s)" % (
            mask_url(url), code, detail.replace(args["password"], "********")
            if args["password"] else detail))


def query(conn, sql, args=None):
    """Rows of ``sql`` as tuples."""
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def config_connections(paths, sections, service, extra=""):
    """{section: ``connection`` of that section} of oslo.config files read in order (the
    last file that sets it wins; None when none does), then of the text ``extra`` (a
    private config a module writes for the command). ``service`` names the files in the
    errors (for example "nova"); raises DbUrlError with the file and the fix."""
    found = dict((section, None) for section in sections)
    texts = []
    for path in paths:
        try:
            with open(path) as handle:
                texts.append((path, handle.read()))
        except (OSError, IOError) as exc:
            raise DbUrlError("the %s configuration file %s cannot be read (%s); set "
                             "config_files to the files the service reads"
                             % (service, path, exc.strerror))
    if extra:
        texts.append(("the module's config option", extra))
    for where, text in texts:
        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read_string(text)
        except configparser.Error as exc:
            raise DbUrlError("the %s configuration in %s is not valid ini syntax (%s); fix it"
                             % (service, where, str(exc).splitlines()[0]))
        for section in found:
            if parser.has_option(section, "connection"):
                value = parser.get(section, "connection").strip()
                if value:
                    # oslo.config writes a literal "$" as "$$".
                    found[section] = value.replace("$$", "$")
    return found
