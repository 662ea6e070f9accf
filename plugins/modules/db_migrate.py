#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_migrate
short_description: Run one release's schema migrations of a service, unless its databases are past that release
version_added: 0.1.0
description:
  - Runs a service's migration command (C(keystone-manage db_sync), C(nova-manage db sync),
    C(neutron-db-manage upgrade heads), ...) of B(one) release, the way a fast-forward
    upgrade runs every intermediate release's migrations in order (NHN).
  - Reads the alembic revisions recorded in each of O(databases) before and after the
    command; the task is changed when they moved. Nothing runs when a database records
    a revision that the release's migration files (O(revision_paths)) do not define, as
    the database is already past that release (a re-run after a later release migrated
    it) and an older release's command would fail on the unknown revision.
  - The command gets its database URLs from O(config), written to a temporary file
    (mode 0600, in a private directory removed afterwards) whose path replaces
    C(@config@) in O(argv); no password is ever on a command line, and every password
    of O(config) and O(login_password) is masked in the output returned.
  - Known revisions are read from the migration files' syntax tree, never by importing
    them.
author:
  - stackhop contributors (@stackhop)
requirements:
  - Run it with the release venv's Python (its PyMySQL and the release's migration files).
options:
  argv:
    description:
      - The migration command, one argument per item; C(@config@) is replaced by the path
        of the temporary file holding O(config).
    type: list
    elements: str
    required: true
  config:
    description:
      - Text of the configuration file the command reads (its database sections). Never
        logged.
    type: str
    default: ''
  environment:
    description:
      - Extra environment variables of the command, given to it directly (never on a
        command line). Not masked, so a name that looks like a secret (C(*PASS*), C(*SECRET*),
        C(*TOKEN*), C(*_KEY)) is refused; pass secrets through O(config) or O(login_password).
    type: dict
    default: {}
  databases:
    description:
      - Databases the command migrates; their revisions decide whether it runs and whether
        it changed anything.
    type: list
    elements: str
    required: true
  revision_paths:
    description:
      - Migration directories (alembic C(versions) folders) of the release's code that
        runs the command. A relative path is taken below the site-packages of the Python
        that runs the module (run it with the release venv's interpreter). Empty runs the
        command whatever the databases record.
    type: list
    elements: path
    default: []
  version_table:
    description: The table that records the applied revisions.
    type: str
    default: alembic_version
  release:
    description: Name of the release whose code runs (only reported back).
    type: str
    default: ''
  lock_timeout:
    description:
      - Seconds to wait for another db_migrate of the same databases on this host to end
        (an exclusive lock on a file under C(/var/lib/stackhop/locks), held while the
        command runs), for example the job of an interrupted play still running in the
        background. The revisions are read once the lock is held, so a migration the other
        run completed is not run again. Not MariaDB's C(GET_LOCK), which Galera refuses.
    type: int
    default: 3600
  progress_file:
    description:
      - While the command runs, every O(progress_interval) seconds the module reads the
        databases' recorded revisions and rewrites this JSON file (mode 0600) with a
        C(line) saying how many of the release's revisions each database has applied, so
        that a play can start it with C(async) and follow it with
        stackhop.upgrade.async_progress. Needs O(revision_paths). Unset, nothing is written.
    type: path
  progress_interval:
    description: Seconds between two reads of the revisions for O(progress_file).
    type: int
    default: 5
  label:
    description: Words naming the migration, for the progress line.
    type: str
    default: ''
extends_documentation_fragment:
  - stackhop.upgrade.db_login
  - stackhop.upgrade.attributes
notes:
  - Check mode reads the revisions and reports whether the command would run.
attributes:
  check_mode:
    support: full
    details: Reads the recorded revisions and reports whether the migration command would run
      (changed when a database is not at its head); runs nothing.
  diff_mode:
    support: none
    details: The revisions before and after are returned in RV(revisions_before) and
      RV(revisions_after).
"""

EXAMPLES = r"""
- name: Keystone's migrations of 2024.2 (skipped when the database is already past 2024.2)
  stackhop.upgrade.db_migrate:
    release: "2024.2"
    argv: [/opt/stackhop/venvs/2024.2/bin/keystone-manage, --config-file, "@config@", db_sync]
    config: |
      [database]
      connection = mysql+pymysql://keystone:{{ keystone_db_password }}@db1/keystone
    databases: [keystone]
    revision_paths: [keystone/common/sql/migrations/versions]   # below the venv's site-packages
    login_user: keystone
    login_password: "{{ keystone_db_password }}"
    login_host: db1
  vars:
    ansible_python_interpreter: /opt/stackhop/venvs/2024.2/bin/python
"""

RETURN = r"""
ran:
  description: Whether the command ran.
  returned: always
  type: bool
state:
  description:
    - Per database, where it stood against the release's code before the command
      (C(empty), C(behind), C(at_head), C(past), or C(unknown) without O(revision_paths)).
  returned: always
  type: dict
  sample: {keystone: behind}
revisions_before:
  description: Per database, the recorded revisions before.
  returned: always
  type: dict
revisions_after:
  description: Per database, the recorded revisions after.
  returned: always
  type: dict
unknown_revisions:
  description: Per database, recorded revisions the release's migration files do not define.
  returned: always
  type: dict
heads:
  description: Head revisions of the release's migration files.
  returned: always
  type: list
  elements: str
release:
  description: O(release).
  returned: always
  type: str
rc:
  description: Exit code of the command.
  returned: when the command ran
  type: int
duration:
  description: Seconds the command took (0 when it did not run).
  returned: always
  type: float
stdout_lines:
  description: Last lines of the command's output, passwords masked.
  returned: always
  type: list
  elements: str
msg:
  description: One sentence saying what happened.
  returned: always
  type: str
executed_commands:
  description: The command run and the SQL statements (no secrets).
  returned: always
  type: list
  elements: str
"""

import errno
import fcntl
import hashlib
import os
import re
import shlex
import shutil
import sysconfig
import tempfile
import threading
import time

from ansible_collections.stackhop.upgrade.plugins.module_utils.alembic_revisions import (
    RevisionError,
    compare,
    heads,
    progress_line,
    read_graph,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.secrets import Masker, secret_environment_problem
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

from ansible_collections.stackhop.upgrade.plugins.module_utils.db_login import (
    db_connect,
    db_login_argument_spec,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.dburl import HAS_PYMYSQL, pymysql

TAIL = 40
LOCK_DIR = "/var/lib/stackhop/locks"
Q_TABLE = ("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
           "AND TABLE_NAME = %s")


# an oslo.log line's prefix ("2026-12-05 06:14:39.425 29049 ERROR cinder ") and colour codes
LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+ \d+ [A-Z]+ \S+\s*(\[[^\]]*\]\s*)?")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Failure|Exit)\b.*")


def failure_line(lines):
    """The line that says why a migration command failed: the last exception line of its
    traceback (oslo.log's prefix and colours taken off), else its last non-empty line."""
    plain = [ANSI.sub("", LOG_PREFIX.sub("", ANSI.sub("", line))).strip() for line in lines or []]
    plain = [line for line in plain if line]
    for line in reversed(plain):
        if EXCEPTION.match(line):
            return line
    return plain[-1] if plain else "no output"


class DbMigrate(StackhopModule):
    argument_spec = dict(
        argv=dict(type="list", elements="str", required=True),
        config=dict(type="str", default="", no_log=True),
        environment=dict(type="dict", default={}),
        databases=dict(type="list", elements="str", required=True),
        revision_paths=dict(type="list", elements="path", default=[]),
        version_table=dict(type="str", default="alembic_version"),
        release=dict(type="str", default=""),
        lock_timeout=dict(type="int", default=3600),
        progress_file=dict(type="path"),
        progress_interval=dict(type="int", default=5),
        label=dict(type="str", default=""),
        **db_login_argument_spec()
    )

    def __init__(self):
        super(DbMigrate, self).__init__()
        self.masker = Masker()
        self.masker.add(self.params["login_password"])
        for match in re.finditer(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+", self.params["config"]):
            self.masker.add_url(match.group(0))

    # -- database ---------------------------------------------------------------
    def _connect(self):
        return db_connect(self.params, "check that it runs and the service user's password.",
                          mask=self.masker.mask)

    def _revisions(self, record=True):
        table = self.params["version_table"]
        out = {}
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                for db in self.params["databases"]:
                    if record:
                        self.executed_commands.append(Q_TABLE % ("'%s'" % db, "'%s'" % table))
                    cur.execute(Q_TABLE, (db, table))
                    if not cur.fetchone()[0]:
                        out[db] = []
                        continue
                    sql = "SELECT version_num FROM `%s`.`%s`" % (db.replace("`", "``"), table)
                    if record:
                        self.executed_commands.append(sql)
                    cur.execute(sql)
                    out[db] = sorted(r[0] for r in cur.fetchall())
        except pymysql.MySQLError as exc:
            raise StackhopError(
                "Reading the revisions of %s as %s failed (%s): grant the service user "
                "SELECT on its databases." % (
                    ", ".join(self.params["databases"]), self.params["login_user"],
                    self.masker.mask(str(exc.args[-1] if exc.args else exc))))
        finally:
            conn.close()
        return out

    def _lock(self):
        """Hold this host's lock on the databases for the rest of the run (an open file
        with an exclusive flock), or a one-sentence error when another run keeps it.
        A file lock and not MariaDB's GET_LOCK, which Galera refuses (MDEV-30473)."""
        name = "db_migrate-" + re.sub(r"[^A-Za-z0-9_.,-]", "_", ",".join(sorted(self.params["databases"])))
        if len(name) > 200:
            name = "db_migrate-" + hashlib.sha1(name.encode()).hexdigest()
        os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
        path = os.path.join(LOCK_DIR, name + ".lock")
        handle = open(path, "a")
        deadline = time.monotonic() + self.params["lock_timeout"]
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    handle.close()
                    raise StackhopError("Locking %s failed (%s): check that the directory is "
                                        "writable by the user running db_migrate." % (path, exc.strerror))
            if time.monotonic() >= deadline:
                handle.close()
                raise StackhopError(
                    "Another migration of %s still holds %s after %d s (an earlier run's job in "
                    "the background?): wait for it to end, or raise lock_timeout." % (
                        ", ".join(self.params["databases"]), path, self.params["lock_timeout"]))
            time.sleep(1)

    # -- progress ---------------------------------------------------------------
    def _label(self):
        return self.params["label"] or "%s's migrations" % (self.params["release"] or "this release")

    def _watch(self, graph, before, stop):
        """Thread: the progress file every progress_interval seconds until ``stop``."""
        p = self.params
        label = self._label()
        start = time.monotonic()
        now = before
        while True:
            seconds = time.monotonic() - start
            self.write_progress(p["progress_file"], {
                "line": progress_line(label, p["databases"], graph, before, now, seconds),
                "revisions": now, "seconds": round(seconds, 1), "done": False})
            if stop.wait(p["progress_interval"]):
                return
            try:
                now = self._revisions(record=False)
            except StackhopError:
                pass    # a table locked or the server busy: the next look says more

    # -- the command -----------------------------------------------------------
    def _run(self, argv):
        workdir = tempfile.mkdtemp(prefix="stackhop-migrate-")
        try:
            os.chmod(workdir, 0o700)
            path = os.path.join(workdir, "migrate.conf")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(self.params["config"])
            argv = [path if a == "@config@" else a for a in argv]
            self.executed_commands.append(shlex.join(argv))
            start = time.monotonic()
            rc, out, err = self.ansible.run_command(
                argv, environ_update=dict((k, str(v)) for k, v in
                                          self.params["environment"].items()))
            return rc, out, err, time.monotonic() - start
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def run(self):
        p = self.params
        problem = secret_environment_problem(p["environment"], "db_migrate")
        if problem:
            raise StackhopError(problem)
        if not HAS_PYMYSQL:
            raise StackhopError(
                "PyMySQL is not importable by %s's Python: run db_migrate with the release "
                "venv's interpreter (ansible_python_interpreter) or install python3-pymysql."
                % self._host())
        if not re.match(r"^\w+$", p["version_table"]):
            raise StackhopError(
                "version_table %r is not a plain table name: give the table name only, for "
                "example alembic_version." % p["version_table"])
        if p["lock_timeout"] < 0:
            raise StackhopError("lock_timeout is %d; set it to 0 seconds or more."
                                % p["lock_timeout"])
        if p["progress_interval"] < 1:
            raise StackhopError("progress_interval is %d; set it to 1 second or more."
                                % p["progress_interval"])
        if not p["argv"] or not p["databases"]:
            raise StackhopError("db_migrate needs a command (argv) and the databases it "
                                "migrates (databases): give both.")
        if not os.path.isabs(p["argv"][0]) and not self.ansible.get_bin_path(p["argv"][0]):
            raise StackhopError(
                "The migration command %s was not found: install the release's code (its "
                "venv) on this host first." % p["argv"][0])
        if os.path.isabs(p["argv"][0]) and not os.access(p["argv"][0], os.X_OK):
            raise StackhopError(
                "The migration command %s does not exist or is not executable: install "
                "the %s code (its venv) on this host first."
                % (p["argv"][0], p["release"] or "release's"))
        site = sysconfig.get_paths()["purelib"]
        paths = [d if os.path.isabs(d) else os.path.join(site, d) for d in p["revision_paths"]]
        try:
            graph = read_graph(paths) if paths else None
        except RevisionError as exc:
            raise StackhopError(str(exc))
        # one migration of these databases at a time; what it sees is read under the lock
        lock = None if self.check_mode else self._lock()
        try:
            return self._migrate(graph)
        finally:
            if lock is not None:
                lock.close()

    def _migrate(self, graph):
        p = self.params
        before = self._revisions()
        state, unknown = {}, {}
        for db, recorded in before.items():
            if graph is None:
                state[db], unknown[db] = "unknown", []
            else:
                state[db], unknown[db] = compare(recorded, graph)
        release = p["release"] or "this release"
        result = dict(ran=False, state=state, revisions_before=before,
                      revisions_after=before, unknown_revisions=unknown,
                      heads=heads(graph) if graph is not None else [], release=p["release"],
                      duration=0.0, stdout_lines=[])
        past = sorted(db for db, s in state.items() if s == "past")
        if past:
            result["msg"] = ("%s already past %s (records %s, which %s's migrations do not "
                             "define): nothing to run" % (
                                 ", ".join(past), release,
                                 ", ".join(sorted(set(r for db in past for r in unknown[db]))),
                                 release))
            return result
        if self.check_mode:
            result["changed"] = any(s != "at_head" for s in state.values())
            result["msg"] = "%s %s's migrations of %s (%s)" % (
                "would run" if result["changed"] else "nothing to run for",
                release, ", ".join(p["databases"]),
                ", ".join("%s %s" % (db, state[db]) for db in p["databases"]))
            return result
        stop = threading.Event()
        watcher = None
        if p["progress_file"] and graph is not None:
            watcher = threading.Thread(target=self._watch, args=(graph, before, stop))
            watcher.daemon = True
            watcher.start()
        try:
            rc, out, err, duration = self._run(p["argv"])
        finally:
            stop.set()
            if watcher is not None:
                watcher.join()
        lines = self.masker.mask(((out or "") + (err or "")).splitlines())[-TAIL:]
        result.update(ran=True, rc=rc, duration=round(duration, 3), stdout_lines=lines)
        if rc != 0:
            raise StackhopError(
                "%s's migrations of %s failed (%s exited %d): %s; fix the cause and re-run, "
                "the databases keep what was migrated." % (
                    release, ", ".join(p["databases"]), os.path.basename(p["argv"][0]), rc,
                    failure_line(lines)),
                **dict((k, v) for k, v in result.items() if k != "changed"))
        after = self._revisions()
        result["revisions_after"] = after
        result["changed"] = after != before
        if watcher is not None:
            self.write_progress(p["progress_file"], {
                "line": progress_line(self._label(), p["databases"],
                                      graph, before, after, duration) + "; done",
                "revisions": after, "seconds": round(duration, 1), "done": True})
        result["msg"] = "%s's migrations of %s ran in %.1fs: %s" % (
            release, ", ".join(p["databases"]), duration,
            "; ".join("%s %s -> %s" % (db, ",".join(before[db]) or "empty",
                                       ",".join(after[db]) or "empty")
                      for db in p["databases"]))
        return result


def main():
    DbMigrate()()


if __name__ == "__main__":
    main()
