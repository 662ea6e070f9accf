# Copyright (c) stackhop contributors
# Apache License 2.0 (see LICENSE)
"""The id of one upgrade (no Ansible imports; filter ``stackhop.upgrade.upgrade_id``).

One id names everything a region upgrade records: the step markers that let a re-run
resume, the per-component dumps, the backup set a rollback restores, the inventories
verify compares with, the report. It is decided once per run (``playbooks/_scope.yml``)
and every phase of ``upgrade_region.yml`` reads that one value:

1. ``stackhop_upgrade_id`` when set (an extra var, an inventory var);
2. else the environment variable ``STACKHOP_UPGRADE_ID`` (the operator's, or the one the
   ``upgrade_report`` callback exports for the run);
3. else, for an upgrade or a rollback, ``<region>-<current>-to-<target>`` (release numbers;
   ``<current>-to-<target>`` for an inventory without regions), the same on every re-run of
   that region upgrade; else (a pre-flight, a backup, a verify run on their own) none: ''.
"""

from __future__ import annotations

import re

VARIABLE = "stackhop_upgrade_id"
ENVIRONMENT = "STACKHOP_UPGRADE_ID"
# What a backup set's name allows (roles/backup/tasks/validate.yml); the default keeps to it.
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _text(value):
    if value is None:
        return ""
    return str(value).strip()


def default_id(region, current, target, number=None):
    """``<region>-<current>-to-<target>``, or '' when a release is not known.

    ``number``: a function from a release name (codename or number) to its number, or None
    when the release model does not know it (the name is then taken as it is).
    """
    releases = []
    for name in (_text(current), _text(target)):
        if not name:
            return ""
        releases.append((number(name) if number else None) or name)
    ident = "%s-to-%s" % tuple(releases)
    region = _text(region)
    if region:
        ident = "%s-%s" % (region, ident)
    return UNSAFE.sub("-", ident)


def resolve(explicit, environ, region="", current="", target="", derive=True, number=None):
    """(upgrade id, where it came from): ``stackhop_upgrade_id``, ``STACKHOP_UPGRADE_ID``,
    ``default`` or ``none`` (an empty id: no upgrade id).

    ``explicit``: the value of stackhop_upgrade_id ('' or None when unset); ``environ``: a
    mapping such as ``os.environ``; ``derive``: whether a run without either gets the
    default id (an upgrade or a rollback) or none.
    """
    text = _text(explicit)
    if text:
        return text, VARIABLE
    text = _text(environ.get(ENVIRONMENT))
    if text:
        return text, ENVIRONMENT
    if derive:
        text = default_id(region, current, target, number)
        if text:
            return text, "default"
    return "", "none"
