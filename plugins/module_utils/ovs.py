# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""A small Open vSwitch client shared by every stackhop OVS module.

Reads and writes go to ovsdb-server over its JSON-RPC unix socket (RFC 7047), so
values arrive as JSON, never as text to split, and a whole change set is one
``transact`` call: one OVSDB transaction. OpenFlow work goes through
``ovs-ofctl`` against the bridge's management socket. Everything is found from one
``ovs_rundir``.
"""

from __future__ import annotations

import json
import os
import socket

from ansible_collections.stackhop.upgrade.plugins.module_utils.unix_socket import connect_unix
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
)

DB_NAME = "Open_vSwitch"

# OpenFlow versions ovs-ofctl can be told to speak, oldest first.
OPENFLOW_VERSIONS = ("OpenFlow10", "OpenFlow11", "OpenFlow12",
                     "OpenFlow13", "OpenFlow14", "OpenFlow15")


def from_ovsdb(value):
    """Turn an OVSDB JSON value into Python: map -> dict, set -> list, uuid -> str."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, body = value
        if kind == "map":
            return {from_ovsdb(k): from_ovsdb(v) for k, v in body}
        if kind == "set":
            return [from_ovsdb(v) for v in body]
        if kind in ("uuid", "named-uuid"):
            return body
    return value


def optional(value):
    """An optional column (min 0, max 1) read with from_ovsdb: [] -> None, [x] -> x."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def to_ovsdb_map(mapping):
    """A Python dict of strings as an OVSDB map, keys sorted for stable transactions."""
    return ["map", [[str(k), str(v)] for k, v in sorted(mapping.items())]]


def uuid_where(uuid):
    return [["_uuid", "==", ["uuid", uuid]]]


class OvsdbClient:
    """JSON-RPC client for ovsdb-server's unix socket ``<ovs_rundir>/db.sock``."""

    def __init__(self, rundir, timeout=30):
        self.rundir = rundir
        self.path = os.path.join(rundir, "db.sock")
        self.timeout = timeout
        self._sock = None
        self._buf = b""
        self._next_id = 0
        self.transactions = 0

    # -- transport ------------------------------------------------------------
    def _connect(self):
        if self._sock is not None:
            return
        sock = connect_unix(
            self.path, self.timeout, StackhopError,
            "No ovsdb-server socket at %s; start Open vSwitch or set ovs_rundir "
            "to the directory that holds db.sock." % self.path,
            "Cannot connect to ovsdb-server at " + self.path.replace("%", "%%")
            + " (%s); check that ovsdb-server is running.")
        self._sock = sock

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _read_message(self):
        decoder = json.JSONDecoder()
        while True:
            text = self._buf.decode("utf-8", errors="strict").lstrip()
            if text:
                try:
                    msg, end = decoder.raw_decode(text)
                except ValueError:
                    msg = None
                if msg is not None:
                    self._buf = text[end:].encode("utf-8")
                    return msg
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                raise StackhopError(
                    "ovsdb-server at %s did not answer within %d s." % (self.path, self.timeout))
            if not chunk:
                raise StackhopError("ovsdb-server at %s closed the connection." % self.path)
            self._buf += chunk

    def call(self, method, params):
        self._connect()
        self._next_id += 1
        req_id = self._next_id
        self._sock.sendall(json.dumps(
            {"method": method, "params": params, "id": req_id}).encode("utf-8"))
        while True:
            msg = self._read_message()
            if msg.get("method") == "echo":  # keep-alive from the server
                self._sock.sendall(json.dumps(
                    {"result": msg.get("params", []), "error": None, "id": msg.get("id")}
                ).encode("utf-8"))
                continue
            if msg.get("id") == req_id:
                if msg.get("error"):
                    raise StackhopError("ovsdb-server refused %s: %s" % (method, msg["error"]))
                return msg.get("result")

    # -- OVSDB operations -----------------------------------------------------
    def transact(self, operations):
        """Run ``operations`` as ONE transaction; raise with the first error."""
        if not operations:
            return []
        self.transactions += 1
        results = self.call("transact", [DB_NAME] + list(operations))
        for op, res in zip(operations, results):
            if isinstance(res, dict) and res.get("error"):
                raise StackhopError(
                    "OVSDB transaction failed at %s on %s: %s %s" % (
                        op.get("op"), op.get("table"), res.get("error"),
                        res.get("details", "")),
                    ovsdb_error=res)
        if len(results) > len(operations) and results[-1] and results[-1].get("error"):
            raise StackhopError("OVSDB transaction failed: %s" % results[-1])
        return results

    def select(self, table, columns, where=None):
        """Rows of ``table`` (list of dicts with ``_uuid`` and ``columns``), as Python."""
        cols = list(columns)
        if "_uuid" not in cols:
            cols.append("_uuid")
        res = self.call("transact", [DB_NAME, {
            "op": "select", "table": table, "where": where or [], "columns": cols}])
        if res and isinstance(res[0], dict) and res[0].get("error"):
            raise StackhopError("Cannot read %s from OVSDB: %s" % (table, res[0]["error"]))
        return [{k: from_ovsdb(v) for k, v in row.items()} for row in res[0]["rows"]]

    # -- convenience reads ----------------------------------------------------
    def bridges(self, columns=("name",)):
        return {row["name"]: row for row in self.select("Bridge", set(columns) | {"name"})}

    def bridge_ports(self, bridge, port_columns=("name",), iface_columns=("name",)):
        """Ports of one bridge (dicts) with their interfaces under ``interfaces``.

        Raises a clear error when the bridge does not exist.
        """
        brs = self.select("Bridge", ["name", "ports"], [["name", "==", bridge]])
        if not brs:
            raise StackhopError(
                "Bridge %s does not exist in the Open vSwitch database at %s; create it "
                "or set bridge to an existing one." % (bridge, self.path))
        port_uuids = set(brs[0]["ports"] if isinstance(brs[0]["ports"], list) else [brs[0]["ports"]])
        ports = [p for p in self.select("Port", set(port_columns) | {"name", "interfaces"})
                 if p["_uuid"] in port_uuids]
        ifaces = {i["_uuid"]: i for i in self.select("Interface", set(iface_columns) | {"name"})}
        for p in ports:
            uuids = p["interfaces"] if isinstance(p["interfaces"], list) else [p["interfaces"]]
            p["interfaces"] = [ifaces[u] for u in uuids if u in ifaces]
        return ports


def flow_lines(dump):
    """Flow lines of ``ovs-ofctl --no-stats dump-flows`` (the add-flows syntax)."""
    return [line.strip() for line in dump.splitlines() if " actions=" in line
            or line.strip().startswith("actions=")]


def mgmt_target(rundir, bridge):
    """The OpenFlow management socket ovs-vswitchd opens for every bridge."""
    return "unix:%s" % os.path.join(rundir, "%s.mgmt" % bridge)


def ofctl_protocol_args(protocols):
    """``-O`` for ovs-ofctl when the bridge restricts OpenFlow versions, else nothing."""
    allowed = [p for p in OPENFLOW_VERSIONS if p in (protocols or [])]
    return ["-O", ",".join(allowed)] if allowed else []
