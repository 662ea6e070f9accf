"""cinder in the lab region: api and scheduler with real volume rows, no volume backend.

No cinder volume backend can work on this machine (lab/region.md, "cinder"): its
kernel has no device-mapper (LVM), no network file systems (NFS client or server), no
LIO target, no RBD and no loadable modules. So the region runs cinder-api and
cinder-scheduler only, and a volume created through the API is a real row in cinder's
database that the scheduler puts in ``error`` (no backend to place it on).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time

import pytest

from tests.lab.conftest import REGION_LAB
from lab.labctl import Lab

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400)]

CTL = "ctl-old"
CLI = "OS_CLOUD=lab-admin /opt/stackhop/venvs/2024.1/bin/openstack"


def sh(script, check=True):
    proc = subprocess.run(Lab(REGION_LAB).exec_argv(CTL, ["/bin/sh", "-ec", script]),
                          capture_output=True, text=True, timeout=300, check=False)
    assert not check or proc.returncode == 0, (script, proc.stdout, proc.stderr)
    return proc


def row(volume_id):
    out = sh("mariadb -N -B -e %s" % shlex.quote(
        "SELECT id, status, deleted, size FROM cinder.volumes WHERE id='%s'" % volume_id)).stdout
    return out.split("\t") if out.strip() else None


def test_volume_created_through_the_api_is_a_real_row(lab_region):
    vol = json.loads(sh("%s volume create --size 1 lab-cinder-row -f json" % CLI).stdout)
    try:
        for _attempt in range(60):
            status = json.loads(sh("%s volume show %s -f json" % (CLI, vol["id"])).stdout)["status"]
            if status != "creating":
                break
            time.sleep(2)
        # the scheduler found no backend: the API, the scheduler and the database worked
        assert status == "error", status
        got = row(vol["id"])
        assert got and got[1] == "error" and got[2].strip() == "0" and got[3].strip() == "1", got
        services = json.loads(sh("%s volume service list -f json" % CLI).stdout)
        assert {s["Binary"] for s in services} == {"cinder-scheduler"}, services
        assert {s["State"] for s in services} == {"up"}, services
    finally:
        sh("%s volume delete %s" % (CLI, vol["id"]))
    for _attempt in range(60):
        got = row(vol["id"])
        if got and got[2].strip() == "1":
            break
        time.sleep(2)
    assert got and got[1] == "deleted" and got[2].strip() == "1", got
