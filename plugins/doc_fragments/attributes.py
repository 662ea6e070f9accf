# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations


class ModuleDocFragment:
    # What check_mode and diff_mode mean for every stackhop module. Each module states its
    # own support (full, partial or none) and, in details, what it does in that mode.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description:
      - Can run in check mode and then reports whether it would change something, changing
        nothing on the target.
  diff_mode:
    description:
      - Returns in C(diff) what changed, or what would change in check mode, when
        diff mode is on.
"""
