"""The step_marker module through ansible-playbook: record, read, forget; check and diff mode."""

from __future__ import annotations

import json

from tests.lib.ansible_runner import run_module


def marker(path, check=False, diff=False, **args):
    args.setdefault("upgrade_id", "up-1")
    args["path"] = str(path)
    return run_module("step_marker", args, check=check, diff=diff)


def test_record_read_and_forget(tmp_path):
    fact = tmp_path / "facts.d" / "stackhop.fact"
    res = marker(fact, check=True, diff=True, step="backup")
    assert res["changed"] and not fact.exists()           # check mode writes nothing
    assert '"backup"' in res["diff"]["after"]
    res = marker(fact, step="backup", run_id="run-1")
    assert res["changed"] and res["done"] == ["backup"]
    assert marker(fact, step="backup")["changed"] is False    # idempotent
    marker(fact, step="upgrade")
    marker(fact, upgrade_id="up-2", step="backup")
    res = marker(fact)                                      # read only
    assert res["changed"] is False and res["done"] == ["backup", "upgrade"]
    assert res["steps"]["backup"]["run_id"] == "run-1"
    data = json.loads(fact.read_text())
    assert sorted(data["upgrades"]) == ["up-1", "up-2"]
    res = marker(fact, step="upgrade", state="absent")
    assert res["changed"] and res["done"] == ["backup"]
    res = marker(fact, state="absent")                      # forget the whole upgrade id
    assert res["changed"] and res["done"] == []
    assert sorted(json.loads(fact.read_text())["upgrades"]) == ["up-2"]
    marker(fact, upgrade_id="up-2", state="absent")
    assert not fact.exists()                                # nothing left: no file
    assert res["executed_commands"] == []


def test_broken_fact_file_is_reported_not_overwritten(tmp_path):
    fact = tmp_path / "stackhop.fact"
    fact.write_text("{not json")
    res = marker(fact, step="backup")
    assert res.failed
    assert res["msg"] == "%s is not valid JSON; fix or remove it (it holds the completed upgrade steps)" % fact
    assert fact.read_text() == "{not json"


def test_empty_upgrade_id_is_refused(tmp_path):
    res = marker(tmp_path / "stackhop.fact", upgrade_id=" ", step="backup")
    assert res.failed and "set stackhop_upgrade_id" in res["msg"]
    assert not (tmp_path / "stackhop.fact").exists()
