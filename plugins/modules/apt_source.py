#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apt_source
short_description: Switch a host's OpenStack package source to the target release, keeping the old one for rollback
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - The first step of the apt install method (DeNA - the cloud archive's list file of the new
    release written, the old one moved away). Writes O(line) as
    C(/etc/apt/sources.list.d/<name>.list), moves the files of O(replaces) aside into
    O(keep_dir), and runs C(apt-get update), which must succeed for every source.
  - The first switch records what it found (the file's earlier content or its absence, the
    files moved); later switches of a fast-forward (zed to 2023.1 to 2023.2...) keep that
    record, so O(state=restored) puts back the sources the host had before the upgrade.
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  line:
    description:
      - The target release's source, one line as in C(sources.list), for example
        C(deb http://ubuntu-cloud.archive.canonical.com/ubuntu noble-updates/epoxy main)
        or an offline site's mirror. Required with O(state=present).
    type: str
  name:
    description: The file's name in C(/etc/apt/sources.list.d), without C(.list).
    type: str
    default: stackhop-openstack
  replaces:
    description:
      - Source files that carry the release being left (for example
        C(/etc/apt/sources.list.d/cloudarchive-dalmatian.list)); those present are moved aside.
    type: list
    elements: path
    default: []
  keep_dir:
    description: Where the files moved aside and the record of the switch are kept until restored.
    type: path
    default: /var/lib/stackhop/apt-sources
  state:
    description:
      - C(present) - the host uses O(line). C(restored) - the sources as they were before the
        first switch (rollback); nothing to do when no switch is recorded.
    type: str
    choices: [present, restored]
    default: present
  update_cache:
    description: Run C(apt-get update) even when no file changed.
    type: bool
    default: false
  sources_dir:
    description: The directory of apt's source files.
    type: path
    default: /etc/apt/sources.list.d
attributes:
  check_mode:
    support: full
    details: Returns the files it would write and move; runs no C(apt-get update).
  diff_mode:
    support: full
    details: The source file's content, and the files moved, before and after.
"""

EXAMPLES = r"""
- name: Use the target release's packages
  stackhop.upgrade.apt_source:
    line: "{{ stackhop_package_source }}"
    replaces: [/etc/apt/sources.list.d/cloudarchive-dalmatian.list]

- name: Roll back to the packages of the release before the upgrade
  stackhop.upgrade.apt_source:
    state: restored
"""

RETURN = r"""
path:
  description: The source file stackhop writes.
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
  description: The commands run.
  returned: always
  type: list
  elements: str
"""

import socket

from ansible_collections.stackhop.upgrade.plugins.module_utils.apt_packages import (
    AptDecisionError,
    check_source_line,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.package_source import (
    COMMON_SPEC,
    PackageSourceModule,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import StackhopError


class AptSource(PackageSourceModule):
    argument_spec = dict(
        COMMON_SPEC,
        line=dict(type="str"),
        keep_dir=dict(type="path", default="/var/lib/stackhop/apt-sources"),
        sources_dir=dict(type="path", default="/etc/apt/sources.list.d"),
    )
    module_kwargs = dict(required_if=[("state", "present", ["line"])])
    suffix = ".list"

    def sources_dir(self):
        return self.params["sources_dir"]

    def wanted(self):
        try:
            return check_source_line(self.params["line"]) + "\n"
        except AptDecisionError as exc:
            raise StackhopError(str(exc))

    def refresh(self):
        apt_get = self.get_bin_path("apt-get", "the apt install method needs a Debian or Ubuntu host")
        rc, out, err = self.run_command([apt_get, "-q", "--error-on=any", "update"], check_rc=False,
                                        environ_update={"DEBIAN_FRONTEND": "noninteractive"})
        if rc != 0:
            errors = [ln for ln in (err + out).splitlines() if ln.startswith(("E:", "W:"))]
            raise StackhopError("apt-get update failed on %s: %s; check the package source's URL, "
                                "suite and signing key" % (socket.gethostname(),
                                                           (errors or ["exit code %d" % rc])[0]),
                                stderr=err)


def main():
    AptSource()()


if __name__ == "__main__":
    main()
