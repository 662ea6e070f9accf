# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters of tempest's verify: whether saved results are kept, and the before/after table
(module_utils/tempest.py decides).

Each filter's documentation is in the YAML file of the same name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.module_utils.tempest import markdown, results_kept


def tempest_table(result):
    if not isinstance(result, dict):
        raise AnsibleFilterError("tempest_table expects the verify role's tempest result (a dict), got %s"
                                 % type(result).__name__)
    return "\n".join(markdown(result))


def tempest_results_kept(saved, upgrade_id):
    if not isinstance(saved, (str, bytes, dict)) and saved is not None:
        raise AnsibleFilterError("tempest_results_kept expects a results file's JSON text or data, got %s"
                                 % type(saved).__name__)
    return results_kept(saved or "", upgrade_id or "")


class FilterModule(object):
    def filters(self):
        return {"tempest_table": tempest_table, "tempest_results_kept": tempest_results_kept}
