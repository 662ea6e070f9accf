#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: dnf_source
short_description: Switch a host's OpenStack RPM repository to the target release, keeping the old one for rollback
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - The first step of the dnf install method, the twin of M(stackhop.upgrade.apt_source) - RDO's
    repository of the new release written as C(<repos_dir>/<name>.repo), the old release's
    files (for example C(CentOS-OpenStack-dalmatian.repo) of C(centos-release-openstack-dalmatian))
    moved aside into O(keep_dir), then dnf reads every enabled repository, which must succeed.
  - The first switch records what it found; later switches of a fast-forward keep that record,
    so O(state=restored) puts back the repositories the host had before the upgrade.
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  baseurl:
    description:
      - The target release's repository, for example
        C(http://mirror.stream.centos.org/SIGs/9-stream/cloud/x86_64/openstack-epoxy/) or an offline
        site's mirror (C(file:///srv/mirror/openstack-2025.1/)). Required with O(state=present).
    type: str
  gpgkey:
    description: The key the repository's packages are signed with (a URL or C(file://) path); empty turns
      signature checks off, as for an unsigned local mirror.
    type: str
    default: ""
  name:
    description: The file's name in O(repos_dir), without C(.repo), and the repository's id.
    type: str
    default: stackhop-openstack
  replaces:
    description: Repository files that carry the release being left; those present are moved aside.
    type: list
    elements: path
    default: []
  keep_dir:
    description: Where the files moved aside and the record of the switch are kept until restored.
    type: path
    default: /var/lib/stackhop/dnf-sources
  state:
    description:
      - C(present) - the host uses O(baseurl). C(restored) - the repositories as they were before the
        first switch (rollback); nothing to do when no switch is recorded.
    type: str
    choices: [present, restored]
    default: present
  update_cache:
    description: Have dnf read the repositories even when no file changed.
    type: bool
    default: false
  repos_dir:
    description: The directory of dnf's repository files.
    type: path
    default: /etc/yum.repos.d
  installroot:
    description: The root of the system whose repositories dnf reads (dnf's C(--installroot)).
    type: path
    default: /
  releasever:
    description: The C($releasever) of the repositories, when dnf cannot read it from the installed system.
    type: str
attributes:
  check_mode:
    support: full
    details: Returns the files it would write and move; dnf reads nothing.
  diff_mode:
    support: full
    details: The repository file's content, and the files moved, before and after.
notes:
  - Needs dnf's Python bindings (C(python3-dnf)) in the Python Ansible runs the module with.
"""

EXAMPLES = r"""
- name: Use RDO's 2025.1 packages from the site's mirror
  stackhop.upgrade.dnf_source:
    baseurl: http://mirror.example/centos-stream/9/cloud/x86_64/openstack-epoxy/
    gpgkey: file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-SIG-Cloud
    replaces: [/etc/yum.repos.d/CentOS-OpenStack-dalmatian.repo]

- name: Roll back to the repositories of the release before the upgrade
  stackhop.upgrade.dnf_source:
    state: restored
"""

RETURN = r"""
path:
  description: The repository file stackhop writes.
  returned: always
  type: str
moved:
  description: Files moved aside into O(keep_dir) by this run (put back, with O(state=restored)).
  returned: always
  type: list
  elements: str
record:
  description: What the first switch found (C(created), C(original), C(moved)); null after a restore.
  returned: always
  type: dict
executed_commands:
  description: The commands run (none; dnf reads the repositories through its Python API).
  returned: always
  type: list
  elements: str
"""

import os
import re
import socket

from ansible_collections.stackhop.upgrade.plugins.module_utils.package_source import (
    COMMON_SPEC,
    PackageSourceModule,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import StackhopError

URL = re.compile(r"^(https?|file|ftp)://\S+$")


class DnfSource(PackageSourceModule):
    argument_spec = dict(
        COMMON_SPEC,
        baseurl=dict(type="str"),
        gpgkey=dict(type="str", default="", no_log=False),  # a URL of a public key
        keep_dir=dict(type="path", default="/var/lib/stackhop/dnf-sources"),
        repos_dir=dict(type="path", default="/etc/yum.repos.d"),
        installroot=dict(type="path", default="/"),
        releasever=dict(type="str"),
    )
    module_kwargs = dict(required_if=[("state", "present", ["baseurl"])])
    suffix = ".repo"

    def sources_dir(self):
        return os.path.join(self.params["installroot"], self.params["repos_dir"].lstrip("/"))

    def wanted(self):
        baseurl, gpgkey = self.params["baseurl"].strip(), self.params["gpgkey"].strip()
        for what, value in (("baseurl", baseurl), ("gpgkey", gpgkey)):
            if value and not URL.match(value):
                raise StackhopError("%s %r is not a URL dnf reads; give http(s)://, ftp:// or file:// "
                                    "with no spaces" % (what, value))
        lines = ["[%s]" % self.params["name"], "name=OpenStack (stackhop: %s)" % self.params["name"],
                 "baseurl=%s" % baseurl, "enabled=1"]
        lines += ["gpgcheck=1", "gpgkey=%s" % gpgkey] if gpgkey else ["gpgcheck=0"]
        return "\n".join(lines) + "\n"

    def refresh(self):
        try:
            import dnf  # pylint: disable=import-outside-toplevel
            import dnf.exceptions  # pylint: disable=import-outside-toplevel
            import dnf.rpm  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise StackhopError("dnf's Python bindings are not in the Python that runs this module on %s; "
                                "install python3-dnf or set ansible_python_interpreter to the Python "
                                "that has them" % socket.gethostname())
        root = self.params["installroot"]
        base = dnf.Base()
        try:
            conf = base.conf
            conf.substitutions["releasever"] = self.params["releasever"] or dnf.rpm.detect_releasever(root) or ""
            conf.installroot = root
            conf.reposdir = [self.sources_dir()]
            if root != "/":
                for option in ("cachedir", "logdir", "persistdir"):
                    conf.prepend_installroot(option)
            base.read_all_repos()
            for repo in base.repos.iter_enabled():
                repo.skip_if_unavailable = False
            try:
                base.fill_sack(load_system_repo=False)
            except dnf.exceptions.RepoError as exc:
                raise StackhopError("dnf cannot read a repository on %s: %s; check the baseurl and the "
                                    "signing key" % (socket.gethostname(), exc))
        finally:
            base.close()


def main():
    DnfSource()()


if __name__ == "__main__":
    main()
