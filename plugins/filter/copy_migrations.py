# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters stackhop.upgrade.copy_migrations and stackhop.upgrade.copy_migration_host: MCP's
test-upgrade on the backup's <db>_upgrade copies (docs in the YAML files of the same names;
the decision in plugins/module_utils/copy_migrations.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.stackhop.upgrade.plugins.module_utils import copy_migrations as decide


def copy_migrations(wanted, current, target, databases=None, suffix="_upgrade",
                    venv_root="/opt/stackhop/venvs", connection=None):
    """The ordered migrations of every release of the path on the copies."""
    try:
        return decide.copy_migrations(list(wanted) if isinstance(wanted, (list, tuple)) else wanted,
                                      current, target, databases=databases, suffix=suffix,
                                      venv_root=venv_root, connection=connection)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


def copy_migration_host(groups, scope_group=decide.SCOPE_GROUP):
    """The host that runs the migrations on the copies ('' when none)."""
    return decide.migration_host(groups, scope_group)


class FilterModule:
    """stackhop.upgrade.copy_migrations, stackhop.upgrade.copy_migration_host."""

    def filters(self):
        return {"copy_migrations": copy_migrations, "copy_migration_host": copy_migration_host}
