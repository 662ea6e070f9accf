# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Point systemd units that run another release's venv back at release N's venv.

    units.py --venv-root /opt/stackhop/venvs --to-release 2024.1 [--check] nova-api ...

For each unit that has a file in /etc/systemd/system, every path of a release venv under
--venv-root (``<root>/<release>/``) whose release is not N is replaced by N's (written to
a temporary file and renamed): the target release and any intermediate one a
fast-forward or a second upgrade left. Prints JSON per unit: exists, rewritten,
rewritten_from (the releases replaced), venv (the venv its ExecStart runs from after the
rewrite), exec (the program) and exec_exists (whether that program exists, so a unit
that only a newer release has is not started). --check writes nothing. Standard library
only.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import re
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--venv-root", required=True)
    parser.add_argument("--to-release", required=True)
    parser.add_argument("--unit-dir", default=UNIT_DIR)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("units", nargs="*")
    args = parser.parse_args(argv)
    root = args.venv_root.rstrip("/")
    new = "%s/%s/" % (root, args.to_release)
    pattern = re.compile(re.escape(root) + r"/([^/\s\"']+)/")
    out = {}
    for unit in args.units:
        path = os.path.join(args.unit_dir, unit + ".service")
        if not os.path.isfile(path):
            out[unit] = {"exists": False}
            continue
        with open(path) as handle:
            text = handle.read()
        others = sorted({m.group(1) for m in pattern.finditer(text)} - {args.to_release})
        rewritten = bool(others)
        if rewritten:
            text = pattern.sub(lambda m: new, text)
            if not args.check:
                fd, tmp = tempfile.mkstemp(prefix=".%s." % unit, dir=args.unit_dir)
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
                os.chmod(tmp, 0o644)
                os.rename(tmp, path)
        argv0 = exec_start(text)
        program = argv0[0] if argv0 else ""
        venv = ""
        for arg in argv0:
            match = pattern.match(arg)
            if match:
                venv = "%s/%s" % (root, match.group(1))
                break
        out[unit] = {"exists": True, "rewritten": rewritten, "rewritten_from": others, "venv": venv,
                     "exec": program, "exec_exists": bool(program) and os.path.exists(program)}
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
