# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""What an upgrade does with a component on a host, decided from what discovery found there
(``stackhop.upgrade.service_discovery``'s result; no Ansible imports).

A host runs a component the way stackhop deployed it (``stackhop``: its own units from its
own venvs, its own config files, which the component role writes whole) or the way someone
else did (``adopted``: distribution packages, another deployer's venv, or a package that an
earlier hop moved onto a stackhop venv with a drop-in). An adopted component's files are
the operator's: the upgrade edits them option by option (``config_migrate``) and never
writes them whole, and its units keep their names, users and config paths (``venv_dropin``
points them at the target release's venv).
"""

from __future__ import annotations

import posixpath
import re

from ansible_collections.stackhop.upgrade.plugins.module_utils import components, release_model

# venv_dropin's drop-in: a unit that has it is a package moved onto a venv.
VENV_DROPIN = "stackhop-venv.conf"

MODES = ("stackhop", "adopted", "absent")

# Debian's sudoers secure_path, which a root helper run by sudo searches
SUDO_SECURE_PATH = "/usr/local/sbin,/usr/local/bin,/usr/sbin,/usr/bin,/sbin,/bin"


class AdoptionError(ValueError):
    """A host state the upgrade cannot take; the message names the host, unit and fix."""


def _present(discovered, component):
    return [s for s in (discovered or {}).get("services") or []
            if s.get("component") == component and s.get("state") != "absent"]


def moved_by_dropin(service):
    """Whether a unit runs from a venv through venv_dropin's drop-in (a package moved)."""
    return any(posixpath.basename(path) == VENV_DROPIN for path in service.get("drop_ins") or [])


def component_mode(discovered, component):
    """``stackhop``, ``adopted`` or ``absent``: how ``component`` is installed on the host.

    A unit moved onto a venv by venv_dropin stays adopted: its config files are still the
    package's, the operator's, and a second run must not write them whole."""
    present = _present(discovered, component)
    if not present:
        return "absent"
    if any(moved_by_dropin(s) or s.get("managed_by") != "stackhop" for s in present):
        return "adopted"
    return "stackhop"


def component_modes(discovered, components):
    """{component: mode} of the host for each of ``components``."""
    return dict((c, component_mode(discovered, c)) for c in components)


def unit_releases(discovered):
    """{unit name (no ``.service``): release} of every unit found, '' when its code's release
    is unknown: the releases control_plane_state reads, however the unit was installed."""
    out = {}
    for service in (discovered or {}).get("services") or []:
        if service.get("state") == "absent":
            continue
        unit = re.sub(r"\.service$", "", service.get("unit") or "")
        if unit:
            out[unit] = service.get("release") or ""
    return out


def units_at_release(discovered, units, release):
    """Whether every one of ``units`` runs (state running) the code of ``release``, however it
    was installed (stackhop's unit, or the package's unit moved by a drop-in): a compute whose
    nova-compute and OVS agent do is done, and a second run touches nothing on it."""
    wanted = [re.sub(r"\.service$", "", unit) for unit in units or []]
    found = {}
    for service in (discovered or {}).get("services") or []:
        found[re.sub(r"\.service$", "", service.get("unit") or "")] = service
    return bool(wanted) and all(
        (found.get(unit) or {}).get("state") == "running" and (found.get(unit) or {}).get("release") == release
        for unit in wanted)


def oslo_config_file(path):
    """Whether a config file is oslo.config's (not a paste or uwsgi ini)."""
    name = posixpath.basename(path)
    return name.endswith((".conf", ".ini")) and "paste" not in name and "uwsgi" not in name


def overrides_var(role, path):
    """The operator's override variable of a file: ``<role>_<file>_overrides``, the file's name
    with ``.`` and ``-`` as ``_`` (``nova_controller_nova_conf_overrides``,
    ``glance_glance_api_conf_overrides``, ``neutron_controller_ml2_conf_ini_overrides``)."""
    return "%s_%s_overrides" % (role, re.sub(r"[.-]", "_", posixpath.basename(path)))


def _python_of(service):
    env = service.get("python_env")
    return "/usr/bin/python3" if env in (None, "system") else "%s/bin/python" % env


def config_jobs(discovered, component, role, releases, venv_root):
    """The config_migrate calls of an adopted component on the host, one per oslo.config file
    its units read (every unit's, in the order found): ``{path, overrides_var, releases}``.

    ``releases``: the release numbers of the path, the region's current one first and the
    target last. The chain starts at the release the host's units run (an earlier run may
    have moved them already), read with the Python they run; each later release is read
    with its stackhop venv under ``venv_root``, so renames chain across every hop of a
    fast-forward. A release the path does not list is read first."""
    present = _present(discovered, component)
    if not present or not releases:
        return []
    running = [s for s in present if s.get("state") == "running"] or present
    current = running[0]
    releases = list(releases)
    if current.get("release") in releases:
        # a host part of the way (a second run, a resumed one): its files carry the earlier renames
        releases = releases[releases.index(current.get("release")):]
    else:
        releases.insert(0, current.get("release"))
    chain = [{"name": releases[0], "python": _python_of(current)}]
    chain += [{"name": number, "python": "%s/%s/bin/python" % (venv_root.rstrip("/"), number)}
              for number in releases[1:]]
    jobs, seen = [], set()
    for service in present:
        for path in service.get("config_files") or []:
            if path in seen or not oslo_config_file(path):
                continue
            seen.add(path)
            jobs.append({"path": path, "overrides_var": overrides_var(role, path), "releases": chain})
    return jobs


def unit_jobs(host, discovered, component, units, venv, recorded=None):
    """The venv_dropin calls of an adopted component on the host, among its ``units`` (the
    catalogue's units of the host's kind, e.g. nova's control-plane units, or nova-compute):
    ``{"move": [{unit, venv}], "left": [sentence]}``.

    ``recorded`` None: the units running now (whose package command line venv_dropin can
    record before the upgrade stops them). Else the units whose command line is recorded
    (``recorded``: their names), or that run through the drop-in already, or run now; a unit
    stopped with no record is left on its package's code, said in one sentence.

    A unit running another deployer's venv (openstack-ansible's) is refused: its command line
    names that venv's paths, which a drop-in pointing at stackhop's cannot keep."""
    wanted = set(units)
    out = {"move": [], "left": []}
    for service in _present(discovered, component):
        name = re.sub(r"\.service$", "", service.get("unit") or "")
        if name not in wanted:
            continue
        if service.get("install_method") == "venv" and service.get("managed_by") == "other" \
                and not moved_by_dropin(service):
            raise AdoptionError(
                "On %s, %s runs from %s, a virtualenv stackhop did not build; upgrade it with the "
                "tool that built it, or move it to a distribution package first."
                % (host, name, service.get("python_env")))
        running = service.get("state") == "running"
        if recorded is None:
            if running and not moved_by_dropin(service):
                out["move"].append({"unit": name, "venv": venv})
        elif running or moved_by_dropin(service) or name in recorded:
            out["move"].append({"unit": name, "venv": venv})
        else:
            out["left"].append("On %s, %s was stopped before the upgrade and stays on its package's code; "
                               "start it and run the upgrade again to move it." % (host, name))
    return out


FFU_WORKAROUND = ("workarounds", "disable_compute_service_check_for_ffu")


def nova_workaround(computes_too_old):
    """``[workarounds] disable_compute_service_check_for_ffu`` as config_migrate settings: true
    while a cell holds computes older than the target's nova accepts, else null (deleted).
    nova reads it only when a service starts, so taking it off needs no restart."""
    section, option = FFU_WORKAROUND
    return {section: {option: True if computes_too_old else None}}


def nova_computes_too_old(read, current, target):
    """Whether the target's nova services need the fast-forward workaround now: what nova's own
    code read (stackhop.upgrade.nova_compute_versions' result, ``too_old``) when it could read
    the cells; else (no result, or it failed: check mode before the target is staged) the
    release model's judgement of computes on ``current`` (quirk nova_too_old_compute)."""
    if isinstance(read, dict) and not read.get("failed") and not read.get("skipped") and "too_old" in read:
        return bool(read["too_old"])
    return release_model.computes_too_old(current, target)


def dropin_units(discovered, components):
    """The units of ``components`` on the host that run from a stackhop venv through
    venv_dropin's drop-in (names without ``.service``, in the order found): the packages'
    units an upgrade moved, which a rollback puts back on their package's code."""
    out = []
    for component in components or []:
        for service in _present(discovered, component):
            name = re.sub(r"\.service$", "", service.get("unit") or "")
            if name and moved_by_dropin(service) and name not in out:
                out.append(name)
    return out


def kept_paths(discovered, component, rootwrap_conf=None):
    """What the upgrade keeps of an adopted component on the host before it edits anything,
    for a rollback to put back: the configuration directory of each file its units read
    (``/etc/<dir>`` for a file below ``/etc``, else the file's own directory) and that of its
    rootwrap config, each once, sorted."""
    files = list(config_files(discovered, component))
    files += [rootwrap_conf] if rootwrap_conf else []
    out = set()
    for path in files:
        parts = posixpath.normpath(path).split("/")
        out.add("/".join(parts[:3]) if len(parts) > 3 and parts[1] == "etc" else posixpath.dirname(path))
    return sorted(out)


def release_python(release, method, venv_root):
    """The Python whose code is ``release`` on a host: its stackhop venv's (install method
    ``venv``), else the distribution's (``apt``, ``dnf``: the packages are the release)."""
    if method in ("apt", "dnf"):
        return "/usr/bin/python3"
    return "%s/%s/bin/python" % (str(venv_root).rstrip("/"), release)


def nova_reader(readings, candidates, release):
    """Where nova's service records are read and written from during a compute upgrade or
    rollback: ``{host, python}`` of the first of ``candidates`` (controllers, the new side
    first) whose conductor runs ``release`` (the control plane's, which serves the computes),
    else of the first whose conductor runs at all, else the first candidate with ``release``'s
    python unknown (''); ``{}`` without a candidate. ``readings`` is {host: that host's
    service_discovery result}: an inventory's new controller may run nothing (a control plane
    upgraded in place), and an adopted conductor moved onto a venv runs that venv's python."""
    records = components.component("nova")["service_records"]
    found = []
    for host in candidates or []:
        for service in (readings.get(host) or {}).get("services") or []:
            unit = re.sub(r"\.service$", "", service.get("unit") or "")
            if unit in records and service.get("state") == "running":
                found.append((host, service))
                break
    for host, service in found:
        if service.get("release") == release:
            return {"host": host, "python": _python_of(service)}
    if found:
        return {"host": found[0][0], "python": _python_of(found[0][1])}
    return {"host": candidates[0], "python": ""} if candidates else {}


def config_files(discovered, component):
    """The oslo.config files the units of ``component`` on the host read, each once, in the
    order found (paste and uwsgi files aside)."""
    out = []
    for service in _present(discovered, component):
        for path in service.get("config_files") or []:
            if path not in out and oslo_config_file(path):
                out.append(path)
    return out


def upgrade_settings(component, computes_too_old=False):
    """The settings the upgrade itself needs in an adopted component's files (config_migrate's
    ``settings``; a None value deletes the option).

    nova: ``[upgrade_levels] compute = auto`` (mid-upgrade the control plane of N+1 talks to
    computes of N, and the computes of N+1 to the rest still on N), and, while computes run
    a release older than the target's nova accepts, ``[workarounds]
    disable_compute_service_check_for_ffu`` (removed by the run after the computes moved)."""
    if component != "nova":
        return {}
    settings = {"upgrade_levels": {"compute": "auto"}}
    settings.update(nova_workaround(computes_too_old))
    return settings


def _rootwrap_default(text, option):
    """The value of ``[DEFAULT] option`` in an oslo.rootwrap config's text; None when unset."""
    found = None
    section = None
    for line in (text or "").splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
        elif section == "DEFAULT" and not stripped.startswith(("#", ";")) and "=" in stripped:
            key, value = stripped.split("=", 1)
            if key.strip() == option:
                found = value.strip()
    return found


def _venv_first(value, first, venv_root):
    """``value``'s comma separated directories without any under ``venv_root``, ``first``
    (unless None) before them."""
    root = venv_root.rstrip("/") + "/"
    dirs = [d.strip() for d in value.split(",") if d.strip() and not d.strip().startswith(root)]
    return ",".join(([first] if first else []) + dirs)


def rootwrap_exec_dirs(text, venv, venv_root):
    """The ``[DEFAULT] exec_dirs`` of an oslo.rootwrap config (its text) for units running
    from ``venv`` (None: back on the package's code): the venv's ``bin`` first, so the root
    helper runs the venv's ``privsep-helper`` (the privileged code of the release the unit
    runs, not the package's); the operator's directories after it, in their order, without
    any other of stackhop's venvs. Returns (old value, new value); old None when unset."""
    old = _rootwrap_default(text, "exec_dirs")
    # unset, oslo.rootwrap searches its PATH: under sudo, Debian's secure_path
    return old, _venv_first(old if old is not None else SUDO_SECURE_PATH,
                            venv.rstrip("/") + "/bin" if venv else None, venv_root)


def rootwrap_filters_path(text, venv, venv_root, component):
    """The ``[DEFAULT] filters_path`` of an oslo.rootwrap config (its text) for units running
    from ``venv`` (None: back on the package's code): the venv's own filters
    (``<venv>/etc/<component>/rootwrap.d``, root's like the whole venv) first, so the
    commands the release's code runs as root are allowed; the operator's directories after
    it, without any other of stackhop's venvs. Debian's zed neutron ships only the privsep
    filter, and 2024.1's DHCP agent runs dnsmasq through rootwrap: without the release's
    filters it is refused ("no filter matched"). Returns (old value, new value)."""
    old = _rootwrap_default(text, "filters_path")
    first = "%s/etc/%s/rootwrap.d" % (venv.rstrip("/"), component) if venv else None
    return old, _venv_first(old or "", first, venv_root)


def current_code(discovered, method, python, current=None):
    """How the code that runs on the host is installed, for reading its versions:
    ``{"method": venv | apt | dnf | package, "python": the venv's Python}``.

    The method is that of discovery's first component that runs the ``current`` release (a
    region half way through an upgrade runs both); else, when an adopted component was
    moved onto a venv, ``package``: its package, still installed, holds the current
    release's code (read from the host's package database); else that of the first
    component that runs. The Python is the configured one (the current release's stackhop
    venv, which every host keeps while a run is half way), or another deployer's venv that
    runs. A host discovery did not read, or one that runs nothing yet, gets ``method`` and
    ``python`` as configured."""
    components = (discovered or {}).get("components") or {}
    running = [(name, summary) for name, summary in components.items()
               if summary.get("state") == "ok" and summary.get("running") and summary.get("install_method")]
    if current:
        try:
            current = release_model.get_release(current)["number"]
        except release_model.ReleaseModelError:
            current = None
    now = [item for item in running if current and item[1].get("release") == current]
    if not now and any(any(moved_by_dropin(s) for s in _present(discovered, name)) for name, dummy in running):
        return {"method": "package", "python": python}
    for dummy, summary in now or running:
        env = summary.get("python_env")
        theirs = summary["install_method"] == "venv" and summary.get("managed_by") != "stackhop" and env
        return {"method": summary["install_method"], "python": "%s/bin/python" % env if theirs else python}
    return {"method": method, "python": python}
