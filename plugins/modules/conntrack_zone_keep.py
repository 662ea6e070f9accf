#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: conntrack_zone_keep
short_description: Make neutron's OVS agent keep every VM port's conntrack zone when it restarts
version_added: 0.1.0
description:
  - neutron's C(iptables_hybrid) firewall gives every VM port its own conntrack zone. When
    the OVS agent starts, it learns the zones in use from C(iptables-save -t raw), keyed by
    the device name without its three-letter prefix (C(tapcae84d15-e7) gives
    C(cae84d15-e7)), but it looks a port up by its UUID without the first three characters
    (C(cae84d15-e726-...) gives C(84d15-e726-)). The keys never match (checked in neutron
    24, 26 and 27, that is 2024.1, 2025.1 and 2025.2, C(neutron/agent/linux/ip_conntrack.py)), so
    every agent restart, and so every upgrade, gives every port a new zone. The packets of
    the VMs' existing connections then meet an empty zone; those the security group does
    not accept as new (replies to a VM that only receives) are dropped.
  - For every VM port of O(bridge) (ports named O(port_prefix)... with
    C(external_ids:iface-id)), this module reads the zone the kernel uses for it now (the
    first C(-j CT) rule of the raw table's PREROUTING traversal that matches its C(tap) or
    C(qvb) device; none means zone 0, as a kilo agent left it) and writes one hint rule
    into O(chain) -
    C(-m physdev --physdev-in UUID[:14] -m comment --comment stackhop-zone-keep -j CT --zone N).
    No interface has that name (the first 14 characters of a UUID, never a C(tap) or
    C(qvb) name) and nothing jumps to O(chain), so the rule never touches a packet; but it
    is exactly the key the agent looks up, and the agent writes the port's rules with zone
    N again.
  - Zone 0 is special in two ways. C(iptables-save) prints C(-j CT --zone 0) as C(-j CT),
    so the agent sees the hint only through the C(iptables-save) wrapper of
    M(stackhop.upgrade.conntrack_zone_pin). And the agent writes no zone rule at all for a
    port whose zone is 0, which keeps it in the kernel's default zone 0.
  - Hints of ports that are no longer on the bridge are removed; the agent's own rules are
    never touched. All changes of one run are one C(iptables-restore --noflush) per IP
    version.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.ovs
  - stackhop.upgrade.attributes
options:
  bridge:
    description: The integration bridge whose VM ports are kept.
    type: str
    default: br-int
  port_prefix:
    description: Name prefix of the VM ports on O(bridge) (C(qvo) for the hybrid plug).
    type: str
    default: qvo
  chain:
    description: Chain of the raw table that holds the hints (created when missing; nothing jumps to it).
    type: str
    default: stackhop-zone-keep
  ip_versions:
    description:
      - IP versions whose raw table gets the hints. The agent reads the IPv4 table only.
    type: list
    elements: int
    choices: [4, 6]
    default: [4]
  state:
    description:
      - C(present) writes a hint per VM port at its current zone. C(absent) removes every
        hint and the chain.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Run it on the compute before the OVS agent stops for its restart or upgrade, and keep
    the hints, every later restart reads them again. A port added later gets its zone
    from the agent as usual and a hint on the next run.
  - Ports whose firewall is stateless (C(-j CT --notrack)) have no zone and get no hint.
seealso:
  - module: stackhop.upgrade.conntrack_zone_pin
  - module: stackhop.upgrade.fail_mode_secure
attributes:
  check_mode:
    support: full
    details: Reads the raw tables and reports the hints it would add or remove; runs no
      C(iptables-restore).
  diff_mode:
    support: full
    details: The hint rules of O(chain) before and after, per IP version.
"""

EXAMPLES = r"""
- name: Keep every VM port's conntrack zone across the OVS agent upgrade
  stackhop.upgrade.conntrack_zone_keep:
  register: zones

- name: Show the zones kept
  ansible.builtin.debug:
    var: zones.hints
"""

RETURN = r"""
hints:
  description: Port UUID to the zone the agent will keep for it.
  returned: always
  type: dict
  sample: {cae84d15-e726-44a7-a7d4-694bff79c967: 4097}
added:
  description: Port UUIDs whose hint was written (or would be, in check mode).
  returned: always
  type: list
  elements: str
removed:
  description: Hint device names removed (ports gone from the bridge, or a changed zone).
  returned: always
  type: list
  elements: str
stateless:
  description: Port UUIDs without a conntrack zone (their CT rule is C(--notrack)); no hint.
  returned: always
  type: list
  elements: str
executed_commands:
  description: Commands run on the host.
  returned: always
  type: list
  elements: str
diff:
  description: The hint rules before and after, per IP version, in diff mode.
  returned: when diff mode is on
  type: list
  elements: dict
"""

import os
import re

from ansible_collections.stackhop.upgrade.plugins.module_utils.conntrack_wrapper import is_ours
from ansible_collections.stackhop.upgrade.plugins.module_utils.iptables import (
    RestorePayload,
    Table,
    parse_save,
    restore_quote,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.ovs import OvsdbClient
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

COMMENT = "stackhop-zone-keep"
# neutron_lib.constants: LINUX_DEV_LEN, LINUX_DEV_PREFIX_LEN
DEV_LEN = 14
PREFIX_LEN = 3
SYSTEM_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
TOOLS = {4: ("iptables-save", "iptables-restore"), 6: ("ip6tables-save", "ip6tables-restore")}
CHAIN_MAX = 28
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def hint_device(port_id):
    """The name the agent looks a port up by, plus the three characters it strips."""
    return port_id[:DEV_LEN]


def effective_zones(table, devices, depth=0, chain="PREROUTING", seen=None):
    """Zone of the first CT rule matching each device, in traversal order.

    Follows jumps to user chains (a rule with another target), as the kernel does for a
    packet from the device, and returns {device: zone or "notrack"} for the devices that
    some CT rule matches; rules of ``COMMENT`` (never reached) are skipped.
    """
    found = {}
    seen = set() if seen is None else seen
    if depth > 16 or chain in seen:
        return found
    seen.add(chain)
    ch = table.chain(chain)
    for rule in ch.rules if ch else []:
        if COMMENT in rule.comments():
            continue
        _kind, dev = rule.device()
        if rule.target == "CT":
            if dev in devices and dev not in found:
                zone = rule.ct_zone()
                if zone is not None:
                    found[dev] = zone
                elif "--notrack" in rule.target_args:
                    found[dev] = "notrack"
        elif rule.target and table.chain(rule.target) is not None and not table.chain(rule.target).builtin:
            if dev is None or dev in devices:
                sub = effective_zones(table, devices if dev is None else {dev}, depth + 1,
                                      rule.target, seen)
                for key, value in sub.items():
                    found.setdefault(key, value)
    seen.discard(chain)
    return found


class ConntrackZoneKeep(StackhopModule):
    argument_spec = dict(
        ovs_rundir=dict(type="path", default="/var/run/openvswitch"),
        bridge=dict(type="str", default="br-int"),
        port_prefix=dict(type="str", default="qvo"),
        chain=dict(type="str", default=COMMENT),
        ip_versions=dict(type="list", elements="int", choices=[4, 6], default=[4]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )

    def validate(self):
        p = self.params
        chain = p["chain"]
        if not chain or len(chain) > CHAIN_MAX or re.search(r"\s", chain) or \
                chain in ("PREROUTING", "OUTPUT") or chain.startswith("neutron-"):
            raise StackhopError(
                "chain %r cannot hold the hints; use a chain of its own, 1 to %d characters "
                "without blanks, not a builtin or neutron chain" % (chain, CHAIN_MAX))
        if not p["ip_versions"]:
            raise StackhopError("ip_versions is empty; give [4], [6] or [4, 6]")

    def real_tool(self, name):
        for directory in SYSTEM_DIRS:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                try:
                    with open(path, "rb") as f:
                        head = f.read(400).decode("utf-8", "replace")
                except OSError:
                    head = ""
                if is_ours(head):
                    continue   # conntrack_zone_pin's iptables-save wrapper
                return path
        raise StackhopError("the real %s was not found in %s on %s; install the iptables "
                            "package" % (name, ", ".join(SYSTEM_DIRS), self._host()))

    def read_raw(self, version):
        _rc, out, _err = self.run_command([self.real_tool(TOOLS[version][0]), "-t", "raw"])
        return parse_save(out).get("raw") or Table("raw")

    def vm_ports(self):
        """{port UUID: (tap device, qvb device)} of the bridge's VM ports."""
        client = OvsdbClient(self.params["ovs_rundir"])
        try:
            ports = client.bridge_ports(self.params["bridge"], iface_columns=("name", "external_ids"))
        finally:
            client.close()
        out = {}
        for port in ports:
            if not port["name"].startswith(self.params["port_prefix"]):
                continue
            for iface in port["interfaces"]:
                ext = iface.get("external_ids") or {}
                port_id = ext.get("iface-id") if isinstance(ext, dict) else None
                if port_id and UUID_RE.match(port_id):
                    short = port_id[:DEV_LEN - PREFIX_LEN]
                    out[port_id] = ("tap" + short, "qvb" + short)
        return out

    @staticmethod
    def hint_args(port_id, zone):
        return ["-m", "physdev", "--physdev-in", hint_device(port_id), "-m", "comment",
                "--comment", COMMENT, "-j", "CT", "--zone", str(zone)]

    def plan_version(self, table, ports):
        """(payload, wanted {port: zone}, added, removed, stateless, before, after)."""
        p = self.params
        chain = table.chain(p["chain"])
        have = {}
        for rule in chain.rules if chain else []:
            if COMMENT in rule.comments() and rule.target == "CT":
                have.setdefault(rule.device()[1], []).append(rule)
        wanted, stateless = {}, []
        if p["state"] == "present":
            devices = set()
            for tap, qvb in ports.values():
                devices.update((tap, qvb))
            zones = effective_zones(table, devices)
            for port_id, (tap, qvb) in sorted(ports.items()):
                zone = zones.get(tap, zones.get(qvb, 0))
                if zone == "notrack":
                    stateless.append(port_id)
                else:
                    wanted[port_id] = zone
        payload = RestorePayload()
        added, removed = [], []
        want_by_dev = {hint_device(pid): (pid, zone) for pid, zone in wanted.items()}
        for dev, rules in sorted(have.items()):
            ok = dev in want_by_dev and len(rules) == 1 and \
                rules[0].ct_zone() == want_by_dev[dev][1]
            if not ok:
                for rule in rules:
                    payload.delete("raw", p["chain"], rule.args)
                removed.append(dev)
        if chain is None and wanted:
            payload.new_chain("raw", p["chain"])
        for dev, (pid, zone) in sorted(want_by_dev.items()):
            if dev in have and dev not in removed:
                continue
            payload.append("raw", p["chain"], self.hint_args(pid, zone))
            added.append(pid)
        if p["state"] == "absent" and chain is not None and not table.references(p["chain"]):
            payload.delete_chain("raw", p["chain"])
        before = sorted("-A %s %s" % (p["chain"], r.spec()) for rules in have.values() for r in rules)
        after = sorted("-A %s %s" % (p["chain"], " ".join(restore_quote(a) for a in self.hint_args(pid, z)))
                       for pid, z in wanted.items())
        return payload, wanted, added, removed, stateless, before, after

    def run(self):
        p = self.params
        self.validate()
        versions = sorted(set(p["ip_versions"]))
        ports = self.vm_ports() if p["state"] == "present" else {}
        plans = {}
        for version in versions:
            self.real_tool(TOOLS[version][1])
            plans[version] = self.plan_version(self.read_raw(version), ports)
        changed = any(plans[v][0] for v in versions)
        if changed and not self.check_mode:
            for version in versions:
                payload = plans[version][0]
                if payload:
                    self.run_command([self.real_tool(TOOLS[version][1]), "--noflush"],
                                     data=payload.text())
        hints = plans[versions[0]][1]
        added, removed, stateless, diff = set(), set(), set(), []
        for version in versions:
            _payload, _wanted, a, r, s, before, after = plans[version]
            added.update(a)
            removed.update(r)
            stateless.update(s)
            if before != after:
                header = "%s raw %s" % (TOOLS[version][0][:-5], p["chain"])
                diff.append({"before_header": header, "after_header": header,
                             "before": "".join(line + "\n" for line in before),
                             "after": "".join(line + "\n" for line in after)})
        return dict(changed=changed, hints=hints, added=sorted(added), removed=sorted(removed),
                    stateless=sorted(stateless), diff=diff)


def main():
    ConntrackZoneKeep()()


if __name__ == "__main__":
    main()
