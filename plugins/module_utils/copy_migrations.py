# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""MCP's test-upgrade: the schema migrations of every release of the upgrade path, run
on the backup's ``<db>_upgrade`` copies before anything in the region changes.

Pure Python (no Ansible import): the filter ``stackhop.upgrade.copy_migrations`` and the
unit tests read it. What each release runs is the release model's (SCHEMA_SYNC, the
commands the control-plane roles run); which databases a component has is the component
catalogue's; this module only points those commands at the copies.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover
    from urllib import quote

from ansible_collections.stackhop.upgrade.plugins.module_utils import components
from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm

# The hosts that may run the copies' migrations, in order of preference: the first in
# scope of the first group that has one (docs/backup.md).
HOST_GROUPS = ("stackhop_controllers_new", "stackhop_controllers")
SCOPE_GROUP = "stackhop_scope"
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class CopyMigrationsError(ValueError):
    """A request the decision refuses; the message is one sentence with the fix."""


def migration_host(groups, scope_group=SCOPE_GROUP):
    """The host that runs the migrations on the copies: the first in-scope host of the new
    controllers (a blue-green upgrade's migration host, where the control plane will need
    the same venvs), else of the controllers; '' when the inventory has none. The copies'
    databases are reached over the network, as the roles reach the originals
    (stackhop_db_address): the release venvs live on the controllers, not on the
    database server."""
    groups = groups if isinstance(groups, dict) else {}
    scope = groups.get(scope_group)
    for group in HOST_GROUPS:
        hosts = list(groups.get(group) or [])
        if scope is not None:
            hosts = [h for h in hosts if h in set(scope)]
        if hosts:
            return hosts[0]
    return ""


def _url(connection, database):
    """``mysql+pymysql://user:password@host[:port]/database[query]`` (user and password
    percent-encoded, as SQLAlchemy decodes them)."""
    port = connection.get("port")
    return "mysql+pymysql://%s:%s@%s%s/%s%s" % (
        quote(str(connection["user"]), safe=""), quote(str(connection.get("password") or ""), safe=""),
        connection["host"], ":%s" % port if port else "", database, connection.get("query") or "")


def _config(step, databases, connection, suffix):
    """The config text of one command: its other options, then each database's section
    with the copy's URL."""
    lines = []
    sections = {}
    for section, option, value in step.get("config", []):
        sections.setdefault(section, []).append("%s = %s" % (option, value))
    for db in databases:
        sections.setdefault(step["sections"][db], []).append(
            "connection = %s" % _url(connection, db + suffix))
    for section, options in sections.items():
        lines.append("[%s]" % section)
        lines.extend(options)
    return "\n".join(lines) + "\n"


def _check_inputs(wanted, suffix, connection):
    if isinstance(wanted, str) or not isinstance(wanted, (list, tuple)):
        raise CopyMigrationsError(
            "The components of the copies' migrations must be a list of names, not %r; "
            "give stackhop_components as a list." % (wanted,))
    if not suffix or not set(suffix) <= NAME_CHARS:
        raise CopyMigrationsError(
            "The copies' suffix %r must be letters, digits and _ only (not empty); fix "
            "backup_verify_suffix." % (suffix,))
    if not isinstance(connection, dict) or not connection.get("host") or not connection.get("user"):
        raise CopyMigrationsError(
            "The copies' connection needs at least a host and a user; set "
            "stackhop_db_address (or backup_verify_db_address).")


def copy_migrations(wanted, current, target, databases=None, suffix="_upgrade",
                    venv_root="/opt/stackhop/venvs", connection=None):
    """The ordered migrations that prove the path ``current`` -> ``target`` on the copies.

    ``wanted``: the region's components in upgrade order (those without a role are
    passed over: nothing deploys or migrates them); ``databases``: the databases that were dumped and loaded
    (None: every one); ``connection``: {host, port (optional), user, password, query (the
    TLS query, optional)} of the account that reaches the copies.

    Component by component, then release by release of the path (the
    releases whose migrations run: a SLURP jump skips its middle release), then each of
    the release's schema steps, as the control plane runs them. Each entry:
    {component, release, codename, database (the original), copy_db (its copy), databases (the copies the
    command migrates), command (text, no secret), argv (``@config@`` for the config
    file), python (the venv's interpreter, which runs stackhop.upgrade.db_migrate),
    config (the text holding the copies' URLs: secret)}.

    nova's ``db sync`` runs once per cell database with ``--local_cell``: without it
    nova-manage also migrates cell0 through its mapping in nova_api, and the copy of
    nova_api maps the ORIGINAL cell0.
    """
    _check_inputs(wanted, suffix, connection)
    path = rm.upgrade_path(current, target)
    present = None if databases is None else set(databases)
    out = []
    for name in wanted:
        if not components.component(name)["role"]:
            continue
        for mig in path["migrations"]:
            release = rm.get_release(mig["number"])
            venv = "%s/%s" % (str(venv_root).rstrip("/"), release["number"])
            for step in rm.schema_sync_steps(name, release["number"]):
                dbs = [db for db in components.component(name)["databases"]
                       if db in step["sections"] and (present is None or db in present)]
                local_cell = step.get("cells") and \
                    release["index"] >= rm.get_release(step["local_cell_since"])["index"]
                # one command per database when each must be named alone
                groups = [[db] for db in dbs] if local_cell or len(dbs) == 1 else ([dbs] if dbs else [])
                if step.get("cells") and not local_cell:
                    # before --local_cell nova had no cell0: its db sync migrates [database] only
                    groups = [[dbs[0]]] if dbs else []
                for group in groups:
                    args = list(step["args"]) + (["--local_cell"] if local_cell else [])
                    out.append({
                        "component": name,
                        "release": release["number"],
                        "codename": release["codename"],
                        "database": group[0],
                        "copy_db": group[0] + suffix,
                        "databases": [db + suffix for db in group],
                        "command": " ".join([step["command"]] + args),
                        "argv": ["%s/bin/%s" % (venv, step["command"]), "--config-file", "@config@"] + args,
                        "python": "%s/bin/python" % venv,
                        "config": _config(step, group, connection, suffix),
                    })
    return out
