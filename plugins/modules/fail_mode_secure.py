#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fail_mode_secure
short_description: Set Open vSwitch bridges to fail_mode secure without losing flows or packets
version_added: 0.1.0
description:
  - Sets C(fail_mode=secure) on each listed bridge, as neutron's OVS agent (7.2.0 and later)
    does when it starts, but keeps every OpenFlow flow and every packet crossing the bridge.
  - Open vSwitch flushes all flows of a bridge without a controller when its fail mode
    changes. The module saves the flows to a file in O(backup_dir) first, changes the fail
    mode in one OVSDB transaction, puts the same flows back (one OpenFlow bundle when the
    bridge allows OpenFlow 1.3 or later) and checks with C(ovs-ofctl diff-flows) that the
    bridge has exactly the saved flows. If not, it restores them once more from the file and
    then fails, naming the bridge and the file.
  - While the flows are missing, the module holds an OpenFlow 1.0 connection to the bridge's
    management socket that receives every table-miss packet, and sends each one back
    through the restored flow table afterwards, in arrival order. Traffic is delayed by
    a few milliseconds but not dropped.
  - When a bridge's C(protocols) column excludes OpenFlow10, the module adds it for the
    duration of the switch and then writes back the original value; each change of
    C(protocols) drops the connections to that bridge's management socket (not its flows).
  - All bridges are checked before anything changes; a missing bridge fails the task and
    nothing changes on any bridge.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.ovs
  - stackhop.upgrade.attributes
options:
  bridges:
    description:
      - Names of the bridges to set to C(fail_mode=secure), for example C(br-int) and C(br-ex).
    type: list
    elements: str
    required: true
  backup_dir:
    description:
      - Directory for the flow backups, one file per bridge and run, in the syntax of
        C(ovs-ofctl add-flows). Created with mode 0750 if missing.
    type: path
    default: /var/lib/stackhop/flows
  controllers:
    description:
      - OpenFlow controller targets each bridge must have after the switch, for example
        C(tcp:127.0.0.1:6633), the one neutron's OVS agent with the native OpenFlow driver
        (every release from stein on) sets when it starts.
      - Open vSwitch also flushes every flow when a bridge gets its first controller, so
        a bridge left by an agent that used no controller (kilo's C(ovs-ofctl) driver)
        would lose its flows again when the new agent adds one. Missing targets are added
        (C(connection_mode=out-of-band)) in the same OVSDB transaction as the fail mode,
        under the same relay, so the new agent finds its controller and changes nothing.
      - Controllers already on a bridge are kept. A bridge that is already C(secure) and
        has every listed target is not touched.
    type: list
    elements: str
    default: []
requirements:
  - Open vSwitch 2.8 or later (C(ovs-ofctl) on the managed host).
seealso:
  - module: stackhop.upgrade.ovs_other_config
notes:
  - Only OpenFlow flows are kept. A bridge that has OpenFlow groups or meters, which the
    fail-mode change deletes as well, is refused before anything changes.
  - A packet that is held and replayed is replayed once at most; if it misses the restored
    flows again it is dropped, as the original flows would have dropped it.
attributes:
  check_mode:
    support: full
    details: Reads the flows and reports what would change; writes nothing.
  diff_mode:
    support: full
    details: Per bridge, the fail mode, the controllers (when O(controllers) is given) and the
      number of flows before and after.
"""

EXAMPLES = r"""
- name: Set the agent's bridges to secure before upgrading neutron (procedures §3 step 7)
  stackhop.upgrade.fail_mode_secure:
    bridges:
      - br-int
      - br-ex
      - br-tun

- name: Same, with a private Open vSwitch and a custom backup directory
  stackhop.upgrade.fail_mode_secure:
    ovs_rundir: /run/openvswitch-lab
    bridges: [br-int]
    backup_dir: /srv/backup/flows
  register: secure

- name: Secure a kilo agent's bridges and give them the new agent's controller first
  stackhop.upgrade.fail_mode_secure:
    bridges: [br-int, br-physnet1]
    controllers: [tcp:127.0.0.1:6633]

- name: Show where the flows of br-int were saved
  ansible.builtin.debug:
    msg: "{{ secure.bridges['br-int'].backup_file }}"
"""

RETURN = r"""
bridges:
  description: Per bridge, what was found and done.
  returned: always
  type: dict
  contains:
    previous_fail_mode:
      description: The fail mode before the run (C(standalone) when the column was empty).
      type: str
      sample: standalone
    flows_saved:
      description: Number of flows saved (in check mode, the number that would be saved).
      type: int
      sample: 12
    flows_restored:
      description: Number of flows on the bridge after the switch (0 when nothing was done).
      type: int
      sample: 12
    backup_file:
      description: The file holding the saved flows; null when nothing was saved.
      type: str
      sample: /var/lib/stackhop/flows/br-int-20261122T031500Z.flows
    changed:
      description: Whether this bridge was switched to secure or got a controller.
      type: bool
      sample: true
    controllers_added:
      description: Targets of O(controllers) added to the bridge (in check mode, that would be added).
      type: list
      elements: str
      sample: [tcp:127.0.0.1:6633]
    packets_replayed:
      description: Packets that missed while the flows were gone and were sent back through the table.
      returned: when the bridge was switched without a controller
      type: int
      sample: 3
    relay:
      description:
        - Counters of the relay that held table misses (absent when it was not needed, for
          example on a bridge with a controller). C(repeat_misses) counts replayed packets
          that missed the restored flows again and were dropped, as the original flows
          would have dropped them. C(monotonic_window) is the host's CLOCK_MONOTONIC time
          (seconds) of the fail-mode change and of the end of the replay.
      returned: when the bridge was switched without a controller
      type: dict
      sample: {packets_held: 3, packets_replayed: 3, packets_truncated: 0, repeat_misses: 0,
               monotonic_window: [81234.512345, 81234.561234]}
  sample:
    br-int:
      previous_fail_mode: standalone
      flows_saved: 12
      flows_restored: 12
      backup_file: /var/lib/stackhop/flows/br-int-20261122T031500Z.flows
      changed: true
      packets_replayed: 3
executed_commands:
  description: The commands run on the host (ovs-ofctl), in order; OVSDB changes are transactions, not commands.
  returned: always
  type: list
  elements: str
  sample:
    - ovs-ofctl --no-stats --no-names dump-flows unix:/var/run/openvswitch/br-int.mgmt
ovsdb_transactions:
  description: The OVSDB transactions the module committed, in order, each as a short label.
  returned: always
  type: list
  elements: str
  sample:
    - "br-int: fail_mode=secure"
"""

import os
import re
import tempfile
import time

from ansible_collections.stackhop.upgrade.plugins.module_utils.openflow import (
    MissRelay,
    OpenFlowError,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.ovs import (
    OPENFLOW_VERSIONS,
    OvsdbClient,
    flow_lines,
    mgmt_target,
    optional,
    uuid_where,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

# Versions over which ovs-ofctl --bundle works: OpenFlow 1.4+, and 1.3 through the ONF
# bundle extension that ovs-vswitchd implements (checked on Open vSwitch 3.1).
BUNDLE_VERSIONS = ("OpenFlow13", "OpenFlow14", "OpenFlow15")
TABLE_RE = re.compile(r"(?:^|[ ,])table=(\d+)")
PRIORITY_RE = re.compile(r"(?:^|[ ,])priority=(\d+)")
# Active and passive connection methods of ovs-vsctl set-controller (ovs-vswitchd.conf.db(5)).
CONTROLLER_RE = re.compile(r"^(tcp|ssl|unix|ptcp|pssl|punix):\S+$")
DEFAULT_PRIORITY = 32768


def as_list(value):
    """An OVSDB set column read with from_ovsdb: a lone value arrives unwrapped."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def restore_order(lines):
    """Highest table first, then highest priority first.

    Without a bundle the flows appear one by one. In this order a packet either
    misses (and is held by the relay) or hits the flow it will hit once all are
    back: every higher-priority flow of its table, and every later table it can
    resubmit or goto to, is already there.
    """
    def key(line):
        # Only the part before the actions: actions such as learn() name tables too.
        head = "" if line.startswith("actions=") else line.split(" actions=", 1)[0]
        table = TABLE_RE.search(head)
        prio = PRIORITY_RE.search(head)
        return (-int(table.group(1)) if table else 0,
                -int(prio.group(1)) if prio else -DEFAULT_PRIORITY)
    return sorted(lines, key=key)


def wanted_controllers(targets):
    """The controller targets, checked and without repeats (input order kept)."""
    for target in targets:
        if not CONTROLLER_RE.match(target or ""):
            raise StackhopError(
                "controllers entry %r is not an OpenFlow controller target; write it as "
                "ovs-vsctl set-controller does, e.g. tcp:127.0.0.1:6633. Nothing was "
                "changed." % (target,))
    wanted = []
    for target in targets:
        if target not in wanted:
            wanted.append(target)
    return wanted


def bridge_state(name, row, ovs_rundir):
    """A bridge as read from its OVSDB row, with the ovs-ofctl arguments to reach it."""
    protocols = [v for v in OPENFLOW_VERSIONS if v in as_list(row["protocols"])]
    versions = protocols or list(OPENFLOW_VERSIONS)
    return {
        "name": name, "uuid": row["_uuid"], "fail_mode": optional(row["fail_mode"]),
        "protocols": protocols, "versions": versions,
        "controllers": as_list(row["controller"]),
        "target": mgmt_target(ovs_rundir, name),
        "mgmt": os.path.join(ovs_rundir, "%s.mgmt" % name),
        # Always name the versions: ovs-ofctl alone speaks OpenFlow 1.0 only, and
        # cannot then replace flows outside table 0.
        "ofctl_args": ["-O", ",".join(versions)],
        "bundle": any(v in BUNDLE_VERSIONS for v in versions),
        "backup_file": None, "flows_restored": 0,
    }


def decide(bridge, wanted, targets):
    """Want vs have for one bridge (pure): the controllers to add and whether it changes.

    ``targets`` maps Controller row UUIDs to their targets (read only when ``wanted``).
    """
    bridge["controller_targets"] = ([targets.get(u) for u in bridge["controllers"]]
                                    if wanted else [])
    bridge["add_controllers"] = [t for t in wanted if t not in bridge["controller_targets"]]
    bridge["to_change"] = bridge["fail_mode"] != "secure" or bool(bridge["add_controllers"])
    return bridge


def report(bridges, wanted, check_mode):
    """The module's ``bridges`` result and its diff (pure)."""
    entries, before, after = {}, {}, {}
    for b in bridges:
        n = len(b["flows"]) if b["flows"] is not None else None
        entry = {
            "previous_fail_mode": b["fail_mode"] or "standalone",
            "flows_saved": n or 0,
            "flows_restored": b["flows_restored"],
            "backup_file": b["backup_file"],
            "changed": b["to_change"],
            "controllers_added": b["add_controllers"],
        }
        if b.get("relay"):
            entry["packets_replayed"] = b["relay"]["packets_replayed"]
            entry["relay"] = b["relay"]
        entries[b["name"]] = entry
        if entry["changed"]:
            before[b["name"]] = {"fail_mode": entry["previous_fail_mode"], "flows": n}
            after[b["name"]] = {"fail_mode": "secure", "flows": n if check_mode
                                else b["flows_restored"]}
            if wanted:
                before[b["name"]]["controllers"] = sorted(b["controller_targets"])
                after[b["name"]]["controllers"] = sorted(b["controller_targets"]
                                                         + b["add_controllers"])
    return entries, {"before": before, "after": after}


class FailModeSecure(StackhopModule):
    argument_spec = dict(
        ovs_rundir=dict(type="path", default="/var/run/openvswitch"),
        bridges=dict(type="list", elements="str", required=True),
        backup_dir=dict(type="path", default="/var/lib/stackhop/flows"),
        controllers=dict(type="list", elements="str", default=[]),
    )

    def __init__(self):
        super(FailModeSecure, self).__init__()
        self.transactions = []

    # -- OVSDB ------------------------------------------------------------------
    def _transact_applied(self, label, operations):
        """Commit ``operations`` as one transaction and wait until ovs-vswitchd has
        applied it (the next_cfg/cur_cfg handshake ovs-vsctl uses): the flush that a
        fail-mode change causes must be over before the flows are put back."""
        ops = list(operations) + [
            {"op": "mutate", "table": "Open_vSwitch", "where": [],
             "mutations": [["next_cfg", "+=", 1]]},
            {"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["next_cfg"]},
        ]
        results = self.ovsdb.transact(ops)
        self.transactions.append(label)
        target = results[len(operations) + 1]["rows"][0]["next_cfg"]
        deadline = time.monotonic() + 30
        while True:
            rows = self.ovsdb.select("Open_vSwitch", ["cur_cfg"])
            if rows and rows[0]["cur_cfg"] >= target:
                return
            if time.monotonic() > deadline:
                raise StackhopError(
                    "ovs-vswitchd did not apply '%s' within 30 s (cur_cfg %s < %s); check "
                    "that ovs-vswitchd runs for the database in %s." % (
                        label, rows[0]["cur_cfg"] if rows else "?", target,
                        self.params["ovs_rundir"]))
            time.sleep(0.002)

    @staticmethod
    def _set(values):
        return ["set", list(values)]

    # -- ovs-ofctl ----------------------------------------------------------------
    def _ofctl(self, bridge, *args, **kw):
        argv = [self.ofctl] + bridge["ofctl_args"] + list(args)
        return self.run_command(argv, **kw)

    def _dump(self, bridge):
        _rc, out, _err = self._ofctl(bridge, "--no-stats", "--no-names", "dump-flows",
                                     bridge["target"])
        return flow_lines(out)

    def _groups_and_meters(self, bridge):
        """Count groups and meters (the fail-mode flush deletes them too)."""
        versions = bridge["versions"]
        found = []
        if any(v != "OpenFlow10" for v in versions):
            _rc, out, _err = self._ofctl(bridge, "--no-names", "dump-groups", bridge["target"])
            found += [line for line in out.splitlines() if line.strip().startswith("group_id=")]
        if any(v in ("OpenFlow13", "OpenFlow14", "OpenFlow15") for v in versions):
            _rc, out, _err = self._ofctl(bridge, "dump-meters", bridge["target"])
            found += [line for line in out.splitlines() if line.strip().startswith("meter=")]
        return len(found)

    def _diff_flows(self, bridge, path):
        """True when the bridge's flows equal the file (diff-flows exits 2 on differences)."""
        rc, out, err = self._ofctl(bridge, "--no-names", "diff-flows", bridge["target"], path,
                                   check_rc=False)
        if rc not in (0, 2):
            raise StackhopError(
                "ovs-ofctl diff-flows failed on bridge %s (exit %d: %s); the saved flows are "
                "in %s." % (bridge["name"], rc, (err or out).strip(), path))
        return rc == 0

    def _restore(self, bridge, path, replace):
        """Put the saved flows back; returns False if ovs-ofctl refused them."""
        if bridge["bundle"]:
            args = ["--bundle", "replace-flows", bridge["target"], path]
        elif replace:
            args = ["replace-flows", bridge["target"], path]
        else:
            args = ["add-flows", bridge["target"], bridge["ordered_file"]]
        rc, _out, _err = self._ofctl(bridge, *args, check_rc=False)
        return rc == 0

    # -- files ------------------------------------------------------------------
    def _write_atomic(self, path, lines, header):
        directory = os.path.dirname(path)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                f.write("# %s\n" % header)
                for line in lines:
                    f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o640)
            os.rename(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _backup_path(self, name, stamp, suffix="flows"):
        return os.path.join(self.params["backup_dir"], "%s-%s.%s" % (name, stamp, suffix))

    # -- the switch -------------------------------------------------------------
    def _switch(self, bridge, stamp):
        """Save the bridge's flows, switch it to fail_mode secure (and its controllers) in
        one guarded transaction, put the flows back and check they equal the saved ones."""
        path = self._save_flows(bridge, stamp)
        ops, labels = self._switch_ops(bridge)
        restored = self._apply_switch(bridge, path, ops, labels)
        self._check_restored(bridge, path, restored)
        bridge["flows_restored"] = len(self._dump(bridge))
        if bridge.get("ordered_file"):
            os.unlink(bridge["ordered_file"])

    def _save_flows(self, bridge, stamp):
        """The bridge's flows in a backup file (and, without bundles, in restore order)."""
        name = bridge["name"]
        path = self._backup_path(name, stamp)
        header = "flows of bridge %s saved by stackhop.upgrade.fail_mode_secure at %s" % (
            name, stamp)
        self._write_atomic(path, bridge["flows"], header)
        bridge["backup_file"] = path
        if not bridge["bundle"]:
            bridge["ordered_file"] = self._backup_path(name, stamp, "ordered.flows")
            self._write_atomic(bridge["ordered_file"], restore_order(bridge["flows"]),
                               header + " (restore order)")
        return path

    def _switch_ops(self, bridge):
        """The OVSDB operations of the switch and a label for each change."""
        uuid = bridge["uuid"]
        # fail_mode and controller are changed only if they still have the values read at
        # validation.
        guard = {"op": "wait", "table": "Bridge", "where": uuid_where(uuid), "timeout": 0,
                 "columns": ["fail_mode", "controller"], "until": "==",
                 "rows": [{"fail_mode": self._set([bridge["fail_mode"]] if bridge["fail_mode"] else []),
                           "controller": self._set([["uuid", u] for u in bridge["controllers"]])}]}
        ops = [guard]
        labels = []
        if bridge["fail_mode"] != "secure":
            ops.append({"op": "update", "table": "Bridge", "where": uuid_where(uuid),
                        "row": {"fail_mode": "secure"}})
            labels.append("fail_mode=secure")
        if bridge["add_controllers"]:
            names = []
            for i, target in enumerate(bridge["add_controllers"]):
                names.append("ctl%d" % i)
                ops.append({"op": "insert", "table": "Controller", "uuid-name": names[-1],
                            "row": {"target": target, "connection_mode": "out-of-band"}})
            ops.append({"op": "mutate", "table": "Bridge", "where": uuid_where(uuid),
                        "mutations": [["controller", "insert",
                                       self._set([["named-uuid", n] for n in names])]]})
            labels.append("controller+=%s" % ",".join(bridge["add_controllers"]))
        return ops, labels

    def _apply_switch(self, bridge, path, ops, labels):
        """Run the switch with the miss relay holding what misses while OVS has no flows,
        then restore the saved flows; whether the restore succeeded."""
        name, uuid = bridge["name"], bridge["uuid"]
        protocols = bridge["protocols"]
        extra_of10 = bool(protocols) and "OpenFlow10" not in protocols
        relay = None
        try:
            if extra_of10:
                # Our relay speaks OpenFlow 1.0. Adding a version re-creates the management
                # socket's service (dropping its connections) but does not touch flows.
                self._transact_applied("%s: protocols+=OpenFlow10" % name, [
                    {"op": "mutate", "table": "Bridge", "where": uuid_where(uuid),
                     "mutations": [["protocols", "insert", self._set(["OpenFlow10"])]]}])
            if not bridge["controllers"]:
                # With a primary controller OVS does not flush; without one it does (on a
                # fail-mode change and on getting the first controller), and the relay
                # holds every packet that misses until the flows are back.
                relay = MissRelay(bridge["mgmt"])
                relay.start()
            flush_at = time.monotonic()
            self._transact_applied("%s: %s" % (name, ", ".join(labels)), ops)
            restored = self._restore(bridge, path, replace=False)
            if relay is not None:
                relay.replay()
                bridge["relay"] = relay.stats()
                # CLOCK_MONOTONIC is system-wide on Linux: lets a traffic capture on the
                # host be matched against the window in which flows were missing.
                bridge["relay"]["monotonic_window"] = [round(flush_at, 6),
                                                       round(time.monotonic(), 6)]
            return restored
        except OpenFlowError as exc:
            raise StackhopError(
                "Bridge %s: %s The saved flows are in %s; check the bridge's flows "
                "(ovs-ofctl diff-flows %s %s)." % (name, exc, path, bridge["target"], path))
        finally:
            if relay is not None:
                relay.close()
            if extra_of10:
                self._transact_applied("%s: protocols restored" % name, [
                    {"op": "update", "table": "Bridge", "where": uuid_where(uuid),
                     "row": {"protocols": self._set(protocols)}}])

    def _check_restored(self, bridge, path, restored):
        """The bridge's flows equal the saved ones, replacing them once more if not."""
        if restored and self._diff_flows(bridge, path):
            return
        if self._restore(bridge, path, replace=True) and self._diff_flows(bridge, path):
            return
        raise StackhopError(
            "Bridge %s is now fail_mode secure but its flows differ from the saved "
            "ones in %s even after restoring them twice; restore them with "
            "'ovs-ofctl replace-flows %s %s' and check the OVS log." % (
                bridge["name"], path, bridge["target"], path),
            backup_file=path)

    def run(self):
        p = self.params
        names = []
        for name in p["bridges"]:
            if not name:
                raise StackhopError("bridges contains an empty name; list bridge names only.")
            if name not in names:
                names.append(name)
        self.ofctl = self.get_bin_path("ovs-ofctl", "install openvswitch-common")
        self.ovsdb = OvsdbClient(p["ovs_rundir"])
        try:
            return self._run(names)
        finally:
            self.ovsdb.close()

    def _run(self, names):
        wanted = wanted_controllers(self.params["controllers"])
        bridges = self._read(names, wanted)
        to_change = [b for b in bridges if b["to_change"]]
        if to_change and not self.check_mode:
            self._apply(to_change)
        result = {"changed": bool(to_change), "bridges": {}, "ovsdb_transactions": self.transactions}
        result["bridges"], result["diff"] = report(bridges, wanted, self.check_mode)
        return result

    def _read(self, names, wanted):
        """Every bridge, decided, with the flows of those to change: all is read and
        checked before anything changes."""
        p = self.params
        rows = self.ovsdb.bridges(("name", "fail_mode", "protocols", "controller"))
        targets = {}
        if wanted:
            targets = {row["_uuid"]: row["target"]
                       for row in self.ovsdb.select("Controller", ["target"])}
        missing = [n for n in names if n not in rows]
        if missing:
            raise StackhopError(
                "Bridge%s %s not found in the Open vSwitch database at %s; create %s or "
                "remove %s from bridges. Nothing was changed." % (
                    "s" if len(missing) > 1 else "", ", ".join(missing), self.ovsdb.path,
                    "them" if len(missing) > 1 else "it", "them" if len(missing) > 1 else "it"))
        bridges = []
        for name in names:
            b = decide(bridge_state(name, rows[name], p["ovs_rundir"]), wanted, targets)
            b["flows"] = self._read_flows(b) if b["to_change"] else None
            bridges.append(b)
        return bridges

    def _read_flows(self, b):
        """The flows of a bridge to change; refuses one whose groups or meters would go."""
        if not os.path.exists(b["mgmt"]):
            raise StackhopError(
                "Bridge %s has no OpenFlow management socket at %s; check that "
                "ovs-vswitchd runs and that ovs_rundir is right. Nothing was "
                "changed." % (b["name"], b["mgmt"]))
        flows = self._dump(b)
        n_other = self._groups_and_meters(b)
        if n_other:
            raise StackhopError(
                "Bridge %s has %d OpenFlow group(s)/meter(s), which changing its "
                "fail mode would delete and this module does not restore; set "
                "fail_mode secure on it by hand. Nothing was changed." % (b["name"], n_other))
        return flows

    def _apply(self, to_change):
        """Switch the bridges, one after the other, their flows saved in backup_dir."""
        backup_dir = self.params["backup_dir"]
        try:
            os.makedirs(backup_dir, mode=0o750, exist_ok=True)
        except OSError as exc:
            raise StackhopError(
                "Cannot create backup_dir %s (%s); choose a writable directory. "
                "Nothing was changed." % (backup_dir, exc.strerror or exc))
        if not os.access(backup_dir, os.W_OK):
            raise StackhopError(
                "backup_dir %s is not writable; choose a writable directory. Nothing "
                "was changed." % backup_dir)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for b in to_change:
            self._switch(b, stamp)


def main():
    FailModeSecure()()


if __name__ == "__main__":
    main()
