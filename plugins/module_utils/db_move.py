# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""The database moved with the control plane (DeNA's blue-green): which database server
each phase of a component's window uses, what a rollback does with the databases, and the
statements that give the new server the old one's service accounts.

Off by default: without a new-side database server (inventory group ``stackhop_db_new``)
every phase uses the one server, as before. With one, in a blue-green upgrade, each
component's dump is loaded into the new server and migrated there, the new node's
services use it, and the old server is only read (the dump, its accounts), so a rollback
switches back to it instead of restoring a dump.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# The control plane's phases (release_model.CONTROL_PLANE_PHASES) and the rollback:
# the server each uses when the database moves. The network node's agents keep the old
# server in their config: they never connect to it, and on a shared old controller that
# file is also the old neutron-server's, which a rollback starts again.
MOVED_SERVERS = {
    "prepare": "new", "stop": "old", "backup": "old", "load": "new", "migrate": "new", "copy_state": "new",
    "deploy": "new", "smoke": "new", "switch": "new", "converge": "new", "smoke_writes": "new", "retire": "old", "cleanup": "new",
    "agents": "old", "rollback": "old",
    # the rolling strategy's own phases (it never moves the database)
    "expand": "new", "data": "new", "drain": "new", "enable": "new", "contract": "new", "online": "new",
    "unpin": "new",
}


class DbMoveError(ValueError):
    """A request the move cannot carry out; the message is one sentence with the fix."""


def database_move(strategy, old_hosts, new_hosts, old_address, new_address=None, adopted=None):
    """Where the databases are during this run.

    ``old_hosts``/``new_hosts``: the ``stackhop_db`` / ``stackhop_db_new`` hosts in the
    run's scope (the first of each is the server); ``old_address``/``new_address``: the
    addresses the services reach them at (``stackhop_db_address``,
    ``stackhop_db_address_new``); ``adopted``: components of the run that stackhop did not
    deploy (their config keeps the operator's [database] connection, so they cannot be
    pointed elsewhere).

    Returns {"moves", "old": {host, address}, "new": {host, address} or None,
    "servers": {phase: "old"|"new"}, "addresses": {phase: address}}.
    """
    old = {"host": (list(old_hosts or []) or [""])[0], "address": old_address or ""}
    if not new_hosts:
        return {"moves": False, "old": old, "new": None,
                "servers": dict((phase, "old") for phase in MOVED_SERVERS),
                "addresses": dict((phase, old["address"]) for phase in MOVED_SERVERS)}
    new = {"host": list(new_hosts)[0], "address": new_address or ""}
    if strategy != "blue_green":
        raise DbMoveError(
            "stackhop_db_new names %s but the control plane is upgraded %s; the database moves "
            "only in a blue_green upgrade: remove %s from stackhop_db_new or use blue_green."
            % (new["host"], strategy, new["host"]))
    if not new["address"]:
        raise DbMoveError(
            "stackhop_db_new names %s but stackhop_db_address_new is not set: set it to the "
            "address the new controllers reach the database server on %s at."
            % (new["host"], new["host"]))
    if new["host"] == old["host"] or new["address"] == old["address"]:
        raise DbMoveError(
            "stackhop_db_new names %s (%s), the server the databases are on already: name "
            "another server or remove stackhop_db_new." % (new["host"], new["address"]))
    if adopted:
        raise DbMoveError(
            "%s %s installed by the operator (adopted), whose config keeps its own [database] "
            "connection, so the database cannot move with it: remove stackhop_db_new, or "
            "upgrade %s without moving its database." % (
                ", ".join(adopted), "is" if len(adopted) == 1 else "are", ", ".join(adopted)))
    sides = {"old": old, "new": new}
    return {"moves": True, "old": old, "new": new, "servers": dict(MOVED_SERVERS),
            "addresses": dict((phase, sides[side]["address"])
                              for phase, side in MOVED_SERVERS.items())}


def rollback_databases(moves, components, backup_dir, upgrade_id, backup_sets):
    """What a rollback does with the databases.

    The database did not move: ``restore`` the ``backup_sets`` on the server (each table
    proven equal to its dump). It moved: ``switch_back`` to the old server, which the
    move never wrote, and ``compare`` its tables with the dumps the move loaded (each
    component's set ``<backup_dir>/<upgrade_id>-<component>``), restoring nothing.
    """
    if moves:
        return {"action": "switch_back", "server": "old",
                "sets": ["%s/%s-%s" % (backup_dir.rstrip("/"), upgrade_id, c) for c in components]}
    return {"action": "restore", "server": "old", "sets": list(backup_sets)}


# --- database URLs a service keeps in a table (nova's cell mappings) --------------------

# SQLAlchemy's URL grammar: the password may hold anything but "@"
_URL = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://(?:[^:/@]*(?::[^@]*)?@)?)"
                  r"(?P<host>\[[^\]]*\]|[^/?#:@]*)(?P<tail>(?::[0-9]*)?(?:[/?#].*)?)$", re.S)


def url_host(url):
    """The host of a database URL (IPv6 without brackets), or None when it has none."""
    match = _URL.match(url or "")
    if not match:
        return None
    host = match.group("host")
    return host[1:-1] if host.startswith("[") else host


def rewrite_url_host(url, old_host, new_host):
    """``url`` with its host ``old_host`` replaced by ``new_host`` (user, password, port,
    database and query kept), or None when it names another host or is a template (nova's
    ``{hostname}``), which is left as it is."""
    match = _URL.match(url or "")
    if not match or (url_host(url) or "").lower() != (old_host or "").lower():
        return None
    host = "[%s]" % new_host if ":" in new_host and not new_host.startswith("[") else new_host
    return match.group("head") + host + match.group("tail")


# --- the service accounts: copied from the old server to the new one --------------------

_NAME = r"`(?:[^`]|``)*`"
_ACCOUNT = re.compile(r"^CREATE USER (?P<account>%s@%s)(?P<rest>.*)$" % (_NAME, _NAME), re.S)
_GRANT = re.compile(r"^GRANT (?P<privs>.+?) ON (?P<db>%s|\*)\.(?P<table>%s|\*) TO (?P<account>%s@%s)(?P<rest>.*)$"
                    % (_NAME, _NAME, _NAME, _NAME), re.S)
_GRANTEE = re.compile(r"^'((?:[^']|'')*)'@'((?:[^']|'')*)'$")
# a quoted literal after PASSWORD, AS or USING: a password hash
_HASH = re.compile(r"\b(PASSWORD|AS|USING)(\s*\(?\s*)'(?:[^'\\]|\\.|'')*'", re.I)


def quote_name(name):
    """A backquoted identifier (user, host or database name)."""
    return "`%s`" % name.replace("`", "``")


def account_name(user, host):
    return "%s@%s" % (quote_name(user), quote_name(host))


def parse_grantee(grantee):
    """(user, host) of information_schema's GRANTEE (``'nova'@'%'``)."""
    match = _GRANTEE.match(grantee or "")
    if not match:
        raise DbMoveError("The grantee %r is not in the form 'user'@'host'; read the accounts "
                          "with a MariaDB or MySQL server's information_schema." % grantee)
    return match.group(1).replace("''", "'"), match.group(2).replace("''", "'")


def schema_patterns(databases):
    """The TABLE_SCHEMA values information_schema shows for grants on ``databases``: the
    name, and the name with ``_`` escaped as a GRANT with a literal underscore spells it."""
    out = []
    for name in databases:
        for form in (name, name.replace("_", "\\_")):
            if form not in out:
                out.append(form)
    return out


def _database_of(grant):
    """The database a GRANT line of SHOW GRANTS is on (unescaped), or None (global)."""
    match = _GRANT.match(grant)
    if not match or match.group("db") == "*":
        return None
    return match.group("db")[1:-1].replace("``", "`").replace("\\_", "_").replace("\\%", "%")


def mask_statement(statement):
    """``statement`` with every password hash replaced by ``********``."""
    return _HASH.sub(lambda m: "%s%s'********'" % (m.group(1), m.group(2)), statement or "")


def read_account(cur, user, host, databases):
    """The account ``user@host`` of the server ``cur`` is connected to, as account_record
    makes it from SHOW CREATE USER and SHOW GRANTS (its grants on ``databases``), or None
    when the server has no such account."""
    name = account_name(user, host)
    cur.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s AND Host = %s", (user, host))
    if not cur.fetchone()[0]:
        return None
    cur.execute("SHOW CREATE USER %s" % name)
    create = cur.fetchone()[0]
    cur.execute("SHOW GRANTS FOR %s" % name)
    return account_record(user, host, create, [row[0] for row in cur.fetchall()], databases)


def account_record(user, host, create, grants, databases):
    """The account as the new server needs it: its CREATE USER statement (password hash,
    TLS requirement) and those of its GRANT lines that are on ``databases``."""
    wanted = set(databases)
    return {"user": user, "host": host, "create": create.strip(),
            "grants": [g.strip() for g in grants if _database_of(g.strip()) in wanted]}


def check_account(account, databases):
    """Refuse an account record whose statements are not what account_record makes: a
    CREATE USER of that account, GRANT lines of that account on ``databases`` only."""
    name = account_name(account["user"], account["host"])
    match = _ACCOUNT.match(account.get("create") or "")
    if not match or match.group("account") != name:
        raise DbMoveError("The account %s has no CREATE USER statement of its own; read it again "
                          "with stackhop.upgrade.db_accounts_info." % name)
    for grant in account.get("grants") or []:
        found = _GRANT.match(grant)
        if not found or found.group("account") != name or _database_of(grant) not in set(databases):
            raise DbMoveError("A grant of %s is not on one of %s (%s); give only the grants "
                              "stackhop.upgrade.db_accounts_info read."
                              % (name, ", ".join(databases), mask_statement(grant)[:120]))


def account_statements(want, have):
    """The statements that make the server's account ``have`` (None: it does not exist;
    else {create, grants} as the server shows them) equal ``want`` (an account_record):
    CREATE USER, or ALTER USER when its password or TLS requirement differs, then each
    missing GRANT. Grants the server has beyond those are left alone."""
    out = []
    if have is None:
        out.append(want["create"])
    elif have["create"].strip() != want["create"]:
        out.append("ALTER USER" + want["create"][len("CREATE USER"):])
    present = set(g.strip() for g in (have or {}).get("grants") or [])
    out += [g for g in want["grants"] if g not in present]
    return out
