#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nova_compute_versions
short_description: Read whether any cell still holds a nova-compute older than a nova release accepts
version_added: 0.1.0
description:
  - Runs nova's own code (the Python of a release's nova, normally the target's, given in
    O(python)) on a helper that reads, with O(config_files), the nova-compute services of
    every cell and the service versions that code knows. It is what nova's
    C(TooOldComputeService) check reads (C(nova.utils.raise_if_old_compute)), that is the
    minimum version of the nova-compute services of all cells, deleted and forced-down ones
    aside, against the oldest release the code accepts.
  - RV(too_old) says whether a nova service of that release would refuse to start now
    unless C([workarounds] disable_compute_service_check_for_ffu) is set, and RV(message)
    names the older computes. A fast-forward sets that workaround while such computes
    remain and takes it off once this module finds none.
  - Reads only; runs in check mode too. The configuration files hold the database URLs, which
    are read by nova's code, never put on a command line or returned.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  python:
    description: The Python of the nova code to read with, for example V(/opt/stackhop/venvs/2024.1/bin/python).
    type: path
    required: true
  config_files:
    description: nova's configuration files, in the order the services read them (the API database's
      connection is needed to find the cells).
    type: list
    elements: path
    default: [/etc/nova/nova.conf]
  oldest_supported:
    description:
      - The oldest release to accept, as nova's alias (a codename such as V(Antelope)); default the
        code's own C(OLDEST_SUPPORTED_SERVICE_VERSION), which is what its services enforce.
    type: str
attributes:
  check_mode:
    support: full
    details: Only reads; runs the same in check mode and never reports a change.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Read whether 2024.1's nova still finds computes too old for it
  stackhop.upgrade.nova_compute_versions:
    python: /opt/stackhop/venvs/2024.1/bin/python
  register: nova_computes

- name: Say which computes hold the fast-forward's workaround in place
  ansible.builtin.debug:
    msg: "{{ nova_computes.message }}"
  when: nova_computes.too_old
"""

RETURN = r"""
too_old:
  description: Whether a cell holds a nova-compute service older than RV(oldest_supported).
  returned: always
  type: bool
minimum_version:
  description: The minimum nova-compute service version of all cells (null when there is none).
  returned: always
  type: int
oldest_supported:
  description: The oldest release accepted (nova's alias) and its service version.
  returned: always
  type: dict
  sample: {name: Antelope, version: 66}
older_computes:
  description: The computes older than RV(oldest_supported) (C(cell), C(host), C(version)).
  returned: always
  type: list
  elements: dict
computes:
  description: Every nova-compute service of every cell (C(cell), C(host), C(version), C(forced_down), C(disabled)).
  returned: always
  type: list
  elements: dict
cells_not_responding:
  description: Cells whose database did not answer; their computes are not counted, as in nova's own check.
  returned: always
  type: list
  elements: str
message:
  description: One sentence on the result.
  returned: always
  type: str
executed_commands:
  description: The helper run.
  returned: always
  type: list
  elements: str
"""

import os

from ansible_collections.stackhop.upgrade.plugins.module_utils import nova_services_dump
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


def judge(dump, oldest_supported=None):
    """The module's result from the helper's output: whether the minimum nova-compute version
    is below the oldest accepted release's, which computes are, and one sentence."""
    aliases = dump.get("aliases") or {}
    name = oldest_supported or dump.get("oldest_supported")
    if name not in aliases:
        raise StackhopError("nova's code knows no release %r among its service versions (%s); give "
                            "oldest_supported as one of them" % (name, ", ".join(sorted(aliases))))
    oldest = aliases[name]
    minimum = dump.get("minimum")
    computes = dump.get("computes") or []
    older = [{"cell": c["cell"], "host": c["host"], "version": c["version"]}
             for c in computes if not c.get("forced_down") and 0 < (c.get("version") or 0) < oldest]
    too_old = minimum is not None and minimum < oldest
    silent = dump.get("cells_not_responding") or []
    unheard = (" (cells %s did not answer and are not counted)" % ", ".join(silent)) if silent else ""
    if too_old:
        message = ("%d nova-compute service(s) are older than %s (version %d), the oldest this nova accepts: "
                   "%s; its services start only with [workarounds] disable_compute_service_check_for_ffu "
                   "until they are upgraded%s." % (
                       len(older), name, oldest,
                       ", ".join("%s (%s, version %d)" % (c["host"], c["cell"], c["version"]) for c in older),
                       unheard))
    elif minimum is None:
        message = "no cell holds a nova-compute service%s." % unheard
    else:
        message = ("every nova-compute service is %s (version %d) or newer (the oldest is version %d)%s."
                   % (name, oldest, minimum, unheard))
    return {"too_old": too_old, "minimum_version": minimum,
            "oldest_supported": {"name": name, "version": oldest},
            "older_computes": older, "computes": computes,
            "cells_not_responding": silent, "message": message}


class NovaComputeVersions(StackhopModule):
    argument_spec = dict(
        python=dict(type="path", required=True),
        config_files=dict(type="list", elements="path", default=["/etc/nova/nova.conf"]),
        oldest_supported=dict(type="str"),
    )

    def run(self):
        p = self.params
        python = self.command_path(p["python"], "the Python of nova",
                                   "give the python of the nova release to read with")
        argv = [python, "-I", "-"]
        for path in p["config_files"]:
            if not os.path.isfile(path):
                raise StackhopError("%s does not exist on %s; give nova's configuration files in "
                                    "config_files" % (path, self._host()))
            argv += ["--config-file", path]
        dump, rc, last = self.run_json_helper(argv, nova_services_dump, "the nova services helper")
        if dump is None:
            raise StackhopError("nova's code under %s could not read the compute services (exit %d: %s); "
                                "check nova's database connections in %s" % (
                                    python, rc, last, ", ".join(p["config_files"])))
        return judge(dump, p["oldest_supported"])


def main():
    NovaComputeVersions()()


if __name__ == "__main__":
    main()
