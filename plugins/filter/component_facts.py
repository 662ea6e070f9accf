# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filter stackhop.upgrade.component_facts: one field of the component catalogue for
several components (docs in component_facts.yml; the catalogue in
plugins/module_utils/components.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.stackhop.upgrade.plugins.module_utils import components


def component_facts(wanted, field, deployable=False, flat=False):
    """{component: field} for the components ``wanted`` (names, or ``all`` for every one
    in upgrade order; with ``deployable``, only those a role deploys); with ``flat``, the
    values as one list."""
    try:
        return components.facts(wanted, field, deployable=bool(deployable), flat=bool(flat))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    """stackhop.upgrade.component_facts."""

    def filters(self):
        return {"component_facts": component_facts}
