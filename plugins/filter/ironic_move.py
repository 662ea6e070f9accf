# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filter stackhop.upgrade.ironic_host_move: nova's side of moving nova-compute-ironic in
a blue-green upgrade (the decisions in plugins/module_utils/ironic_move.py; docs in
ironic_host_move.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.stackhop.upgrade.plugins.module_utils import ironic_move


def ironic_host_move(old, new, aggregates=None, services=None):
    """{add, remove, delete_services, new_up, queries, args} (ironic_move.host_move)."""
    try:
        return ironic_move.host_move(old, new, list(aggregates or []), list(services or []))
    except ironic_move.IronicMoveError as exc:
        raise AnsibleFilterError(str(exc))


def ironic_moved_hosts(strategy, components, old_hosts=None, new_hosts=None):
    """{old: new} controllers whose bare-metal servers move (ironic_move.moved_server_hosts)."""
    return ironic_move.moved_server_hosts(strategy, list(components or []), old_hosts, new_hosts)


class FilterModule:
    """stackhop.upgrade.ironic_host_move, stackhop.upgrade.ironic_moved_hosts."""

    def filters(self):
        return {"ironic_host_move": ironic_host_move, "ironic_moved_hosts": ironic_moved_hosts}
