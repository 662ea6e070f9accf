#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: async_progress
short_description: Follow a long job started with async, printing a line each time it progresses
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - Runs on the controller (action plugin). Looks at a job started with C(async) and
    C(poll 0) every O(poll) seconds (C(ansible.builtin.async_status)), reads the job's
    O(progress_file) on its host and prints its C(line) each time it changes (on the
    controller's standard error, so that a JSON stdout callback stays valid), until
    the job ends; then returns the job's own result (and fails with its message when
    the job failed).
  - One task instead of a C(until) loop on C(async_status), which prints
    C(FAILED - RETRYING) on every normal look, and no SSH session held while the job runs.
  - Jobs that write such a file are stackhop.upgrade.online_data_migrations with
    O(stackhop.upgrade.online_data_migrations#module:progress_file); any JSON object with
    a C(line) key works.
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  jid:
    description: The job id, C(ansible_job_id) of the task that started it.
    type: str
    required: true
  progress_file:
    description: The JSON file the job rewrites on its host; its C(line) is printed when it changes.
    type: str
  poll:
    description: Seconds between two looks.
    type: int
    default: 10
  timeout:
    description:
      - Seconds to follow the job before failing; the job itself goes on on its host
        (its own C(async) value ends it).
    type: int
    default: 86400
  label:
    description: What the job is, for the messages.
    type: str
    default: the job
attributes:
  check_mode:
    support: full
    details: Follows the job in check mode too (a job started in check mode ran in check mode).
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Start nova's online data migrations
  stackhop.upgrade.online_data_migrations:
    service: nova
    progress_file: /var/lib/stackhop/progress/nova-online-data-migrations.json
  async: 86400
  poll: 0
  register: odm_job

- name: Follow them, a line per batch
  stackhop.upgrade.async_progress:
    jid: "{{ odm_job.ansible_job_id }}"
    progress_file: /var/lib/stackhop/progress/nova-online-data-migrations.json
    label: nova online data migrations
  register: odm
"""

RETURN = r"""
progress_lines:
  description: Every progress line printed, in order.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            jid=dict(type="str", required=True),
            progress_file=dict(type="str"),
            poll=dict(type="int", default=10),
            timeout=dict(type="int", default=86400),
            label=dict(type="str", default="the job"),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="async_progress runs on the controller through its action plugin; "
                         "call it as stackhop.upgrade.async_progress in a task")


if __name__ == "__main__":
    main()
