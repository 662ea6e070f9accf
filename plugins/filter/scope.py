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
  scope, and a playbook that acts on the whole region (``whole_region``) refuses it;
- a keystone shared by several regions (HULK: group ``stackhop_keystone``, its hosts in no
  region) is left out of every region's components, and upgrade_keystone.yml selects it as
  a tier of its own (``tier='keystone'``): its hosts act as the run's controllers, its
  database server (``stackhop_keystone_db``, else its first host) as the run's database,
  its load balancers (``stackhop_keystone_lb``) as the run's.
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
KEYSTONE_GROUP = "stackhop_keystone"
# the keystone tier's groups, and the role groups its hosts take in a run of the tier
KEYSTONE_TIER_GROUPS = (("stackhop_keystone", "stackhop_controllers"),
                        ("stackhop_keystone_db", "stackhop_db"),
                        ("stackhop_keystone_lb", "stackhop_lb"))
KEYSTONE_STRATEGIES = ("in_place", "rolling")


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
                 layout_vars=None, on_error="raise", tier="", keystone_strategy=""):
    """The hosts one run touches: {region, az, hosts, regions, azs, tier, shared, role_groups,
    settings}.

    ``shared``: the components the selected region uses from outside it (its hosts leave
    them out of their stackhop_components); ``tier='keystone'`` selects the shared keystone
    instead of a region, with ``role_groups`` (role group -> the tier's hosts that take it
    for the run) and ``settings`` (the variables its hosts take for the run).
    A refusal raises its one sentence, or with ``on_error='return'`` comes back as
    {'error': sentence} (so a play can fail with exactly that sentence).
    """
    try:
        if tier:
            _refuse_layout_overrides(layout_vars)
            return _select_keystone_tier(groups, hostvars, tier, region, az, keystone_strategy)
        selected = _select(groups, hostvars, region, az, limit, whole_region, layout_vars)
        keystone = list(groups.get(KEYSTONE_GROUP) or [])
        shared = ["keystone"] if keystone and not set(keystone) & set(selected["hosts"]) else []
        selected.update({"tier": "", "shared": shared, "role_groups": {}, "settings": {}})
        return selected
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


def _select_keystone_tier(groups, hostvars, tier, region, az, strategy):
    """scope_select of the keystone that several regions share (upgrade_keystone.yml)."""
    if tier != "keystone":
        raise AnsibleFilterError("There is no tier %s to select: the one tier outside the regions is keystone." % tier)
    if region not in (None, "") or az not in (None, ""):
        raise AnsibleFilterError(
            "The shared keystone is in no region: drop -e stackhop_select_region and -e stackhop_select_az"
            " (upgrade_region.yml upgrades a region, and leaves its shared keystone alone).")
    keystone = list(groups.get(KEYSTONE_GROUP) or [])
    if not keystone:
        raise AnsibleFilterError(
            "The inventory has no host in stackhop_keystone: a keystone no other region shares is"
            " upgraded with its region by upgrade_region.yml.")
    in_region = [h for h in keystone if _hostvar(hostvars, h, "stackhop_region")]
    if in_region:
        raise AnsibleFilterError(
            "%s of stackhop_keystone is in region %s: a keystone that regions share belongs to none,"
            " so remove its stackhop_region (or upgrade it with that region)."
            % (in_region[0], _hostvar(hostvars, in_region[0], "stackhop_region")))
    role_groups = {}
    for tier_group, role_group in KEYSTONE_TIER_GROUPS:
        role_groups[role_group] = list(groups.get(tier_group) or [])
    role_groups["stackhop_db"] = role_groups["stackhop_db"] or keystone[:1]
    strategy = str(strategy or "")
    if not strategy:
        strategy = "rolling" if len(keystone) > 1 and role_groups["stackhop_lb"] else "in_place"
    if strategy not in KEYSTONE_STRATEGIES:
        raise AnsibleFilterError(
            "The shared keystone is upgraded in place or rolling, not %s: set stackhop_keystone_strategy"
            " to in_place or rolling." % strategy)
    if strategy == "rolling" and not (len(keystone) > 1 and role_groups["stackhop_lb"]):
        raise AnsibleFilterError(
            "A rolling upgrade of the shared keystone needs two hosts or more in stackhop_keystone and"
            " their load balancer in stackhop_keystone_lb: add them, or set stackhop_keystone_strategy"
            " to in_place.")
    hosts = []
    for members in role_groups.values():
        hosts += [h for h in members if h not in hosts]
    regions = sorted(set(r for r in (_hostvar(hostvars, h, "stackhop_region") for h in groups.get("all") or []) if r))
    return {"region": None, "az": None, "hosts": hosts, "regions": regions, "azs": [], "tier": "keystone",
            "shared": [], "role_groups": role_groups,
            "settings": {"stackhop_components": ["keystone"], "stackhop_control_plane_strategy": strategy}}


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
