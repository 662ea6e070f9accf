# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Online data migrations of nova, cinder, placement and ironic: their command, their
output, their exit codes, and the progress an operator reads while they run.

Each service's ``<service>-manage db online_data_migrations --max-count N`` (cinder:
``--max_count``) runs ONE batch and prints a PrettyTable with a row per migration:
found in this batch, migrated in this batch (cinder before 2023.1 adds "Remaining").
Exit codes (nova/cmd/manage.py, cinder/cmd/manage.py, placement/cmd/manage.py): 0 no
migration found anything left, 1 the batch migrated rows (more may be left), 2 a
migration raised and nothing else could progress, 127 a bad --max-count.

Ironic's ``ironic-dbsync online_data_migrations --max-count N`` (ironic/command/dbsync.py)
prints a line per migration, ``<function>() migrated <done> of <total> objects.``, and
exits 0 when every migration is done, 1 when max_count objects were migrated (run it
again); a migration that raises ends it with a traceback (exit code 1, no line for it).
"""

from __future__ import annotations

import re

SERVICES = {
    "nova": {"manage": "nova-manage", "max_count": "--max-count", "command": ["db", "online_data_migrations"],
             "output": "table"},
    "cinder": {"manage": "cinder-manage", "max_count": "--max_count", "command": ["db", "online_data_migrations"],
               "output": "table"},
    "placement": {"manage": "placement-manage", "max_count": "--max-count",
                  "command": ["db", "online_data_migrations"], "output": "table"},
    "ironic": {"manage": "ironic-dbsync", "max_count": "--max-count", "command": ["online_data_migrations"],
               "output": "lines"},
}

EXIT = {
    0: "done",
    1: "batch migrated rows",
    2: "a migration failed and no other could progress",
    127: "max_count is not a positive number",
}

_BORDER = re.compile(r"^\+[-+]+\+$")


def parse_table(text):
    """{migration: [found, migrated, remaining or None]} from the batch's PrettyTable.

    The header names the columns (nova "Total Needed | Completed", placement "Total Found
    | Completed", older cinder "Found | Done | Remaining"); the first numeric column after
    the name is what the batch found, the second what it migrated, a third what is left.
    """
    rows, header = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|") or _BORDER.match(line):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if len(cells) < 3 or not all(c.isdigit() for c in cells[1:]):
            continue
        numbers = [int(c) for c in cells[1:]]
        remaining = numbers[2] if len(numbers) > 2 else None
        rows[cells[0]] = [numbers[0], numbers[1], remaining]
    return rows


# An oslo.log line at ERROR: "DATE TIME PID ERROR LOGGER [CONTEXT] TEXT"; a traceback's
# lines repeat the same date, time, pid and logger.
_LOG_ERROR = re.compile(r"^(?P<record>\S+ \S+ \d+) ERROR (?P<logger>\S+) "
                        r"(?:\[[^\]]*\] )?(?P<text>.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


_IRONIC_LINE = re.compile(r"^(?P<name>\w+)\(\) migrated (?P<done>\d+) of (?P<total>\d+) objects\.$")


def parse_lines(text):
    """{migration: [found, migrated, None]} from ironic-dbsync's lines."""
    rows = {}
    for line in text.splitlines():
        match = _IRONIC_LINE.match(line.strip())
        if match:
            rows[match.group("name")] = [int(match.group("total")), int(match.group("done")), None]
    return rows


def parse(service, text):
    """The batch's rows, read the way ``service`` prints them."""
    return parse_lines(text) if SERVICES[service]["output"] == "lines" else parse_table(text)


def batch_argv(service, manage, config_files, max_count):
    """The command line of one batch (no secret: the URLs stay in the config files)."""
    argv = [manage]
    for path in config_files:
        argv += ["--config-file", path]
    return argv + SERVICES[service]["command"] + [SERVICES[service]["max_count"], str(max_count)]


def stuck(rows):
    """Migrations of a batch that found rows and migrated none of them: what to look at
    when a batch fails."""
    return sorted(name for name, (found, done, dummy) in rows.items() if found and not done)


def last_error(text):
    """The first line of the last ERROR record of the service's log in ``text`` (oslo.log's
    format; a traceback's lines are the same record), shortened."""
    found, record = None, None
    for line in _ANSI.sub("", text).splitlines():
        match = _LOG_ERROR.match(line.strip())
        if not match:
            continue
        key = (match.group("record"), match.group("logger"))
        if key != record and match.group("text").strip():
            found, record = match.group("text").strip(), key
    if found and len(found) > 300:
        found = found[:297] + "..."
    return found


def new_progress(service, label):
    return {"service": service, "label": label, "batches": 0, "migrated_total": 0,
            "migrated": {}, "last_batch": {}, "remaining": None, "done": False,
            "failed": False, "seconds": 0.0, "line": ""}


def add_batch(progress, rows, rc, seconds):
    """The progress after one batch (``rows`` from parse_table, ``rc`` its exit code)."""
    migrated = sum(r[1] for r in rows.values())
    progress["batches"] += 1
    progress["seconds"] = round(progress["seconds"] + seconds, 3)
    progress["migrated_total"] += migrated
    for name, (dummy, done, dummy2) in rows.items():
        if done:
            progress["migrated"][name] = progress["migrated"].get(name, 0) + done
    progress["last_batch"] = {"found": sum(r[0] for r in rows.values()),
                              "migrated": migrated, "rc": rc}
    left = [r[2] for r in rows.values() if r[2] is not None]
    progress["remaining"] = sum(left) if left else None
    progress["done"] = rc == 0
    progress["failed"] = rc not in (0, 1)
    progress["line"] = progress_line(progress)
    return progress


def progress_line(progress):
    """The one line the operator reads after each batch."""
    batch = progress["last_batch"]
    head = "%s online data migrations%s: batch %d" % (
        progress["service"], (", %s" % progress["label"]) if progress["label"] else "",
        progress["batches"])
    if progress["failed"]:
        state = "FAILED (%s)" % EXIT.get(batch.get("rc"), "exit code %s" % batch.get("rc"))
    elif progress["done"]:
        state = "done"
    elif progress["remaining"] is not None:
        state = "%s rows left" % format(progress["remaining"], ",")
    else:
        state = "more batches to run (the service counts rows only as it migrates them)"
    return "%s found %s and migrated %s rows; %s rows migrated in %.0f s; %s" % (
        head, format(batch.get("found", 0), ","), format(batch.get("migrated", 0), ","),
        format(progress["migrated_total"], ","), progress["seconds"], state)
