# Copyright (c) stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters stackhop.upgrade.upgrade_progress and stackhop.upgrade.az_hosts (docs in the .yml files)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.plugin_utils import upgrade_report as model


def upgrade_progress(az_hosts_map, done=None, rehearsal=None):
    """Per AZ hosts done/total and the time left estimated from a rehearsal report.json."""
    if not isinstance(az_hosts_map, dict):
        raise AnsibleFilterError("upgrade_progress expects a dict {az: [hosts]} (use the az_hosts "
                                 "filter), got %s" % type(az_hosts_map).__name__)
    if rehearsal is not None and not isinstance(rehearsal, dict):
        raise AnsibleFilterError("upgrade_progress: rehearsal must be a report.json document "
                                 "(lookup('file', path) | from_json), got %s" % type(rehearsal).__name__)
    result = model.progress({str(k): list(v) for k, v in az_hosts_map.items()}, list(done or []),
                            rehearsal or None)
    for az, entry in result.items():
        if az != "_all":
            entry["line"] = model.progress_line(az, entry)
    return result


def az_hosts(hosts, hostvars, az_var="stackhop_az"):
    """{az: [hosts]} from a list of hosts and hostvars (hosts without the variable go under '-')."""
    grouped = {}
    for host in hosts or []:
        try:
            az = hostvars[host].get(az_var)
        except (KeyError, AttributeError, TypeError):
            az = None
        grouped.setdefault(str(az) if az else "-", []).append(host)
    return grouped


class FilterModule:
    """stackhop upgrade progress filters."""

    def filters(self):
        return {"upgrade_progress": upgrade_progress, "az_hosts": az_hosts}
