# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""The ``iptables-save`` / ``ip6tables-save`` wrapper installed by conntrack_zone_pin.

Why a wrapper at all: iptables 1.8.x prints ``-j CT --zone 0`` as ``-j CT``. The
kernel rule is the same either way, but neutron's liberty OVS agent learns each
port's zone from the TEXT of ``iptables-save -t raw`` (regex ``--physdev-in DEV ...
-j CT --zone N``): without ``--zone 0`` in the text it finds no zone and gives the port
a new one, and connections opened in zone 0 lose their conntrack state. The agent runs
``iptables-save`` through rootwrap, which takes the first match in ``exec_dirs``; the
wrapper sits in the first of those directories.

Compared with DeNA's ``sed 's/ -j CT$/ -j CT --zone 0/'``, the wrapper:
- rewrites only rule lines (``-A`` with optional ``[p:b]`` counters) of the ``*raw``
  table whose target is exactly ``-j CT`` with no option (zone 0 hidden);
- passes every argument through unchanged and, with ``-f FILE``, fixes the file;
- exits with the real tool's status (or dies by the same signal).
"""

from __future__ import annotations

MARKER = "Managed by stackhop.upgrade.conntrack_zone_pin"

_TEMPLATE = r'''#!%(python)s
# %(marker)s: do not edit, remove with state=absent.
# Runs %(real)s with every argument and puts back the " --zone 0" that
# iptables-save leaves out of CT rules in the raw table (kernel rule unchanged).
import os
import re
import signal
import subprocess
import sys

REAL = %(real)r
RULE = re.compile(br"^(\[[0-9]+:[0-9]+\] )?-A \S+ ")


class Fixer(object):
    def __init__(self):
        self.in_raw = False

    def line(self, data):
        body = data.rstrip(b"\n")
        if body.startswith(b"*"):
            self.in_raw = body == b"*raw"
        elif body == b"COMMIT":
            self.in_raw = False
        elif self.in_raw and body.endswith(b" -j CT") and RULE.match(body):
            return body + b" --zone 0" + data[len(body):]
        return data


def file_argument(args):
    """The -f/--file argument of iptables-save, if any (getopt rules)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return None
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name and "file".startswith(name):
                if eq:
                    return value
                return args[i + 1] if i + 1 < len(args) else None
            if name and not eq and any(o.startswith(name) for o in ("table", "modprobe")):
                i += 1
        elif arg.startswith("-") and len(arg) > 1:
            for j, opt in enumerate(arg[1:], 1):
                if opt in "ftM":
                    rest = arg[j + 1:]
                    value = rest if rest else (args[i + 1] if i + 1 < len(args) else None)
                    if opt == "f":
                        return value
                    if not rest:
                        i += 1
                    break
        i += 1
    return None


def die_like(rc):
    if rc < 0:
        signal.signal(-rc, signal.SIG_DFL)
        os.kill(os.getpid(), -rc)
    return rc


def main():
    args = sys.argv[1:]
    target = file_argument(args)
    fixer = Fixer()
    if target is not None:
        rc = subprocess.call([REAL] + args)
        if rc == 0:
            with open(target, "rb") as src:
                data = [fixer.line(ln) for ln in src]
            with open(target, "wb") as dst:
                dst.writelines(data)
        return die_like(rc)
    proc = subprocess.Popen([REAL] + args, stdout=subprocess.PIPE)
    out = getattr(sys.stdout, "buffer", sys.stdout)
    try:
        for data in iter(proc.stdout.readline, b""):
            out.write(fixer.line(data))
        out.flush()
    except BrokenPipeError:
        proc.kill()
        proc.wait()
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    return die_like(proc.wait())


if __name__ == "__main__":
    sys.exit(main())
'''


def wrapper_text(real, python):
    """Source of the wrapper that runs ``real`` with the interpreter ``python``."""
    return _TEMPLATE % {"python": python, "marker": MARKER, "real": real}


def is_ours(text):
    """True if ``text`` (a file's start) is a wrapper this module wrote."""
    return MARKER in text[:400]
