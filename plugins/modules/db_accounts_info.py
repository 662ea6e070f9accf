#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_accounts_info
short_description: Read the accounts that hold privileges on some databases, to give another server the same
version_added: 0.1.0
description:
  - Reads, from C(information_schema), every account with a privilege on one of O(databases) (a grant on the
    database or on one of its tables), then each one's C(SHOW CREATE USER) (its password hash, TLS requirement)
    and those of its C(SHOW GRANTS) lines that are on O(databases).
  - What P(stackhop.upgrade.db_accounts#module) needs to create the same accounts on the new database server
    when the database moves with the control plane; reads only.
  - The result holds password hashes (never a password); register it with C(no_log).
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.db_login
  - stackhop.upgrade.attributes
options:
  databases:
    description: The databases whose accounts are read, for example V([nova_api, nova, nova_cell0]).
    type: list
    elements: str
    required: true
attributes:
  check_mode:
    support: full
    details: Reads only, in every mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Read the accounts of nova's databases on the old server
  stackhop.upgrade.db_accounts_info:
    login_user: root
    login_unix_socket: /run/mysqld/mysqld.sock
    databases: [nova_api, nova, nova_cell0]
  register: nova_accounts
  no_log: true
"""

RETURN = r"""
accounts:
  description: Each account (C(user), C(host), C(create) its CREATE USER statement, C(grants) its GRANT lines on
    O(databases)).
  returned: always
  type: list
  elements: dict
databases_without_account:
  description: Databases of O(databases) that the server has and on which no account holds a privilege of its own.
  returned: always
  type: list
  elements: str
message:
  description: One sentence on what was read (no hash).
  returned: always
  type: str
"""

from ansible_collections.stackhop.upgrade.plugins.module_utils import db_move as dm
from ansible_collections.stackhop.upgrade.plugins.module_utils.db_login import (
    db_connect,
    db_login_argument_spec,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

# every grantee with a privilege on one of the schemas, and the schema
GRANTEES = ("SELECT GRANTEE, TABLE_SCHEMA FROM information_schema.SCHEMA_PRIVILEGES WHERE TABLE_SCHEMA IN ({0}) "
            "UNION SELECT GRANTEE, TABLE_SCHEMA FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA IN ({0})")


def read_accounts(cur, databases):
    """(accounts, databases without an account) of the server ``cur`` is connected to."""
    patterns = dm.schema_patterns(databases)
    marks = ", ".join(["%s"] * len(patterns))
    cur.execute(GRANTEES.format(marks), patterns + patterns)
    grantees, covered = [], set()
    for grantee, schema in cur.fetchall():
        covered.add(schema.replace("\\_", "_"))
        if grantee not in grantees:
            grantees.append(grantee)
    # a database the server does not have (nothing to dump, nothing to grant) is no orphan
    marks = ", ".join(["%s"] * len(databases))
    cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (%s)" % marks,
                list(databases))
    present = set(row[0] for row in cur.fetchall())
    accounts = []
    for grantee in sorted(grantees):
        user, host = dm.parse_grantee(grantee)
        account = dm.read_account(cur, user, host, databases)
        if account is not None:   # listed as a grantee, but no longer an account
            accounts.append(account)
    return accounts, [d for d in databases if d in present and d not in covered]


class DbAccountsInfo(StackhopModule):
    argument_spec = dict(
        databases=dict(type="list", elements="str", required=True),
        **db_login_argument_spec()
    )

    def run(self):
        p = self.params
        if not p["databases"]:
            raise StackhopError("databases is empty: name the databases whose accounts to read.")
        conn = db_connect(p, "check login_user, its password or socket, and that it may read mysql's accounts")
        try:
            with conn.cursor() as cur:
                accounts, orphans = read_accounts(cur, p["databases"])
        except Exception as exc:  # pylint: disable=broad-except
            raise StackhopError("Cannot read the accounts of %s (%s): give login_user the privilege to read "
                                "every account (root, or SELECT on mysql)." % (
                                    ", ".join(p["databases"]), dm.mask_statement(str(exc))))
        finally:
            conn.close()
        names = ", ".join("%s@%s" % (a["user"], a["host"]) for a in accounts) or "none"
        return {"accounts": accounts, "databases_without_account": orphans,
                "message": "accounts with privileges on %s: %s" % (", ".join(p["databases"]), names)}


def main():
    DbAccountsInfo()()


if __name__ == "__main__":
    main()
