#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rabbitmq_bridge
short_description: Bridge a RabbitMQ broker to another while OpenStack's services move between them
version_added: 0.9.0
description:
  - Makes this broker one side of a bridge to a peer broker, so the services of an OpenStack region can be moved
    from an old broker to a new one a service at a time (NHN's upgrade), each side's RPC calls, casts, replies,
    fanout casts and notifications reaching the other side's consumers.
  - With O(state=present), on this broker, in one C(rabbitmqctl import_definitions) (read from standard input, so
    the peer's password is on no command line) - the C(federation-upstream) parameter O(name) to O(peer_uri); the
    policy C(<name>-queues) federating every queue but RabbitMQ's own and the per-consumer fanout queues; the
    policy C(<name>-fanout) federating the C(<topic>_fanout) exchanges; and the exchanges, queues and bindings of
    the peer's topic exchanges this broker lacks (O(peer_topology)), because oslo.messaging publishes casts and
    calls without C(mandatory) and a broker with no queue bound drops them.
  - Run it on both brokers, each with the other's URI and the other's RV(topology), and again after services
    started on a side (they declare new C(<topic>.<host>) queues).
  - The bridge's policies take a priority above the vhost's other policies and carry the keys of the operator's
    policies that apply to the same queues or exchanges today, since RabbitMQ applies one policy to each.
  - With O(state=absent), clears the two policies and the upstream; with O(require_no_clients), first fails when
    a service still uses this broker (RV(clients); federation links are not clients) or a queue still holds
    messages.
  - Reads with C(rabbitmqctl export_definitions), C(list_connections), C(list_consumers) and C(list_queues) in
    JSON; needs the C(rabbitmq_federation) plugin enabled for O(state=present).
author:
  - stackhop contributors (@stackhop)
options:
  vhost:
    description: The virtual host the services use.
    type: str
    default: /
  name:
    description: The bridge's name; the upstream's name and the prefix of its two policies.
    type: str
    default: stackhop-move
  state:
    description: V(present) builds or updates the bridge on this broker; V(absent) clears it.
    type: str
    choices: [present, absent]
    default: present
  peer_uri:
    description:
      - The AMQP URI of the peer broker, with a user allowed to declare and consume on O(vhost)
        (C(amqp://user:password@host:5672/%2F)); several, one per node of a cluster, tried in turn. The filter
        C(stackhop.upgrade.rabbitmq_move) derives them from the services' transport URLs.
      - Required with O(state=present).
    type: list
    elements: str
  peer_topology:
    description:
      - The RV(topology) this module returned on the peer broker. Its exchanges, queues and bindings that this
        broker lacks are declared here. Omitted, only the upstream and the policies are set.
    type: dict
  extra_definition:
    description:
      - Policy keys both bridge policies carry, for a key two of the operator's policies set differently.
    type: dict
    default: {}
  max_hops:
    description: The federation links' C(max-hops); 1 keeps a fanout message from coming back.
    type: int
    default: 1
  require_no_clients:
    description:
      - With O(state=absent), fail before clearing anything when a service is still connected to this broker or
        a queue still holds messages.
    type: bool
    default: false
  timeout:
    description: Seconds C(rabbitmqctl) waits for the node (its C(--timeout)).
    type: int
    default: 60
extends_documentation_fragment:
  - stackhop.upgrade.attributes
  - stackhop.upgrade.rabbitmqctl
attributes:
  check_mode:
    support: full
    details: Reads the broker and reports what it would set or clear, importing nothing.
  diff_mode:
    support: full
    details: The upstream's, policies' and topology's names before and after; never the peer's URI.
"""

EXAMPLES = r"""
- name: Bridge the old broker to the new one
  stackhop.upgrade.rabbitmq_bridge:
    peer_uri: "amqp://stackhop-move:{{ move_password }}@10.20.0.12:5672/%2F"
  register: old_side

- name: Bridge the new broker to the old one, with the old one's topic queues
  stackhop.upgrade.rabbitmq_bridge:
    peer_uri: "amqp://stackhop-move:{{ move_password }}@10.20.0.11:5672/%2F"
    peer_topology: "{{ old_side.topology }}"
  delegate_to: ctl-new

- name: Take the bridge down once no service uses the old broker
  stackhop.upgrade.rabbitmq_bridge:
    state: absent
    require_no_clients: true
"""

RETURN = r"""
topology:
  description:
    - This broker's topic exchanges, the server queues bound to them and those bindings (after the change), for
      the peer's O(peer_topology). Holds no secret.
  returned: always
  type: dict
set:
  description: What was (or, in check mode, would be) set or cleared, e.g. C(upstream stackhop-move), C(3 queues).
  returned: always
  type: list
  elements: str
clients:
  description:
    - The connections of services to this broker (federation links left out), each with C(service)
      (oslo.messaging's C(<program>:<pid>), e.g. C(nova-compute:2417)) and C(peer) (its address).
  returned: always
  type: list
  elements: dict
consumers:
  description: Per queue, the consumers that are not federation links.
  returned: always
  type: dict
messages:
  description: The queues that hold messages, with their count.
  returned: always
  type: dict
executed_commands:
  description: The commands run (the definitions go on standard input).
  returned: always
  type: list
  elements: str
"""

import json

from ansible_collections.stackhop.upgrade.plugins.module_utils import rabbitmq_bridge as bridge
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


class RabbitmqBridge(StackhopModule):
    argument_spec = dict(
        rabbitmqctl=dict(type="str", default="rabbitmqctl"),
        node=dict(type="str"),
        vhost=dict(type="str", default="/"),
        name=dict(type="str", default="stackhop-move"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        peer_uri=dict(type="list", elements="str", no_log=True),
        peer_topology=dict(type="dict"),
        extra_definition=dict(type="dict", default={}),
        max_hops=dict(type="int", default=1),
        require_no_clients=dict(type="bool", default=False),
        timeout=dict(type="int", default=60),
    )
    module_kwargs = dict(required_if=[("state", "present", ("peer_uri",))])

    def ctl(self, *args, data=None, vhost=False):
        p = self.params
        argv = [self._ctl] + (["-n", p["node"]] if p["node"] else []) + ["-q"] + list(args)
        if vhost:
            argv += ["-p", p["vhost"]]
        rc, out, err = self.run_command(argv + ["--timeout", str(p["timeout"])], data=data, check_rc=False)
        if rc != 0:
            # rabbitmqctl's first line says what failed; diagnostics follow it
            first = [line for line in (err or out or "").splitlines() if line.strip()][:1]
            raise StackhopError("rabbitmqctl %s on %s failed (exit %d: %s): check that the RabbitMQ node runs%s."
                                % (args[0], self._where, rc, first[0].strip()[:200] if first else "no output",
                                   " and the rabbitmq_federation plugin is enabled (rabbitmq-plugins enable "
                                   "rabbitmq_federation)" if args[0] == "import_definitions" else ""))
        return out

    def read_json(self, *args, vhost=False):
        out = self.ctl(*args, vhost=vhost)
        try:
            return json.loads(out or "null")
        except ValueError:
            raise StackhopError("rabbitmqctl %s on %s printed no JSON: it must be RabbitMQ 3.8 or later."
                                % (args[0], self._where))

    def read_state(self):
        connections = [c for c in self.read_json("list_connections", "vhost", "peer_host", "client_properties",
                                                 "--formatter", "json") or []
                       if c.get("vhost", self.params["vhost"]) == self.params["vhost"]]
        consumers = self.read_json("list_consumers", "queue_name", "consumer_tag", "--formatter", "json",
                                   vhost=True) or []
        queues = self.read_json("list_queues", "name", "messages", "--formatter", "json", vhost=True) or []
        found_clients, counts = bridge.clients(connections, consumers)
        return found_clients, counts, bridge.messages_left(queues)

    def run(self):
        p = self.params
        self._ctl = self.command_path(p["rabbitmqctl"], "rabbitmqctl",
                                      "install RabbitMQ's CLI or give rabbitmqctl its path")
        self._where = p["node"] or "the local node of %s" % self._host()
        try:
            name = bridge.check_name(p["name"])
        except bridge.BridgeError as exc:
            raise StackhopError(str(exc))
        definitions = self.read_json("export_definitions", "-", "--format", "json") or {}
        result = {"changed": False, "set": []}
        if p["state"] == "present":
            try:
                doc, what = bridge.changes(definitions, name, p["peer_uri"], p["vhost"], p["peer_topology"],
                                           p["extra_definition"], p["max_hops"])
            except bridge.BridgeError as exc:
                raise StackhopError(str(exc))
            before = self._names(definitions, name, p["vhost"])
            if doc:
                result.update(changed=True, set=what)
                if not self.check_mode:
                    self.ctl("import_definitions", "--format", "json", data=json.dumps(doc))
                    definitions = self.read_json("export_definitions", "-", "--format", "json") or {}
            result["diff"] = {"before": before,
                              "after": {"upstream": [name], "policies": ["%s-fanout" % name, "%s-queues" % name]}}
        else:
            found_clients, counts, left = self.read_state()
            if p["require_no_clients"] and (found_clients or left):
                raise StackhopError(
                    "%s still %s: move %s to the new broker (its transport_url) and let the queues drain before "
                    "taking the bridge %s down." % (
                        self._where,
                        " and ".join(filter(None, [
                            ("serves %s" % ", ".join("%s from %s" % (c["service"], c["peer"])
                                                     for c in found_clients[:8])) if found_clients else "",
                            ("holds messages in %s" % ", ".join("%s (%d)" % kv for kv in sorted(left.items())[:8]))
                            if left else ""])),
                        "those services" if found_clients else "nothing", name),
                    clients=found_clients, messages=left)
            policies, upstreams = bridge.bridge_names(definitions, name, p["vhost"])
            before = self._names(definitions, name, p["vhost"])
            what = ["policy %s" % n for n in policies] + ["upstream %s" % n for n in upstreams]
            if what:
                result.update(changed=True, set=what)
                if not self.check_mode:
                    for policy in policies:
                        self.ctl("clear_policy", policy, vhost=True)
                    for upstream in upstreams:
                        self.ctl("clear_parameter", "federation-upstream", upstream, vhost=True)
            result["diff"] = {"before": before, "after": {"upstream": [], "policies": []}}
        found_clients, counts, left = self.read_state()
        result.update(topology=bridge.topology(definitions, p["vhost"]), clients=found_clients,
                      consumers=counts, messages=left)
        return result

    @staticmethod
    def _names(definitions, name, vhost):
        policies, upstreams = bridge.bridge_names(definitions, name, vhost)
        return {"upstream": upstreams, "policies": policies}


def main():
    RabbitmqBridge()()


if __name__ == "__main__":
    main()
