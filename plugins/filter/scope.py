# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters stackhop.upgrade.scope_select and stackhop.upgrade.in_scope: which hosts of the
inventory one run touches (one region, or one AZ of it). Docs in the .yml files.

Rules (docs/inventory.md, "Selecting a region or an AZ"):
- a host's region is its own ``stackhop_region``, a compute's AZ its own ``stackhop_az``
  (default ``nova``); selecting never overwrites them;
- a host without ``stackhop_region`` (e.g. a keystone shared by regions) belongs to no
  region: it is in scope only when no host of the inventory has a region;
- an AZ selects computes: the region's other hosts (controllers, db, network) stay in
  scope, and a playbook that acts on the whole region (``whole_region``) refuses it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

# What the scope play sets stackhop_region / stackhop_az / stackhop_aggregate to as play
# vars: only an extra var (-e) outranks a play var, so any other value came from -e.
SENTINEL = "__stackhop_scope_not_from_extra_vars__"
LAYOUT_HINTS = {
    "stackhop_region": ("region", "select a region with -e stackhop_select_region=%s"),
    "stackhop_az": ("availability zone", "select an AZ with -e stackhop_select_az=%s"),
    "stackhop_aggregate": ("aggregate", "select its hosts with --limit <region>_<az>_%s"),
}
SCOPE_GROUP = "stackhop_scope"
COMPUTE_GROUP = "stackhop_computes"
DEFAULT_AZ = "nova"


def _hostvar(hostvars, host, name):
    try:
        value = hostvars[host].get(name)
    except (KeyError, AttributeError, TypeError):
        return None
    if value is None or not isinstance(value, str) or value == "":
        return None
    return str(value)


def _refuse_layout_overrides(layout_vars):
    for name in sorted(layout_vars or {}):
        value = layout_vars[name]
        if value is None or str(value) == SENTINEL:
            continue
        what, hint = LAYOUT_HINTS.get(name, ("layout", "select hosts with --limit (%s)"))
        raise AnsibleFilterError(
            "-e %s overrides every host's own %s; %s." % (name, what, hint % value))


def scope_select(groups, hostvars, region=None, az=None, limit=None, whole_region="",
                 layout_vars=None, on_error="raise"):
    """The hosts one run touches: {region, az, hosts, regions, azs}.

    A refusal raises its one sentence, or with ``on_error='return'`` comes back as
    {'error': sentence} (so a play can fail with exactly that sentence).
    """
    try:
        return _select(groups, hostvars, region, az, limit, whole_region, layout_vars)
    except AnsibleFilterError as exc:
        if on_error == "return":
            return {"error": str(exc)}
        raise


def _select(groups, hostvars, region, az, limit, whole_region, layout_vars):
    """scope_select's body.

    ``groups``/``hostvars``: the magic variables; ``region``/``az``: the selectors (empty
    = none); ``limit``: the hosts --limit leaves (ansible_play_hosts_all of a play on
    ``all``), used to find the region when none is selected; ``whole_region``: the name of
    a playbook that acts on the whole region (it refuses an AZ selector);
    ``layout_vars``: the values the scope play sees for the layout variables (anything
    but the sentinel came from -e and is refused).
    """
    if not isinstance(groups, dict) or "all" not in groups:
        raise AnsibleFilterError("scope_select expects the groups magic variable, got %s"
                                 % type(groups).__name__)
    _refuse_layout_overrides(layout_vars)
    region = str(region) if region not in (None, "") else None
    az = str(az) if az not in (None, "") else None

    every = list(groups.get("all") or [])
    region_of = dict((h, _hostvar(hostvars, h, "stackhop_region")) for h in every)
    regions = sorted(set(r for r in region_of.values() if r))
    computes = set(groups.get(COMPUTE_GROUP) or [])

    if region is not None and not regions:
        raise AnsibleFilterError(
            "Region %s is not in the inventory: no host sets stackhop_region, so drop"
            " -e stackhop_select_region." % region)
    if region is not None and region not in regions:
        raise AnsibleFilterError(
            "Region %s is not in the inventory: use one of %s (the stackhop_region values)."
            % (region, ", ".join(regions)))
    # hosts of --limit that have a region (a limit to controller-side hosts narrows nothing)
    limited = [h for h in (limit or []) if region_of.get(h)]
    if region is None and regions:
        candidates = sorted(set(region_of[h] for h in limited)) if limited else regions
        if len(candidates) != 1:
            where = "The hosts of --limit are in" if limited else "The inventory has"
            raise AnsibleFilterError(
                "%s %d regions (%s): choose one with -e stackhop_select_region=NAME."
                % (where, len(candidates), ", ".join(candidates)))
        region = candidates[0]

    in_region = [h for h in every if region is None or region_of[h] == region]
    azs = sorted(set(_hostvar(hostvars, h, "stackhop_az") or DEFAULT_AZ
                     for h in in_region if h in computes))
    label = ("region %s" % region) if region else "the inventory"
    if az is not None:
        if whole_region:
            raise AnsibleFilterError(
                "%s acts on %s as a whole: drop -e stackhop_select_az=%s (an AZ selects computes,"
                " for upgrade_computes.yml, preflight.yml, stage_release.yml, verify.yml or plan.yml)."
                % (whole_region, label, az))
        if az not in azs:
            raise AnsibleFilterError(
                "No compute of %s is in AZ %s: use one of %s (the stackhop_az values)."
                % (label, az, ", ".join(azs) or "none: it has no compute"))
    hosts = [h for h in in_region
             if az is None or h not in computes or (_hostvar(hostvars, h, "stackhop_az") or DEFAULT_AZ) == az]
    if limited and not set(limited) & set(hosts):
        raise AnsibleFilterError(
            "--limit leaves no host of %s%s: limit to its hosts or select its region."
            % (label, (" AZ %s" % az) if az else ""))
    return {"region": region, "az": az, "hosts": hosts, "regions": regions, "azs": azs}


def in_scope(hosts, groups, group=SCOPE_GROUP):
    """The hosts (in their order) that are in the scope group; all of them when the run
    has no scope group (a role used outside the stackhop playbooks)."""
    hosts = list(hosts or [])
    if not isinstance(groups, dict) or group not in groups:
        return hosts
    members = set(groups[group] or [])
    return [h for h in hosts if h in members]


def control_endpoints(groups, hostvars, service_addresses=None, rabbitmq_address=None, neutron_port=9696):
    """What a compute's OVS agent must reach, in the run's region: neutron-server at its
    service address (``service_addresses.neutron``), else at each controller; RabbitMQ at
    ``rabbitmq_address``, else at each host of stackhop_rabbitmq. ``[{name, host, port}]``."""
    groups = groups if isinstance(groups, dict) else {}

    def addresses(group):
        out = []
        for host in in_scope(groups.get(group) or [], groups):
            found = hostvars[host].get("ansible_host") if host in hostvars else None
            out.append(str(found) if found else host)
        return out

    neutron = (service_addresses or {}).get("neutron") if isinstance(service_addresses, dict) else None
    endpoints = [{"name": "neutron-server", "host": str(h), "port": int(neutron_port)}
                 for h in ([neutron] if neutron else addresses("stackhop_controllers"))]
    endpoints += [{"name": "rabbitmq", "host": str(h), "port": 5672}
                  for h in ([rabbitmq_address] if rabbitmq_address else addresses("stackhop_rabbitmq"))]
    return endpoints


class FilterModule:
    """stackhop scope filters."""

    def filters(self):
        return {"scope_select": scope_select, "in_scope": in_scope, "control_endpoints": control_endpoints}
