#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_stored_urls
short_description: Point the database URLs a service keeps in a table at another database server
version_added: 0.1.0
description:
  - Some services keep database URLs in their own database; nova's C(nova_api.cell_mappings) holds the URL of
    cell0's and each cell's database, and nova reaches them only through it. When the database moves to a new
    server with the control plane, the copy on the new server still names the old server, so nova would go on
    writing there.
  - Rewrites, in O(table) of O(database), the host of every URL in O(column) that names O(from_host) to
    O(to_host), keeping user, password, port, database and query; a URL naming another host, or a template
    such as nova's C({hostname}), is left alone. Run it on the new server only; the old one keeps its URLs, so a
    rollback finds them as they were.
  - Passwords are never returned; results show the URLs masked.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.db_login
  - stackhop.upgrade.attributes
options:
  database:
    description: The database holding the table, for example V(nova_api).
    type: str
    required: true
  table:
    description: The table, for example V(cell_mappings).
    type: str
    required: true
  key:
    description: Its column that names a row, for example V(uuid).
    type: str
    required: true
  column:
    description: Its column holding the URLs, for example V(database_connection).
    type: str
    required: true
  from_host:
    description: The old server's address as the URLs name it (C(stackhop_db_address)).
    type: str
    required: true
  to_host:
    description: The new server's address (C(stackhop_db_address_new)).
    type: str
    required: true
attributes:
  check_mode:
    support: full
    details: Reads the URLs and says which would be rewritten; writes nothing.
  diff_mode:
    support: full
    details: Each rewritten row's URL before and after, passwords masked.
"""

EXAMPLES = r"""
- name: Point nova's cell mappings at the new database server
  stackhop.upgrade.db_stored_urls:
    login_user: root
    login_unix_socket: /run/mysqld/mysqld.sock
    database: nova_api
    table: cell_mappings
    key: uuid
    column: database_connection
    from_host: 10.20.0.11
    to_host: 10.20.0.12
"""

RETURN = r"""
rewritten:
  description: The rows rewritten (would be in check mode), C(key) and the masked URL C(before) and C(after).
  returned: always
  type: list
  elements: dict
message:
  description: One sentence on the result.
  returned: always
  type: str
"""

import re

from ansible_collections.stackhop.upgrade.plugins.module_utils import db_move as dm
from ansible_collections.stackhop.upgrade.plugins.module_utils.db_login import (
    db_connect,
    db_login_argument_spec,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.dburl import pymysql
from ansible_collections.stackhop.upgrade.plugins.module_utils.secrets import Masker
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]+$")


def _lines(rows, side):
    return "".join("%s: %s\n" % (r["key"], r[side]) for r in rows)


class DbStoredUrls(StackhopModule):
    argument_spec = dict(
        database=dict(type="str", required=True),
        table=dict(type="str", required=True),
        key=dict(type="str", required=True, no_log=False),
        column=dict(type="str", required=True),
        from_host=dict(type="str", required=True),
        to_host=dict(type="str", required=True),
        **db_login_argument_spec()
    )

    def run(self):
        p = self.params
        for name in ("database", "table", "key", "column"):
            if not _IDENTIFIER.match(p[name]):
                raise StackhopError("%s %r is not a plain identifier: give the name of the %s (letters, digits, "
                                    "underscores)." % (name, p[name], name))
        where = "%s.%s.%s" % (p["database"], p["table"], p["column"])
        table = "`%s`.`%s`" % (p["database"], p["table"])
        masker = Masker()
        conn = db_connect(p, "check login_user, its password or socket")
        rewritten = []
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT `%s`, `%s` FROM %s" % (p["key"], p["column"], table))
                for key, url in cur.fetchall():
                    masker.add_url(url or "")
                    new = dm.rewrite_url_host(url, p["from_host"], p["to_host"])
                    if new is None:
                        continue
                    rewritten.append({"key": key, "before": masker.mask(url), "after": masker.mask(new)})
                    if not self.check_mode:
                        cur.execute("UPDATE %s SET `%s` = %%s WHERE `%s` = %%s" % (table, p["column"], p["key"]),
                                    (new, key))
            if not self.check_mode:
                conn.commit()
        except pymysql.MySQLError as exc:
            reason = masker.mask(str(exc.args[-1] if exc.args else exc))
            raise StackhopError("Cannot rewrite the URLs in %s (%s): check that the database was loaded and that "
                                "login_user may update it." % (where, reason))
        finally:
            conn.close()
        return {"changed": bool(rewritten), "rewritten": rewritten,
                "message": "%s: %s" % (where, "%d URL(s) %s from %s to %s" % (
                    len(rewritten), "would be pointed" if self.check_mode else "pointed", p["from_host"],
                    p["to_host"]) if rewritten else "no URL names %s" % p["from_host"]),
                "diff": {"before": _lines(rewritten, "before"), "after": _lines(rewritten, "after"),
                         "before_header": where, "after_header": where}}


def main():
    DbStoredUrls()()


if __name__ == "__main__":
    main()
