# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""A controller drained in HAProxy, its decisions (no Ansible, no sockets).

HAProxy's runtime API answers ``show servers state`` (one line per server, its admin state
a bit mask) and ``show stat`` (CSV, ``scur`` the sessions a server holds now). From those:
which servers a request names, which of them need a ``set server <b>/<s> state <state>``
command, what stops a server from reaching that state, and when a drain is over (no
session and no queued request left on any of them). Used by the module
``stackhop.upgrade.haproxy_server``; the socket is read in ``haproxy_runtime``.
"""

from __future__ import annotations

import csv
import io
import re

STATES = ("ready", "drain", "maint")

# srv_admin_state bits (HAProxy's management guide, "show servers state")
FMAINT = 0x01   # forced into maintenance (CLI, or "disabled" in the config with CMAINT)
IMAINT = 0x02   # inherited from the server it tracks
CMAINT = 0x04   # "disabled" in the config; alone (after "state ready") the server serves
FDRAIN = 0x08   # forced into drain
IDRAIN = 0x10   # inherited from the server it tracks
RMAINT = 0x20   # its address did not resolve

# What HAProxy accepts in a proxy or server name: nothing that could end a CLI command.
NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


class AnswerError(ValueError):
    """An answer that is not the format HAProxy documents for the command."""


def parse_servers_state(text):
    """The servers of ``show servers state`` (format 1: a version line, a ``#`` header,
    one space-separated line per server), in HAProxy's order: dicts with ``backend``,
    ``server``, ``admin_flags`` (int) and ``op_state`` (int: 0 down, 1 starting,
    2 running, 3 stopping)."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines or not lines[0].strip().isdigit():
        raise AnswerError("no format version line")
    header = None
    servers = []
    for line in lines[1:]:
        if line.startswith("#"):
            header = header or line.lstrip("# ").split()
            continue
        if header is None:
            raise AnswerError("no column header")
        row = dict(zip(header, line.split()))
        try:
            servers.append({"backend": row["be_name"], "server": row["srv_name"],
                            "admin_flags": int(row["srv_admin_state"]),
                            "op_state": int(row["srv_op_state"])})
        except (KeyError, ValueError):
            raise AnswerError("a server line without be_name, srv_name, srv_admin_state "
                              "or srv_op_state: %r" % line[:120])
    if header is None:
        raise AnswerError("no column header")
    return servers


def parse_stat(text):
    """The servers' rows of ``show stat`` (CSV, header ``# pxname,svname,...``):
    ``{(backend, server): {"sessions": scur, "queued": qcur, "status": status,
    "tracked": "<backend>/<server>" or "", "check": check_status}}``. Frontend and backend
    rows are left out."""
    text = (text or "").lstrip()
    if not text.startswith("# pxname,"):
        raise AnswerError("no '# pxname,' CSV header")
    rows = csv.DictReader(io.StringIO(text[2:]))
    found = {}
    for row in rows:
        if not row.get("pxname") or row.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        if row.get("type", "2") != "2":     # 2: a server (0, 1, 3: frontend, backend, listener)
            continue
        try:
            found[(row["pxname"], row["svname"])] = {
                "sessions": int(row["scur"] or 0), "queued": int(row["qcur"] or 0),
                "status": row.get("status") or "", "tracked": row.get("tracked") or "",
                "check": row.get("check_status") or ""}
        except (KeyError, ValueError):
            raise AnswerError("a server row without numeric scur and qcur: %s/%s"
                              % (row.get("pxname"), row.get("svname")))
    return found


def admin_state(flags):
    """``maint``, ``drain`` or ``ready``: what the admin bits make of the server. A
    maintenance of any origin wins over a drain; CMAINT alone is a server the config
    disabled and the CLI made ready, which serves."""
    if flags & (FMAINT | IMAINT | RMAINT):
        return "maint"
    if flags & (FDRAIN | IDRAIN):
        return "drain"
    return "ready"


def resolve(requested, known):
    """The ``(backend, server)`` pairs ``requested`` names (dicts with ``server`` and an
    optional ``backend``; no backend: every backend that has a server of that name), in
    HAProxy's order, each once; and a list of what names nothing (empty when all exist).
    ``known``: ``parse_servers_state``'s list."""
    pairs = [(s["backend"], s["server"]) for s in known]
    backends = []
    for backend, _server in pairs:
        if backend not in backends:
            backends.append(backend)
    wanted = set()
    missing = []
    for item in requested:
        server, backend = item["server"], item.get("backend")
        if backend:
            if (backend, server) in pairs:
                wanted.add((backend, server))
            elif backend not in backends:
                missing.append("no backend %s" % backend)
            else:
                missing.append("no server %s in backend %s (its servers: %s)" % (
                    server, backend, ", ".join(s for b, s in pairs if b == backend)))
            continue
        found = [(b, s) for b, s in pairs if s == server]
        if not found:
            missing.append("no server named %s in any backend" % server)
        wanted.update(found)
    return [pair for pair in pairs if pair in wanted], missing


def needs_command(flags, wanted):
    """Whether a server whose admin bits are ``flags`` needs ``set server ... state
    wanted``: its state is not ``wanted`` yet. A state it only inherits is not its own,
    but it has it: no command (the tracked server decides)."""
    return admin_state(flags) != wanted


def inherited_blocks(targets, flags, stat, wanted):
    """Why a target cannot reach ``wanted`` whatever this run sets: a maintenance or drain
    it inherits from a tracked server this run does not set, or a failed address
    resolution. ``(why, fix)`` phrases, one per such target. ``flags``: {(b, s): admin
    bits}; ``stat``: parse_stat's."""
    blocked = []
    targeted = {"%s/%s" % pair for pair in targets}
    for pair in targets:
        bits = flags[pair]
        if not needs_command(bits, wanted):
            continue
        name = "%s/%s" % pair
        tracked = (stat.get(pair) or {}).get("tracked") or ""
        keeps = bits & IMAINT or (bits & IDRAIN and wanted == "ready")
        if bits & RMAINT:
            blocked.append(("%s is in maintenance because its address did not resolve" % name,
                            "make its name resolve"))
        elif keeps and tracked not in targeted:
            blocked.append(("%s follows the state of %s, which it tracks" % (
                name, tracked or "the server it tracks"),
                "list %s in servers too" % (tracked or "the tracked server")))
    return blocked


def set_command(backend, server, state):
    """The runtime API command that sets one server's admin state."""
    if state not in STATES:
        raise ValueError("state %r is not one of %s" % (state, ", ".join(STATES)))
    for name in (backend, server):
        if not NAME.match(name or ""):
            raise ValueError("%r is not an HAProxy name" % name)
    return "set server %s/%s state %s" % (backend, server, state)


def holding(targets, stat):
    """The targets that still hold sessions or queued requests, in order:
    ``[(backend, server, sessions, queued)]``. A target missing from ``stat`` (removed
    meanwhile) holds nothing."""
    left = []
    for backend, server in targets:
        row = stat.get((backend, server)) or {}
        sessions, queued = row.get("sessions", 0), row.get("queued", 0)
        if sessions or queued:
            left.append((backend, server, sessions, queued))
    return left


def holding_phrase(left):
    """``api_a/ctl1 (2 sessions), api_b/ctl1 (1 session, 1 queued)``."""
    parts = []
    for backend, server, sessions, queued in left:
        count = "%d session%s" % (sessions, "" if sessions == 1 else "s")
        if queued:
            count += ", %d queued" % queued
        parts.append("%s/%s (%s)" % (backend, server, count))
    return ", ".join(parts)


def checked_up(status):
    """Whether ``show stat``'s status says a server's health check found it up: ``UP``,
    ``DRAIN`` (up, drained) or ``no check`` (no health check to wait for). ``UP 1/3`` and
    ``DRAIN 1/3`` are HAProxy's guess before the first check of a server that left
    maintenance; ``DOWN``, ``DOWN 1/2`` and ``MAINT`` are not up. A server that tracks
    another has that one's status with `` (via <backend>/<server>)`` after it."""
    return re.sub(r"\s*\(via [^)]*\)$", "", (status or "").strip()) in ("UP", "DRAIN", "no check")


def not_up(targets, stat):
    """The targets whose health check has not found them up, in order:
    ``[(backend, server, status, check)]`` (``check``: the last check's result, e.g.
    ``L4CON``). A target missing from ``stat`` is not up."""
    left = []
    for backend, server in targets:
        row = stat.get((backend, server)) or {}
        if not checked_up(row.get("status", "")):
            left.append((backend, server, row.get("status") or "absent", row.get("check") or ""))
    return left


def not_up_phrase(left):
    """``nova_api/ctl4 (DOWN, L4CON), nova_api/ctl5 (DOWN 1/2)``."""
    return ", ".join("%s/%s (%s)" % (backend, server, ", ".join(x for x in (status, check) if x))
                     for backend, server, status, check in left)
