# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters of a host's stackhop.upgrade.service_discovery result for the upgrade: how each
component is installed (stackhop's or adopted), the release each unit runs, and an adopted
component's config_migrate and venv_dropin calls (module_utils/adoption.py decides).

Each filter's documentation is in the YAML file of the same name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.module_utils import adoption


def _discovered(value, name):
    if not isinstance(value, dict):
        raise AnsibleFilterError("%s expects a service_discovery result (a dict), got %s"
                                 % (name, type(value).__name__))
    return value


def adoption_modes(discovered, components):
    return adoption.component_modes(_discovered(discovered, "adoption_modes"), list(components or []))


def discovered_unit_releases(discovered):
    return adoption.unit_releases(_discovered(discovered, "discovered_unit_releases"))


def discovered_units_at_release(discovered, units, release):
    return adoption.units_at_release(_discovered(discovered, "discovered_units_at_release"), list(units or []),
                                     str(release))


def adopted_config_jobs(discovered, component, role, releases, venv_root):
    return adoption.config_jobs(_discovered(discovered, "adopted_config_jobs"), str(component), str(role),
                                [str(r) for r in releases or []], str(venv_root))


def adopted_unit_jobs(discovered, host, component, units, venv, recorded=None):
    try:
        return adoption.unit_jobs(str(host), _discovered(discovered, "adopted_unit_jobs"), str(component),
                                  list(units or []), str(venv), None if recorded is None else list(recorded))
    except adoption.AdoptionError as exc:
        raise AnsibleFilterError(str(exc))


def adopted_settings(component, computes_too_old=False):
    return adoption.upgrade_settings(str(component), bool(computes_too_old))


def nova_workaround(computes_too_old):
    return adoption.nova_workaround(bool(computes_too_old))


def nova_computes_too_old(read, current, target):
    try:
        return adoption.nova_computes_too_old(read, str(current), str(target))
    except ValueError as exc:  # an unknown release
        raise AnsibleFilterError(str(exc))


def dropin_units(discovered, components):
    return adoption.dropin_units(_discovered(discovered, "dropin_units"), list(components or []))


def adopted_kept_paths(discovered, component, rootwrap_conf=None):
    return adoption.kept_paths(_discovered(discovered, "adopted_kept_paths"), str(component),
                               str(rootwrap_conf) if rootwrap_conf else None)


def release_python(release, method, venv_root):
    return adoption.release_python(str(release), str(method or "venv"), str(venv_root))


def nova_reader(hostvars, candidates, release, key="stackhop_nova_units"):
    readings = {}
    for host in candidates or []:
        value = (hostvars.get(host) or {}).get(key)
        readings[str(host)] = value if isinstance(value, dict) else {}
    return adoption.nova_reader(readings, [str(h) for h in candidates or []], str(release))


def discovered_config_files(discovered, component):
    return adoption.config_files(_discovered(discovered, "discovered_config_files"), str(component))


def rootwrap_exec_dirs(text, venv, venv_root):
    return adoption.rootwrap_exec_dirs(str(text or ""), str(venv) if venv else None, str(venv_root))[1]


def rootwrap_filters_path(text, venv, venv_root, component):
    return adoption.rootwrap_filters_path(str(text or ""), str(venv) if venv else None, str(venv_root),
                                          str(component))[1]


def discovered_current_code(discovered, method, python, current=None):
    return adoption.current_code(discovered if isinstance(discovered, dict) else {}, str(method), str(python),
                                 str(current) if current else None)


class FilterModule(object):
    def filters(self):
        return {"adoption_modes": adoption_modes, "discovered_unit_releases": discovered_unit_releases,
                "discovered_units_at_release": discovered_units_at_release,
                "adopted_config_jobs": adopted_config_jobs, "adopted_unit_jobs": adopted_unit_jobs, "adopted_settings": adopted_settings,
                "nova_workaround": nova_workaround, "nova_computes_too_old": nova_computes_too_old,
                "discovered_config_files": discovered_config_files, "release_python": release_python,
                "dropin_units": dropin_units, "adopted_kept_paths": adopted_kept_paths,
                "rootwrap_exec_dirs": rootwrap_exec_dirs, "rootwrap_filters_path": rootwrap_filters_path,
                "discovered_current_code": discovered_current_code, "nova_reader": nova_reader}
