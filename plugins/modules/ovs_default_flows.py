#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ovs_default_flows
short_description: Give an Open vSwitch bridge the default flows of tables a new agent is about to point to
version_added: 0.1.0
description:
  - An OVS agent that starts writes its bridge's default pipeline one flow at a time. When
    a release adds a table to the pipeline, the new agent may point an existing table at
    the new one before the new one has a flow. Until that flow arrives every packet of
    every VM on the node meets an empty table, and OpenFlow drops it. neutron 26
    (2025.1) adds table 59 (C(BANDWIDTH_RATE_LIMIT)) between tables 58 and 60 of
    C(br-int) and writes C(58 -> 59) before C(59 -> 60) (C(br_int.setup_default_table)),
    and the stackhop lab lost 1 to 3 ICMP requests at 250/s per compute, between C(qvo)
    and the uplink.
  - For each listed flow the bridge lacks (same table, priority and match, whatever the
    cookie), this module adds it, all of them in one OpenFlow bundle, so the new table
    already forwards when the agent points to it. The agent's own flow with the same
    table, priority and match then replaces it (an OpenFlow add), or the agent's
    stale-flow cleanup deletes it by its O(cookie).
  - Run it with the old agent stopped and before the new one starts. Flows the bridge
    already has are left alone; a second run changes nothing.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.ovs
  - stackhop.upgrade.attributes
options:
  bridge:
    description: The bridge, for example C(br-int).
    type: str
    default: br-int
  flows:
    description:
      - The flows the bridge must have. Each is matched against the bridge's flows by
        table, priority and match fields; its actions are what an added flow does.
      - Required with O(state=present).
    type: list
    elements: dict
    default: []
    suboptions:
      table:
        description: OpenFlow table number.
        type: int
        required: true
      priority:
        description: Flow priority.
        type: int
        default: 0
      match:
        description:
          - Match fields in C(ovs-ofctl) syntax, comma separated, for example
            C(in_port=1,dl_vlan=100); empty matches every packet.
        type: str
        default: ''
      actions:
        description: Actions in C(ovs-ofctl) syntax, for example C(goto_table:60).
        type: str
        required: true
  cookie:
    description:
      - Cookie of the flows this module adds, so that they can be told apart and removed
        (O(state=absent)). The default spells C(stackhop) in hex.
    type: int
    default: 0x737461636b686f70
  state:
    description:
      - C(present) adds the missing flows. C(absent) deletes every flow of the bridge that
        carries O(cookie) (the agent never uses it) and ignores O(flows).
    type: str
    choices: [present, absent]
    default: present
requirements:
  - Open vSwitch 2.8 or later (C(ovs-ofctl) on the managed host); the bridge must allow
    OpenFlow 1.3 or later (bundles, C(goto_table)).
seealso:
  - module: stackhop.upgrade.fail_mode_secure
notes:
  - Which tables a release adds, and their default flows, are facts of the release model
    (quirk C(br_int_bandwidth_table)); the role C(stackhop.upgrade.neutron_compute) passes
    them here between stopping the old agent and starting the new one.
attributes:
  check_mode:
    support: full
    details: Reads the bridge's flows and reports the flows it would add or delete.
  diff_mode:
    support: full
    details: The flows that are added (or deleted), in C(ovs-ofctl add-flows) syntax.
"""

EXAMPLES = r"""
- name: Table 59 forwards before neutron 26's agent points table 58 at it
  stackhop.upgrade.ovs_default_flows:
    bridge: br-int
    flows:
      - {table: 59, priority: 0, actions: "goto_table:60"}

- name: Remove what the module added (the agent never shares its cookie)
  stackhop.upgrade.ovs_default_flows:
    bridge: br-int
    state: absent
"""

RETURN = r"""
added:
  description: The flows added (in check mode, that would be added), in C(ovs-ofctl add-flows) syntax.
  returned: always
  type: list
  elements: str
  sample: ["table=59,priority=0,cookie=0x737461636b686f70,actions=goto_table:60"]
present:
  description: The listed flows the bridge already had (table, priority and match as written in O(flows)).
  returned: always
  type: list
  elements: str
  sample: ["table=60,priority=3"]
deleted:
  description: With O(state=absent), the flows deleted (in check mode, that would be deleted).
  returned: always
  type: list
  elements: str
  sample: []
executed_commands:
  description: The commands run on the host, in order.
  returned: always
  type: list
  elements: str
  sample:
    - ovs-ofctl -O OpenFlow13 --no-stats --no-names dump-flows unix:/var/run/openvswitch/br-int.mgmt
    - ovs-ofctl -O OpenFlow13 --bundle add-flows unix:/var/run/openvswitch/br-int.mgmt -
"""

import os
import re

from ansible_collections.stackhop.upgrade.plugins.module_utils.ovs import (
    OPENFLOW_VERSIONS,
    OvsdbClient,
    flow_lines,
    mgmt_target,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

# ovs-ofctl --bundle works over OpenFlow 1.4+, and 1.3 through the ONF extension.
BUNDLE_VERSIONS = ("OpenFlow13", "OpenFlow14", "OpenFlow15")
# Fields of a dumped flow's head that say nothing about which packets it matches.
NOT_MATCH = ("cookie", "duration", "table", "priority", "n_packets", "n_bytes",
             "idle_age", "hard_age", "idle_timeout", "hard_timeout", "importance",
             "send_flow_rem", "check_overlap", "reset_counts", "no_packet_counts",
             "no_byte_counts", "out_port", "out_group")
COOKIE_RE = re.compile(r"(?:^|[ ,])cookie=(0x[0-9a-f]+|\d+)")


def parse_flow(line):
    """(table, priority, frozenset of match fields, cookie) of one dumped flow line."""
    head = "" if line.startswith("actions=") else line.split(" actions=", 1)[0]
    fields = [f for f in re.split(r"[ ,]+", head.strip()) if f]
    table, priority, match = 0, 32768, set()
    for field in fields:
        key, _sep, value = field.partition("=")
        if key == "table":
            table = int(value)
        elif key == "priority":
            priority = int(value)
        elif key not in NOT_MATCH:
            match.add(field)
    cookie = COOKIE_RE.search(head)
    return table, priority, frozenset(match), int(cookie.group(1), 0) if cookie else 0


def match_fields(text):
    return frozenset(f.strip() for f in (text or "").split(",") if f.strip())


def flow_key(flow):
    return flow["table"], flow["priority"], match_fields(flow["match"])


def flow_text(flow, cookie):
    """One listed flow in add-flows syntax, with the module's cookie."""
    parts = ["table=%d" % flow["table"], "priority=%d" % flow["priority"],
             "cookie=%#x" % cookie]
    if flow["match"].strip():
        parts.append(flow["match"].strip())
    return ",".join(parts) + ",actions=" + flow["actions"].strip()


def short(flow):
    text = "table=%d,priority=%d" % (flow["table"], flow["priority"])
    return text + ("," + flow["match"].strip() if flow["match"].strip() else "")


def decide(dumped, flows, cookie, state):
    """Want vs have (pure): (to_add, present, to_delete), flows as add-flows lines."""
    have = [parse_flow(line) for line in dumped]
    if state == "absent":
        return [], [], [line for line, parsed in zip(dumped, have) if parsed[3] == cookie]
    keys = set((t, p, m) for t, p, m, _c in have)
    to_add, present, seen = [], [], set()
    for flow in flows:
        key = flow_key(flow)
        if key in seen:
            continue
        seen.add(key)
        if key in keys:
            present.append(short(flow))
        else:
            to_add.append(flow_text(flow, cookie))
    return to_add, present, []


def check_flows(flows):
    for flow in flows:
        if flow["table"] < 0 or flow["table"] > 253:
            raise StackhopError(
                "flows entry for table %d is out of range; OpenFlow tables are 0 to 253. "
                "Nothing was changed." % flow["table"])
        if not 0 <= flow["priority"] <= 65535:
            raise StackhopError(
                "flows entry for table %d has priority %d; use 0 to 65535. Nothing was "
                "changed." % (flow["table"], flow["priority"]))
        if not (flow["actions"] or "").strip():
            raise StackhopError(
                "flows entry for table %d has no actions; give them in ovs-ofctl syntax, "
                "e.g. goto_table:60. Nothing was changed." % flow["table"])


class OvsDefaultFlows(StackhopModule):
    argument_spec = dict(
        ovs_rundir=dict(type="path", default="/var/run/openvswitch"),
        bridge=dict(type="str", default="br-int"),
        flows=dict(type="list", elements="dict", default=[], options=dict(
            table=dict(type="int", required=True),
            priority=dict(type="int", default=0),
            match=dict(type="str", default=""),
            actions=dict(type="str", required=True),
        )),
        cookie=dict(type="int", default=0x737461636b686f70),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )

    def _ofctl(self, *args, **kw):
        return self.run_command([self.ofctl, "-O", self.versions] + list(args), **kw)

    def _dump(self):
        _rc, out, _err = self._ofctl("--no-stats", "--no-names", "dump-flows", self.target)
        return flow_lines(out)

    def _versions(self, name):
        """The OpenFlow versions to speak to the bridge: bundles need 1.3 or later."""
        client = OvsdbClient(self.params["ovs_rundir"])
        try:
            rows = client.bridges(("name", "protocols"))
        finally:
            client.close()
        if name not in rows:
            raise StackhopError(
                "Bridge %s not found in the Open vSwitch database at %s; check the bridge "
                "name. Nothing was changed." % (name, client.path))
        allowed = rows[name]["protocols"]
        allowed = allowed if isinstance(allowed, list) else [allowed] if allowed else []
        versions = [v for v in OPENFLOW_VERSIONS if v in allowed] or list(OPENFLOW_VERSIONS)
        if not any(v in BUNDLE_VERSIONS for v in versions):
            raise StackhopError(
                "Bridge %s allows only %s; allow OpenFlow13 in its protocols column (as "
                "neutron's agent does). Nothing was changed." % (name, ",".join(versions)))
        return ",".join(versions)

    def run(self):
        p = self.params
        if p["state"] == "present":
            check_flows(p["flows"])
        self.ofctl = self.get_bin_path("ovs-ofctl", "install openvswitch-common")
        self.versions = self._versions(p["bridge"])
        self.target = mgmt_target(p["ovs_rundir"], p["bridge"])
        if not os.path.exists(os.path.join(p["ovs_rundir"], "%s.mgmt" % p["bridge"])):
            raise StackhopError(
                "Bridge %s has no OpenFlow management socket in %s; check that "
                "ovs-vswitchd runs and that ovs_rundir is right. Nothing was changed."
                % (p["bridge"], p["ovs_rundir"]))
        to_add, present, to_delete = decide(self._dump(), p["flows"], p["cookie"], p["state"])
        if not self.check_mode and (to_add or to_delete):
            if to_add:
                self._ofctl("--bundle", "add-flows", self.target, "-",
                            data="\n".join(to_add) + "\n")
            if to_delete:
                self._ofctl("del-flows", self.target, "cookie=%#x/-1" % p["cookie"])
            now = self._dump()
            missing = decide(now, p["flows"] if to_add else [], p["cookie"], "present")[0]
            left = [line for line in now if to_delete and parse_flow(line)[3] == p["cookie"]]
            if missing or left:
                raise StackhopError(
                    "Bridge %s %s after ovs-ofctl ran; check ovs-vswitchd.log for the "
                    "refused flow mod." % (p["bridge"], "still lacks " + "; ".join(missing)
                                           if missing else "still has " + "; ".join(left)))
        return {"changed": bool(to_add or to_delete), "added": to_add, "present": present,
                "deleted": to_delete,
                "diff": {"before": "\n".join(to_delete) + ("\n" if to_delete else ""),
                         "after": "\n".join(to_add) + ("\n" if to_add else "")}}


def main():
    OvsDefaultFlows()()


if __name__ == "__main__":
    main()
