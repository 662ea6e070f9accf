#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apt_upgrade
short_description: One step of an apt upgrade with held packages, as DeNA upgraded its computes
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - Runs one step of the apt install method's upgrade of a host. DeNA's compute node, for
    example, takes four; hold nova-compute, Open vSwitch and the neutron agent and upgrade
    the rest; release nova-compute and upgrade it; Open vSwitch (role
    C(stackhop.upgrade.openvswitch), without a restart); release the neutron packages and
    upgrade them.
  - O(held) is the whole set of packages stackhop holds after the step (C(apt-mark hold));
    stackhop's earlier holds that are not in it are released. Which holds are stackhop's is
    recorded in O(state_file), so a package the site held itself is never released, and a
    step that must upgrade it fails with a sentence naming it.
  - The step is first simulated (C(apt-get --simulate)) against a copy of dpkg's status file
    that carries the step's holds, so check mode shows what the step would install, upgrade
    and remove. A removal not in O(allow_remove), or a package of O(packages) that apt keeps
    back, fails the step before anything is written.
  - Then the holds are written and one C(apt-get) transaction runs, non-interactive, keeping
    the site's changed configuration files (dpkg's C(--force-confold); the package's new
    version of such a file is left beside it as C(.dpkg-dist) and returned in
    RV(new_conffiles)).
  - Switch the package source first with M(stackhop.upgrade.apt_source).
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  packages:
    description:
      - The packages this step upgrades to their candidate version (C(apt-get install
        --only-upgrade)), with what they need. Empty - a C(dist-upgrade) of every package not
        held.
    type: list
    elements: str
    default: []
  held:
    description:
      - The packages stackhop holds after this step. Those not installed on the host are
        ignored (returned in RV(absent)).
    type: list
    elements: str
    default: []
  allow_remove:
    description: Packages the step may remove (a dist-upgrade removes what conflicts with the new release).
    type: list
    elements: str
    default: []
  install_recommends:
    description: Whether new recommended packages are installed with the upgrade.
    type: bool
    default: false
  update_cache:
    description: Run C(apt-get update) before the step.
    type: bool
    default: false
  state_file:
    description: Where stackhop records the holds it placed (JSON).
    type: path
    default: /var/lib/stackhop/apt-holds.json
attributes:
  check_mode:
    support: full
    details: Simulates the step with its holds and returns what it would change; writes nothing.
  diff_mode:
    support: full
    details: The host's installed packages that the step changes, with versions and holds, before and after.
notes:
  - Needs C(apt-get), C(apt-mark), C(apt-cache) and C(dpkg-query) (Debian and Ubuntu).
"""

EXAMPLES = r"""
- name: Upgrade everything but nova-compute, Open vSwitch and the neutron agent
  stackhop.upgrade.apt_upgrade:
    held: [nova-compute, openvswitch-switch, openvswitch-common, neutron-openvswitch-agent]
    update_cache: true

- name: Release nova-compute and upgrade it
  stackhop.upgrade.apt_upgrade:
    held: [openvswitch-switch, openvswitch-common, neutron-openvswitch-agent]
    packages: [nova-compute]

- name: Release the neutron agent and upgrade the rest
  stackhop.upgrade.apt_upgrade:
    held: []
"""

RETURN = r"""
upgraded:
  description: Packages the step upgraded (would upgrade, in check mode), with versions.
  returned: always
  type: dict
  sample: {"nova-compute": {"before": "2:26.2.2-1", "after": "2:27.0.0-1"}}
installed:
  description: Packages the step newly installed, with their versions.
  returned: always
  type: dict
removed:
  description: Packages the step removed, with the version they had.
  returned: always
  type: dict
kept_back:
  description: Packages with a newer candidate that apt left alone (held, or blocked by a hold).
  returned: always
  type: list
  elements: str
held:
  description: The packages stackhop holds after the step.
  returned: always
  type: list
  elements: str
released:
  description: The packages whose stackhop hold the step released.
  returned: always
  type: list
  elements: str
site_held:
  description: Packages the site holds itself; the step leaves them held.
  returned: always
  type: list
  elements: str
absent:
  description: Packages of O(held) that are not installed on the host.
  returned: always
  type: list
  elements: str
new_conffiles:
  description: The package's new version of a configuration file the site had changed, left beside it.
  returned: always
  type: list
  elements: str
  sample: [/etc/nova/nova.conf.dpkg-dist]
executed_commands:
  description: The commands run.
  returned: always
  type: list
  elements: str
"""

import json
import os
import shutil
import socket
import tempfile

from ansible_collections.stackhop.upgrade.plugins.module_utils.apt_packages import (
    AptDecisionError,
    check_names,
    parse_dpkg_query,
    parse_policy,
    parse_simulation,
    status_with_selections,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.package_steps import (
    check_site_holds,
    check_step,
    hold_changes,
    step_changed,
    step_diff,
    upgrade_plan,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

DPKG_STATUS = "/var/lib/dpkg/status"
QUERY_FORMAT = "${Package}\t${Version}\t${db:Status-Abbrev}\n"
NONINTERACTIVE = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none",
                  "NEEDRESTART_MODE": "l"}


class AptUpgrade(StackhopModule):
    argument_spec = dict(
        packages=dict(type="list", elements="str", default=[]),
        held=dict(type="list", elements="str", default=[]),
        allow_remove=dict(type="list", elements="str", default=[]),
        install_recommends=dict(type="bool", default=False),
        update_cache=dict(type="bool", default=False),
        state_file=dict(type="path", default="/var/lib/stackhop/apt-holds.json"),
    )

    def _installed(self):
        dummy, out, dummy_err = self.run_command(
            [self.get_bin_path("dpkg-query"), "-W", "-f", QUERY_FORMAT])
        return parse_dpkg_query(out)

    def _ours(self):
        path = self.params["state_file"]
        if not os.path.exists(path):
            return []
        try:
            with open(path) as handle:
                data = json.load(handle)
            return list(data["held"])
        except (ValueError, KeyError, TypeError):
            raise StackhopError("%s is not stackhop's record of its apt holds; fix or remove it "
                                "(holds it lists are released by later steps)" % path)

    def _save_ours(self, held):
        path = self.params["state_file"]
        directory = os.path.dirname(path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=directory, prefix=".apt-holds-")
        with os.fdopen(handle, "w") as out:
            json.dump({"held": held}, out, indent=1, sort_keys=True)
            out.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def _apt_argv(self, apt_get, extra=()):
        recommends = "true" if self.params["install_recommends"] else "false"
        argv = [apt_get, "-q", "-y", "-o", "APT::Install-Recommends=%s" % recommends,
                "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
        argv.extend(extra)
        if self.params["packages"]:
            argv += ["install", "--only-upgrade"] + list(self.params["packages"])
        else:
            argv.append("dist-upgrade")
        return argv

    def _simulate(self, apt_get, selections):
        """apt's simulation with the step's holds, without writing them."""
        tmpdir = tempfile.mkdtemp(prefix="stackhop-apt-")
        try:
            status = os.path.join(tmpdir, "status")
            with open(DPKG_STATUS) as handle:
                text = handle.read()
            with open(status, "w") as out:
                out.write(status_with_selections(text, selections))
            argv = self._apt_argv(apt_get, ["--simulate", "-o", "Dir::State::status=%s" % status,
                                            "-o", "Debug::NoLocking=true"])
            rc, out, err = self.run_command(argv, check_rc=False, environ_update=NONINTERACTIVE)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if rc != 0:
            last = (err or out).strip().splitlines()[-1:] or ["no output"]
            raise StackhopError("apt cannot plan the upgrade on %s: %s; fix the package source or "
                                "the held packages" % (socket.gethostname(), last[0]), stderr=err)
        return out

    def _new_conffiles(self, names):
        if not names:
            return []
        dummy, out, dummy_err = self.run_command(
            [self.get_bin_path("dpkg-query"), "-W", "-f", "${Conffiles}\n"] + sorted(names))
        found = []
        for line in out.splitlines():
            fields = line.split()
            if fields and fields[0].startswith("/") and os.path.exists(fields[0] + ".dpkg-dist"):
                found.append(fields[0] + ".dpkg-dist")
        return sorted(set(found))

    def run(self):
        params = self.params
        host = socket.gethostname()
        try:
            check_names(params["packages"], "package")
            check_names(params["held"], "held package")
            check_names(params["allow_remove"], "allow_remove package")
            check_step(params["packages"], params["held"])
        except AptDecisionError as exc:
            raise StackhopError(str(exc))
        apt_get = self.get_bin_path("apt-get", "the apt install method needs a Debian or Ubuntu host")
        apt_mark = self.get_bin_path("apt-mark")
        apt_cache = self.get_bin_path("apt-cache")
        if params["update_cache"] and not self.check_mode:
            self.run_command([apt_get, "-q", "update"], environ_update=NONINTERACTIVE)

        installed = self._installed()
        ours = self._ours()
        holds = hold_changes(installed, ours, params["held"])
        try:
            check_site_holds(params["packages"], holds["site"], host)
        except AptDecisionError as exc:
            raise StackhopError(str(exc))
        selections = dict([(n, "hold") for n in holds["hold"]] + [(n, "install") for n in holds["release"]])
        simulation = parse_simulation(self._simulate(apt_get, selections))
        policy = {}
        if params["packages"]:
            dummy, out, dummy_err = self.run_command([apt_cache, "policy"] + list(params["packages"]))
            policy = parse_policy(out)
        try:
            plan = upgrade_plan(simulation, installed, params["packages"], params["allow_remove"],
                                holds["site"], policy, host)
        except AptDecisionError as exc:
            raise StackhopError(str(exc), simulation=simulation)

        changed = step_changed(plan, holds, ours)
        new_conffiles = []
        if changed and not self.check_mode:
            if holds["hold"]:
                self.run_command([apt_mark, "hold"] + holds["hold"])
            if holds["release"]:
                self.run_command([apt_mark, "unhold"] + holds["release"])
            self._save_ours(holds["ours"])
            if plan["upgraded"] or plan["installed"] or plan["removed"]:
                self.run_command(self._apt_argv(apt_get), environ_update=NONINTERACTIVE)
                after = self._installed()
                missed = sorted(n for n, v in plan["upgraded"].items()
                                if after.get(n, {}).get("version") != v["after"])
                if missed:
                    raise StackhopError(
                        "apt-get finished on %s but %s did not reach the planned version; read "
                        "/var/log/apt/term.log there" % (host, ", ".join(missed)), plan=plan)
                new_conffiles = self._new_conffiles(set(plan["upgraded"]) | set(plan["installed"]))

        result = dict(plan, changed=changed, held=holds["ours"], released=holds["release"],
                      site_held=holds["site"], absent=holds["absent"], new_conffiles=new_conffiles)
        if self.diff_mode:
            result["diff"] = step_diff(plan, holds, installed, host)
        return result


def main():
    AptUpgrade()()


if __name__ == "__main__":
    main()
