# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Where a client on the node itself reaches a service bound to an address.

Each filter's documentation is in the YAML file of the same name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

# The addresses that mean "every address of the node".
WILDCARDS = ("0.0.0.0", "::", "[::]", "*")


def bind_client_address(bind, node_address):
    """The address to connect to for a service bound to ``bind``: the node's own
    ``node_address`` when ``bind`` is a wildcard (or empty), else ``bind`` itself (a
    service bound to one address answers on no other)."""
    if not node_address:
        raise AnsibleFilterError("bind_client_address needs the node's own address (ansible_host).")
    bind = "" if bind is None else str(bind).strip()
    if not bind or bind in WILDCARDS:
        return str(node_address)
    return bind


class FilterModule(object):
    def filters(self):
        return {"bind_client_address": bind_client_address}
