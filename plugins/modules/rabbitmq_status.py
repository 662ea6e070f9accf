#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rabbitmq_status
short_description: Read whether a RabbitMQ cluster is fit for an upgrade (every node running, no partition, no alarm)
version_added: 0.1.0
description:
  - Runs C(rabbitmqctl cluster_status --formatter json) on a node of the cluster and reports its nodes, the
    running ones, partitions, resource alarms, nodes in maintenance mode and versions, with one sentence per
    problem.
  - While an upgrade restarts services one controller at a time, their RPC must keep flowing; a node down
    or partitioned loses the queues it holds, and an alarm blocks every publisher.
  - Reads only; never changes anything. Reports problems in RV(status) and RV(problems) instead of failing,
    so the preflight role prints one summary; fails only when C(rabbitmqctl) cannot be run or the node does
    not answer.
author:
  - stackhop contributors (@stackhop)
options:
  expected_size:
    description:
      - The number of RabbitMQ nodes the inventory lists (the C(stackhop_rabbitmq) group). V(0) does not check
        the size.
    type: int
    default: 0
  timeout:
    description: Seconds C(rabbitmqctl) waits for the node (its C(--timeout)).
    type: int
    default: 30
extends_documentation_fragment:
  - stackhop.upgrade.attributes
  - stackhop.upgrade.rabbitmqctl
attributes:
  check_mode:
    support: full
    details: Reads only, so it runs the same read in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Read the RabbitMQ cluster's state
  stackhop.upgrade.rabbitmq_status:
    expected_size: "{{ groups['stackhop_rabbitmq'] | length }}"
  register: rabbitmq
"""

RETURN = r"""
status:
  description: V(ok) or V(failure).
  returned: always
  type: str
problems:
  description: One sentence per problem, each naming the node and the fix.
  returned: always
  type: list
  elements: str
cluster_name:
  description: The cluster's name.
  returned: always
  type: str
nodes:
  description: Every node of the cluster (disc and RAM nodes).
  returned: always
  type: list
  elements: str
disk_nodes:
  description: The disc nodes.
  returned: always
  type: list
  elements: str
ram_nodes:
  description: The RAM nodes.
  returned: always
  type: list
  elements: str
running_nodes:
  description: The nodes running now.
  returned: always
  type: list
  elements: str
partitions:
  description: Per node, the nodes it does not see (empty without a partition).
  returned: always
  type: dict
alarms:
  description: The resource alarms raised, as V(<resource> on <node>).
  returned: always
  type: list
  elements: str
under_maintenance:
  description: The nodes in maintenance mode.
  returned: always
  type: list
  elements: str
versions:
  description: Per node, the RabbitMQ version it runs.
  returned: always
  type: dict
executed_commands:
  description: The commands run.
  returned: always
  type: list
  elements: str
"""

import json

from ansible_collections.stackhop.upgrade.plugins.module_utils import cluster_health
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


class RabbitmqStatus(StackhopModule):
    argument_spec = dict(
        rabbitmqctl=dict(type="str", default="rabbitmqctl"),
        node=dict(type="str"),
        expected_size=dict(type="int", default=0),
        timeout=dict(type="int", default=30),
    )

    def run(self):
        p = self.params
        if p["expected_size"] < 0:
            raise StackhopError("expected_size is %d: give the number of RabbitMQ nodes, or 0 not to check it."
                                % p["expected_size"])
        ctl = self.command_path(p["rabbitmqctl"], "rabbitmqctl",
                                "run the check on a RabbitMQ node (the stackhop_rabbitmq group) or give its path")
        argv = [ctl] + (["-n", p["node"]] if p["node"] else []) + [
            "--timeout", str(p["timeout"]), "cluster_status", "--formatter", "json"]
        rc, out, err = self.run_command(argv, check_rc=False)
        where = p["node"] or "the local node on %s" % self._host()
        if rc != 0:
            last = [line.strip() for line in (err or out or "").splitlines() if line.strip()][-1:]
            raise StackhopError("RabbitMQ %s does not answer rabbitmqctl cluster_status (%s): start rabbitmq-server "
                                "there, or run the check as root on a node of the cluster."
                                % (where, last[0] if last else "exit code %d" % rc))
        try:
            data = json.loads(out)
        except ValueError:
            raise StackhopError("rabbitmqctl cluster_status on %s printed no JSON: use RabbitMQ 3.8 or later, "
                                "whose rabbitmqctl has --formatter json." % where)
        state = cluster_health.rabbitmq_state(data)
        problems = cluster_health.rabbitmq_problems(state, p["expected_size"])
        return dict(state, status="failure" if problems else "ok", problems=problems)


def main():
    RabbitmqStatus()()


if __name__ == "__main__":
    main()
