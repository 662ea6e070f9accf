#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nova_archive_deleted_rows
short_description: Move nova's soft-deleted rows to the shadow tables, optionally purging them
version_added: 0.1.0
description:
  - Runs C(nova-manage db archive_deleted_rows --verbose --max_rows N) until nothing is left
    to archive and returns the rows moved per table, the number of batches and the
    time it took. Run before C(nova-manage db online_data_migrations), whose time grows
    with the rows it has to read, soft-deleted ones included.
  - With O(until_complete=true) nova loops itself (C(--until-complete), one process);
    with O(until_complete=false) the module runs one batch per C(nova-manage) call until
    a call archives nothing, for nova releases before ocata that lack C(--until-complete).
  - With O(purge=true) it then deletes the rows of the shadow tables with
    C(nova-manage db purge --all), or C(--before) O(before) when that is set.
  - nova-manage prints its counts only as a table for humans (no JSON option); the module
    reads that table and C(purge)'s C(Deleted N rows from TABLE) lines, and interprets
    the exit codes documented in nova/cmd/manage.py (archive 0 nothing archived,
    1 rows archived, 2 bad max_rows, 3 API database unreachable, 4 bad date; purge
    0 rows deleted, 3 nothing to delete).
  - In check mode nothing runs; the soft-deleted rows are counted per table in the
    databases of O(config_files) (and every cell with O(all_cells=true)) with PyMySQL.
  - With O(progress_file) it rewrites a JSON file after every batch (batches, rows
    archived so far when known, soft-deleted rows counted before, an estimate of the
    batches left, a C(line) to print), so that a play can start it with C(async) and
    follow it with stackhop.upgrade.async_progress instead of holding an SSH session for
    hours. With O(until_complete=true) the batches are nova's progress dots, read as
    nova-manage writes them.
  - Database URLs stay in the configuration files; no password is ever on a command
    line or in the result.
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
  config_files:
    description:
      - The nova configuration files nova-manage reads, in order (each passed as
        C(--config-file)); later files win, as in oslo.config.
      - C([database] connection) is the cell database archived, C([api_database] connection)
        the nova_api database whose rows of archived instances nova removes.
    type: list
    elements: path
    default: [/etc/nova/nova.conf]
  max_rows:
    description:
      - Rows per batch (C(--max_rows)); nova moves each deleted row with the rows that
        refer to it in one transaction, so a batch may hold a few more rows.
    type: int
    default: 1000
  until_complete:
    description:
      - V(true) passes C(--until-complete) so nova archives batch after batch in one
        process (ocata and later).
      - V(false) runs one batch per C(nova-manage) call until a call archives nothing
        (every release; a nova-manage start per batch).
    type: bool
    default: true
  all_cells:
    description:
      - Archive every cell of the nova_api cell mappings, cell0 included
        (C(--all-cells), train and later); table names are then prefixed with the cell's name.
    type: bool
    default: false
  before:
    description:
      - Archive only the rows deleted before this date (C(--before), train and later),
        V(YYYY-MM-DD) or V(YYYY-MM-DD HH:MM:SS), UTC as nova stores it.
      - With O(purge=true), purge only the shadow rows older than this date as well.
    type: str
  purge:
    description:
      - After archiving, delete the rows of the shadow tables (C(nova-manage db purge),
        rocky and later). They cannot be restored; take a dump first.
    type: bool
    default: false
  progress_file:
    description:
      - JSON file rewritten after every batch (mode 0600, directory created 0700); see the
        description. Unset, no progress is written.
    type: path
  label:
    description: Words naming where the archive runs (region, release), for the progress line.
    type: str
    default: ""
requirements:
  - nova-manage of the nova release whose schema the databases have.
  - PyMySQL for the Python that runs the module, in check mode and to report the rows
    left (the nova virtualenv has it).
notes:
  - Only MySQL/MariaDB databases are counted in check mode.
  - Rows that refer to a deleted row (for example C(instance_extra) of a deleted
    instance) are moved with it although they are not marked deleted themselves;
    check mode counts only the rows marked deleted, so C(archived) may be larger.
attributes:
  check_mode:
    support: full
    details: Counts the soft-deleted rows per table in the databases and runs nothing.
  diff_mode:
    support: full
    details: Shows the soft-deleted rows per table before and after the archive.
"""

EXAMPLES = r"""
- name: Archive nova's deleted rows before the online data migrations
  stackhop.upgrade.nova_archive_deleted_rows:
    nova_manage: /opt/stackhop/venvs/2024.1/bin/nova-manage
    config_files: [/etc/nova/nova.conf]
    max_rows: 10000
  register: archived

- name: Archive in the background, a progress line per batch
  stackhop.upgrade.nova_archive_deleted_rows:
    progress_file: /var/lib/stackhop/progress/nova-archive.json
    label: dc1 2025.1
  async: 86400
  poll: 0
  register: archive_job

- name: Follow the archive
  stackhop.upgrade.async_progress:
    jid: "{{ archive_job.ansible_job_id }}"
    progress_file: /var/lib/stackhop/progress/nova-archive.json
    label: nova archive of deleted rows

- name: Archive every cell and purge the shadow rows older than a year
  stackhop.upgrade.nova_archive_deleted_rows:
    all_cells: true
    before: "2025-01-01"
    purge: true
"""

RETURN = r"""
archived:
  description:
    - Rows moved to the shadow tables per table, as nova reports them (tables with none
      left out; C(API_DB.) tables are rows of archived instances nova deleted from nova_api;
      C(cell.table) with O(all_cells=true)).
    - In check mode the soft-deleted rows that would be archived.
  returned: always
  type: dict
  sample: {instances: 5000, instance_extra: 5000, instance_info_caches: 5000,
           API_DB.instance_mappings: 5000}
archived_total:
  description: Sum of RV(archived).
  returned: always
  type: int
  sample: 15000
progress:
  description: The last progress written to O(progress_file) (C(line), C(batches), C(done)...).
  returned: when O(progress_file) is set and not in check mode
  type: dict
progress_history:
  description: Every progress line written, with its seconds since the start, in order.
  returned: when O(progress_file) is set and not in check mode
  type: list
  elements: dict
batches:
  description:
    - Batches that archived rows (nova's progress dots with O(until_complete=true),
      the calls that archived rows otherwise); 0 in check mode.
  returned: always
  type: int
  sample: 15
purged:
  description: Rows deleted from each shadow table by the purge (empty without O(purge)).
  returned: always
  type: dict
  sample: {shadow_instances: 5000}
purged_total:
  description: Sum of RV(purged).
  returned: always
  type: int
  sample: 5000
pending:
  description:
    - Soft-deleted rows per table before the run (null when the databases could not be read).
  returned: always
  type: dict
seconds:
  description: Wall time of the nova-manage calls, in seconds.
  returned: always
  type: float
  sample: 42.5
stackhop_figures:
  description: The figures the upgrade report records for the phase.
  returned: always
  type: dict
  sample: {nova_archived_rows: 15000, nova_purged_rows: 0, nova_archive_seconds: 42.5}
executed_commands:
  description: The nova-manage command lines run (they never hold a secret).
  returned: always
  type: list
  elements: str
"""

import datetime
import re
import time

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.secrets import Masker
from ansible_collections.stackhop.upgrade.plugins.module_utils import dburl

# Exit codes of nova-manage db archive_deleted_rows and db purge (nova/cmd/manage.py,
# DbCommands, 2024.1). 2 is also argparse's code for an option this nova-manage does
# not know (--until-complete before ocata, --before and --all-cells before train);
# 255 is nova-manage's own "An error has occurred".
ARCHIVE_EXIT = {
    2: "max_rows is out of range, or this nova-manage lacks an option",
    3: "the nova_api database could not be reached, check [api_database] connection",
    4: "the before date is invalid",
    255: "nova-manage raised an error",
}
PURGE_EXIT = {
    1: "neither --before nor --all was given",
    2: "the before date is invalid, or this nova-manage lacks an option",
    4: "the cell list could not be read from the nova_api database",
    255: "nova-manage raised an error",
}

# One row of the PrettyTable nova prints with --verbose: "| instances | 25 |".
_TABLE_ROW = re.compile(r"^\|\s*(?P<table>[^|\s]+)\s*\|\s*(?P<rows>\d+)\s*\|\s*$")
# The progress line of --until-complete --verbose: "Archiving" then ".." then one dot per
# batch that archived rows then ".complete" (or ".stopped").
_PROGRESS = re.compile(r"^Archiving(?P<dots>\.*)(complete|stopped)\s*$", re.M)
# A purge --verbose line: "DB: Deleted 25 rows from shadow_instances based on ...", or
# "Cell <identity>: Deleted ..." with --all-cells.
_PURGE_ROW = re.compile(r"^(?P<who>DB|Cell (?P<cell>.+?)): Deleted (?P<rows>\d+) rows from "
                        r"(?P<table>\S+) based on", re.M)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$")
MAX_CALLS = 100000
# What a failed read of the databases raises (PyMySQL may be missing: then connect fails).
_DB_ERRORS = (dburl.DbUrlError, dburl.pymysql.MySQLError) if dburl.HAS_PYMYSQL \
    else (dburl.DbUrlError,)


def parse_archive_table(out):
    """{table: rows} from the table archive_deleted_rows --verbose prints.

    nova-manage has no machine-readable output for this command: only a PrettyTable
    ("Table", "Number of Rows Archived") or "Nothing was archived.". Only rows of the
    form "| name | digits |" are read, so the header, borders and progress are skipped.
    """
    rows = {}
    for line in out.splitlines():
        match = _TABLE_ROW.match(line.strip())
        if match:
            rows[match.group("table")] = rows.get(match.group("table"), 0) + int(match.group("rows"))
    return rows


def count_batches(out):
    """Batches that archived rows, from the --until-complete progress dots (None if absent)."""
    match = _PROGRESS.search(out)
    if not match:
        return None
    # "Archiving.." is written first and ".complete" last: the dots between are batches.
    return max(len(match.group("dots")) - 3, 0)


def parse_purge(out):
    """{table: rows} from purge --verbose ("<cell identity>.table" with --all-cells)."""
    rows = {}
    for match in _PURGE_ROW.finditer(out):
        table = match.group("table")
        if match.group("cell"):
            table = "%s.%s" % (match.group("cell"), table)
        rows[table] = rows.get(table, 0) + int(match.group("rows"))
    return rows


def new_progress(label, pending_total, max_rows):
    """The progress before the first batch; ``pending_total`` None when not counted."""
    return render_progress({
        "job": "nova archive_deleted_rows", "label": label, "batches": 0, "archived_total": 0,
        "rows_known": True, "pending_before": pending_total, "max_rows": max_rows,
        "batches_left": None, "seconds": 0.0, "done": False})


def add_archive_batch(progress, rows, seconds):
    """The progress after one more batch: ``rows`` it moved, None when nova does not say
    (--until-complete prints its table only at the end); ``seconds`` since the start."""
    progress["batches"] += 1
    if rows is None:
        progress["rows_known"] = False
    else:
        progress["archived_total"] += rows
    progress["seconds"] = round(seconds, 1)
    return render_progress(progress)


def finish_progress(progress, archived_total, batches, seconds):
    """The progress once nova-manage has printed what it moved."""
    progress.update({"archived_total": archived_total, "batches": batches, "rows_known": True,
                     "seconds": round(seconds, 1), "done": True})
    return render_progress(progress)


def render_progress(progress):
    """Fill in the batches left (each batch moves up to max_rows soft-deleted rows, with
    the rows that refer to them) and the line a follower prints."""
    pending, per = progress["pending_before"], progress["max_rows"]
    if progress["done"]:
        progress["batches_left"] = 0
    elif pending is not None:
        progress["batches_left"] = max(-(-pending // per) - progress["batches"], 0)
    if progress["rows_known"]:
        moved = "%s rows archived" % format(progress["archived_total"], ",")
    else:
        moved = "up to %s rows archived" % format(progress["batches"] * per, ",")
    if progress["done"]:
        state = "done"
    elif progress["batches_left"] is not None:
        state = "about %d batches left of %s soft-deleted rows" % (
            progress["batches_left"], format(pending, ","))
    else:
        state = "the soft-deleted rows were not counted"
    progress["line"] = "nova archive_deleted_rows%s: %d batches, %s in %.0f s; %s" % (
        (", " + progress["label"]) if progress["label"] else "", progress["batches"], moved,
        progress["seconds"], state)
    return progress


def batches_in_progress(text):
    """Batches nova has finished by this point of --until-complete --verbose's output:
    "Archiving.." first, a dot after each batch that archived rows, and ".complete" (or
    ".stopped") in one write at the end, whose dot is no batch."""
    head = text.find("Archiving")
    if head < 0:
        return 0
    tail = text[head + len("Archiving"):]
    rest = tail.lstrip(".")
    dots = len(tail) - len(rest)
    return max(dots - (3 if rest else 2), 0)


def add_counts(total, more):
    for table, rows in more.items():
        if rows:
            total[table] = total.get(table, 0) + rows
    return total


def read_connections(paths):
    """[database] and [api_database] connection of the files (the last file wins)."""
    try:
        return dburl.config_connections(paths, ("database", "api_database"), "nova")
    except dburl.DbUrlError as exc:
        raise StackhopError(str(exc))


class NovaArchiveDeletedRows(StackhopModule):
    argument_spec = dict(
        nova_manage=dict(type="str", default="nova-manage"),
        config_files=dict(type="list", elements="path", default=["/etc/nova/nova.conf"]),
        max_rows=dict(type="int", default=1000),
        until_complete=dict(type="bool", default=True),
        all_cells=dict(type="bool", default=False),
        before=dict(type="str"),
        purge=dict(type="bool", default=False),
        progress_file=dict(type="path"),
        label=dict(type="str", default=""),
    )

    def __init__(self):
        super(NovaArchiveDeletedRows, self).__init__()
        self.masker = Masker()
        self.warnings = []
        self.progress = None
        self.progress_lines = []

    # -- input ----------------------------------------------------------------
    def _validate(self):
        p = self.params
        if p["max_rows"] < 1:
            raise StackhopError("max_rows is %d; set it to a positive number of rows"
                                % p["max_rows"])
        if not p["config_files"]:
            raise StackhopError("config_files is empty; give the nova.conf nova-manage reads")
        if p["before"] is not None:
            before = p["before"].strip().replace("T", " ")
            if not _DATE.match(before):
                raise StackhopError("before is %r; give a date as YYYY-MM-DD or "
                                    "YYYY-MM-DD HH:MM:SS" % p["before"])
            try:
                fmt = {10: "%Y-%m-%d", 16: "%Y-%m-%d %H:%M"}.get(len(before), "%Y-%m-%d %H:%M:%S")
                self.before = datetime.datetime.strptime(before, fmt)
            except ValueError:
                raise StackhopError("before is %r, which is no calendar date; give a date "
                                    "as YYYY-MM-DD" % p["before"])
            self.before_arg = before
        else:
            self.before = self.before_arg = None
        self.nova_manage = self.command_path(
            p["nova_manage"], "nova-manage", "set nova_manage to the nova-manage of the installed nova")
        self.urls = read_connections(p["config_files"])
        for url in self.urls.values():
            self.masker.add_url(url)

    # -- the databases (check mode, pending counts) ---------------------------
    def _targets(self):
        """[(prefix, url)] of the cell databases nova-manage would archive."""
        if not self.params["all_cells"]:
            if not self.urls["database"]:
                raise dburl.DbUrlError("the configuration files have no [database] connection")
            return [("", self.urls["database"])]
        if not self.urls["api_database"]:
            raise dburl.DbUrlError("the configuration files have no [api_database] connection")
        api = dburl.connect(self.urls["api_database"])
        try:
            cells = dburl.query(api, "SELECT name, database_connection FROM cell_mappings "
                                     "ORDER BY id")
        finally:
            api.close()
        for dummy, url in cells:
            self.masker.add_url(url)
        return [("%s." % name, url) for name, url in cells]

    def _count_one(self, url):
        """{table: soft-deleted rows} of one cell database (tables with a shadow table)."""
        conn = dburl.connect(url)
        try:
            tables = set(r[0] for r in dburl.query(
                conn, "SELECT table_name FROM information_schema.tables "
                      "WHERE table_schema = DATABASE()"))
            soft = [r[0] for r in dburl.query(
                conn, "SELECT table_name FROM information_schema.columns WHERE "
                      "table_schema = DATABASE() AND column_name = 'deleted'")]
            counts = {}
            for table in sorted(set(soft)):
                # nova skips task_log unless --task-log, and tables without a shadow table.
                if table.startswith("shadow_") or table == "task_log" \
                        or "shadow_" + table not in tables:
                    continue
                where = "deleted != 0"
                args = None
                if self.before is not None:
                    where += " AND deleted_at < %s"
                    args = (self.before,)
                rows = dburl.query(conn, "SELECT COUNT(*) FROM `%s` WHERE %s" % (table, where),
                                   args)[0][0]
                if rows:
                    counts[table] = int(rows)
            return counts
        finally:
            conn.close()

    def _count_pending(self):
        """{table: soft-deleted rows} over the targets, or None when they cannot be read."""
        try:
            counts = {}
            for prefix, url in self._targets():
                for table, rows in self._count_one(url).items():
                    counts[prefix + table] = rows
            return counts
        except _DB_ERRORS as exc:
            detail = exc if isinstance(exc, dburl.DbUrlError) else "MySQL error %s" % (
                exc.args[-1] if exc.args else exc)
            self.warnings.append("the soft-deleted rows were not counted: %s" % detail)
        return None

    # -- nova-manage ----------------------------------------------------------
    def _manage(self, args, meanings, ok, on_output=None):
        argv = [self.nova_manage]
        for path in self.params["config_files"]:
            argv += ["--config-file", path]
        argv += ["db"] + args
        if on_output is None:
            rc, out, err = self.run_command(argv, check_rc=False)
        else:
            # nova-manage writes its progress dots without flushing: unbuffered, they come
            # as each batch ends, not all at exit
            rc, out, err = self.run_streaming(argv, on_output, env={"PYTHONUNBUFFERED": "1"})
        if rc not in ok:
            lines = [ln.strip() for ln in (err + "\n" + out).splitlines() if ln.strip()]
            raise StackhopError(self.masker.mask(
                "nova-manage db %s exited with %d (%s): %s" % (
                    args[0], rc, meanings.get(rc, "unexpected failure"),
                    lines[-1] if lines else "no output")), rc=rc)
        return rc, out

    def _archive(self):
        """(archived per table, batches): nova loops, or one call per batch."""
        p = self.params
        args = ["archive_deleted_rows", "--verbose", "--max_rows", str(p["max_rows"])]
        if self.before_arg:
            args += ["--before", self.before_arg]
        if p["all_cells"]:
            args += ["--all-cells"]
        started = time.monotonic()
        if p["until_complete"]:
            rc, out = self._manage(args + ["--until-complete"], ARCHIVE_EXIT, ok=(0, 1),
                                   on_output=self._dots_reader(started) if self.progress else None)
            archived = add_counts({}, parse_archive_table(out))
            self._check_table(rc, out, archived)
            batches = count_batches(out)
            if batches is None:
                batches = 1 if archived else 0
            return archived, batches
        archived, batches = {}, 0
        for dummy in range(MAX_CALLS):
            rc, out = self._manage(args, ARCHIVE_EXIT, ok=(0, 1))
            moved = add_counts({}, parse_archive_table(out))
            self._check_table(rc, out, moved)
            if not moved:
                return archived, batches
            batches += 1
            add_counts(archived, moved)
            self._progress_batch(sum(moved.values()), time.monotonic() - started)
        raise StackhopError("nova-manage db archive_deleted_rows still archived rows after "
                            "%d calls; raise max_rows or set until_complete" % MAX_CALLS)

    # -- progress -------------------------------------------------------------
    def _write(self):
        self.write_progress(self.params["progress_file"], self.progress)
        self.progress_lines.append({"seconds": self.progress["seconds"],
                                    "line": self.progress["line"]})

    def _progress_batch(self, rows, seconds):
        if self.progress is not None:
            add_archive_batch(self.progress, rows, seconds)
            self._write()

    def _dots_reader(self, started):
        """on_output for --until-complete --verbose: a batch per dot (batches_in_progress)."""
        seen = {"text": "", "batches": 0}

        def on_output(text):
            seen["text"] += text
            batches = batches_in_progress(seen["text"])
            while seen["batches"] < batches:
                seen["batches"] += 1
                self._progress_batch(None, time.monotonic() - started)
        return on_output

    @staticmethod
    def _check_table(rc, out, archived):
        # rc 1 is "rows archived": then a table must have been printed and read.
        if rc == 1 and not archived and "Nothing was archived" not in out:
            raise StackhopError("nova-manage db archive_deleted_rows archived rows but its "
                                "table could not be read; run it by hand with --verbose")

    def _purge(self):
        p = self.params
        args = ["purge", "--verbose"] + (["--before", self.before_arg] if self.before_arg
                                         else ["--all"])
        if p["all_cells"]:
            args += ["--all-cells"]
        dummy, out = self._manage(args, PURGE_EXIT, ok=(0, 3))
        return parse_purge(out)

    # -- run ------------------------------------------------------------------
    def run(self):
        p = self.params
        self._validate()
        pending = self._count_pending()
        result = {"archived": {}, "archived_total": 0, "batches": 0, "purged": {},
                  "purged_total": 0, "pending": pending, "seconds": 0.0}
        if self.check_mode:
            result["archived"] = dict(pending or {})
            result["archived_total"] = sum(result["archived"].values())
            # Without counts the module cannot know: it says it would run.
            result["changed"] = pending is None or bool(result["archived_total"]) or p["purge"]
            result["diff"] = {"before": {"deleted_rows": pending or {}},
                              "after": {"deleted_rows": {}}}
            return self._finish(result)

        started = time.monotonic()
        if p["progress_file"]:
            self.progress = new_progress(
                p["label"], sum(pending.values()) if pending is not None else None, p["max_rows"])
            self._write()
        archived, batches = self._archive()
        purged = self._purge() if p["purge"] else {}
        seconds = round(time.monotonic() - started, 3)
        if self.progress is not None:
            finish_progress(self.progress, sum(archived.values()), batches, seconds)
            self._write()
            result["progress"] = self.progress
            result["progress_history"] = self.progress_lines
        left = self._count_pending() if pending is not None else None
        result.update({
            "archived": archived, "archived_total": sum(archived.values()), "batches": batches,
            "purged": purged, "purged_total": sum(purged.values()), "seconds": seconds,
            "changed": bool(archived) or bool(purged)})
        result["diff"] = {"before": {"deleted_rows": pending or {}},
                          "after": {"deleted_rows": left or {}}}
        return self._finish(result)

    def _finish(self, result):
        result["stackhop_figures"] = {
            "nova_archived_rows": result["archived_total"],
            "nova_purged_rows": result["purged_total"],
            "nova_archive_seconds": result["seconds"]}
        for warning in self.warnings:
            self.ansible.warn(self.masker.mask(warning))
        return self.masker.mask(result)


def main():
    NovaArchiveDeletedRows()()


if __name__ == "__main__":
    main()
