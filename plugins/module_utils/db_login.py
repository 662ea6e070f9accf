# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""The database login options the stackhop database modules share (doc fragment
``stackhop.upgrade.db_login``) and the one way they connect with PyMySQL."""

from __future__ import absolute_import, division, print_function

# the collection's one guarded PyMySQL import
from ansible_collections.stackhop.upgrade.plugins.module_utils.dburl import pymysql
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import StackhopError

__metaclass__ = type


def db_login_argument_spec():
    """A fresh copy of the login options (a module adds its own beside them)."""
    return dict(
        login_user=dict(type="str", required=True),
        login_password=dict(type="str", default="", no_log=True),
        login_host=dict(type="str", default="127.0.0.1"),
        login_port=dict(type="int", default=3306),
        login_unix_socket=dict(type="path"),
        connect_timeout=dict(type="int", default=10),
    )


def db_where(params):
    """The server a module connects to, as an error names it."""
    if params["login_unix_socket"]:
        return params["login_unix_socket"]
    return "%s:%s" % (params["login_host"], params["login_port"])


def db_connect(params, fix, mask=None):
    """A PyMySQL connection from the login options; a failure raises one sentence that
    names the server, the user and ``fix`` (``mask`` hides secrets in the driver's text)."""
    kwargs = dict(user=params["login_user"], password=params["login_password"] or "",
                  connect_timeout=params["connect_timeout"], charset="utf8mb4")
    if params["login_unix_socket"]:
        kwargs["unix_socket"] = params["login_unix_socket"]
    else:
        kwargs["host"] = params["login_host"]
        kwargs["port"] = params["login_port"]
    try:
        return pymysql.connect(**kwargs)
    except pymysql.MySQLError as exc:
        reason = str(exc.args[-1] if exc.args else exc)
        raise StackhopError("Cannot connect to the database server %s as %s (%s): %s" % (
            db_where(params), params["login_user"], mask(reason) if mask else reason, fix))
