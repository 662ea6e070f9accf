"""cinder in the lab region: cinder-api, cinder-scheduler and cinder-volume with cinder's own
fake driver (lab/inventory/group_vars/all/cinder.yml), a stand-in for the storage this
machine's kernel cannot give (no device-mapper, NFS, LIO or RBD: lab/region.md, "cinder").
A volume is a real row on a real cinder-volume service (HOST@fake#fake), created, attached
to a server (nova's fake driver) and deleted through the APIs, with no block device behind it.

The volumes of KEPT stay for the upgrade: after the blue-green move
tests/lab/test_upgrade_region.py finds each on the new node's running cinder-volume (the
host rewrite, issue 19 part 3), still attached, and detaches and deletes them.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.lab.conftest import REGION_LAB
from tests.lib import cinder_lab
from tests.lib.cinder_lab import KEPT

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400)]

CLI = "OS_CLOUD=lab-admin /opt/stackhop/venvs/2024.1/bin/openstack"


def test_cinder_volume_serves_volumes_that_attach_and_delete(lab_region):
    services = cinder_lab.volume_services(REGION_LAB, CLI)
    assert {(s["Binary"], s["Host"], s["State"]) for s in services} >= {
        ("cinder-scheduler", "ctl-old", "up"), ("cinder-volume", "ctl-old@fake", "up")}, services
    # a volume through its whole life: created on the backend, deleted (the row marked so)
    vol = json.loads(cinder_lab.sh(REGION_LAB, "%s volume create --size 1 lab-cinder-row -f json" % CLI).stdout)
    try:
        assert cinder_lab.wait_status(REGION_LAB, CLI, vol["id"], ("available", "error")) == "available"
        got = cinder_lab.row(REGION_LAB, vol["id"])
        assert got[1:] == ["available", "0", "1", "ctl-old@fake#fake"], got
    finally:
        cinder_lab.sh(REGION_LAB, "%s volume delete %s" % (CLI, vol["id"]))
    for _attempt in range(60):
        got = cinder_lab.row(REGION_LAB, vol["id"])
        if got and got[2] == "1":
            break
        time.sleep(2)
    assert got and got[1] == "deleted" and got[2] == "1", got
    # the volumes the upgrade must carry: one available, one attached to a server
    existing = {v["Name"]: v for v in json.loads(cinder_lab.sh(REGION_LAB, "%s volume list -f json" % CLI).stdout)}
    for name, server in KEPT.items():
        if name not in existing:
            existing[name] = json.loads(cinder_lab.sh(REGION_LAB, "%s volume create --size 1 %s -f json" % (CLI, name)).stdout)
            existing[name]["ID"] = existing[name]["id"]
        volume_id = existing[name]["ID"]
        assert cinder_lab.wait_status(REGION_LAB, CLI, volume_id, ("available", "in-use", "error")) in ("available", "in-use")
        if server and cinder_lab.wait_status(REGION_LAB, CLI, volume_id, ("available", "in-use")) == "available":
            cinder_lab.sh(REGION_LAB, "%s server add volume %s %s" % (CLI, server, volume_id))
        assert cinder_lab.wait_status(REGION_LAB, CLI, volume_id, ("in-use",) if server else ("available",)) == (
            "in-use" if server else "available"), name
        assert cinder_lab.row(REGION_LAB, volume_id)[4] == "ctl-old@fake#fake", cinder_lab.row(REGION_LAB, volume_id)
    shown = json.loads(cinder_lab.sh(REGION_LAB, "%s volume show lab-cinder-attached -f json" % CLI).stdout)
    assert [a["server_id"] for a in shown["attachments"]] == [
        json.loads(cinder_lab.sh(REGION_LAB, "%s server show vm1 -f json" % CLI).stdout)["id"]], shown["attachments"]
