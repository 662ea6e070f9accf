# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Nova's side of moving nova-compute-ironic (nova-compute with nova's ironic driver) from
an old controller to a new one in a blue-green upgrade (DeNA, quirk ironic_instance_host).

Nova's ironic driver spreads the ironic nodes over the nova-compute services that are up
(a hash ring; nova/virt/ironic/driver.py) and its resource tracker takes over a node's
compute node record when it lands on another host (``rebalances_nodes``), but a bare-metal
instance keeps the host that booted it in ``instances.host`` and ``launched_on``: every
action on it (delete, reboot, rebuild) is sent to a nova-compute that no longer runs. So:
the ironic compute nodes and their instances are rewritten from the old host to the new
one, the new host takes the old one's place in its aggregates, and the old service record
is deleted. What to do is decided here, from nova's own listings.
"""

from __future__ import annotations

# Nova's cell database: the ironic compute nodes, then their instances (by node), each
# statement for the one old host, with named arguments (no value in the text).
_IRONIC_NODES = ("SELECT hypervisor_hostname FROM compute_nodes WHERE hypervisor_type = 'ironic' "
                 "AND deleted = 0")
HOST_QUERIES = (
    "UPDATE compute_nodes SET host = %(new)s WHERE host = %(old)s AND hypervisor_type = 'ironic' "
    "AND deleted = 0",
    "UPDATE instances SET host = %(new)s WHERE host = %(old)s AND deleted = 0 AND node IN (" + _IRONIC_NODES + ")",
    "UPDATE instances SET launched_on = %(new)s WHERE launched_on = %(old)s AND deleted = 0 AND node IN ("
    + _IRONIC_NODES + ")",
)
# Nova's API database: the old host's aggregate memberships. Nova's API refuses to remove a
# host that has no compute node any more ("Cannot remove host ... in aggregate", 404: its
# ironic compute nodes are the new host's now, by the rewrite above or by nova's own
# rebalance), and its service delete removes the host from its aggregates through that
# same call, so the rows go directly; the ironic nodes' resource providers stay in the
# placement aggregates, where the new host's membership puts them.
AGGREGATE_QUERIES = ("DELETE FROM aggregate_hosts WHERE host = %(old)s",)


class IronicMoveError(ValueError):
    """A move that cannot be made as asked."""


def _field(row, *names):
    for name in names:
        if name in row:
            return row[name]
    raise IronicMoveError("a row of nova's listing has none of %s: %r" % (", ".join(names), row))


def host_move(old, new, aggregates, services):
    """What nova's API does for the move of nova-compute-ironic from ``old`` to ``new``.

    ``aggregates``: ``openstack aggregate list --long -f json`` (Name, Hosts);
    ``services``: ``openstack compute service list --service nova-compute -f json`` (ID,
    Host, State). Returns {add: [aggregates the new host joins], remove: [aggregates the old
    host leaves], delete_services: [ids of the old host's nova-compute records],
    new_up: whether the new host's nova-compute reports up, queries (nova's cell database),
    aggregate_queries (nova's API database, when the old host leaves an aggregate), args}."""
    if not old or not new:
        raise IronicMoveError("the old and the new host of nova-compute-ironic must be named")
    if old == new:
        return {"add": [], "remove": [], "delete_services": [], "new_up": True, "queries": [],
                "aggregate_queries": [], "args": {}}
    add, remove = [], []
    for agg in aggregates:
        hosts = _field(agg, "Hosts", "hosts") or []
        name = _field(agg, "Name", "name")
        if old in hosts:
            if new not in hosts:
                add.append(name)
            remove.append(name)
    old_records = [_field(s, "ID", "Id", "id") for s in services if _field(s, "Host", "host") == old]
    new_up = any(_field(s, "Host", "host") == new and _field(s, "State", "state") == "up" for s in services)
    return {"add": add, "remove": remove, "delete_services": old_records, "new_up": new_up,
            "queries": list(HOST_QUERIES), "aggregate_queries": list(AGGREGATE_QUERIES) if remove else [],
            "args": {"old": old, "new": new}}


def moved_server_hosts(strategy, components, old_hosts, new_hosts):
    """{old controller: new controller} for the servers' host fields verify compares: a
    blue-green upgrade moves nova-compute-ironic with ironic, so a bare-metal server's
    compute host changes from the old controller to the new one (pairs in inventory order);
    nothing otherwise."""
    if strategy != "blue_green" or "ironic" not in (components or []):
        return {}
    return dict(zip(list(old_hosts or []), list(new_hosts or [])))
