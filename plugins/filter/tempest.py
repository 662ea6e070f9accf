# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters of tempest's verify: its before/after table (module_utils/tempest.py decides).

Each filter's documentation is in the YAML file of the same name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.module_utils.tempest import markdown


def tempest_table(result):
    if not isinstance(result, dict):
        raise AnsibleFilterError("tempest_table expects the verify role's tempest result (a dict), got %s"
                                 % type(result).__name__)
    return "\n".join(markdown(result))


class FilterModule(object):
    def filters(self):
        return {"tempest_table": tempest_table}
