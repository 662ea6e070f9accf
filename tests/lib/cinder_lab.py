"""The lab region's cinder, read and driven from its nodes: the volume CLI on a controller,
the rows of cinder's database on the database host (tests/lab/test_lab_region_cinder.py
before the upgrade, tests/lab/test_upgrade_region.py after it)."""

from __future__ import annotations

import json
import shlex
import subprocess
import time

from lab.labctl import Lab

CTL = "ctl-old"
DB_HOST = "ctl-old"
# volume name -> the server it is attached to ('' for none)
KEPT = {"lab-cinder-kept": "", "lab-cinder-attached": "vm1"}


def sh(lab, script, host=CTL, check=True):
    """A shell script on a host of the lab (its output; asserted to succeed unless check=False)."""
    proc = subprocess.run(Lab(lab).exec_argv(host, ["/bin/sh", "-ec", script]),
                          capture_output=True, text=True, timeout=300, check=False)
    assert not check or proc.returncode == 0, (script, proc.stdout, proc.stderr)
    return proc


def row(lab, volume_id):
    """(id, status, deleted, size, host) of the volume's row in cinder's database (on the
    database host, ctl-old, whichever node serves cinder)."""
    out = sh(lab, "mariadb -N -B -e %s" % shlex.quote(
        "SELECT id, status, deleted, size, host FROM cinder.volumes WHERE id='%s'" % volume_id),
        host=DB_HOST).stdout
    return [field.strip() for field in out.split("\t")] if out.strip() else None


def wait_status(lab, cli, volume_id, wanted, host=CTL, timeout=180):
    """The volume's status once it is one of ``wanted`` (or the last one seen at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        status = json.loads(sh(lab, "%s volume show %s -f json" % (cli, volume_id), host=host).stdout)["status"]
        if status in wanted or time.monotonic() > deadline:
            return status
        time.sleep(2)


def volume_services(lab, cli, host=CTL):
    return json.loads(sh(lab, "%s volume service list -f json" % cli, host=host).stdout)
