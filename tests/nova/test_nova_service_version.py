"""stackhop.upgrade.nova_service_version: a compute's nova-compute record lowered to the version
of the code it is rolled back to, so nova's ServiceTooOld check lets that code save it (issue 22
part 4). judge() alone, then with a real nova 2024.1 on a real MariaDB (needs root)."""

from __future__ import annotations

import subprocess

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import StackhopError
from ansible_collections.stackhop.upgrade.plugins.modules.nova_service_version import judge
from tests.lib.ansible_runner import run_module
from tests.nova.conftest import assert_no_secret

NEWER, OLDER = 70, 66


def test_judge_lowers_only_a_newer_record():
    res = judge({"found": [{"cell": "cell1", "id": 3, "version": NEWER}]}, "cmp1", "nova-compute", OLDER)
    assert res["changed"] is True
    assert "lowered from version 70 to 66" in res["message"]
    assert res["diff"]["before"] == "cell1: version 70\n" and res["diff"]["after"] == "cell1: version 66\n"


def test_judge_leaves_a_record_at_or_below_the_version():
    for version in (OLDER, OLDER - 2):
        res = judge({"found": [{"cell": "cell1", "id": 3, "version": version}]}, "cmp1", "nova-compute", OLDER)
        assert res["changed"] is False and "already" in res["message"]


def test_judge_without_a_record():
    res = judge({"found": []}, "cmp9", "nova-compute", OLDER)
    assert res["changed"] is False and "creates one when it starts" in res["message"]
    with pytest.raises(StackhopError, match="cells cell1 did not answer"):
        judge({"found": [], "cells_not_responding": ["cell1"]}, "cmp9", "nova-compute", OLDER)


@pytest.fixture
def cells(nova_env, nova_schema):
    env = nova_env
    with open(nova_schema["cell"]) as dump:
        subprocess.run(["mariadb", "--socket=%s" % env.db.socket, "-uroot", env.cell0_db],
                       stdin=dump, check=True)
    env.add_computes(["cmp1", "cmp2"])
    mapped = run_module("nova_cell_v2", env.args())
    assert not mapped.failed, mapped.get("msg")
    # a region after its upgrade: every record holds the newer code's version
    env.db.sql("UPDATE services SET version = %s WHERE `binary` = 'nova-compute'", env.cell_db, (NEWER,))
    return env


def lower(env, host, check=False, diff=False):
    params = {"python": str(env.venv / "bin" / "python"), "config_files": [str(env.conf)],
              "host": host, "version": OLDER}
    result = run_module("nova_service_version", params, check=check, diff=diff)
    assert_no_secret(result)
    return result


def record_versions(env):
    rows = env.db.sql("SELECT host, version FROM services WHERE `binary` = 'nova-compute' ORDER BY host",
                      env.cell_db)
    return {row[0]: int(row[1]) for row in rows}


@pytest.mark.needs_root
def test_lowers_one_record_in_its_cell_check_mode_first(cells):
    res = lower(cells, "cmp1", check=True, diff=True)
    assert not res.failed, res.get("msg")
    assert res["changed"] is True and res["found"][0]["version"] == NEWER
    assert record_versions(cells) == {"cmp1": NEWER, "cmp2": NEWER}
    res = lower(cells, "cmp1")
    assert res["changed"] is True, res.get("msg")
    assert record_versions(cells) == {"cmp1": OLDER, "cmp2": NEWER}
    again = lower(cells, "cmp1")
    assert again["changed"] is False and "already" in again["message"]


@pytest.mark.needs_root
def test_an_unknown_host_changes_nothing(cells):
    res = lower(cells, "cmp9")
    assert not res.failed and res["changed"] is False and res["found"] == []
