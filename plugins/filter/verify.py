# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters of the verify role: compare the inventories saved before the upgrade with the
ones listed after, and summarise the log scan.

Each filter's documentation is in the YAML file of the same name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

# The fields that must not change across a control-plane upgrade, per inventory.
# Host-valued fields may change only as endpoint moves say (moved_hosts).
DEFAULT_FIELDS = {
    "servers": ["name", "status", "project_id", "compute_host", "availability_zone", "image",
                "flavor", "addresses"],
    "volumes": ["name", "status", "size", "volume_type", "is_bootable", "attachments",
                "project_id"],
    "ports": ["network_id", "mac_address", "fixed_ips", "device_id", "device_owner",
              "binding_host_id", "status"],
    "networks": ["name", "status", "provider_network_type", "provider_physical_network",
                 "provider_segmentation_id", "subnet_ids", "is_shared", "is_router_external",
                 "mtu", "project_id"],
    "agents": ["alive", "admin_state_up"],
}
HOST_FIELDS = ("compute_host", "binding_host_id", "host")
# Ports whose binding follows the agent that serves them: a blue-green move of the DHCP
# agent legitimately rebinds (or recreates) them.
DEFAULT_EXEMPT_OWNERS = ["network:dhcp"]


def _get(item, key, *aliases):
    for name in (key,) + aliases:
        if isinstance(item, dict) and name in item:
            return item[name]
    return None


def _norm(kind, field, item):
    """The comparable value of ``field`` in one inventory entry."""
    value = _get(item, field)
    if field == "image":
        value = value.get("id") if isinstance(value, dict) else value
        return value or _get(item, "image_id") or ""
    if field == "flavor":
        if isinstance(value, dict):
            return value.get("original_name") or value.get("name") or value.get("id")
        return value or _get(item, "flavor_id")
    if field == "addresses":
        out = []
        for net, addrs in sorted((value or {}).items()):
            for addr in addrs or []:
                out.append("%s=%s/%s" % (net, addr.get("addr"),
                                         addr.get("OS-EXT-IPS-MAC:mac_addr", "")))
        return sorted(out)
    if field == "attachments":
        return sorted(a.get("server_id", "") for a in value or [] if isinstance(a, dict))
    if field == "fixed_ips":
        return sorted(f.get("ip_address", "") for f in value or [] if isinstance(f, dict))
    if field == "subnet_ids":
        return sorted(value or [])
    if kind == "agents" and field == "alive":
        value = _get(item, "Alive", "is_alive", "alive")
        return value in (True, ":-)", "true", "True", "UP")
    if kind == "agents" and field == "admin_state_up":
        value = _get(item, "State", "is_admin_state_up", "admin_state_up")
        return value in (True, "UP", "true", "True")
    return value


def _agent_key(item, moved):
    agent_type = _get(item, "Agent Type", "agent_type")
    host = _get(item, "Host", "host")
    return "%s@%s" % (agent_type, moved.get(host, host))


def _label(kind, item):
    name = _get(item, "name", "Name")
    ident = _get(item, "id", "ID")
    return "%s %s" % (ident, name) if name else str(ident)


def inventory_diff(after, before, kind, moved_hosts=None, fields=None, exempt_owners=None,
                   allow_new=False):
    """Differences between the ``before`` and ``after`` lists of one inventory kind.

    Returns a list of short sentences, empty when every entry of ``before`` is still
    there with the same ``fields`` (and, unless ``allow_new``, nothing was added). A
    host-valued field may change from a key of ``moved_hosts`` to its value. Agents are
    keyed by type and host (a moved host's agents must reappear on its new host, alive
    if they were alive); new agents are always allowed.
    """
    if not isinstance(before, list) or not isinstance(after, list):
        raise AnsibleFilterError("inventory_diff expects two lists (after, before) of %s" % kind)
    moved = dict(moved_hosts or {})
    fields = list(fields or DEFAULT_FIELDS.get(kind, []))
    exempt = DEFAULT_EXEMPT_OWNERS if exempt_owners is None else list(exempt_owners)

    if kind == "agents":
        # an agent of a moved node must reappear on its new node (the old one stays, dead)
        def key(item, hosts):
            return _agent_key(item, hosts)
    else:
        def key(item, hosts):  # pylint: disable=unused-argument
            return _get(item, "id", "ID")

    def keep(item):
        return not (kind == "ports" and _get(item, "device_owner") in exempt)

    old = {key(i, moved): i for i in before if keep(i)}
    new = {key(i, {}): i for i in after if keep(i)}
    diffs = []
    missing = sorted(k for k in old if k not in new)
    if missing:
        diffs.append("%d %s missing (%s)" % (len(missing), kind, ", ".join(
            _label(kind, old[k]) if kind != "agents" else k for k in missing[:5])))
    extra = sorted(k for k in new if k not in old)
    if extra and not allow_new and kind != "agents":
        diffs.append("%d %s new (%s)" % (len(extra), kind, ", ".join(
            _label(kind, new[k]) for k in extra[:5])))
    changed = []
    for k in sorted(k for k in old if k in new):
        for field in fields:
            was, now = _norm(kind, field, old[k]), _norm(kind, field, new[k])
            if field in HOST_FIELDS and was in moved:
                was = moved[was]
            if kind == "agents" and field in ("alive", "admin_state_up") and not was:
                continue   # a dead or disabled agent may stay so or come back
            if was != now:
                changed.append("%s: %s %s -> %s" % (
                    k if kind == "agents" else _label(kind, old[k]), field,
                    _short(was), _short(now)))
    if changed:
        diffs.append("%d %s changed (%s%s)" % (
            len(changed), "fields of " + kind, "; ".join(changed[:5]),
            "; ..." if len(changed) > 5 else ""))
    return diffs


def _short(value):
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def log_scan_table(scans):
    """Markdown table of the log scan, one row per host and service with findings."""
    rows = []
    for host in sorted(scans or {}):
        services = (scans[host] or {}).get("services", {})
        for service in sorted(services):
            s = services[service]
            rows.append("| %s | %s | %d | %d | %d | %d | %s |" % (
                host, service, s.get("deprecations", 0), s.get("errors", 0), s.get("critical", 0),
                s.get("tracebacks", 0), (s.get("examples") or [""])[0][:100].replace("|", "/")))
    head = ["| host | service | deprecations | errors | critical | tracebacks | first finding |",
            "|---|---|---:|---:|---:|---:|---|"]
    return "\n".join(head + (rows or ["| - | - | 0 | 0 | 0 | 0 | no service log found |"]))


def log_scan_hits(scans, kinds):
    """For each kind of ``kinds`` found in the scan: 'N <kind> (host/service, ...)'."""
    hits = []
    for kind in kinds or []:
        where, total = [], 0
        for host in sorted(scans or {}):
            for service, counts in sorted(((scans[host] or {}).get("services") or {}).items()):
                count = int(counts.get(kind, 0) or 0)
                if count:
                    total += count
                    where.append("%s/%s" % (host, service))
        if total:
            hits.append("%d %s (%s)" % (total, kind, ", ".join(where)))
    return hits


def verify_row(check):
    """One smoke check as a Markdown table row."""
    detail = str(check.get("detail", "")).replace("|", "/").replace("\n", " ")
    return "| %s | %s | %s | %s | %s |" % (check.get("component"), check.get("check"),
                                           check.get("status"), check.get("seconds"),
                                           detail if len(detail) <= 200 else detail[:197] + "...")


class FilterModule(object):
    def filters(self):
        return {"inventory_diff": inventory_diff, "log_scan_table": log_scan_table,
                "log_scan_hits": log_scan_hits, "verify_row": verify_row}
