#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_accounts
short_description: Give a database server the accounts another one has on some databases
version_added: 0.1.0
description:
  - Makes each account of O(accounts), as P(stackhop.upgrade.db_accounts_info#module) read it on the old server,
    exist on this server with the same password hash and TLS requirement (C(CREATE USER), or C(ALTER USER) when
    they differ) and the same grants on O(databases) (each missing C(GRANT)). Grants the account has beyond those
    are left alone.
  - So the services log in to the new database server exactly as they did to the old one when the database moves
    with the control plane; no password is given or known, only the hashes the old server holds.
  - Refuses, before anything changes, a statement that is not the account's own C(CREATE USER) or a C(GRANT) of
    the account on one of O(databases).
  - Results and errors show the statements with every hash masked.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.db_login
  - stackhop.upgrade.attributes
options:
  databases:
    description: The databases the accounts' grants are on.
    type: list
    elements: str
    required: true
  accounts:
    description: The accounts, as P(stackhop.upgrade.db_accounts_info#module) returns them (C(user), C(host),
      C(create), C(grants)).
    type: list
    elements: dict
    required: true
attributes:
  check_mode:
    support: full
    details: Reads the server's accounts and says which statements would run; runs none.
  diff_mode:
    support: full
    details: Each account's statements before and after, hashes masked.
"""

EXAMPLES = r"""
- name: Give the new server nova's accounts
  stackhop.upgrade.db_accounts:
    login_user: root
    login_unix_socket: /run/mysqld/mysqld.sock
    databases: [nova_api, nova, nova_cell0]
    accounts: "{{ nova_accounts.accounts }}"
"""

RETURN = r"""
statements:
  description: The statements run (would run in check mode), hashes masked.
  returned: always
  type: list
  elements: str
message:
  description: One sentence on the result.
  returned: always
  type: str
"""

from ansible_collections.stackhop.upgrade.plugins.module_utils import db_move as dm
from ansible_collections.stackhop.upgrade.plugins.module_utils.db_login import (
    db_connect,
    db_login_argument_spec,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.dburl import pymysql
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


def _shown(account):
    if account is None:
        return ""
    return "\n".join(dm.mask_statement(s) for s in [account["create"]] + account["grants"]) + "\n"


class DbAccounts(StackhopModule):
    argument_spec = dict(
        databases=dict(type="list", elements="str", required=True),
        accounts=dict(type="list", elements="dict", required=True, no_log=True),
        **db_login_argument_spec()
    )

    def run(self):
        p = self.params
        wanted = []
        for account in p["accounts"]:
            rec = {"user": account.get("user"), "host": account.get("host"),
                   "create": (account.get("create") or "").strip(),
                   "grants": [g.strip() for g in account.get("grants") or []]}
            if not rec["user"] or rec["host"] is None:
                raise StackhopError("An account of accounts has no user or host: give the accounts "
                                    "stackhop.upgrade.db_accounts_info read.")
            try:
                dm.check_account(rec, p["databases"])
            except dm.DbMoveError as exc:
                raise StackhopError(str(exc))
            wanted.append(rec)
        conn = db_connect(p, "check login_user, its password or socket, and that it may create accounts")
        run, before, after = [], [], []
        try:
            with conn.cursor() as cur:
                for rec in wanted:
                    have = dm.read_account(cur, rec["user"], rec["host"], p["databases"])
                    todo = dm.account_statements(rec, have)
                    before.append(_shown(have))
                    after.append(_shown(rec))
                    for statement in todo:
                        run.append(dm.mask_statement(statement))
                        if not self.check_mode:
                            cur.execute(statement)
            if not self.check_mode:
                conn.commit()
        except pymysql.MySQLError as exc:
            raise StackhopError("Cannot give %s the accounts of %s (%s): give login_user CREATE USER and GRANT "
                                "OPTION on the new server." % (
                                    p["login_unix_socket"] or p["login_host"], ", ".join(p["databases"]),
                                    dm.mask_statement(str(exc.args[-1] if exc.args else exc))))
        finally:
            conn.close()
        names = ", ".join("%s@%s" % (a["user"], a["host"]) for a in wanted) or "no account"
        return {"changed": bool(run), "statements": run,
                "message": "%s: %s" % (names, "%d statement(s) %s" % (
                    len(run), "would run" if self.check_mode else "run") if run else "already as on the old server"),
                "diff": {"before": "".join(before), "after": "".join(after),
                         "before_header": "accounts", "after_header": "accounts"}}


def main():
    DbAccounts()()


if __name__ == "__main__":
    main()
