#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nova_service_version
short_description: Lower a compute's nova service record to the version of the older code it goes back to
version_added: 0.1.0
description:
  - Before a compute's nova-compute goes back to release N's code (a rollback), writes the service version
    of release N (O(version)) into that host's service record in its cell, as release N's nova-compute
    would write it when it starts. nova refuses to save a record older than the minimum of all records of
    its binary (C(ServiceTooOld)); after a whole-region upgrade every record holds the newer version, so the
    first compute rolled back could never start without this.
  - Runs nova's own code (the control plane's, given in O(python)) with O(config_files) on a helper; the
    cells are read as nova reads them and only the C(version) column of that one record is written. A
    record already at O(version) or older is left alone; the module never raises a version.
  - Supports check mode and diff. The configuration files hold the database URLs, which are read by nova's
    code, never put on a command line or returned.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  python:
    description: The Python of the nova code to write with (the control plane's), for example
      V(/opt/stackhop/venvs/2025.1/bin/python).
    type: path
    required: true
  config_files:
    description: nova's configuration files, in the order the services read them (the API database's
      connection is needed to find the cells).
    type: list
    elements: path
    default: [/etc/nova/nova.conf]
  host:
    description: The host the service record belongs to (the compute's name in nova).
    type: str
    required: true
  binary:
    description: The service's binary.
    type: str
    default: nova-compute
  version:
    description: The service version of the code the host goes back to (its C(nova.objects.service.SERVICE_VERSION)).
    type: int
    required: true
attributes:
  check_mode:
    support: full
    details: Reads the record and says whether it would be lowered; writes nothing.
  diff_mode:
    support: full
    details: The record's version before and after.
"""

EXAMPLES = r"""
- name: Let cmp1's nova-compute of 2024.1 save its service record again
  stackhop.upgrade.nova_service_version:
    python: /opt/stackhop/venvs/2025.1/bin/python
    host: cmp1
    version: 66
"""

RETURN = r"""
found:
  description: The host's records of O(binary), one per cell that has one (C(cell), C(id), C(version) before).
  returned: always
  type: list
  elements: dict
cells_not_responding:
  description: Cells whose database did not answer.
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

from ansible_collections.stackhop.upgrade.plugins.module_utils import nova_service_lower
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


def judge(dump, host, binary, version):
    """The module's result from the helper's output: changed when a record was above
    ``version``; an error when no cell holds the record and a cell did not answer."""
    found = dump.get("found") or []
    silent = dump.get("cells_not_responding") or []
    if not found and silent:
        raise StackhopError("no %s record of %s found and cells %s did not answer; start their databases "
                            "and run again" % (binary, host, ", ".join(silent)))
    above = [r for r in found if (r.get("version") or 0) > version]
    if above:
        message = "%s's %s record lowered from version %s to %d, as release N's code writes it" % (
            host, binary, ", ".join(str(r["version"]) for r in above), version)
    elif found:
        message = "%s's %s record is at version %s already" % (
            host, binary, ", ".join(str(r["version"]) for r in found))
    else:
        message = "nova has no %s record of %s: its code creates one when it starts" % (binary, host)
    before = "\n".join("%s: version %s" % (r["cell"], r["version"]) for r in found) + "\n"
    after = "\n".join("%s: version %s" % (r["cell"], version if r in above else r["version"])
                      for r in found) + "\n"
    return {"changed": bool(above), "found": found, "cells_not_responding": silent, "message": message,
            "diff": {"before": before, "after": after,
                     "before_header": "%s %s" % (host, binary), "after_header": "%s %s" % (host, binary)}}


class NovaServiceVersion(StackhopModule):
    argument_spec = dict(
        python=dict(type="path", required=True),
        config_files=dict(type="list", elements="path", default=["/etc/nova/nova.conf"]),
        host=dict(type="str", required=True),
        binary=dict(type="str", default="nova-compute"),
        version=dict(type="int", required=True),
    )

    def run(self):
        p = self.params
        if p["version"] < 1:
            raise StackhopError("version is %d: give the service version of the code %s goes back to "
                                "(its nova.objects.service.SERVICE_VERSION)" % (p["version"], p["host"]))
        python = self.command_path(p["python"], "the Python of nova",
                                   "give the python of the control plane's nova")
        argv = [python, "-I", "-", "--host", p["host"], "--binary", p["binary"], "--version", str(p["version"])]
        if self.check_mode:
            argv.append("--check")
        for path in p["config_files"]:
            if not os.path.isfile(path):
                raise StackhopError("%s does not exist on %s; give nova's configuration files in "
                                    "config_files" % (path, self._host()))
            argv += ["--config-file", path]
        dump, rc, last = self.run_json_helper(argv, nova_service_lower, "the nova service helper")
        if dump is None:
            raise StackhopError("nova's code under %s could not read %s's service record (exit %d: %s); "
                                "check nova's database connections in %s" % (
                                    python, p["host"], rc, last, ", ".join(p["config_files"])))
        return judge(dump, p["host"], p["binary"], p["version"])


def main():
    NovaServiceVersion()()


if __name__ == "__main__":
    main()
