#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nova_cell_v2
short_description: Bring nova's cells v2 layout into place idempotently
version_added: 0.1.0
description:
  - Maps cell0, creates the cells that are missing, discovers compute hosts and maps
    instances with C(nova-manage cell_v2), converging on re-runs
    (C(nova-manage cell_v2 create_cell) alone would create a second cell of the same name).
  - The current layout is read from the nova_api database with PyMySQL (tables
    C(cell_mappings), C(host_mappings), C(instance_mappings)) and compared with each cell
    database (C(compute_nodes), C(instances)), so check mode and diff show exactly what
    would be mapped. C(nova-manage cell_v2 list_cells) only prints a table for humans,
    which is why the module reads the database nova-manage itself uses.
  - With O(discover_hosts=false) and O(map_instances=false) only the nova_api database is
    read, so a deploy can map cell0 and create its cells before the cell databases have
    their schema (nova's order - api_db sync, map_cell0, create_cell, db sync).
  - Changes are made by C(nova-manage) only; its documented exit codes are interpreted.
  - No password ever appears in results, diff, warnings or errors, and none is put on
    a command line; URLs that nova-manage needs are handed over in a temporary
    configuration file (mode 0600) passed with C(--config-file).
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  nova_manage:
    description:
      - The C(nova-manage) command, a name looked up on C(PATH) or an absolute path
        (for example inside a virtualenv).
    type: str
    default: nova-manage
  config_file:
    description:
      - The nova configuration file nova-manage reads (passed as C(--config-file)).
      - Its C([api_database] connection), C([database] connection) and
        C([DEFAULT] transport_url) are the defaults of the URLs below.
    type: path
    default: /etc/nova/nova.conf
  api_database_connection:
    description:
      - SQLAlchemy URL of the nova_api database the state is read from.
      - Defaults to C([api_database] connection) of O(config_file).
    type: str
  cell0:
    description:
      - Map cell0 (C(nova-manage cell_v2 map_cell0)) when it is not mapped.
    type: bool
    default: true
  cell0_database_connection:
    description:
      - SQLAlchemy URL of the cell0 database.
      - When omitted nova derives it from C([database] connection) by appending
        C(_cell0) to the database name; the existing cell0 is then left as it is.
    type: str
  cells:
    description:
      - The cells (other than cell0) that must exist, by name.
      - A cell of the same name whose URLs differ is reported in a warning and left
        alone unless O(update=true).
    type: list
    elements: dict
    default: [{name: cell1}]
    suboptions:
      name:
        description: Name of the cell.
        type: str
        required: true
      database_connection:
        description:
          - SQLAlchemy URL of the cell database; defaults to C([database] connection)
            of O(config_file).
        type: str
      transport_url:
        description:
          - oslo.messaging transport URL of the cell; defaults to
            C([DEFAULT] transport_url) of O(config_file).
        type: str
  update:
    description:
      - Update the URLs of an existing cell (C(nova-manage cell_v2 update_cell)) when
        they differ from the wanted ones.
    type: bool
    default: false
  discover_hosts:
    description:
      - Map the compute hosts of every cell that are not mapped yet
        (C(nova-manage cell_v2 discover_hosts)).
    type: bool
    default: true
  map_instances:
    description:
      - Map the instances of the cells in O(cells) that are not mapped yet, calling
        C(nova-manage cell_v2 map_instances --max-count) until nova reports that
        nothing is left (exit code 0).
    type: bool
    default: true
  max_count:
    description: Instances mapped per C(map_instances) call.
    type: int
    default: 50000
requirements:
  - PyMySQL on the target, for the Python that runs the module.
  - nova-manage of the nova release whose layout is managed.
notes:
  - Only MySQL/MariaDB databases are supported.
  - O(config_file) is read as one file; files of a C(--config-dir) are not read.
attributes:
  check_mode:
    support: full
    details: Reads the databases and reports what would be mapped, changing nothing.
  diff_mode:
    support: full
    details: Shows the cells, hosts and unmapped instances before and after, passwords masked.
"""

EXAMPLES = r"""
- name: Map cell0, create cell1, discover hosts and map instances
  stackhop.upgrade.nova_cell_v2:
    nova_manage: /opt/nova/bin/nova-manage
    config_file: /etc/nova/nova.conf

- name: Two cells with their own database and message queue, URLs updated when changed
  stackhop.upgrade.nova_cell_v2:
    api_database_connection: "{{ nova_api_db_url }}"
    cells:
      - name: cell1
      - name: cell2
        database_connection: "{{ nova_cell2_db_url }}"
        transport_url: "{{ nova_cell2_transport_url }}"
    update: true
"""

RETURN = r"""
cells:
  description: Every cell mapping after the run (before it in check mode), passwords masked.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Cell name.
      type: str
    uuid:
      description: Cell UUID.
      type: str
    transport_url:
      description: Transport URL, password masked.
      type: str
    database_connection:
      description: Database URL, password masked.
      type: str
    disabled:
      description: Whether the cell is disabled.
      type: bool
    schema_version:
      description: Alembic revision of the cell database (null when unreadable or empty).
      type: str
  sample:
    - name: cell1
      uuid: 9e9b4a34-6c2b-4a7a-8d3e-0f0d6f9b6d41
      transport_url: "rabbit://nova:********@10.0.0.5:5672/"
      database_connection: "mysql+pymysql://nova:********@10.0.0.5/nova"
      disabled: false
      schema_version: 13863f4e1612
hosts_discovered:
  description: Compute hosts mapped by this run (that would be mapped, in check mode).
  returned: always
  type: list
  elements: str
  sample: [compute-01, compute-02]
instances_mapped:
  description: Number of instances mapped by this run (that would be mapped, in check mode).
  returned: always
  type: int
  sample: 120
executed_commands:
  description: The nova-manage command lines run (they never hold a secret).
  returned: always
  type: list
  elements: str
"""

import os
import shutil
import tempfile
from collections import namedtuple

try:
    import configparser
except ImportError:  # pragma: no cover
    import ConfigParser as configparser

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.secrets import Masker, mask_url
from ansible_collections.stackhop.upgrade.plugins.module_utils import dburl

CELL0_UUID = "00000000-0000-0000-0000-000000000000"
MARKER_PROJECT = "INSTANCE_MIGRATION_MARKER"

# Exit codes of nova-manage cell_v2 subcommands, from nova/cmd/manage.py
# (CellV2Commands, 2024.1); 255 is nova-manage's own "An error has occurred".
EXIT_CODES = {
    "map_cell0": {0: "mapped or already set up"},
    "create_cell": {1: "the transport URL or database connection is missing or invalid",
                    2: "another cell already uses this transport URL or database connection"},
    "update_cell": {1: "the cell was not found, or nova-manage could not start", 2: "the cell mapping could not be saved",
                    3: "another cell already uses this transport URL or database connection"},
    "discover_hosts": {2: "a host was mapped concurrently (run discover_hosts only once at a time)"},
    "map_instances": {1: "more instances are left to map", 127: "max_count is not positive"},
}


def _read_nova_conf(path):
    """The three URLs the module needs from nova.conf (oslo.config ini syntax)."""
    parser = configparser.RawConfigParser(strict=False)
    try:
        with open(path) as handle:
            parser.read_file(handle)
    except (OSError, IOError) as exc:
        raise StackhopError("the nova configuration file %s cannot be read (%s); set "
                            "config_file to nova-manage's nova.conf" % (path, exc.strerror))
    except configparser.Error as exc:
        raise StackhopError("the nova configuration file %s is not valid ini syntax (%s); "
                            "fix the file" % (path, str(exc).splitlines()[0]))

    def get(section, key):
        if section == "DEFAULT":
            value = parser.defaults().get(key)
        elif parser.has_section(section):
            value = parser.get(section, key) if parser.has_option(section, key) else None
        else:
            value = None
        # oslo.config writes a literal "$" as "$$".
        return value.strip().replace("$$", "$") if value else None

    return {"api": get("api_database", "connection"),
            "database": get("database", "connection"),
            "transport_url": get("DEFAULT", "transport_url")}


def _conf_value(value):
    """A value for an oslo.config file: "$" escaped, newlines refused by the caller."""
    return value.replace("$", "$$")


# -- decision (pure: no database, no nova-manage) -------------------------------
# An action is one nova-manage cell_v2 call the module would make, in nova's order:
# map_cell0, update_cell0, create_cell, update_cell, discover_hosts, map_instances.
#   name     the cell's name ("cell0" for cell0, None for discover_hosts)
#   want     the wanted cell (name, database_connection, transport_url)
#   have     the cell mapping it changes (update_cell)
#   hosts    the compute hosts discover_hosts maps
#   count    the instances map_instances maps
Action = namedtuple("Action", "command name want have hosts count",
                    defaults=(None, None, None, None, 0))


def _unchanged(text):
    return text


def cells_by_name(cells):
    """The cell mappings other than cell0, by name (a list: a name may be mapped twice)."""
    by_name = {}
    for c in cells:
        if c["uuid"] != CELL0_UUID:
            by_name.setdefault(c["name"], []).append(c)
    return by_name


def _shares_url(cell, other):
    return (cell["database_connection"] == other["database_connection"]
            or cell["transport_url"] == other["transport_url"])


def decide_cells(want, cells, cell0=True, cell0_database_connection=None, update=False,
                 derived_cell0=lambda: None, mask=_unchanged):
    """Wanted cells and cell0 against the cell mappings: (actions, warnings).

    ``want`` holds the wanted cells with their effective URLs, ``cells`` the rows of
    cell_mappings, ``derived_cell0`` returns the cell0 URL nova derives from nova.conf
    and ``mask`` hides passwords in error messages. Bad input (a name mapped twice, two
    cells sharing a URL) raises StackhopError: nothing has changed yet.
    """
    by_name = cells_by_name(cells)
    create, update_actions, warnings = [], [], []
    for w in want:
        have = by_name.get(w["name"], [])
        if len(have) > 1:
            raise StackhopError(
                "cell name %s is mapped %d times (%s); delete the extra cells with "
                "nova-manage cell_v2 delete_cell --cell_uuid UUID"
                % (w["name"], len(have), ", ".join(c["uuid"] for c in have)))
        for c in cells:
            if c["name"] != w["name"] and _shares_url(c, w):
                raise StackhopError(mask(
                    "cell %s would share its database or transport URL with cell %s (%s); "
                    "give cell %s its own database_connection and transport_url"
                    % (w["name"], c["name"] or "(unnamed)", c["uuid"], w["name"])))
        if not have:
            for other in create:
                if _shares_url(other.want, w):
                    raise StackhopError(
                        "cells %s and %s would share a database or transport URL (nova.conf's "
                        "when not given); give each new cell its own database_connection and "
                        "transport_url" % (other.name, w["name"]))
            create.append(Action("create_cell", w["name"], want=w))
            continue
        diff = [k for k in ("database_connection", "transport_url") if have[0][k] != w[k]]
        if diff and update:
            update_actions.append(Action("update_cell", w["name"], want=w, have=have[0]))
        elif diff:
            warnings.append(
                "cell %s (%s) has a different %s than wanted; left alone, set "
                "update: true to change it" % (w["name"], have[0]["uuid"], " and ".join(diff)))

    actions = []
    mapped0 = [c for c in cells if c["uuid"] == CELL0_UUID]
    if cell0 and not mapped0:
        actions.append(Action("map_cell0", "cell0"))
    if cell0 and cell0_database_connection:
        current0 = mapped0[0]["database_connection"] if mapped0 else derived_cell0()
        if current0 != cell0_database_connection:
            if not mapped0 or update:
                actions.append(Action("update_cell0", "cell0",
                                      want={"database_connection": cell0_database_connection}))
            else:
                warnings.append(
                    "cell0 has a different database_connection than wanted; left alone, "
                    "set update: true to change it")
    return actions + create + update_actions, warnings


def decide_mappings(want, by_name, state, discover_hosts=True, map_instances=True):
    """The discover_hosts and map_instances actions the counted pending work calls for.

    ``state`` holds per cell (its UUID, or "new:<name>" for a cell still to create) the
    unmapped compute hosts and the number of unmapped instances.
    """
    actions = []
    if discover_hosts:
        hosts = []
        for cell_hosts in state["pending_hosts"].values():
            hosts.extend(cell_hosts)
        if hosts:
            actions.append(Action("discover_hosts", hosts=sorted(set(hosts))))
    if map_instances:
        for w in want:
            have = by_name.get(w["name"])
            key = have[0]["uuid"] if have else "new:" + w["name"]
            if state["pending_instances"].get(key):
                actions.append(Action("map_instances", w["name"],
                                      count=state["pending_instances"][key]))
    return actions


def of_command(actions, *commands):
    """The actions of the given commands, in order."""
    return [a for a in actions if a.command in commands]


class NovaCellV2(StackhopModule):
    cell_spec = dict(
        name=dict(type="str", required=True),
        database_connection=dict(type="str", no_log=True),
        transport_url=dict(type="str", no_log=True),
    )
    argument_spec = dict(
        nova_manage=dict(type="str", default="nova-manage"),
        config_file=dict(type="path", default="/etc/nova/nova.conf"),
        api_database_connection=dict(type="str", no_log=True),
        cell0=dict(type="bool", default=True),
        cell0_database_connection=dict(type="str", no_log=True),
        cells=dict(type="list", elements="dict", options=cell_spec,
                   default=[{"name": "cell1"}]),
        update=dict(type="bool", default=False),
        discover_hosts=dict(type="bool", default=True),
        map_instances=dict(type="bool", default=True),
        max_count=dict(type="int", default=50000),
    )

    def __init__(self):
        super(NovaCellV2, self).__init__()
        self.masker = Masker()
        self.warnings = []
        self.tmpdir = None

    # -- input ----------------------------------------------------------------
    def _validate(self):
        p = self.params
        for url in [p["api_database_connection"], p["cell0_database_connection"]] + [
                c.get(k) for c in p["cells"] for k in ("database_connection", "transport_url")]:
            self.masker.add_url(url)
        if p["max_count"] < 1:
            raise StackhopError("max_count is %d; set it to a positive number" % p["max_count"])
        names = [c["name"] for c in p["cells"]]
        if any(not n or n == "cell0" for n in names):
            raise StackhopError("cells holds an empty name or 'cell0'; cell0 is managed by "
                                "the cell0 option, give every other cell a name")
        dup = sorted(set(n for n in names if names.count(n) > 1))
        if dup:
            raise StackhopError("cells names %s more than once; list each cell once"
                                % ", ".join(dup))
        for c in p["cells"]:
            for key in ("database_connection", "transport_url"):
                if c.get(key) is not None and ("\n" in c[key] or not c[key].strip()):
                    raise StackhopError("%s of cell %s is empty or spans lines; give one URL"
                                        % (key, c["name"]))
        self.nova_manage = self.command_path(
            p["nova_manage"], "nova-manage", "set nova_manage to the nova-manage of the installed nova")
        self.conf = _read_nova_conf(p["config_file"])
        for url in self.conf.values():
            self.masker.add_url(url)

    def _want(self):
        """Wanted cells with their effective URLs (nova.conf's when not given)."""
        want = []
        for c in self.params["cells"]:
            db = c.get("database_connection") or self.conf["database"]
            mq = c.get("transport_url") or self.conf["transport_url"]
            if not db:
                raise StackhopError(
                    "cell %s has no database_connection and %s has no [database] connection; "
                    "set one of them" % (c["name"], self.params["config_file"]))
            if not mq:
                raise StackhopError(
                    "cell %s has no transport_url and %s has no [DEFAULT] transport_url; set "
                    "one of them" % (c["name"], self.params["config_file"]))
            want.append({"name": c["name"], "database_connection": db, "transport_url": mq})
        return want

    # -- state ----------------------------------------------------------------
    def _api_url(self):
        url = self.params["api_database_connection"] or self.conf["api"]
        if not url:
            raise StackhopError("no nova_api database is known: %s has no [api_database] "
                                "connection; set api_database_connection"
                                % self.params["config_file"])
        return url

    def _connect(self, url, what):
        try:
            return dburl.connect(url)
        except dburl.DbUrlError as exc:
            raise StackhopError(self.masker.mask(
                "%s: %s; check the URL, the credentials and that the database server is "
                "reachable" % (what, exc)))

    def _read_state(self, cells_extra=(), cell_dbs=True):
        """Cells, host mappings, instance mappings; pending hosts/instances per cell.

        Why the databases and not nova-manage: ``cell_v2 list_cells [--verbose]`` and
        ``list_hosts`` only print PrettyTables for humans (no JSON option in any
        release), ``--verbose`` prints the passwords, and no subcommand tells how many
        hosts or instances are left to map. The nova_api tables are what nova-manage
        itself reads, so reading them with PyMySQL is the reliable, machine-readable
        path, and the only one that lets check mode say exactly what would change.

        ``cells_extra`` are wanted cells not created yet (name, database_connection):
        their databases are read too, so check mode knows what creating them brings.
        """
        cells, hosts, mapped = self._read_api()
        for cell in cells:
            self.masker.add_url(cell["transport_url"])
            self.masker.add_url(cell["database_connection"])
        state = {"cells": cells, "host_mappings": hosts, "mapped_count": len(mapped),
                 "pending_hosts": {},
                 "pending_instances": {}, "schema": {}}
        if not cell_dbs:
            return state
        targets = [(c["uuid"], c["name"], c["database_connection"]) for c in cells
                   if c["uuid"] != CELL0_UUID]
        targets += [(None, c["name"], c["database_connection"]) for c in cells_extra]
        for uuid, name, url in targets:
            key = uuid or "new:" + name
            state["schema"][key], nodes, instances = self._read_cell(name, url)
            state["pending_hosts"][key] = sorted(h for h in nodes if h not in hosts)
            state["pending_instances"][key] = sum(1 for i in instances if i not in mapped)
        cell0 = [c for c in cells if c["uuid"] == CELL0_UUID]
        if cell0:
            state["schema"][CELL0_UUID] = self._read_schema(cell0[0]["database_connection"])
        return state

    def _read_api(self):
        """(cell mappings in id order, {host: cell id}, set of mapped instance UUIDs)."""
        api = self._connect(self._api_url(), "the nova_api database")
        try:
            try:
                cells = [dict(zip(("id", "uuid", "name", "transport_url",
                                   "database_connection", "disabled"), row))
                         for row in dburl.query(api, "SELECT id, uuid, name, transport_url, "
                                                     "database_connection, disabled "
                                                     "FROM cell_mappings ORDER BY id")]
                hosts = dict(dburl.query(api, "SELECT host, cell_id FROM host_mappings"))
                mapped = set(r[0] for r in dburl.query(
                    api, "SELECT instance_uuid FROM instance_mappings WHERE project_id != %s",
                    (MARKER_PROJECT,)))
            except dburl.pymysql.MySQLError as exc:
                raise StackhopError(self.masker.mask(
                    "the nova_api database at %s has no cells v2 tables (%s); run "
                    "nova-manage api_db sync first" % (mask_url(self._api_url()), exc.args[-1])))
        finally:
            api.close()
        return cells, hosts, mapped

    def _read_cell(self, name, url):
        """(schema version, compute hosts not mapped, instance UUIDs) of one cell database."""
        conn = self._connect(url, "the database of cell %s" % name)
        try:
            schema = self._schema_version(conn)
            try:
                nodes = set(r[0] for r in dburl.query(
                    conn, "SELECT DISTINCT host FROM compute_nodes "
                          "WHERE deleted = 0 AND mapped < 1 AND host IS NOT NULL"))
                # map_instances reads deleted instances too (read_deleted='yes').
                instances = [r[0] for r in dburl.query(conn, "SELECT uuid FROM instances")]
            except dburl.pymysql.MySQLError as exc:
                raise StackhopError(self.masker.mask(
                    "the database of cell %s at %s has no nova schema (%s); run "
                    "nova-manage db sync first" % (name, mask_url(url), exc.args[-1])))
        finally:
            conn.close()
        return schema, nodes, instances

    @staticmethod
    def _schema_version(conn):
        try:
            rows = dburl.query(conn, "SELECT version_num FROM alembic_version")
        except dburl.pymysql.MySQLError:
            return None
        return rows[0][0] if rows else None

    def _read_schema(self, url):
        try:
            conn = dburl.connect(url)
        except dburl.DbUrlError:
            return None
        try:
            return self._schema_version(conn)
        finally:
            conn.close()

    def _public_cells(self, state):
        out = []
        for c in state["cells"]:
            out.append({"name": c["name"], "uuid": c["uuid"],
                        "transport_url": self.masker.mask(c["transport_url"]),
                        "database_connection": self.masker.mask(c["database_connection"]),
                        "disabled": bool(c["disabled"]),
                        "schema_version": state["schema"].get(c["uuid"])})
        return out

    # -- nova-manage ----------------------------------------------------------
    def _fragment(self, transport_url=None, database=None):
        """A private nova.conf fragment (0600) holding URLs nova-manage must read."""
        if self.tmpdir is None:
            self.tmpdir = tempfile.mkdtemp(prefix="stackhop-nova-cell-v2-")
        fd, path = tempfile.mkstemp(suffix=".conf", dir=self.tmpdir)
        os.fchmod(fd, 0o600)
        lines = []
        if transport_url is not None:
            lines += ["[DEFAULT]", "transport_url = %s" % _conf_value(transport_url)]
        if database:
            lines += ["[database]", "connection = %s" % _conf_value(database)]
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        return path

    def _nova_manage(self, action, args=(), fragment=None, ok=(0,), what=""):
        argv = [self.nova_manage, "--config-file", self.params["config_file"]]
        if fragment:
            argv += ["--config-file", fragment]
        argv += ["cell_v2", action] + list(args)
        rc, out, err = self.run_command(argv, check_rc=False)
        if rc not in ok:
            meaning = EXIT_CODES.get(action, {}).get(rc, "unexpected failure")
            lines = [ln.strip() for ln in (err + "\n" + out).splitlines() if ln.strip()]
            raise StackhopError(self.masker.mask(
                "nova-manage cell_v2 %s%s exited with %d (%s): %s" % (
                    action, what, rc, meaning, lines[-1] if lines else "no output")),
                rc=rc)
        return rc

    # -- run ------------------------------------------------------------------
    def run(self):
        try:
            return self._run()
        finally:
            if self.tmpdir:
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def _run(self):
        p = self.params
        self._validate()
        want = self._want()
        # The API database first: bad input is refused before any cell database is read.
        before = self._read_state(cell_dbs=False)
        by_name = cells_by_name(before["cells"])
        actions, self.warnings = decide_cells(
            want, before["cells"], cell0=p["cell0"],
            cell0_database_connection=p["cell0_database_connection"], update=p["update"],
            derived_cell0=self._derived_cell0, mask=self.masker.mask)
        # What discover_hosts / map_instances would do, counted on the databases.
        create = [a.want for a in of_command(actions, "create_cell")]
        # the cell databases only for hosts and instances: a deploy maps its cells before
        # their databases have a schema
        read_cells = p["discover_hosts"] or p["map_instances"]
        before = self._read_state(cells_extra=create, cell_dbs=read_cells)
        actions += decide_mappings(want, by_name, before, p["discover_hosts"], p["map_instances"])

        result = {"changed": bool(actions),
                  "hosts_discovered": [h for a in of_command(actions, "discover_hosts")
                                       for h in a.hosts],
                  "instances_mapped": sum(a.count for a in of_command(actions, "map_instances"))}
        before_view = self._view(before)
        if self.check_mode or not actions:
            result["cells"] = self._public_cells(before)
            result["diff"] = {"before": before_view,
                              "after": self._planned_view(before_view, actions, result)}
            return self._finish(result)

        self._apply(actions, before)
        after = self._read_state(cell_dbs=read_cells)
        result["hosts_discovered"] = sorted(set(after["host_mappings"]) - set(before["host_mappings"]))
        result["instances_mapped"] = after["mapped_count"] - before["mapped_count"]
        result["cells"] = self._public_cells(after)
        result["diff"] = {"before": before_view, "after": self._view(after)}
        return self._finish(result)

    def _apply(self, actions, before):
        """Run the actions' nova-manage commands, in nova's order: cell0, cells, hosts, instances."""
        for action in of_command(actions, "map_cell0", "update_cell0", "create_cell",
                                 "update_cell"):
            w = action.want
            if action.command == "map_cell0":
                self._nova_manage("map_cell0")
            elif action.command == "update_cell0":
                # cell0's transport URL stays "none:///" (no secret in it, so it may be an
                # argument); nova-manage itself must start with nova.conf's transport URL,
                # as it loads the RPC driver of [DEFAULT] transport_url before any command.
                frag = self._fragment(database=w["database_connection"])
                self._nova_manage("update_cell", ["--cell_uuid", CELL0_UUID,
                                                  "--transport-url", "none:///"], fragment=frag,
                                  what=" for cell0")
            elif action.command == "create_cell":
                frag = self._fragment(w["transport_url"], w["database_connection"])
                self._nova_manage("create_cell", ["--name", w["name"]], fragment=frag,
                                  what=" for cell %s" % w["name"])
            else:
                frag = self._fragment(w["transport_url"], w["database_connection"])
                self._nova_manage("update_cell", ["--cell_uuid", action.have["uuid"]],
                                  fragment=frag, what=" for cell %s" % w["name"])
        changed_cells = of_command(actions, "create_cell", "update_cell")
        mid = self._read_state(cell_dbs=False) if changed_cells else before
        if of_command(actions, "discover_hosts"):
            self._nova_manage("discover_hosts")
        to_map = set(a.name for a in of_command(actions, "map_instances"))
        # The cells' UUIDs after create_cell, in cell_mappings' order.
        for c in mid["cells"]:
            if c["name"] in to_map and c["uuid"] != CELL0_UUID:
                self._map_instances(c)

    def _map_instances(self, cell):
        # --reset first: a marker left by an interrupted batch run would skip instances
        # mapped before it; later calls continue from nova's marker until rc 0.
        args = ["--cell_uuid", cell["uuid"], "--max-count", str(self.params["max_count"])]
        rc = self._nova_manage("map_instances", args + ["--reset"], ok=(0, 1),
                               what=" for cell %s" % cell["name"])
        calls = 1
        while rc == 1:
            calls += 1
            if calls > 100000:
                raise StackhopError("nova-manage cell_v2 map_instances for cell %s did not "
                                    "finish after %d calls; raise max_count"
                                    % (cell["name"], calls))
            rc = self._nova_manage("map_instances", args, ok=(0, 1),
                                   what=" for cell %s" % cell["name"])

    def _derived_cell0(self):
        """The cell0 URL nova derives from [database] connection (name + _cell0)."""
        url = self.conf["database"]
        if not url:
            return None
        try:
            return dburl.with_database(url, (dburl.parse(url)["database"] or "") + "_cell0")
        except dburl.DbUrlError:
            return None

    def _view(self, state):
        return {"cells": dict((c["name"] or c["uuid"], {
            "uuid": c["uuid"],
            "transport_url": self.masker.mask(c["transport_url"]),
            "database_connection": self.masker.mask(c["database_connection"])})
            for c in state["cells"]),
            "hosts": sorted(state["host_mappings"]),
            "unmapped_instances": sum(state["pending_instances"].values())}

    def _planned_view(self, view, actions, result):
        after = {"cells": dict(view["cells"]),
                 "hosts": sorted(set(view["hosts"]) | set(result["hosts_discovered"])),
                 "unmapped_instances": view["unmapped_instances"] - result["instances_mapped"]}
        if of_command(actions, "map_cell0"):
            after["cells"]["cell0"] = {"uuid": CELL0_UUID, "transport_url": "none:///",
                                       "database_connection": self.masker.mask(
                                           self.params["cell0_database_connection"]
                                           or self._derived_cell0())}
        for action in of_command(actions, "create_cell", "update_cell"):
            w = action.want
            after["cells"][w["name"]] = {"uuid": action.have["uuid"] if action.have else "(new)",
                                         "transport_url": self.masker.mask(w["transport_url"]),
                                         "database_connection": self.masker.mask(
                                             w["database_connection"])}
        return after

    def _finish(self, result):
        for warning in self.warnings:
            self.ansible.warn(self.masker.mask(warning))
        return self.masker.mask(result)


def main():
    NovaCellV2()()


if __name__ == "__main__":
    main()
