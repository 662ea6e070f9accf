# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters of the preflight role: version drift across hosts, its rows, and the summary table.

Each filter's documentation is in the YAML file of the same name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.stackhop.upgrade.plugins.module_utils.adoption import oslo_config_file
from ansible_collections.stackhop.upgrade.plugins.module_utils import components as catalogue

STATUS_ORDER = {"failure": 0, "warning": 1, "acknowledged": 2, "ok": 3, "skipped": 4}


def version_drift(versions_by_host, packages=None):
    """Packages whose version differs between hosts.

    ``versions_by_host``: {host: {package: version}}. A package missing on some hosts
    counts as the version ``absent``. Returns [{package, versions: {version: [hosts]}}].
    """
    if not isinstance(versions_by_host, dict):
        raise AnsibleFilterError("version_drift expects a dict of host -> {package: version}.")
    names = set(packages or [])
    if not packages:
        for pkgs in versions_by_host.values():
            names.update((pkgs or {}).keys())
    drift = []
    for name in sorted(names):
        seen = {}
        for host in sorted(versions_by_host):
            version = (versions_by_host[host] or {}).get(name, "absent")
            seen.setdefault(str(version), []).append(host)
        if len(seen) > 1 and set(seen) != {"absent"}:
            drift.append({"package": name, "versions": seen})
    return drift


def version_consistency_rows(role_groups, groups, versions_by_host, no_code_hosts=None, packages=None):
    """The rows of check version_consistency: per role group (in ``role_groups`` order),
    a failure per package at more than one version among its hosts, else one ok row.

    ``groups``: the inventory's groups; ``versions_by_host``: {host: {package: version}} of
    the hosts that ran the check (the others are not compared); ``no_code_hosts``: new
    controllers without the release's code yet, left out (a list, or {host: flag})."""
    if not isinstance(versions_by_host, dict):
        raise AnsibleFilterError("version_consistency_rows expects a dict of host -> {package: version}.")
    if isinstance(no_code_hosts, dict):
        no_code_hosts = [h for h, flag in no_code_hosts.items() if boolean(flag, strict=False)]
    skip = set(no_code_hosts or [])
    rows = []
    for group in role_groups or []:
        members = [h for h in (groups or {}).get(group, []) if h in versions_by_host and h not in skip]
        if not members:
            continue
        drift = version_drift(dict((h, versions_by_host[h] or {}) for h in members), packages)
        for item in drift:
            where = "; ".join("%s on %s" % (version, ", ".join(hosts))
                              for version, hosts in item["versions"].items())
            rows.append({"check": "version_consistency", "host": group, "target": item["package"],
                         "status": "failure",
                         "message": "%s differs across %s: %s; bring every host of the role to one "
                                    "version before the window" % (item["package"], group, where)})
        if not drift:
            rows.append({"check": "version_consistency", "host": group, "target": "", "status": "ok",
                         "message": "same versions on %d host%s" % (len(members), "" if len(members) == 1 else "s")})
    return rows


def config_option_jobs(discovered, target_release, target_python, target_python_exists=True, staged=None,
                       venv_root=None):
    """The config_migrate calls (check mode) of one host: per component that runs (a unit
    running) a release other than the target, its oslo.config files (every unit's, as discovery found them)
    with the current code's Python, each staged release of the path between, and the target's.

    ``discovered``: the host's service_discovery result; ``target_python``: the target
    release's Python on this host (``target_python_exists``: whether it is there);
    ``staged``: the path's releases, in order, whose venv is under ``venv_root`` on the host
    (a fast-forward's hops: their renames and removed list items are each hop's own)."""
    if not isinstance(discovered, dict):
        raise AnsibleFilterError("config_option_jobs expects a service_discovery result (a dict).")
    jobs = []
    for name, comp in (discovered.get("components") or {}).items():
        # a component whose units are all stopped (the old side after a blue-green switch)
        # reads no file; the target release's own files are the new node's
        if comp.get("state") != "ok" or comp.get("release") == target_release or not comp.get("running"):
            continue
        # a unit that runs another component's code reads that one's options (the
        # catalogue's code_of_units: ironic's nova-compute-ironic is nova-compute)
        code_of = (catalogue.CATALOGUE.get(name) or {}).get("code_of_units") or {}
        by_code = {}
        for service in discovered.get("services") or []:
            if service.get("component") == name and service.get("state") != "absent":
                unit = str(service.get("unit") or "")
                unit = unit[:-len(".service")] if unit.endswith(".service") else unit
                paths = by_code.setdefault(code_of.get(unit, name), [])
                paths += [f for f in service.get("config_files") or [] if oslo_config_file(f) and f not in paths]
        env = comp.get("python_env")
        current = "/usr/bin/python3" if env == "system" else "%s/bin/python" % env
        between = [str(r) for r in staged or []] if venv_root else []
        if comp["release"] in between:
            between = between[between.index(comp["release"]) + 1:]
        between = [{"name": r, "python": "%s/%s/bin/python" % (str(venv_root).rstrip("/"), r)}
                   for r in between if r != target_release]
        for code, paths in by_code.items():
            if paths:
                jobs.append({"component": code, "paths": paths, "target_code": bool(target_python_exists),
                             "releases": [{"name": comp["release"], "python": current}] + between
                             + [{"name": target_release, "python": target_python}]})
    return jobs


def config_option_rows(host, results):
    """The rows of check config_options of one host from its config_migrate results (the
    loop's registered ``results``, each with its ``item``, a job of config_option_jobs).

    A warning (acknowledged as ``config_options``) per option the target release no longer
    declares, naming the release that removed it; a failure when the migration could not
    be planned; else an ok row per component with the renames the upgrade applies."""
    rows = []

    def row(status, target, message, ack=None):
        item = {"check": "config_options", "host": host, "target": target, "status": status,
                "message": message}
        if ack:
            item["ack"] = ack
        rows.append(item)

    for result in results or []:
        job = result.get("item") or {}
        name = job.get("component", "")
        if result.get("skipped") or not job.get("target_code", True):
            row("skipped", name, "%s: the target release's code is not on %s yet; its config files are "
                                 "checked once it is staged" % (name, host))
            continue
        if result.get("failed") or "files" not in result:
            row("failure", name, "%s: its config files could not be checked against %s (%s)" % (
                name, job.get("releases", [{}, {}])[-1].get("name"), (result.get("msg") or "no message").rstrip(".")))
            continue
        renames = []
        for item in result["files"]:
            for unknown in item.get("unknown") or []:
                row("warning", name, "%s: %s; remove it, or acknowledge config_options if the "
                                     "service may ignore it" % (item["path"], unknown.get("message", "").rstrip(".")),
                    "config_options")
            renames += ["%s: %s -> %s" % (item["path"].rsplit("/", 1)[-1], r.get("from"), r.get("to"))
                        for r in item.get("renamed") or []]
        row("ok", name, "%s: %d file(s) checked against %s; %s" % (
            name, len(result["files"]), result.get("target"),
            "the upgrade renames " + "; ".join(renames) if renames else "nothing to rename"))
    return rows


def preflight_table(results):
    """The summary table (one string) of preflight results, failures first."""
    def order(row):
        return (STATUS_ORDER.get(row.get("status"), 9), row.get("check", ""),
                row.get("host", ""))

    rows = sorted(results or [], key=order)
    head = ("STATUS", "CHECK", "HOST", "DETAIL")
    data = [(r.get("status", "?").upper(), r.get("check", "?"), r.get("host", "?"),
             r.get("message", "")) for r in rows]
    widths = [max([len(head[i])] + [len(d[i]) for d in data]) for i in range(3)]
    line = "%-{0}s  %-{1}s  %-{2}s  %s".format(*widths)
    out = [line % head, line % (tuple("-" * w for w in widths) + ("-" * 6,))]
    out.extend(line % d for d in data)
    counts = {}
    for r in rows:
        counts[r.get("status")] = counts.get(r.get("status"), 0) + 1
    out.append("")
    out.append(", ".join("%d %s" % (counts[s], s) for s in sorted(
        counts, key=lambda s: STATUS_ORDER.get(s, 9))) or "no checks ran")
    return "\n".join(out)


def upgrade_check_commands(components, bin_dir, config_files=None, json_services=None):
    """[{service, command, json_output}] running ``<service>-status upgrade check`` from
    ``bin_dir``; ``json_output`` for the services in ``json_services`` (those whose
    command is oslo.upgradecheck's, which prints per-check JSON with --json)."""
    checks = []
    for comp in components or []:
        argv = ["%s/%s-status" % (str(bin_dir).rstrip("/"), comp)]
        for conf in (config_files or {}).get(comp, []):
            argv += ["--config-file", conf]
        checks.append({"service": comp, "command": argv + ["upgrade", "check"],
                       "json_output": comp in (json_services or [])})
    return checks


class FilterModule(object):
    def filters(self):
        return {"version_drift": version_drift, "preflight_table": preflight_table,
                "upgrade_check_commands": upgrade_check_commands,
                "version_consistency_rows": version_consistency_rows,
                "config_option_jobs": config_option_jobs, "config_option_rows": config_option_rows}
