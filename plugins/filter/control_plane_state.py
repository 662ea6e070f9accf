# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filter stackhop.upgrade.control_plane_state: where each control-plane component runs and
where this run takes it (docs in control_plane_state.yml; the decision in
plugins/plugin_utils/control_plane_state.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm
from ansible_collections.stackhop.upgrade.plugins.plugin_utils import control_plane_state as cps


def _node(hostvars, host):
    """The host's control_plane_node, or None when it has none (unreachable, not read)."""
    try:
        return hostvars[host].get("control_plane_node")
    except (KeyError, AttributeError, TypeError):
        return None


def control_plane_state(hostvars, components, supported, old_hosts, new_hosts, service_addresses,
                        primary_units, target, strategy="blue_green", endpoint_method="vip"):
    """{component: {address, holders, releases, serving, serving_release, done, src, dst, peer, switch}}."""
    old_hosts = list(old_hosts or [])
    new_hosts = list(new_hosts or [])
    nodes = dict((h, _node(hostvars, h)) for h in old_hosts + new_hosts)
    try:
        return cps.decide(nodes, list(components or []), list(supported or []), old_hosts, new_hosts,
                          dict(service_addresses or {}), primary_units,
                          lambda name: rm.get_release(name)["index"], rm.get_release(target)["index"],
                          strategy, endpoint_method)
    except (rm.ReleaseModelError, cps.ControlPlaneStateError) as exc:
        raise AnsibleFilterError(str(exc))


def control_plane_request_problem(strategy, old_hosts, new_hosts, lb_hosts, components, supported,
                                  endpoint_method, service_addresses, region=""):
    """The sentence refusing the request, or "" (plugin_utils.control_plane_state.request_problem)."""
    return cps.request_problem(strategy, list(old_hosts or []), list(new_hosts or []), list(lb_hosts or []),
                               list(components or []), list(supported or []), endpoint_method,
                               dict(service_addresses or {}), region or "this region")


class FilterModule:
    """stackhop.upgrade.control_plane_state, stackhop.upgrade.control_plane_request_problem."""

    def filters(self):
        return {"control_plane_state": control_plane_state,
                "control_plane_request_problem": control_plane_request_problem}
