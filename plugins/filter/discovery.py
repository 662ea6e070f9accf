# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters of stackhop.upgrade.service_discovery's results: the pre-flight's rows of a
host (module_utils/discovery.py decides).

Each filter's documentation is in the YAML file of the same name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.module_utils.discovery import preflight_rows


def discovery_preflight_rows(result, host, current_release, target_release, new_controller=False):
    if not isinstance(result, dict):
        raise AnsibleFilterError("discovery_preflight_rows expects a service_discovery result (a dict), got %s"
                                 % type(result).__name__)
    return preflight_rows(str(host), result, str(current_release or ""), str(target_release or ""),
                          bool(new_controller))


class FilterModule(object):
    def filters(self):
        return {"discovery_preflight_rows": discovery_preflight_rows}
