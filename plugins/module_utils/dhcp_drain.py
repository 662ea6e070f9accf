# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""DeNA's DHCP agent drain, its decisions (no Ansible, no openstacksdk imports).

DeNA, before the old neutron-dhcp-agent stops: set the agent admin-state-down, so it
stops its dnsmasq processes (the server then lists no network for it), stop it once they
are gone, set it admin-state-up again, so the new agent binds the networks and starts
dnsmasq for each afresh. A VM renewing its lease meanwhile retries until dnsmasq answers
again; the drain keeps that window short and leaves no dnsmasq of the old code behind.
"""

from __future__ import annotations

import re

UNIT = "neutron-dhcp-agent"


def served_networks(pgrep_output, state_path="/var/lib/neutron"):
    """The network ids whose dnsmasq runs, from ``pgrep -a dnsmasq`` (``PID argv`` lines):
    neutron's dnsmasq names its network's directory ``<state_path>/dhcp/<network id>`` in
    its options. Other dnsmasq processes (libvirt's, the host's) are not neutron's."""
    prefix = re.escape(state_path.rstrip("/") + "/dhcp/")
    pattern = re.compile(r"=%s([0-9a-fA-F-]{36})/" % prefix)
    found = []
    for line in (pgrep_output or "").splitlines():
        match = pattern.search(line)
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return sorted(found)


def drain_wanted(discovered, release):
    """Whether the DHCP agent is drained before this run restarts it: it runs, and on
    another release's code than ``release`` (a fresh node has nothing to drain; an agent
    already on the target is not restarted, so a second run drains nothing)."""
    for service in (discovered or {}).get("services") or []:
        if re.sub(r"\.service$", "", service.get("unit") or "") == UNIT:
            return service.get("state") == "running" and service.get("release") != release
    return False


def agent_summary(agent):
    """What the module returns of an agent (openstacksdk's Agent or a dict)."""
    def get(name):
        return agent.get(name) if isinstance(agent, dict) else getattr(agent, name, None)
    return {"id": get("id"), "host": get("host"), "alive": bool(get("is_alive")),
            "admin_state_up": bool(get("is_admin_state_up")), "started_at": get("started_at") or ""}


def started_since(started_at, since):
    """Whether neutron's ``started_at`` (``YYYY-MM-DD HH:MM:SS`` UTC, or ISO) is not before
    ``since`` (the same form); an empty ``since`` accepts any start."""
    if not since:
        return True
    return _utc_text(started_at) >= _utc_text(since)


def _utc_text(text):
    """``YYYY-MM-DD HH:MM:SS`` of neutron's or an ISO time, comparable as text."""
    return (text or "").replace("T", " ").split(".")[0].rstrip("Z")
