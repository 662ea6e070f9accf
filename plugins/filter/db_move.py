# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters stackhop.upgrade.db_move and stackhop.upgrade.db_rollback: where the databases
are while the control plane moves, and what a rollback does with them (the decisions in
plugins/module_utils/db_move.py; docs in db_move.yml and db_rollback.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.stackhop.upgrade.plugins.module_utils import db_move as decide


def db_move(strategy, old_hosts, new_hosts, old_address, new_address="", adopted=None):
    """{moves, old, new, servers, addresses} of this run (db_move.database_move)."""
    try:
        return decide.database_move(strategy, old_hosts, new_hosts, old_address, new_address,
                                    adopted or [])
    except decide.DbMoveError as exc:
        raise AnsibleFilterError(str(exc))


def db_rollback(moves, components, backup_dir, upgrade_id, backup_sets=None):
    """{action, server, sets} of a rollback (db_move.rollback_databases)."""
    return decide.rollback_databases(bool(moves), list(components or []), backup_dir,
                                     upgrade_id, list(backup_sets or []))


class FilterModule:
    """stackhop.upgrade.db_move, stackhop.upgrade.db_rollback."""

    def filters(self):
        return {"db_move": db_move, "db_rollback": db_rollback}
