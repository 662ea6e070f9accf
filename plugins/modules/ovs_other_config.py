#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovs_other_config
short_description: Write the port-to-network bindings neutron's OVS agent reads on restart
version_added: 0.1.0
description:
  - A kilo neutron OVS agent keeps each port's network binding in memory only. From
    liberty on, the agent restores its local VLAN map from each port's C(other_config)
    when it restarts; finding none, it re-tags every port and VMs lose traffic for
    seconds (DeNA's kilo to liberty upgrade).
  - This module writes, before the agent upgrade, exactly the keys and value formats the
    agent itself writes in C(port_bound) and reads back in C(_restore_local_vlan_map), namely
    C(net_uuid), C(network_type), C(physical_network) (the string C(None) for tunnel and
    local networks), C(segmentation_id) (only when the network has one) and C(tag) (the
    port's current local VLAN, C(Port.tag)). Every other key already in
    C(other_config) is kept.
  - All writes of one run are one OVSDB transaction, guarded by a C(wait) on each
    port's C(other_config) and C(tag), so nothing is written from a stale read.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.ovs
  - stackhop.upgrade.attributes
options:
  bridge:
    description: The integration bridge whose ports are described.
    type: str
    default: br-int
  ports:
    description:
      - The ports to describe. Each is found by O(ports[].name) or O(ports[].iface_id), or both (then
        both must point at the same port).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: OVS port name, for example C(qvo1a2b3c4d-5e).
        type: str
      iface_id:
        description: Neutron port UUID, matched against the interface's C(external_ids:iface-id).
        type: str
      net_uuid:
        description: Neutron network UUID.
        type: str
        required: true
      network_type:
        description: Neutron network type.
        type: str
        required: true
      physical_network:
        description: Physical network name; required for C(vlan) and C(flat), absent for other types.
        type: str
      segmentation_id:
        description:
          - VLAN ID (1-4094) for C(vlan), VNI (1-16777215) for C(vxlan) and C(geneve), key for
            C(gre); absent for C(flat) and C(local).
        type: int
  overwrite:
    description: Rewrite ports whose C(other_config) already has C(net_uuid); by default they are kept.
    type: bool
    default: false
  strict:
    description: Fail when a listed port is not on the bridge, instead of reporting it in RV(missing).
    type: bool
    default: false
seealso:
  - module: stackhop.upgrade.fail_mode_secure
  - module: stackhop.upgrade.conntrack_zone_pin
attributes:
  check_mode:
    support: full
    details: Reads the ports and reports which would be updated; writes nothing.
  diff_mode:
    support: full
    details: The C(other_config) of each port to update, before and after.
"""

EXAMPLES = r"""
- name: Describe every VM port before the OVS agent upgrade
  stackhop.upgrade.ovs_other_config:
    bridge: br-int
    ports:
      - iface_id: 6f1c1c9e-0d35-4a2b-9d0a-1b2c3d4e5f60
        net_uuid: 2c4f7a40-9a3c-4c4e-8e3a-5b7c1c0e9d11
        network_type: vlan
        physical_network: physnet1
        segmentation_id: 101
      - name: qvo7d3e1f2a-bb
        net_uuid: 9a0c1d2e-3f40-4b5c-8d6e-7f8091a2b3c4
        network_type: vxlan
        segmentation_id: 5001
  register: described

- name: Show ports that could not be described
  ansible.builtin.debug:
    msg: "untagged: {{ described.untagged }}, missing: {{ described.missing }}"
"""

RETURN = r"""
updated:
  description: Ports whose other_config was written (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [qvo1a2b3c4d-5e]
kept:
  description: Ports left as they were (already described, and O(overwrite=false) or nothing to change).
  returned: always
  type: list
  elements: str
missing:
  description: Listed ports not found on the bridge (by name or iface_id as given).
  returned: always
  type: list
  elements: str
untagged:
  description: Ports without a local VLAN tag (or with neutron's dead VLAN 4095); never written.
  returned: always
  type: list
  elements: str
executed_commands:
  description: Commands run and OVSDB transactions made.
  returned: always
  type: list
  elements: str
diff:
  description: Per-port other_config before and after, in diff mode.
  returned: when diff mode is on
  type: dict
"""

import uuid

from ansible_collections.stackhop.upgrade.plugins.module_utils.ovs import (
    OvsdbClient,
    optional,
    to_ovsdb_map,
    uuid_where,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

# neutron.plugins.ml2.drivers.openvswitch.agent.common.constants.DEAD_VLAN_TAG
DEAD_VLAN_TAG = 4095
# network types and the segmentation id range each allows (None: must be absent)
SEGMENT_RANGES = {
    "vlan": (1, 4094),
    "vxlan": (1, 16777215),
    "geneve": (1, 16777215),
    "gre": (1, 4294967295),
    "flat": None,
    "local": None,
}
PHYSICAL_TYPES = ("vlan", "flat")


def port_label(spec):
    return spec.get("name") or spec.get("iface_id")


def validate_spec(spec):
    """One sentence naming the port and the field, or None."""
    label = port_label(spec)
    if not label:
        return "A port in ports has neither name nor iface_id; give one of them."
    ntype = spec["network_type"]
    if ntype not in SEGMENT_RANGES:
        return ("Port %s: network_type %r is not one of %s; fix network_type."
                % (label, ntype, ", ".join(sorted(SEGMENT_RANGES))))
    try:
        uuid.UUID(spec["net_uuid"])
    except ValueError:
        return "Port %s: net_uuid %r is not a UUID; fix net_uuid." % (label, spec["net_uuid"])
    phys = spec.get("physical_network")
    if ntype in PHYSICAL_TYPES and not phys:
        return "Port %s: a %s network needs physical_network; add it." % (label, ntype)
    if ntype not in PHYSICAL_TYPES and phys:
        return ("Port %s: a %s network has no physical_network; remove physical_network."
                % (label, ntype))
    seg = spec.get("segmentation_id")
    rng = SEGMENT_RANGES[ntype]
    if rng is None and seg is not None:
        return ("Port %s: a %s network has no segmentation_id; remove segmentation_id."
                % (label, ntype))
    if rng is not None and (seg is None or not rng[0] <= seg <= rng[1]):
        return ("Port %s: segmentation_id %s is outside %d-%d for a %s network; fix "
                "segmentation_id." % (label, seg, rng[0], rng[1], ntype))
    return None


def wanted_other_config(spec, tag):
    """The keys and string formats neutron's agent writes in port_bound()."""
    want = {
        "net_uuid": spec["net_uuid"],
        "network_type": spec["network_type"],
        # the agent writes str(physical_network): "None" for tunnel and local networks
        "physical_network": str(spec.get("physical_network")),
        "tag": str(tag),
    }
    if spec.get("segmentation_id") is not None:
        want["segmentation_id"] = str(spec["segmentation_id"])
    return want


class OvsOtherConfig(StackhopModule):
    argument_spec = dict(
        ovs_rundir=dict(type="path", default="/var/run/openvswitch"),
        bridge=dict(type="str", default="br-int"),
        ports=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str"),
            iface_id=dict(type="str"),
            net_uuid=dict(type="str", required=True),
            network_type=dict(type="str", required=True),
            physical_network=dict(type="str"),
            segmentation_id=dict(type="int"),
        )),
        overwrite=dict(type="bool", default=False),
        strict=dict(type="bool", default=False),
    )

    def run(self):
        specs = self.params["ports"]
        for spec in specs:
            error = validate_spec(spec)
            if error:
                raise StackhopError(error)

        db = OvsdbClient(self.params["ovs_rundir"])
        try:
            return self._apply(db, specs)
        finally:
            db.close()

    def _resolve(self, ports, specs):
        by_name = {p["name"]: p for p in ports}
        by_iface = {}
        for p in ports:
            for iface in p["interfaces"]:
                iface_id = iface.get("external_ids", {}).get("iface-id")
                if iface_id:
                    by_iface[iface_id] = p
        resolved, missing = [], []
        for spec in specs:
            port_by_name = by_name.get(spec["name"]) if spec.get("name") else None
            port_by_iface = by_iface.get(spec["iface_id"]) if spec.get("iface_id") else None
            if spec.get("name") and spec.get("iface_id") and port_by_name and port_by_iface \
                    and port_by_name["_uuid"] != port_by_iface["_uuid"]:
                raise StackhopError(
                    "Port %s: name points at port %s but iface_id %s points at port %s; "
                    "fix name or iface_id." % (spec["name"], spec["name"], spec["iface_id"],
                                               port_by_iface["name"]))
            port = port_by_name or port_by_iface
            if port is None or (spec.get("name") and spec.get("iface_id")
                                and not (port_by_name and port_by_iface)):
                missing.append(port_label(spec))
                continue
            resolved.append((spec, port))
        seen = {}
        for spec, port in resolved:
            other = seen.setdefault(port["_uuid"], spec)
            if other is not spec and (other["net_uuid"], other["network_type"],
                                      other.get("segmentation_id")) != (
                    spec["net_uuid"], spec["network_type"], spec.get("segmentation_id")):
                raise StackhopError(
                    "Port %s is listed twice with different networks (%s and %s); keep one "
                    "entry." % (port["name"], port_label(other), port_label(spec)))
        return resolved, missing

    def _apply(self, db, specs):
        bridge = self.params["bridge"]
        ports = db.bridge_ports(bridge, port_columns=("name", "tag", "other_config"),
                                iface_columns=("name", "external_ids"))
        self.executed_commands.append("ovsdb select Bridge/Port/Interface of %s" % bridge)
        resolved, missing = self._resolve(ports, specs)
        if missing and self.params["strict"]:
            raise StackhopError(
                "Port(s) %s are not on bridge %s; fix the list or set strict=false."
                % (", ".join(missing), bridge))

        updated, kept, untagged = [], [], []
        before, after, ops, done = {}, {}, [], set()
        for spec, port in resolved:
            if port["_uuid"] in done:
                continue
            done.add(port["_uuid"])
            tag = optional(port["tag"])
            have = port["other_config"] or {}
            if tag is None or tag == DEAD_VLAN_TAG:
                untagged.append(port["name"])
                continue
            if "net_uuid" in have and not self.params["overwrite"]:
                kept.append(port["name"])
                continue
            new = dict(have)
            new.update(wanted_other_config(spec, tag))
            if new == have:
                kept.append(port["name"])
                continue
            updated.append(port["name"])
            before[port["name"]] = have
            after[port["name"]] = new
            ops.append({"op": "wait", "table": "Port", "where": uuid_where(port["_uuid"]),
                        "columns": ["other_config", "tag"], "until": "==", "timeout": 0,
                        "rows": [{"other_config": to_ovsdb_map(have), "tag": tag}]})
            ops.append({"op": "update", "table": "Port", "where": uuid_where(port["_uuid"]),
                        "row": {"other_config": to_ovsdb_map(new)}})

        if ops and not self.check_mode:
            ops.append({"op": "comment",
                        "comment": "stackhop ovs_other_config: %d port(s)" % len(updated)})
            try:
                db.transact(ops)
            except StackhopError as exc:
                if "timed out" in str(exc):
                    raise StackhopError(
                        "A port on bridge %s changed while stackhop was writing; nothing was "
                        "written, re-run the task." % bridge)
                raise
            self.executed_commands.append(
                "ovsdb transact: update other_config of %d port(s) on %s" % (len(updated), bridge))

        return dict(changed=bool(updated), updated=updated, kept=kept, missing=missing,
                    untagged=untagged, diff=dict(before=before, after=after))


def main():
    OvsOtherConfig()()


if __name__ == "__main__":
    main()
