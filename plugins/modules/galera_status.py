#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: galera_status
short_description: Read whether a MariaDB Galera node is fit for an upgrade (synced, ready, in the primary component)
version_added: 0.1.0
description:
  - Reads the node's C(wsrep_%) status and variables (C(SHOW GLOBAL STATUS), C(SHOW GLOBAL VARIABLES)) and
    reports its cluster size, component, readiness and local state, with one sentence per problem.
  - An upgrade that restarts services one controller at a time keeps writing to the cluster, so every node
    must be C(Synced), C(wsrep_ready) and in the C(Primary) component, and the cluster as large as the
    inventory says; a node still joining (or a donor of a state transfer) is not.
  - A server that is not a Galera node (C(wsrep_on) off) is reported as such; it is a problem only when
    O(expected_size) says the inventory lists several database servers.
  - Reads only; never changes anything. Reports problems in RV(status) and RV(problems) instead of
    failing, so the preflight role prints one summary; fails only when it cannot connect.
author:
  - stackhop contributors (@stackhop)
options:
  expected_size:
    description:
      - The number of database servers the inventory lists (the C(stackhop_db) group). The node must see a
        cluster of that size. V(0) does not check the size.
    type: int
    default: 0
extends_documentation_fragment:
  - stackhop.upgrade.db_login
  - stackhop.upgrade.attributes
attributes:
  check_mode:
    support: full
    details: Reads only, so it runs the same reads in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Read this node's Galera state (root by the server's socket)
  stackhop.upgrade.galera_status:
    login_user: root
    login_unix_socket: /run/mysqld/mysqld.sock
    expected_size: "{{ groups['stackhop_db'] | length }}"
  register: galera
"""

RETURN = r"""
status:
  description: V(ok) or V(failure).
  returned: always
  type: str
problems:
  description: One sentence per problem, each naming the node and the fix.
  returned: always
  type: list
  elements: str
galera:
  description: Whether the server is a Galera node (C(wsrep_on) is ON).
  returned: always
  type: bool
cluster_name:
  description: C(wsrep_cluster_name).
  returned: always
  type: str
cluster_size:
  description: The nodes this node sees in its component (0 on a server that is not a Galera node).
  returned: always
  type: int
cluster_status:
  description: C(Primary), C(non-Primary) or C(Disconnected).
  returned: always
  type: str
cluster_state_uuid:
  description: The cluster's state UUID (the same on every node of one cluster).
  returned: always
  type: str
connected:
  description: C(wsrep_connected).
  returned: always
  type: bool
ready:
  description: C(wsrep_ready).
  returned: always
  type: bool
local_state:
  description: C(wsrep_local_state_comment), for example V(Synced) or V(Donor/Desynced).
  returned: always
  type: str
incoming_addresses:
  description: The addresses the cluster's nodes take clients on (C(wsrep_incoming_addresses)).
  returned: always
  type: list
  elements: str
flow_control_paused:
  description: The share of time replication was paused by flow control since the status was last reset.
  returned: always
  type: float
provider_version:
  description: The Galera library's version.
  returned: always
  type: str
executed_commands:
  description: The SQL statements run.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.stackhop.upgrade.plugins.module_utils import cluster_health
from ansible_collections.stackhop.upgrade.plugins.module_utils.db_login import (
    db_connect,
    db_login_argument_spec,
    db_where,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.dburl import HAS_PYMYSQL, pymysql
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

Q_STATUS = "SHOW GLOBAL STATUS LIKE 'wsrep%'"
Q_VARIABLES = "SHOW GLOBAL VARIABLES LIKE 'wsrep%'"


class GaleraStatus(StackhopModule):
    argument_spec = dict(
        expected_size=dict(type="int", default=0),
        **db_login_argument_spec()
    )

    def _rows(self, cur, sql):
        self.executed_commands.append(sql)
        cur.execute(sql)
        return dict((name, value) for name, value in cur.fetchall())

    def run(self):
        p = self.params
        if not HAS_PYMYSQL:
            raise StackhopError(
                "PyMySQL is not installed on %s: install python3-pymysql (or PyMySQL in "
                "the interpreter Ansible uses)." % self._host())
        if p["expected_size"] < 0:
            raise StackhopError("expected_size is %d: give the number of database servers, or 0 not to check it."
                                % p["expected_size"])
        conn = db_connect(p, "check the login options (root by the server's socket reads the status).")
        try:
            with conn.cursor() as cur:
                status = self._rows(cur, Q_STATUS)
                variables = self._rows(cur, Q_VARIABLES)
        except pymysql.MySQLError as exc:
            raise StackhopError("Reading the wsrep status of %s failed (%s): log in as a user that may run "
                                "SHOW GLOBAL STATUS." % (db_where(p), exc.args[-1] if exc.args else exc))
        finally:
            conn.close()
        state = cluster_health.galera_state(status, variables)
        problems = cluster_health.galera_problems(self._host(), state, p["expected_size"])
        return dict(state, status="failure" if problems else "ok", problems=problems)


def main():
    GaleraStatus()()


if __name__ == "__main__":
    main()
