#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: neutron_dhcp_agent
short_description: Set a neutron DHCP agent's admin state and wait until it is alive again, for DeNA's DHCP drain
version_added: 0.3.0
description:
  - Finds the DHCP agent of O(host) through openstacksdk and returns it with the networks it
    hosts.
  - O(admin_state_up) sets its admin state. DeNA's drain sets it down before the old agent
    stops (the agent then stops its dnsmasq processes) and up again once it is stopped, so
    the new agent binds the networks.
  - O(alive_since) waits until the agent reports alive, started at or after that time (the
    new agent, not the old one's last report).
  - The dnsmasq processes are read on the network node itself (filter
    C(stackhop.upgrade.dhcp_served_networks)); this module only talks to neutron's API.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
  - stackhop.upgrade.openstack_cloud
options:
  host:
    description: The host name neutron knows the DHCP agent by (its C(host) option, usually the node's name).
    type: str
    required: true
  admin_state_up:
    description: The admin state to set; unset leaves it as it is.
    type: bool
  alive_since:
    description:
      - Wait until the agent is alive and its C(started_at) is not before this UTC time
        (C(YYYY-MM-DD HH:MM:SS)); an empty string waits only for alive.
      - Unset does not wait.
    type: str
  timeout:
    description: Seconds to wait for O(alive_since).
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    details: Reports the admin state it would set; sets nothing, waits for nothing.
  diff_mode:
    support: full
    details: The agent's admin state before and after.
"""

EXAMPLES = r"""
- name: Drain the DHCP agent of net1 (its dnsmasq processes stop)
  stackhop.upgrade.neutron_dhcp_agent:
    cloud: admin
    host: net1
    admin_state_up: false
  register: drain

- name: Wait until the restarted agent reports
  stackhop.upgrade.neutron_dhcp_agent:
    cloud: admin
    host: net1
    alive_since: "2026-12-06 02:40:00"
"""

RETURN = r"""
agent:
  description: The agent after the task.
  returned: always
  type: dict
  contains:
    id: {description: Its id., type: str}
    host: {description: Its host., type: str}
    alive: {description: Whether it reports alive., type: bool}
    admin_state_up: {description: Its admin state., type: bool}
    started_at: {description: When it started (UTC)., type: str}
networks:
  description:
    - The ids of the networks the server has bound to the agent (bindings persist while it is admin-state-down).
    - Null (with a warning) when the server fails to list them.
  returned: always
  type: list
  elements: str
seconds:
  description: Seconds spent waiting for O(alive_since).
  returned: always
  type: float
"""

import time

from ansible_collections.stackhop.upgrade.plugins.module_utils.dhcp_drain import agent_summary, started_since
from ansible_collections.stackhop.upgrade.plugins.module_utils.openstack_cloud import (
    CLOUD_ARGUMENT_SPEC,
    CloudError,
    connect,
    describe,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


class NeutronDhcpAgent(StackhopModule):
    argument_spec = dict(
        CLOUD_ARGUMENT_SPEC,
        host=dict(type="str", required=True),
        admin_state_up=dict(type="bool"),
        alive_since=dict(type="str"),
        timeout=dict(type="int", default=300),
    )

    def _agent(self, conn, host):
        agents = list(conn.network.agents(host=host, binary="neutron-dhcp-agent"))
        if not agents:
            raise StackhopError("neutron has no DHCP agent on host %s; check the agent's host option and "
                                "openstack network agent list --agent-type dhcp" % host)
        return agents[0]

    def _hosted_networks(self, conn, agent, attempts=5):
        """The networks bound to ``agent``; None (with a warning) when the server cannot say.
        Informational only (the drain reads dnsmasq's own processes): neutron 2024.1's
        dhcp-networks call fails with 500 in a uwsgi worker whose policy is not loaded yet
        ("'NoneType' object has no attribute 'registered_rules'", seen on the Debian region
        right after its neutron-api moved), so it is asked again, then left out."""
        error = None
        for attempt in range(attempts):
            try:
                return sorted(n.id for n in conn.network.dhcp_agent_hosting_networks(agent))
            except Exception as exc:  # pylint: disable=broad-except
                error = exc
                if attempt + 1 < attempts:
                    time.sleep(2)
        self.ansible.warn("neutron did not list the networks of the DHCP agent on %s (%s: %s); the drain "
                          "goes on without them" % (self.params["host"], type(error).__name__,
                                                    (str(error).strip().splitlines() or [""])[0][:200]))
        return None

    def run(self):
        p = self.params
        try:
            conn = connect(p, host=self._host())
        except CloudError as exc:
            raise StackhopError(str(exc))
        try:
            agent = self._agent(conn, p["host"])
            before = agent_summary(agent)
            networks = self._hosted_networks(conn, agent)
            changed = p["admin_state_up"] is not None and p["admin_state_up"] != before["admin_state_up"]
            if changed and not self.check_mode:
                agent = conn.network.update_agent(agent, admin_state_up=p["admin_state_up"])
            waited = 0.0
            if p["alive_since"] is not None and not self.check_mode:
                start = time.monotonic()
                while True:
                    now = agent_summary(agent)
                    if now["alive"] and started_since(now["started_at"], p["alive_since"]):
                        break
                    if time.monotonic() - start > p["timeout"]:
                        raise StackhopError(
                            "the DHCP agent on %s did not report alive since %s within %d s (last started %s, "
                            "alive %s); read journalctl -u neutron-dhcp-agent on %s"
                            % (p["host"], p["alive_since"] or "its start", p["timeout"],
                               now["started_at"] or "never", now["alive"], p["host"]))
                    time.sleep(3)
                    agent = self._agent(conn, p["host"])
                waited = round(time.monotonic() - start, 1)
        except StackhopError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise StackhopError("neutron's DHCP agent of %s could not be read or set through %s: %s: %s"
                                % (p["host"], describe(p), type(exc).__name__, first))
        after = agent_summary(agent)
        if changed and self.check_mode:
            after["admin_state_up"] = p["admin_state_up"]
        result = {"changed": changed, "agent": after, "networks": networks, "seconds": waited}
        if self.diff_mode:
            result["diff"] = {"before": {"admin_state_up": before["admin_state_up"]},
                              "after": {"admin_state_up": after["admin_state_up"]}}
        return result


def main():
    NeutronDhcpAgent()()


if __name__ == "__main__":
    main()
