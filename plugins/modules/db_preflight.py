#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_preflight
short_description: Check a service database before an upgrade (grants, unknown schema revisions, size)
version_added: 0.1.0
description:
  - Connects to MariaDB or MySQL B(as the service's own database user) and reads, from
    C(information_schema), the privileges that user really has on O(database) (global
    grants and schema grants, wildcard patterns included). A missing C(ALTER), C(DROP),
    C(CREATE) or C(INDEX) makes C(db sync) fail half-way (HULK).
  - When O(revision_paths) name the migration directories of the B(target) release's
    code, reads the revisions recorded in the database's O(version_table) and reports
    every revision the target release does not know, the sign of a locally altered
    schema (HULK's extra neutron table) that breaks C(neutron-db-manage).
  - Known revisions are read from the migration files' Python syntax tree (the
    module-level C(revision) assignment), never by importing them.
  - Reads only; never changes anything. Reports problems in RV(status) and
    RV(problems) instead of failing, so the preflight role can print one summary; fails
    only when it cannot connect or cannot read O(revision_paths).
author:
  - stackhop contributors (@stackhop)
options:
  database:
    description: The database (schema) to check, for example V(neutron).
    type: str
    required: true
  required_privileges:
    description: Privileges the user must hold on O(database).
    type: list
    elements: str
    default: [SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES]
  revision_paths:
    description:
      - Migration directories (alembic C(versions) folders) of the target release's
        code; every C(*.py) file below them is read. Empty skips the revision check.
    type: list
    elements: path
    default: []
  version_table:
    description: The table that records the applied revisions.
    type: str
    default: alembic_version
extends_documentation_fragment:
  - stackhop.upgrade.db_login
  - stackhop.upgrade.attributes
attributes:
  check_mode:
    support: full
    details: Reads only, so it runs the same checks in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Check neutron's database against 2025.1's migrations
  stackhop.upgrade.db_preflight:
    database: neutron
    login_user: neutron
    login_password: "{{ neutron_db_password }}"
    login_host: db.example.com
    revision_paths:
      - /opt/stackhop/venvs/2025.1/lib/python3.11/site-packages/neutron/db/migration/alembic_migrations/versions
  register: neutron_db
"""

RETURN = r"""
status:
  description: V(ok) or V(failure).
  returned: always
  type: str
problems:
  description: One sentence per problem, each naming the fix.
  returned: always
  type: list
  elements: str
privileges:
  description: Privileges the user holds on O(database), upper case, sorted.
  returned: always
  type: list
  elements: str
missing_privileges:
  description: O(required_privileges) the user lacks.
  returned: always
  type: list
  elements: str
revisions:
  description: Revisions recorded in O(version_table) (empty when the table is absent).
  returned: always
  type: list
  elements: str
unknown_revisions:
  description: Recorded revisions that no file under O(revision_paths) defines.
  returned: always
  type: list
  elements: str
known_revisions:
  description: Number of revisions found under O(revision_paths).
  returned: always
  type: int
size_bytes:
  description: Data and index size of O(database), in bytes (0 when it does not exist).
  returned: always
  type: int
executed_commands:
  description: The SQL statements run (no secrets).
  returned: always
  type: list
  elements: str
"""

import re

from ansible_collections.stackhop.upgrade.plugins.module_utils.alembic_revisions import (
    RevisionError,
    read_graph,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.db_login import (
    db_connect,
    db_login_argument_spec,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.dburl import HAS_PYMYSQL, pymysql
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


Q_GLOBAL = ("SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES "
            "WHERE GRANTEE = CONCAT(\"'\", SUBSTRING_INDEX(CURRENT_USER(), '@', 1), "
            "\"'@'\", SUBSTRING_INDEX(CURRENT_USER(), '@', -1), \"'\")")
Q_SCHEMA = ("SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES "
            "WHERE GRANTEE = CONCAT(\"'\", SUBSTRING_INDEX(CURRENT_USER(), '@', 1), "
            "\"'@'\", SUBSTRING_INDEX(CURRENT_USER(), '@', -1), \"'\")")
Q_SIZE = ("SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
          "WHERE TABLE_SCHEMA = %s")
Q_TABLE = ("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
           "AND TABLE_NAME = %s")


def schema_pattern_matches(pattern, name):
    """MySQL grant patterns: % and _ are wildcards, backslash escapes them."""
    regex = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
        i += 1
    return re.match("^%s$" % regex, name) is not None


def revisions_in(paths):
    """Revision ids the migration files below ``paths`` define (module_utils/alembic_revisions)."""
    try:
        return set(read_graph(paths))
    except RevisionError as exc:
        raise StackhopError(str(exc))


class DbPreflight(StackhopModule):
    argument_spec = dict(
        database=dict(type="str", required=True),
        required_privileges=dict(type="list", elements="str", default=[
            "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX",
            "REFERENCES"]),
        revision_paths=dict(type="list", elements="path", default=[]),
        version_table=dict(type="str", default="alembic_version"),
        **db_login_argument_spec()
    )

    def _query(self, cur, sql, args=None):
        self.executed_commands.append(sql)
        cur.execute(sql, args)
        return cur.fetchall()

    def run(self):
        p = self.params
        if not HAS_PYMYSQL:
            raise StackhopError(
                "PyMySQL is not installed on %s: install python3-pymysql (or PyMySQL in "
                "the interpreter Ansible uses)." % self._host())
        if not re.match(r"^\w+$", p["version_table"]):
            raise StackhopError(
                "version_table %r is not a plain table name: give the table name only, "
                "for example alembic_version." % p["version_table"])
        known = revisions_in(p["revision_paths"]) if p["revision_paths"] else None
        conn = db_connect(p, "check the address and the user's password in the service "
                             "configuration.")
        db = p["database"]
        problems = []
        try:
            with conn.cursor() as cur:
                privs = set(r[0].upper() for r in self._query(cur, Q_GLOBAL))
                for schema, priv in self._query(cur, Q_SCHEMA):
                    if schema_pattern_matches(schema, db):
                        privs.add(priv.upper())
                size = int(self._query(cur, Q_SIZE, (db,))[0][0])
                revisions = []
                has_table = self._query(cur, Q_TABLE, (db, p["version_table"]))[0][0]
                if has_table:
                    revisions = sorted(r[0] for r in self._query(
                        cur, "SELECT version_num FROM `%s`.`%s`" % (
                            db.replace("`", "``"), p["version_table"])))
        except pymysql.MySQLError as exc:
            raise StackhopError(
                "Reading %s's grants and schema as %s failed (%s): grant the user SELECT on "
                "the database." % (db, p["login_user"], exc.args[-1] if exc.args else exc))
        finally:
            conn.close()
        missing = sorted(set(x.upper() for x in p["required_privileges"]) - privs)
        if missing:
            problems.append(
                "Database user %s lacks %s on %s, so db sync would fail half-way: run "
                "GRANT ALL PRIVILEGES ON `%s`.* TO the service user (as HULK had to)."
                % (p["login_user"], ", ".join(missing), db, db))
        unknown = []
        if known is not None:
            unknown = sorted(r for r in revisions if r not in known)
            if unknown:
                problems.append(
                    "Database %s records revision%s %s, which the target release's "
                    "migrations do not know (a locally altered schema): move the local "
                    "change out of the service's migration history, or restore the "
                    "upstream revision, before the window." % (
                        db, "s" if len(unknown) > 1 else "", ", ".join(unknown)))
        return {
            "status": "failure" if problems else "ok",
            "problems": problems,
            "privileges": sorted(privs),
            "missing_privileges": missing,
            "revisions": revisions,
            "unknown_revisions": unknown,
            "known_revisions": len(known) if known is not None else 0,
            "size_bytes": size,
        }


def main():
    DbPreflight()()


if __name__ == "__main__":
    main()
