#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: dnf_upgrade
short_description: One step of a dnf upgrade with held packages, the RPM twin of apt_upgrade
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - Runs one step of the dnf install method's upgrade of a host (RDO packages), the way
    M(stackhop.upgrade.apt_upgrade) does for apt - DeNA's compute steps, for example - hold
    nova-compute, Open vSwitch and the neutron agent and upgrade the rest; release
    nova-compute and upgrade it; and so on.
  - A hold is an C(excludepkgs) entry of dnf.conf's C([main]). O(held) is the whole set of
    packages stackhop holds after the step; its earlier holds that are not in it are
    released. Which entries are stackhop's is recorded in O(state_file), so an exclude the
    site wrote itself is never removed, and a step that must upgrade such a package fails
    with a sentence naming it.
  - The step is resolved by dnf (its Python API) with the step's excludes before anything is
    written, so check mode shows what it would upgrade, install and remove. A removal not in
    O(allow_remove), or a package of O(packages) that dnf cannot upgrade to its newest
    version, fails the step before anything is written.
  - Then the excludes are written and the resolved transaction runs, as one rpm transaction.
    A configuration file the site changed is kept by rpm (C(%config(noreplace))); the
    package's new version is left beside it as C(.rpmnew) and returned in RV(new_conffiles).
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  packages:
    description:
      - The packages this step upgrades to their newest version, with what they need. Empty -
        an upgrade of every package not held.
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
    description: Packages the step may remove (an upgrade erases what conflicts with the new release).
    type: list
    elements: str
    default: []
  installroot:
    description: The root of the system whose packages are upgraded (dnf's C(--installroot)).
    type: path
    default: /
  conf_file:
    description: dnf's configuration below O(installroot), whose C([main]) holds the excludes.
    type: path
    default: /etc/dnf/dnf.conf
  releasever:
    description: The C($releasever) of the repositories, when dnf cannot read it from the installed system.
    type: str
  state_file:
    description: Where stackhop records the excludes it placed (JSON).
    type: path
    default: /var/lib/stackhop/dnf-holds.json
attributes:
  check_mode:
    support: full
    details: Resolves the step with its excludes and returns what it would change; writes nothing.
  diff_mode:
    support: full
    details: The host's installed packages that the step changes, with versions and holds, before and after.
notes:
  - Needs dnf's Python bindings (C(python3-dnf)) in the Python Ansible runs the module with, and C(rpm).
"""

EXAMPLES = r"""
- name: Upgrade everything but nova-compute, Open vSwitch and the neutron agent
  stackhop.upgrade.dnf_upgrade:
    held: [openstack-nova-compute, openvswitch3.3, openstack-neutron-openvswitch]

- name: Release nova-compute and upgrade it
  stackhop.upgrade.dnf_upgrade:
    held: [openvswitch3.3, openstack-neutron-openvswitch]
    packages: [openstack-nova-compute]
"""

RETURN = r"""
upgraded:
  description: Packages the step upgraded (would upgrade, in check mode), with versions.
  returned: always
  type: dict
  sample: {"openstack-nova-compute": {"before": "1:29.2.0-1.el9s", "after": "1:31.0.0-1.el9s"}}
installed:
  description: Packages the step newly installed, with their versions.
  returned: always
  type: dict
removed:
  description: Packages the step removed, with the version they had.
  returned: always
  type: dict
kept_back:
  description: Installed packages with a newer version that the step left alone (held, or blocked by a hold).
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
  description: Packages the site excludes itself; the step leaves them excluded.
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
  sample: [/etc/nova/nova.conf.rpmnew]
executed_commands:
  description: The commands run (rpm queries; the transaction runs in dnf's Python API).
  returned: always
  type: list
  elements: str
"""

import json
import os
import socket
import stat

from ansible_collections.stackhop.upgrade.plugins.module_utils.dnf_packages import (
    QUERY_FORMAT,
    check_names,
    parse_excludes,
    parse_rpm_query,
    simulation,
    with_excludes,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.package_steps import (
    PackageStepError,
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
    read_text,
    write_text,
)


def _import_dnf():
    try:
        import dnf  # pylint: disable=import-outside-toplevel
        import dnf.exceptions  # pylint: disable=import-outside-toplevel
        import dnf.rpm  # pylint: disable=import-outside-toplevel
        import dnf.transaction  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise StackhopError("dnf's Python bindings are not in the Python that runs this module on %s; "
                            "install python3-dnf or set ansible_python_interpreter to the Python "
                            "that has them" % socket.gethostname())
    return dnf


def _evr(pkg):
    return ("%s:%s-%s" % (pkg.epoch, pkg.version, pkg.release) if pkg.epoch
            else "%s-%s" % (pkg.version, pkg.release))


class DnfUpgrade(StackhopModule):
    argument_spec = dict(
        packages=dict(type="list", elements="str", default=[]),
        held=dict(type="list", elements="str", default=[]),
        allow_remove=dict(type="list", elements="str", default=[]),
        installroot=dict(type="path", default="/"),
        conf_file=dict(type="path", default="/etc/dnf/dnf.conf"),
        releasever=dict(type="str"),
        state_file=dict(type="path", default="/var/lib/stackhop/dnf-holds.json"),
    )

    def _root(self, path):
        return os.path.join(self.params["installroot"], path.lstrip("/"))

    def _installed(self, excludes):
        dummy, out, dummy_err = self.run_command(
            [self.get_bin_path("rpm", "the dnf install method needs rpm"), "--root",
             self.params["installroot"], "-qa", "--queryformat", QUERY_FORMAT])
        return parse_rpm_query(out, excludes)

    def _ours(self):
        path = self.params["state_file"]
        text = read_text(path)
        if text is None:
            return []
        try:
            return list(json.loads(text)["held"])
        except (ValueError, KeyError, TypeError):
            raise StackhopError("%s is not stackhop's record of its dnf excludes; fix or remove it "
                                "(excludes it lists are released by later steps)" % path)

    def _base(self, dnf, excludes):
        """A dnf Base on the installroot, its repositories read, with exactly ``excludes``."""
        base = dnf.Base()
        conf = base.conf
        # $releasever first: reading the file substitutes it
        conf.substitutions["releasever"] = (self.params["releasever"]
                                            or dnf.rpm.detect_releasever(self.params["installroot"]) or "")
        conf_path = self._root(self.params["conf_file"])
        if os.path.exists(conf_path):
            conf.config_file_path = conf_path
            conf.read()
        conf.installroot = self.params["installroot"]
        if self.params["installroot"] != "/":
            conf.reposdir = [self._root(d) for d in conf.reposdir]
            for option in ("cachedir", "logdir", "persistdir"):
                conf.prepend_installroot(option)
        conf.excludepkgs = list(excludes)
        # the packages asked for must reach their newest version (or the step fails, naming
        # them); a full upgrade leaves what it cannot upgrade, as apt keeps packages back
        conf.best = bool(self.params["packages"])
        conf.assumeyes = True
        base.read_all_repos()
        try:
            base.fill_sack(load_system_repo=True)
        except dnf.exceptions.RepoError as exc:
            raise StackhopError("dnf cannot read a repository on %s: %s; fix the package source"
                                % (socket.gethostname(), exc))
        return base

    def _resolve(self, dnf, base, installed):
        """Mark the step and resolve it: (items, policy, kept_back)."""
        requested = self.params["packages"]
        upgradable = set(p.name for p in base.sack.query().upgrades())
        policy = {}
        for name in requested:
            latest = base.sack.query().available().filter(name=name).latest()
            policy[name] = {"installed": installed.get(name, {}).get("version"),
                            "candidate": _evr(latest[0]) if latest else None}
            if name not in installed:
                raise StackhopError("%s is not installed on %s; the step upgrades installed packages "
                                    "only" % (name, socket.gethostname()))
            try:
                base.upgrade(name)
            except dnf.exceptions.MarkingError:
                pass      # nothing newer: upgrade_plan says so when a candidate exists
        if not requested:
            base.upgrade_all()
        try:
            base.resolve(allow_erasing=True)
        except dnf.exceptions.DepsolveError as exc:
            raise StackhopError("dnf cannot resolve the step on %s: %s; release the hold that blocks it "
                                "or fix the package source" % (socket.gethostname(), exc))
        items = []
        actions = {dnf.transaction.PKG_UPGRADE: "upgrade", dnf.transaction.PKG_DOWNGRADE: "upgrade",
                   dnf.transaction.PKG_INSTALL: "install", dnf.transaction.PKG_REMOVE: "remove",
                   dnf.transaction.PKG_OBSOLETED: "remove"}
        for tsi in base.transaction:
            action = actions.get(tsi.action)
            if action is None:
                continue
            name = tsi.pkg.name
            before = installed.get(name, {}).get("version")
            items.append((action, name, before, before if action == "remove" else _evr(tsi.pkg)))
        touched = set(i[1] for i in items)
        kept_back = sorted(n for n in upgradable if n not in touched and (not requested or n in requested))
        return items, policy, kept_back

    def _new_conffiles(self, names):
        if not names:
            return []
        rc, out, dummy_err = self.run_command(
            [self.get_bin_path("rpm"), "--root", self.params["installroot"], "-qc"] + sorted(names), check_rc=False)
        return sorted(set(self._root(p) + ".rpmnew" for p in out.splitlines()
                          if p.startswith("/") and os.path.exists(self._root(p) + ".rpmnew")))

    def run(self):
        params = self.params
        host = socket.gethostname()
        try:
            check_names(params["packages"], "package")
            check_names(params["held"], "held package")
            check_names(params["allow_remove"], "allow_remove package")
            check_step(params["packages"], params["held"])
        except PackageStepError as exc:
            raise StackhopError(str(exc))
        dnf = _import_dnf()
        conf_path = self._root(params["conf_file"])
        conf_text = read_text(conf_path)
        excludes = parse_excludes(conf_text)
        installed = self._installed(excludes)
        ours = self._ours()
        holds = hold_changes(installed, ours, params["held"])
        try:
            check_site_holds(params["packages"], holds["site"], host, tool="dnf")
        except PackageStepError as exc:
            raise StackhopError(str(exc))
        # the site's excludes (names and globs) as written, then stackhop's after this step
        site_entries = [e for e in excludes if e not in ours]
        step_excludes = site_entries + [n for n in holds["ours"] if n not in site_entries]
        base = self._base(dnf, step_excludes)
        try:
            items, policy, kept_back = self._resolve(dnf, base, installed)
            sim = simulation(items)
            sim["kept_back"] = kept_back
            try:
                plan = upgrade_plan(sim, installed, params["packages"], params["allow_remove"],
                                    holds["site"], policy, host, tool="dnf")
            except PackageStepError as exc:
                raise StackhopError(str(exc), simulation=sim)
            changed = step_changed(plan, holds, ours)
            new_conffiles = []
            if changed and not self.check_mode:
                new_text = with_excludes(conf_text, step_excludes)
                if new_text != (conf_text or ""):
                    mode = stat.S_IMODE(os.stat(conf_path).st_mode) if conf_text is not None else 0o644
                    write_text(conf_path, new_text, mode)
                write_text(params["state_file"], json.dumps({"held": holds["ours"]}, indent=1, sort_keys=True) + "\n")
                if plan["upgraded"] or plan["installed"] or plan["removed"]:
                    base.download_packages(base.transaction.install_set)
                    base.do_transaction()
                    after = self._installed(step_excludes)
                    missed = sorted(n for n, v in plan["upgraded"].items()
                                    if after.get(n, {}).get("version") != v["after"])
                    if missed:
                        raise StackhopError(
                            "dnf finished on %s but %s did not reach the planned version; read "
                            "/var/log/dnf.rpm.log there" % (host, ", ".join(missed)), plan=plan)
                    new_conffiles = self._new_conffiles(set(plan["upgraded"]) | set(plan["installed"]))
        finally:
            base.close()

        result = dict(plan, changed=changed, held=holds["ours"], released=holds["release"],
                      site_held=holds["site"], absent=holds["absent"], new_conffiles=new_conffiles)
        if self.diff_mode:
            result["diff"] = step_diff(plan, holds, installed, host)
        return result


def main():
    DnfUpgrade()()


if __name__ == "__main__":
    main()
