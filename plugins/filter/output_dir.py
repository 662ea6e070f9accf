# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filter stackhop.upgrade.output_dir: the directory a run writes its files into (docs in
output_dir.yml; the decision in plugins/plugin_utils/output_dir.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.stackhop.upgrade.plugins.plugin_utils import output_dir as decide


def output_dir(value=None, environ=None, cwd=None):
    """Absolute directory for the run's files; ``value`` is ``stackhop_output_dir`` or ''."""
    path, dummy = decide.resolve(value, os.environ if environ is None else environ,
                                 cwd or os.getcwd())
    return path


class FilterModule:
    """stackhop.upgrade.output_dir."""

    def filters(self):
        return {"output_dir": output_dir}
