# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Scan service logs for deprecation warnings and errors since a time (HULK's log watch).

    log_scan.py --since EPOCH --service nova=/var/log/nova/*.log --unit nova=nova-api ...

Reads the files (oslo.log lines start with ``YYYY-MM-DD HH:MM:SS.mmm``; lines without a
time, such as traceback lines, belong to the line before) and the journal of the units
(``journalctl -o json``, machine-readable), keeps what was logged at or after --since and
counts per service: deprecation warnings, ERROR lines, CRITICAL lines, tracebacks. Prints
JSON: {"since", "services": {service: {deprecations, errors, critical, tracebacks, lines,
files, units, examples, deprecation_examples}}}. Standard library only.
"""

from __future__ import absolute_import, division, print_function

import argparse
import datetime
import glob
import json
import os
import re
import subprocess
import sys
import time

STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:[.,](\d+))?")
PATTERNS = {
    "deprecations": re.compile(r"deprecat", re.IGNORECASE),
    "critical": re.compile(r"\bCRITICAL\b"),
    "errors": re.compile(r"\bERROR\b"),
    "tracebacks": re.compile(r"Traceback \(most recent call last\)"),
}


def line_time(line):
    match = STAMP.match(line)
    if not match:
        return None
    try:
        stamp = time.mktime(time.strptime("%s %s" % (match.group(1), match.group(2)),
                                          "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return None
    frac = match.group(3)
    return stamp + (float("0." + frac) if frac else 0.0)


def parse_since(value, window):
    value = (value or "").strip()
    if not value:
        return time.time() - window
    try:
        return float(value)
    except ValueError:
        pass
    text = value.replace("Z", "+00:00")
    if "+" not in text[10:] and "-" not in text[10:]:
        text += "+00:00"
    return datetime.datetime.fromisoformat(text).timestamp()


class Counter(object):
    def __init__(self, examples):
        self.max_examples = examples
        self.data = {}

    def entry(self, service):
        return self.data.setdefault(service, {
            "deprecations": 0, "errors": 0, "critical": 0, "tracebacks": 0, "lines": 0,
            "files": [], "units": [], "examples": [], "deprecation_examples": []})

    def add(self, service, text, priority=None):
        entry = self.entry(service)
        entry["lines"] += 1
        hit = False
        for name, pattern in PATTERNS.items():
            if pattern.search(text):
                entry[name] += 1
                hit = hit or name != "deprecations"
        if priority is not None and priority <= 2 and not PATTERNS["critical"].search(text):
            entry["critical"] += 1
            hit = True
        short = text.strip()[:240]
        if PATTERNS["deprecations"].search(text):
            key = STAMP.sub("", short).strip()
            key = re.sub(r"^\d+\s+", "", key)      # drop the pid of oslo.log lines
            if key not in entry["deprecation_examples"] and len(entry["deprecation_examples"]) < 10:
                entry["deprecation_examples"].append(key)
        if hit and len(entry["examples"]) < self.max_examples:
            entry["examples"].append(short)


def scan_file(counter, service, path, since):
    counter.entry(service)["files"].append(path)
    current = None
    try:
        handle = open(path, "rb")
    except (IOError, OSError):
        return
    with handle:
        for raw in handle:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            stamp = line_time(line)
            if stamp is not None:
                current = stamp
            if current is None or current < since:
                continue
            counter.add(service, line)


def scan_journal(counter, units, since):
    """units: {unit: service}."""
    if not units:
        return
    argv = ["journalctl", "--no-pager", "-o", "json", "--since", "@%d" % int(since)]
    for unit in sorted(units):
        argv += ["-u", unit + ".service"]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    except (IOError, OSError):
        return
    for raw in proc.stdout.splitlines():
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        unit = (rec.get("_SYSTEMD_UNIT") or rec.get("UNIT") or "").replace(".service", "")
        service = units.get(unit)
        if service is None:
            continue
        message = rec.get("MESSAGE")
        if isinstance(message, list):     # journald sends non-UTF-8 messages as byte arrays
            message = bytes(bytearray(message)).decode("utf-8", "replace")
        if not isinstance(message, str):
            continue
        stamp = int(rec.get("__REALTIME_TIMESTAMP", "0")) / 1e6
        if stamp < since:
            continue
        priority = rec.get("PRIORITY")
        counter.add(service, message, int(priority) if str(priority).isdigit() else None)
    for unit, service in units.items():
        counter.entry(service)["units"].append(unit)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--since", default="", help="epoch seconds or ISO 8601 (UTC without a zone)")
    parser.add_argument("--window", type=float, default=7200, help="without --since: seconds back")
    parser.add_argument("--service", action="append", default=[], help="SERVICE=GLOB")
    parser.add_argument("--unit", action="append", default=[], help="SERVICE=UNIT")
    parser.add_argument("--examples", type=int, default=3)
    args = parser.parse_args(argv)
    args.since = parse_since(args.since, args.window)
    counter = Counter(args.examples)
    for item in args.service:
        service, _sep, pattern = item.partition("=")
        for path in sorted(glob.glob(pattern)):
            if os.path.isfile(path):
                scan_file(counter, service, path, args.since)
    units = {}
    for item in args.unit:
        service, _sep, unit = item.partition("=")
        units[unit] = service
    present = {}
    if units and os.path.isdir("/run/systemd/system"):
        for unit, service in units.items():
            if os.path.exists("/etc/systemd/system/%s.service" % unit) or \
                    os.path.exists("/lib/systemd/system/%s.service" % unit):
                present[unit] = service
        scan_journal(counter, present, args.since)
    services = {k: v for k, v in counter.data.items() if v["files"] or v["units"]}
    print(json.dumps({"since": args.since, "services": services}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
