# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters of DeNA's DHCP agent drain (docs in dhcp_served_networks.yml and
dhcp_drain_wanted.yml; the decisions in plugins/module_utils/dhcp_drain.py)."""

from __future__ import annotations

from ansible_collections.stackhop.upgrade.plugins.module_utils import dhcp_drain


def dhcp_served_networks(pgrep_output, state_path="/var/lib/neutron"):
    return dhcp_drain.served_networks(pgrep_output, state_path)


def dhcp_drain_wanted(discovered, release):
    return dhcp_drain.drain_wanted(discovered, release)


class FilterModule:
    """stackhop.upgrade.dhcp_served_networks, stackhop.upgrade.dhcp_drain_wanted."""

    def filters(self):
        return {"dhcp_served_networks": dhcp_served_networks, "dhcp_drain_wanted": dhcp_drain_wanted}
