#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: approval_gate
short_description: Wait for an operator's approval before the upgrade goes on, or stop cleanly
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - Runs on the controller (action plugin). Approves at once when O(mode=auto) or when
    O(name) is in O(approved); else approves or rejects when the file
    C(<approval_dir>/<name>.approved) or C(<name>.rejected) exists; else, with O(mode=prompt)
    and an interactive terminal, asks the operator (yes/no); with O(mode=file), waits for one
    of the files.
  - With O(mode=prompt) and nobody at a terminal (stdin is not a terminal, or the run is under
    ansible-runner, AWX or Automation Platform, whose pseudo-terminal nobody types into) the
    task fails at once with a message naming the gate and the ways to approve it, instead of
    waiting O(timeout) seconds.
  - After O(timeout) seconds without an answer the task fails with a message that says the
    upgrade stopped cleanly and how to continue. Use it with C(any_errors_fatal) and C(run_once)
    (the C(stackhop.upgrade.approval_gate) role does).
  - Every way to answer is a variable or a file, so a run under an AWX job template needs no
    terminal; see docs/report.md for the mapping to workflow approval nodes.
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  name:
    description: Name of the gate, for example C(az1-canary); names the approval files.
    type: str
    required: true
  question:
    description: Question shown to the operator.
    type: str
    default: ""
  mode:
    description:
      - C(prompt) asks on the terminal when there is one, else fails at once saying how to approve.
      - C(auto) approves without asking (CI, unattended runs).
      - C(file) waits for a file only.
    type: str
    default: prompt
    choices: [prompt, auto, file]
  timeout:
    description: Seconds to wait for an answer before stopping the run (MCP used two hours).
    type: int
    default: 7200
  approved:
    description: Gate names approved in advance (for example by an AWX workflow approval node).
    type: list
    elements: str
    default: []
  approval_dir:
    description: Directory of the approval files, on the controller.
    type: path
    default: build/approvals
  poll:
    description: Seconds between two looks for an approval file.
    type: int
    default: 5
notes:
  - Supports check mode (it asks in check mode too, so a rehearsal with C(--check) stops at the same gates).
attributes:
  check_mode:
    support: full
    details: Asks in check mode too, so a rehearsal with C(--check) stops at the same gates; it
      changes nothing on any host in either mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Ask before the rest of the AZ
  stackhop.upgrade.approval_gate:
    name: az1-canary
    question: The canary hosts of az1 are upgraded and verified. Upgrade the rest of az1?
    mode: "{{ stackhop_approval | default('prompt') }}"
    timeout: "{{ stackhop_approval_timeout | default(7200) }}"
    approved: "{{ stackhop_approved_gates | default([]) }}"
  run_once: true
  any_errors_fatal: true
"""

RETURN = r"""
gate:
  description: Name of the gate.
  returned: always
  type: str
  sample: az1-canary
approved:
  description: Whether the gate was approved.
  returned: always
  type: bool
approved_by:
  description: Who or what answered.
  returned: always
  type: str
  sample: stackhop_approval=auto
waited_s:
  description: Seconds the gate waited.
  returned: always
  type: float
expired:
  description: True when nobody answered before the timeout.
  returned: when the gate expired
  type: bool
unattended:
  description: True when the gate failed at once because nobody was at a terminal to answer it.
  returned: when nobody could answer
  type: bool
approval_files:
  description: Paths of the approval and rejection files.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            question=dict(type="str", default=""),
            mode=dict(type="str", default="prompt", choices=["prompt", "auto", "file"]),
            timeout=dict(type="int", default=7200),
            approved=dict(type="list", elements="str", default=[]),
            approval_dir=dict(type="path", default="build/approvals"),
            poll=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="approval_gate runs on the controller through its action plugin; "
                         "call it as stackhop.upgrade.approval_gate in a task")


if __name__ == "__main__":
    main()
