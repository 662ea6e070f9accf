"""The lab hosts' logs, kept on the machine before a lab is destroyed after a failed test: the
services' own files (/var/log of each host) are the only record of why a unit did not come up,
and a rehearsal's lab is gone when its failure is read."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lab.labctl import Lab
from tests.lib.ansible_runner import REPO

LOGS = REPO / "build" / "lab-logs"


def keep_logs(name, session=None, dest=None):
    """Each host's /var/log as build/lab-logs/<lab>/<host>.tar.gz; with ``session`` (pytest's),
    only when one of its tests failed. Returns the directory, or None when nothing was kept."""
    if session is not None and not session.testsfailed:
        return None
    lab = Lab(name)
    hosts = [h["name"] for h in ((lab.state() or {}).get("plan") or {}).get("hosts", [])]
    out = Path(dest) if dest else LOGS / name
    out.mkdir(parents=True, exist_ok=True)
    for host in hosts:
        try:
            proc = subprocess.run(lab.exec_argv(host, ["tar", "-C", "/var/log", "--ignore-failed-read", "-czf", "-",
                                                       "."]), capture_output=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.stdout:
            (out / ("%s.tar.gz" % host)).write_bytes(proc.stdout)
    print("\nthe hosts' /var/log of lab %s kept in %s" % (name, out))
    return out
