"""The computes' rollback in the release model (issue 22 part 4): every compute quirk says
what its rollback does, the protections always run, and the plan prints it."""

from __future__ import annotations

import itertools

import pytest

from ansible_collections.stackhop.upgrade.plugins.filter.release_model import FilterModule
from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm

NEUTRON_COMPUTE_TASKS = {"ovs_other_config", "conntrack_zone_pin", "fail_mode_secure", "br_int_bandwidth_table"}


def test_every_compute_quirk_says_what_its_rollback_does():
    for quirk in rm.QUIRKS:
        if quirk["phase"] == "compute":
            back = quirk.get("rollback")
            assert back and back["note"], quirk["id"]
            assert back["inverse"] is None or back["inverse"] in NEUTRON_COMPUTE_TASKS, quirk["id"]


def test_2025_1_back_to_2024_1_keeps_fail_mode_secure_and_explains_table_59():
    back = rm.compute_rollback("2024.1", "2025.1")
    assert back["from"]["number"] == "2025.1" and back["to"]["number"] == "2024.1"
    assert back["run"] == ["fail_mode_secure"]
    assert [q["id"] for q in back["quirks"]] == ["br_int_bandwidth_table"]
    assert back["quirks"][0]["inverse"] is None and "table 59" in back["quirks"][0]["note"]


def test_kilo_hop_runs_fail_mode_secure_once_and_no_other_quirk_task():
    back = rm.compute_rollback("kilo", "liberty")
    assert back["run"] == ["fail_mode_secure"]
    assert {q["id"] for q in back["quirks"]} == {"ovs_other_config", "conntrack_zone_pin", "fail_mode_secure"}


@pytest.mark.parametrize("current,target", list(itertools.combinations(rm.release_names(), 2))[::23])
def test_run_holds_only_neutron_compute_tasks(current, target):
    back = rm.compute_rollback(current, target)
    assert set(back["run"]) <= NEUTRON_COMPUTE_TASKS and back["run"][0] == "fail_mode_secure"


def test_refuses_a_rollback_to_a_newer_release():
    with pytest.raises(rm.ReleaseModelError):
        rm.compute_rollback("2025.1", "2024.1")


def test_the_plan_prints_the_computes_rollback():
    plan = rm.build_plan("2024.1", "2025.1", "dc1", [{"name": "cmp1", "az": "az1"}])
    assert plan["compute_rollback"] == rm.compute_rollback("2024.1", "2025.1")
    text = rm.plan_markdown(plan)
    assert "- Rollback of the computes to 2024.1" in text
    assert "quirk br_int_bandwidth_table: none needed" in text


def test_filter():
    back = FilterModule().filters()["compute_rollback"]("2024.1", "2025.1")
    assert back["run"] == ["fail_mode_secure"]
