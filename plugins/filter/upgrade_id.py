# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filter stackhop.upgrade.upgrade_id: the id of one upgrade (docs in upgrade_id.yml; the
decision in plugins/plugin_utils/upgrade_id.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm
from ansible_collections.stackhop.upgrade.plugins.plugin_utils import upgrade_id as decide


def _number(name):
    try:
        return rm.get_release(name)["number"]
    except rm.ReleaseModelError:
        return None


def upgrade_id(explicit=None, region="", current="", target="", derive=True, environ=None):
    """The upgrade id: ``explicit`` (stackhop_upgrade_id), else STACKHOP_UPGRADE_ID, else
    (``derive``) ``<region>-<current>-to-<target>``, else ''."""
    ident, dummy = decide.resolve(explicit, os.environ if environ is None else environ, region,
                                  current, target, derive=_bool(derive), number=_number)
    return ident


def _bool(value):
    """-e gives strings: 'false', 'no', '0' and '' are false."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "n", "off", "f")
    return bool(value)


class FilterModule:
    """stackhop.upgrade.upgrade_id."""

    def filters(self):
        return {"upgrade_id": upgrade_id}
