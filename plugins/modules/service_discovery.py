#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: service_discovery
short_description: Find what OpenStack runs on a host, however it was installed
version_added: 0.1.0
description:
  - For every systemd unit of the components in the catalogue (and O(extra_units)), reads
    what runs, the way a cloud that stackhop did not deploy has it - the unit's process
    (a Debian init-script wrapper is followed to the service it starts), the Python
    environment and the distribution of the component's code there, hence its version
    and release, the install method (V(venv) at any path, V(apt) or V(dnf) from the
    package database), the user and group the process runs as, the configuration files
    it reads as oslo.config finds them (C(--config-file), C(--config-dir), a WSGI
    application's C(OS_<SERVICE>_CONFIG_DIR), oslo.config's default search) and its log
    file.
  - Reads only; never changes the host. Of a process environment it keeps only C(HOME) and
    the C(OS_<SERVICE>_CONFIG_DIR)/C(_FILES) variables; the value of a password-like
    option on a command line is masked.
  - Reports each component's state on the host - V(ok), V(mixed) (units of different
    releases or installations), V(unknown) (code stackhop cannot tell) or V(absent) - and
    one sentence per problem in RV(problems), naming the host, the unit and what was
    found. It does not fail on them; the pre-flight decides.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  components:
    description: The components to look for, by catalogue name; default every one.
    type: list
    elements: str
  extra_units:
    description:
      - "Units that run a component under a name the catalogue does not know, per component,
        for example V({keystone: [apache2]}) or V({nova: [openstack-nova-api]})."
    type: dict
    default: {}
  venv_root:
    description: Where stackhop's own virtualenvs are; a service in a venv below it is V(managed_by=stackhop).
    type: path
    default: /opt/stackhop/venvs
attributes:
  check_mode:
    support: full
    details: Reads the same in check mode; never changed.
  diff_mode:
    support: none
notes:
  - Needs systemd. Containers (kolla-ansible) are not looked into; their units are reported
    with the program they run (C(docker) or C(podman)) and state V(unknown).
"""

EXAMPLES = r"""
- name: Find what runs on the controllers
  stackhop.upgrade.service_discovery:
  register: discovered

- name: A keystone that Apache serves
  stackhop.upgrade.service_discovery:
    components: [keystone]
    extra_units: {keystone: [apache2]}
"""

RETURN = r"""
services:
  description:
    - One record per unit found (C(state) V(running) or V(stopped)) or looked for (V(absent)) -
      C(unit), C(component), C(state), C(pid), C(argv), C(program), C(user), C(group),
      C(python_env) (a venv path or V(system)), C(distribution) (the code's metadata path),
      C(version), C(release) and C(codename), C(install_method), C(managed_by), C(packages)
      ({name - version}), C(unit_file), C(drop_ins), C(config_files), C(config_dirs),
      C(config_missing), C(config_source), C(log_file), C(log_dir), C(log_path) (None - the
      journal).
  returned: always
  type: list
  elements: dict
components:
  description:
    - Per component - C(state), C(units), C(running), C(release), C(install_method),
      C(python_env), C(managed_by), C(user), C(group), C(packages).
  returned: always
  type: dict
problems:
  description: One sentence per unknown or mixed component, naming the host, the unit and what was found.
  returned: always
  type: list
  elements: str
executed_commands:
  description: The commands run (systemctl, dpkg-query or rpm).
  returned: always
  type: list
  elements: str
"""

import socket

from ansible_collections.stackhop.upgrade.plugins.module_utils import components as catalogue
from ansible_collections.stackhop.upgrade.plugins.module_utils import discovery
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


class ServiceDiscovery(StackhopModule):
    argument_spec = dict(
        components=dict(type="list", elements="str"),
        extra_units=dict(type="dict", default={}),
        venv_root=dict(type="path", default="/opt/stackhop/venvs"),
    )

    def run(self):
        wanted = self.params["components"] or catalogue.names()
        try:
            for name in list(wanted) + list(self.params["extra_units"]):
                catalogue.component(name)
        except catalogue.UnknownComponent as exc:
            raise StackhopError(str(exc))
        units = discovery.units_wanted(wanted, self.params["extra_units"])
        systemctl = self.get_bin_path("systemctl", "discovery reads systemd units; run it on a systemd host")
        rc, out, err = self.run_command(
            [systemctl, "show", "--no-pager", "--property=" + ",".join(discovery.PROPERTIES), "--"]
            + [u for u, dummy in units], check_rc=False)
        if rc != 0:
            detail = ((err or out).strip().splitlines() or ["exit %d" % rc])[-1]
            raise StackhopError("systemctl show failed on %s (%s): discovery reads systemd's units, so run "
                                "it on a host booted with systemd." % (socket.gethostname(), detail))
        shown = discovery.parse_systemctl_show(out)
        files = discovery.HostFiles("/")
        passwd, groups = files.read("/etc/passwd"), files.read("/etc/group")
        services = [discovery.describe_unit(files, unit, component, shown.get(unit, {}),
                                            self.params["venv_root"], passwd, groups)
                    for unit, component in units]
        self._packages(services)
        components, problems = discovery.summarise(socket.gethostname(), services)
        return {"services": services, "components": components, "problems": problems}

    def _packages(self, services):
        """Ask the package database who owns the code of the services outside a venv."""
        paths = discovery.package_paths(services)
        if not paths:
            return
        dpkg = self.ansible.get_bin_path("dpkg-query")
        rpm = self.ansible.get_bin_path("rpm")
        if dpkg:
            dummy, out, dummy = self.run_command([dpkg, "-S", "--"] + paths, check_rc=False)
            owner = discovery.parse_dpkg_search(out)
            names = sorted(set(owner.values()))
            versions = {}
            if names:
                dummy, out, dummy = self.run_command(
                    [dpkg, "-W", "-f", "${binary:Package}\\t${Version}\\n", "--"] + names, check_rc=False)
                versions = discovery.parse_dpkg_versions(out)
            owners = {p: (n, versions.get(n)) for p, n in owner.items()}
            discovery.attach_packages(services, owners, "apt")
        elif rpm:
            dummy, out, dummy = self.run_command(
                [rpm, "-qf", "--qf", "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n", "--"] + paths,
                check_rc=False)
            discovery.attach_packages(services, discovery.parse_rpm_owners(paths, out), "dnf")
        else:
            discovery.attach_packages(services, {}, None)


def main():
    ServiceDiscovery()()


if __name__ == "__main__":
    main()
