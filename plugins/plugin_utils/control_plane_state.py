# Copyright (c) stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Where each control-plane component runs and where this run takes it (no Ansible imports).

The decision of ``roles/control_plane/tasks/state.yml`` (filter
``stackhop.upgrade.control_plane_state``). Every controller of the selected region has
read its ``control_plane_node``: the addresses it holds, the release each unit runs
(``units``: unit name -> release, '' when unknown), how each component is installed
(``modes``: component -> stackhop, adopted or absent) and its host name. From those, per component:

- ``holders``: the controllers holding the component's service address (none with the
  ``haproxy`` endpoint method: there the address is the load balancer's);
- ``releases``: per controller, the release of the first of the component's primary units
  that names one ('' for none);
- ``serving``: the holder running the newest release; without a holder, the controller
  whose unit names the newest release; else the first holder, else the first old
  controller;
- ``done``: the serving controller runs the target release and, with the ``vip``
  endpoint method and an address, it alone holds the address (the other methods, dns and
  keystone_catalog, are not read here: their switch runs every time, it is idempotent);
- ``src``/``dst``/``peer``: blue_green goes from the serving controller to the first
  controller of the other side (when the serving one already runs the target, from the
  other side to the serving one); in_place stays on the serving controller, without peer;
- ``switch``: blue_green, and the endpoint is not known to be on ``dst`` already;
- ``adopted``: ``dst`` runs the component as someone else installed it (``modes``, from
  discovery: packages, or a package moved onto a venv): the upgrade edits its files and
  keeps its units (role ``adopted_service``) instead of deploying the component role. A
  blue-green move away from an adopted controller to one that is not is refused.
- ``nodes``/``remaining``: the controllers that run the component and, of those, the
  ones not at the target yet, in inventory order. The rolling strategy upgrades the
  ``remaining`` one by one; its ``src`` and ``dst`` are the first of them (the node that
  runs the schema steps), ``done`` says none is left, and nothing switches. A component
  someone else installed is refused (rolling edits no operator's files yet). Blue-green
  and in_place: ``[dst]``.
- ``sources``: the controllers the component leaves, ``src`` first: blue_green stops it on
  each controller of ``src``'s side that runs it (behind load balancers every old
  controller serves it, and none may write while the databases migrate) and retires it
  there; in_place and rolling: ``[src]``.
- ``prepare``: a blue-green move to a ``dst`` that runs stackhop's installation of the
  component at another release than the target (or nothing): its configs and units are
  written before ``src`` stops, so the API's window holds only the stop, the dump, the
  migrations, the start, the smoke test and the switch. A ``dst`` that already runs the
  target (a resumed run) is deployed whole in the window, as before.

Controllers without ``control_plane_node`` (unreachable, or not read) hold nothing and run
nothing. Only the controllers passed in are looked at: the caller passes the selected
region's (``stackhop.upgrade.in_scope``).
"""

from __future__ import annotations

# What a controller that has no control_plane_node (unreachable) counts as.
NO_NODE = {"addresses": [], "units": {}}


class ControlPlaneStateError(ValueError):
    """A state that cannot be decided; the message says why."""


STRATEGIES = ("blue_green", "in_place", "rolling")


def request_problem(strategy, old_hosts, new_hosts, lb_hosts, components, supported,
                    endpoint_method, service_addresses, region="this region"):
    """The one sentence that refuses a control-plane request before anything changes, or
    "" when the request can run. Only blue_green moves to new controllers and switches the
    endpoints; rolling needs several controllers and the HAProxy nodes that balance them."""
    lead = "Cannot upgrade the control plane of %s: " % (region or "this region")
    if strategy not in STRATEGIES:
        return lead + "control_plane_strategy is %s; use blue_green, in_place or rolling." % strategy
    if not old_hosts:
        return lead + "no controller in stackhop_controllers; add the serving controller to that group."
    if strategy == "rolling" and len(old_hosts) < 2:
        return lead + ("rolling upgrades the controllers of stackhop_controllers one at a time behind HAProxy, "
                       "but the region has one controller; use in_place or blue_green.")
    if strategy == "rolling" and not lb_hosts:
        return lead + ("rolling upgrades the controllers of stackhop_controllers one at a time behind HAProxy, "
                       "but stackhop_lb names no HAProxy node; add the nodes that balance the controllers to it.")
    if strategy == "blue_green" and not new_hosts:
        return lead + "blue_green needs the new controller in stackhop_controllers_new; add it or use in_place."
    unsupported = [c for c in components if c not in supported]
    if unsupported:
        return lead + ("no upgrade tasks exist yet for %s; remove it from stackhop_components or upgrade it "
                       "on its own." % ", ".join(unsupported))
    if strategy == "blue_green" and endpoint_method == "haproxy" and not lb_hosts:
        return lead + ("the haproxy endpoint switch moves each component's backends on the load balancers, but "
                       "stackhop_lb names no HAProxy node; add the nodes that balance the controllers to it.")
    if strategy == "blue_green" and endpoint_method == "vip":
        missing = [c for c in components if c not in service_addresses]
        if missing:
            return lead + ("the vip endpoint switch needs a service address for %s; add it to "
                           "stackhop_service_addresses or use another control_plane_endpoint_method." % ", ".join(missing))
    return ""


def _first(items, what):
    for item in items:
        return item
    raise ControlPlaneStateError("no %s: cannot decide where the control plane goes" % what)


def component_state(component, address, controllers, old_hosts, new_hosts, nodes,
                    primary_units, release_index, target_index, strategy, endpoint_method):
    """The state of one component (see the module docstring for the keys).

    ``nodes``: controller -> its ``control_plane_node`` (None when it has none);
    ``release_index``: a function from a release name to its index in the release model.
    """
    holders = []
    releases = {}
    for host in controllers:
        node = nodes.get(host)
        if node is None:
            node = NO_NODE
        # behind HAProxy the address is the load balancer's VIP (keepalived may put it on a
        # controller): it says nothing about which controller serves
        if address and endpoint_method != "haproxy" and address in node["addresses"]:
            holders.append(host)
        units = node["units"]
        found = [units[unit] for unit in primary_units if unit in units]
        releases[host] = next((rel for rel in found if rel), "")

    serving, index = "", -1
    for host in holders if holders else controllers:
        if not releases[host]:
            continue
        i = release_index(releases[host])
        if i > index:
            serving, index = host, i
    if not serving:
        serving = holders[0] if holders else _first(old_hosts, "controller in stackhop_controllers")
    at_target = releases.get(serving, "") != "" and index == target_index
    vip = endpoint_method == "vip" and address != ""
    done = at_target and (holders == [serving] or not vip)
    modes = dict((host, ((nodes.get(host) or NO_NODE).get("modes") or {}).get(component, "absent"))
                 for host in controllers)
    if strategy == "blue_green":
        if serving in old_hosts:
            other = _first(new_hosts, "controller in stackhop_controllers_new")
        else:
            other = _first(old_hosts, "controller in stackhop_controllers")
        src = other if at_target else serving
        dst = serving if at_target else other
        peer = src
        if modes[src] == "adopted" and modes[dst] != "adopted":
            raise ControlPlaneStateError(
                "%s on %s was not deployed by stackhop (its files are the operator's): a blue-green move to %s "
                "would not carry them; upgrade it with control_plane_strategy in_place" % (component, src, dst))
    elif strategy == "rolling":
        # every old controller that runs the component (has a unit naming a release)
        nodes = [host for host in old_hosts if releases.get(host, "")] or [serving]
        remaining = [host for host in nodes
                     if not releases.get(host, "") or release_index(releases[host]) != target_index]
        adopted = [host for host in nodes if modes[host] == "adopted"]
        if adopted:
            raise ControlPlaneStateError(
                "%s on %s was not deployed by stackhop (its files are the operator's), which the rolling "
                "strategy does not edit yet; upgrade it with control_plane_strategy in_place or blue_green"
                % (component, ", ".join(adopted)))
        src = dst = (remaining or nodes)[0]
        return {
            "address": address, "holders": holders, "releases": releases, "serving": serving,
            "serving_release": releases.get(serving, ""), "done": not remaining, "src": src, "dst": dst,
            "peer": "", "switch": False, "adopted": False, "prepare": False,
            "nodes": nodes, "remaining": remaining, "sources": [src],
        }
    else:
        src = dst = serving
        peer = ""
    sources = [src]
    if strategy == "blue_green":
        side = old_hosts if src in old_hosts else new_hosts
        sources += [host for host in side if host != src and host != dst and releases.get(host, "")]
    dst_at_target = releases.get(dst, "") != "" and release_index(releases[dst]) == target_index
    return {
        "address": address, "holders": holders, "releases": releases, "serving": serving,
        "serving_release": releases.get(serving, ""), "done": done, "src": src, "dst": dst,
        "peer": peer, "switch": strategy == "blue_green" and (not vip or holders != [dst]),
        "adopted": modes[dst] == "adopted",
        # blue-green to a node that does not run the target yet: its configs and units are
        # written before the old node stops, and only started in the window
        "prepare": strategy == "blue_green" and src != dst and modes[dst] != "adopted" and not dst_at_target,
        "nodes": [dst], "remaining": [] if done else [dst],
        "sources": sources,
    }


def decide(nodes, components, supported, old_hosts, new_hosts, service_addresses,
           primary_units, release_index, target_index, strategy, endpoint_method):
    """{component: state} for the components to upgrade that have upgrade tasks, in order.

    ``nodes``: controller -> ``control_plane_node`` or None; ``old_hosts``/``new_hosts``:
    the selected region's controllers of each side (the old side first);
    ``service_addresses``: component -> service address; ``primary_units``: component ->
    the units whose command line names the release, in order of preference.
    """
    controllers = list(old_hosts) + list(new_hosts)
    out = {}
    for comp in components:
        if comp not in supported:
            continue
        address = service_addresses[comp] if comp in service_addresses else ""
        out[comp] = component_state(comp, address, controllers, list(old_hosts), list(new_hosts),
                                    nodes, primary_units[comp], release_index, target_index,
                                    strategy, endpoint_method)
    return out
