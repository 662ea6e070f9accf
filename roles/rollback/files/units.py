# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Point systemd units that run the target release's venv back at release N's venv.

    units.py --from-venv /opt/stackhop/venvs/2025.1 --to-venv /opt/stackhop/venvs/2024.1 \
        [--check] nova-api nova-conductor ...

For each unit that has a file in /etc/systemd/system, every occurrence of the target
venv's path (followed by '/') in the file is replaced by release N's (written to a
temporary file and renamed). Prints JSON per unit: exists, rewritten, venv (the venv its
ExecStart runs from after the rewrite), exec (the program) and exec_exists (whether that
program exists, so a unit that only the target release has is not started). --check
writes nothing. Standard library only.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import shlex
import sys
import tempfile

UNIT_DIR = "/etc/systemd/system"


def exec_start(text):
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("ExecStart="):
            value = line.split("=", 1)[1].lstrip("-@:+!")
            try:
                return shlex.split(value)
            except ValueError:
                return value.split()
    return []


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from-venv", required=True)
    parser.add_argument("--to-venv", required=True)
    parser.add_argument("--unit-dir", default=UNIT_DIR)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("units", nargs="*")
    args = parser.parse_args(argv)
    old = args.from_venv.rstrip("/") + "/"
    new = args.to_venv.rstrip("/") + "/"
    out = {}
    for unit in args.units:
        path = os.path.join(args.unit_dir, unit + ".service")
        if not os.path.isfile(path):
            out[unit] = {"exists": False}
            continue
        with open(path) as handle:
            text = handle.read()
        rewritten = old in text and old != new
        if rewritten:
            text = text.replace(old, new)
            if not args.check:
                fd, tmp = tempfile.mkstemp(prefix=".%s." % unit, dir=args.unit_dir)
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
                os.chmod(tmp, 0o644)
                os.rename(tmp, path)
        argv0 = exec_start(text)
        program = argv0[0] if argv0 else ""
        venv = ""
        for candidate in (new, old):
            if any(a.startswith(candidate) for a in argv0):
                venv = candidate.rstrip("/")
                break
        out[unit] = {"exists": True, "rewritten": rewritten, "venv": venv, "exec": program,
                     "exec_exists": bool(program) and os.path.exists(program)}
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
