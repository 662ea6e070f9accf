#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: step_marker
short_description: Record the upgrade steps a host has completed, in a local fact, for resume
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - Keeps the completed steps of each upgrade id in the host's local fact file
    (C(/etc/ansible/facts.d/stackhop.fact), JSON), as openstack-ansible does for its online
    migrations. A re-run after a failure reads them and skips what is done.
  - With O(state=present) and O(step), records the step as done. Without O(step), only returns
    the completed steps.
  - With O(state=absent) and O(step), forgets that step; without O(step), forgets the whole
    upgrade id. Clear the upgrade id only when the whole run succeeded.
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  upgrade_id:
    description: Identifier of the upgrade (the same id on the re-run).
    type: str
    required: true
  step:
    description: Name of the step, for example C(backup-nova).
    type: str
  state:
    description: Whether the step (or, without O(step), the upgrade id) is recorded.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description: Run that completed the step (shown in the fact; the report callback exports it
      as E(STACKHOP_RUN_ID)).
    type: str
  path:
    description: Local fact file. Keep it under C(/etc/ansible/facts.d) with a C(.fact) suffix so
      C(ansible_local.stackhop) shows it.
    type: path
    default: /etc/ansible/facts.d/stackhop.fact
attributes:
  check_mode:
    support: full
    details: Reports the steps it would record or clear; writes nothing.
  diff_mode:
    support: full
    details: The marker file's content before and after, as JSON.
"""

EXAMPLES = r"""
- name: Record that the nova backup is done
  stackhop.upgrade.step_marker:
    upgrade_id: "{{ stackhop_upgrade_id }}"
    step: backup-nova

- name: Read the completed steps
  stackhop.upgrade.step_marker:
    upgrade_id: "{{ stackhop_upgrade_id }}"
  register: done_steps

- name: Forget the upgrade after the whole run succeeded
  stackhop.upgrade.step_marker:
    upgrade_id: "{{ stackhop_upgrade_id }}"
    state: absent
"""

RETURN = r"""
steps:
  description: Completed steps of the upgrade id after the task, with when and by which run.
  returned: always
  type: dict
  sample: {"backup-nova": {"done": "2026-11-22T03:04:05Z", "run_id": "20261122T030400Z-123"}}
done:
  description: Names of the completed steps, in the order they were done.
  returned: always
  type: list
  elements: str
  sample: [backup-nova]
path:
  description: The local fact file.
  returned: always
  type: str
executed_commands:
  description: Commands run (none; the module edits one file).
  returned: always
  type: list
  elements: str
"""

import datetime
import json
import os
import tempfile

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


class StepMarker(StackhopModule):
    argument_spec = dict(
        upgrade_id=dict(type="str", required=True),
        step=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        run_id=dict(type="str"),
        path=dict(type="path", default="/etc/ansible/facts.d/stackhop.fact"),
    )

    def _load(self, path):
        if not os.path.exists(path):
            return {}
        try:
            with open(path) as handle:
                data = json.load(handle)
        except ValueError:
            raise StackhopError("%s is not valid JSON; fix or remove it (it holds the completed "
                                "upgrade steps)" % path)
        if not isinstance(data, dict):
            raise StackhopError("%s does not hold a JSON object; fix or remove it" % path)
        return data

    def _save(self, path, data):
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd, tmp = tempfile.mkstemp(prefix=".stackhop-", dir=directory)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)

    def run(self):
        path = self.params["path"]
        upgrade_id = self.params["upgrade_id"]
        step = self.params["step"]
        if not upgrade_id.strip():
            raise StackhopError("upgrade_id is empty; set stackhop_upgrade_id to the upgrade's name")
        before = self._load(path)
        after = json.loads(json.dumps(before))
        upgrades = after.setdefault("upgrades", {})
        if self.params["state"] == "present":
            if step:
                entry = upgrades.setdefault(upgrade_id, {"steps": {}})
                steps = entry.setdefault("steps", {})
                if step not in steps:
                    now = datetime.datetime.now(datetime.timezone.utc)
                    steps[step] = {"done": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                   "order": len(steps) + 1,
                                   "run_id": self.params["run_id"] or ""}
        elif step:
            steps = upgrades.get(upgrade_id, {}).get("steps", {})
            steps.pop(step, None)
        else:
            upgrades.pop(upgrade_id, None)
        if not upgrades:
            after.pop("upgrades", None)
        changed = before != after
        if changed and not self.check_mode:
            if after:
                self._save(path, after)
            else:
                os.remove(path)
        steps = after.get("upgrades", {}).get(upgrade_id, {}).get("steps", {})
        result = {
            "changed": changed,
            "path": path,
            "steps": steps,
            "done": sorted(steps, key=lambda s: steps[s].get("order", 0)),
        }
        if self.diff_mode:
            result["diff"] = {
                "before": json.dumps(before, indent=1, sort_keys=True) + "\n",
                "after": json.dumps(after, indent=1, sort_keys=True) + "\n",
                "before_header": path, "after_header": path,
            }
        return result


def main():
    StepMarker()()


if __name__ == "__main__":
    main()
