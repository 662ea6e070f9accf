"""stackhop.upgrade.nova_cell_v2 against a real MariaDB and a real nova-manage (nova 2024.1).

The nova_api and nova schemas come from nova-manage api_db sync / db sync; compute nodes
and instances are inserted as rows so discover_hosts and map_instances have work.
"""

from __future__ import annotations

import glob

import pytest

from tests.lib.ansible_runner import run_module
from tests.nova.conftest import DB_PASSWORD, MQ_PASSWORD, assert_no_secret

pytestmark = [pytest.mark.needs_root]

CELL0 = "00000000-0000-0000-0000-000000000000"


def run(env, check=False, diff=True, **args):
    result = run_module("nova_cell_v2", env.args(**args), check=check, diff=diff)
    assert_no_secret(result)
    assert not glob.glob("/tmp/stackhop-nova-cell-v2-*"), "the config fragment was left behind"
    return result


def test_fresh_database_everything_mapped_then_idempotent(nova_env):
    env = nova_env
    env.add_computes(["compute-1", "compute-2", "compute-3"])
    env.add_instances(5)
    # max_count 3: map_instances must be called until nova says nothing is left (rc 0).
    first = run(env, max_count=3)
    assert not first.failed, first.get("msg")
    assert first["changed"]
    assert [c["name"] for c in first["cells"]] == ["cell0", "cell1"]
    assert first["cells"][0]["uuid"] == CELL0
    assert first["cells"][1]["database_connection"].endswith("nova?charset=utf8")
    assert "********" in first["cells"][1]["transport_url"]
    assert first["hosts_discovered"] == ["compute-1", "compute-2", "compute-3"]
    assert first["instances_mapped"] == 5
    cmds = first["executed_commands"]
    assert [c.split(" cell_v2 ")[1].split()[0] for c in cmds] == [
        "map_cell0", "create_cell", "discover_hosts",
        "map_instances", "map_instances"]
    assert env.count("cell_mappings") == 2
    assert env.count("host_mappings") == 3
    assert env.count("instance_mappings", "cell_id IS NOT NULL") == 5
    assert env.count("instance_mappings", "project_id = 'INSTANCE_MIGRATION_MARKER'") == 0
    # cell0's connection was derived by nova from [database] connection.
    assert env.cells()[0][3].endswith("/%s?charset=utf8" % env.cell0_db)

    second = run(env, max_count=3)
    assert not second.failed
    assert second["changed"] is False
    assert second["executed_commands"] == []
    assert second["hosts_discovered"] == [] and second["instances_mapped"] == 0
    assert env.count("cell_mappings") == 2


def test_cells_mapped_before_the_cell_databases_have_a_schema(nova_env):
    """The deploy's order (api_db sync, map_cell0, create_cell, db sync): without
    discover_hosts and map_instances the cell databases are not read."""
    env = nova_env
    env.db.sql(["DROP DATABASE `%s`" % env.cell_db, "CREATE DATABASE `%s`" % env.cell_db])
    first = run(env, discover_hosts=False, map_instances=False)
    assert not first.failed, first.get("msg")
    assert first["changed"] and [c["name"] for c in first["cells"]] == ["cell0", "cell1"]
    assert [c.split(" cell_v2 ")[1].split()[0] for c in first["executed_commands"]] == [
        "map_cell0", "create_cell"]
    assert not run(env, discover_hosts=False, map_instances=False)["changed"]
    # hosts wanted: the missing schema is named with its fix
    failed = run(env)
    assert failed.failed and "has no nova schema" in failed["msg"] and "run nova-manage db sync first" in failed["msg"]


def test_check_mode_changes_nothing_and_predicts_the_run(nova_env):
    env = nova_env
    env.add_computes(["compute-1", "compute-2"])
    env.add_instances(5)
    before = env.snapshot()
    predicted = run(env, check=True)
    assert not predicted.failed, predicted.get("msg")
    assert predicted["changed"]
    assert predicted["executed_commands"] == []
    assert env.snapshot() == before
    assert predicted["diff"]["before"]["cells"] == {}
    assert sorted(predicted["diff"]["after"]["cells"]) == ["cell0", "cell1"]
    real = run(env)
    assert real["changed"]
    assert real["hosts_discovered"] == predicted["hosts_discovered"] == ["compute-1", "compute-2"]
    assert real["instances_mapped"] == predicted["instances_mapped"] == 5
    assert sorted(real["diff"]["after"]["cells"]) == sorted(predicted["diff"]["after"]["cells"])
    # Check mode after convergence: nothing to do.
    again = run(env, check=True)
    assert again["changed"] is False


def verbs(result):
    return [c.split(" cell_v2 ")[1].split()[0] for c in result["executed_commands"]]


def test_partial_states_converge(nova_env):
    """cell0 mapped but no cell1; then some hosts mapped; then instances half mapped."""
    env = nova_env
    env.manage("cell_v2", "map_cell0")
    env.add_computes(["compute-1", "compute-2"])
    first = run(env)
    assert not first.failed, first.get("msg")
    assert verbs(first) == ["create_cell", "discover_hosts"]
    assert [r[1] for r in env.cells()] == ["cell0", "cell1"]
    assert first["hosts_discovered"] == ["compute-1", "compute-2"]

    # Some hosts mapped: only the new ones are discovered.
    env.add_computes(["compute-3", "compute-4"])
    uuids = env.add_instances(8)
    cell1 = [r[0] for r in env.cells() if r[1] == "cell1"][0]
    # Instances half mapped by an interrupted batch run: 4 mapped and nova's marker
    # row left (map_instances --max-count exits 1 while more is left)...
    proc = env.manage("cell_v2", "map_instances", "--cell_uuid", cell1, "--max-count", "4",
                      check=False)
    assert proc.returncode == 1
    assert env.count("instance_mappings", "project_id = 'INSTANCE_MIGRATION_MARKER'") == 1
    # ...and one mapping before the marker lost: only --reset finds it again.
    env.sql("DELETE FROM instance_mappings WHERE instance_uuid = %s", args=(uuids[0],))
    second = run(env, max_count=5)
    assert second["changed"]
    assert verbs(second) == ["discover_hosts", "map_instances", "map_instances"]
    assert "--reset" in second["executed_commands"][1]
    assert "--reset" not in second["executed_commands"][2]
    assert second["hosts_discovered"] == ["compute-3", "compute-4"]
    assert second["instances_mapped"] == 5
    assert env.count("host_mappings") == 4
    assert env.count("instance_mappings", "cell_id IS NOT NULL") == 8
    assert env.count("instance_mappings", "project_id = 'INSTANCE_MIGRATION_MARKER'") == 0


def test_different_urls_are_reported_then_updated(nova_env):
    env = nova_env
    env.manage("cell_v2", "create_cell", "--name", "cell1")
    new_mq = "rabbit://nova:ncNewMqPw-x81@127.0.0.1:5673,nova:ncNewMqPw-x81@127.0.0.2:5673/"
    cells = [{"name": "cell1", "transport_url": new_mq}]
    left = run(env, cells=cells, cell0=False)
    assert_no_secret(left, "ncNewMqPw-x81")
    assert left["changed"] is False
    assert any("cell1" in w and "update: true" in w for w in left.get("warnings", []))
    assert [r[2] for r in env.cells() if r[1] == "cell1"][0].endswith("@127.0.0.1:5672/")

    updated = run(env, cells=cells, update=True, cell0=False, check=True)
    assert_no_secret(updated, "ncNewMqPw-x81")
    assert updated["changed"] and updated["executed_commands"] == []
    assert "127.0.0.2:5673" in updated["diff"]["after"]["cells"]["cell1"]["transport_url"]
    updated = run(env, cells=cells, update=True, cell0=False)
    assert_no_secret(updated, "ncNewMqPw-x81")
    assert updated["changed"]
    assert verbs(updated) == ["update_cell"]
    assert [r[2] for r in env.cells() if r[1] == "cell1"][0] == new_mq
    cell1 = [c for c in updated["cells"] if c["name"] == "cell1"][0]
    assert cell1["transport_url"] == (
        "rabbit://nova:********@127.0.0.1:5673,nova:********@127.0.0.2:5673/")
    assert run(env, cells=cells, update=True, cell0=False)["changed"] is False


def test_explicit_urls_and_cell0_connection_never_leak(nova_env):
    env = nova_env
    env.db.create_user("nova", DB_PASSWORD, [env.prefix + "c0"])
    cell0_url = "mysql+pymysql://nova:%s@127.0.0.1:%d/%sc0?charset=utf8" % (
        DB_PASSWORD, env.db.port, env.prefix)
    args = dict(api_database_connection=env.api_url, cell0_database_connection=cell0_url,
                cells=[{"name": "cell1", "database_connection": env.cell_url,
                        "transport_url": "rabbit://nova:%s@10.0.0.9:5672/" % MQ_PASSWORD}])
    result = run(env, **args)
    assert not result.failed, result.get("msg")
    assert result["changed"]
    # map_cell0 derives cell0's URL; update_cell then sets the wanted one from a 0600 file.
    assert verbs(result) == ["map_cell0", "update_cell", "create_cell"]
    for cmd in result["executed_commands"]:
        assert "mysql" not in cmd and "rabbit" not in cmd
    assert env.cells()[0][3] == cell0_url
    assert env.cells()[1][2] == "rabbit://nova:%s@10.0.0.9:5672/" % MQ_PASSWORD
    result = run(env, diff=False, **args)
    assert result["changed"] is False and "diff" not in result


def test_duplicate_cell_names_fail_before_changing(nova_env):
    env = nova_env
    env.manage("cell_v2", "create_cell", "--name", "cell1")
    env.manage("cell_v2", "create_cell", "--name", "cell1", "--transport-url",
               "rabbit://nova:x@127.0.0.9:5672/", "--database_connection",
               "mysql+pymysql://nova:x@127.0.0.9/other")
    before = env.snapshot()
    result = run(env)
    assert result.failed
    assert "cell name cell1 is mapped 2 times" in result["msg"]
    assert "delete_cell" in result["msg"]
    assert env.snapshot() == before


@pytest.mark.parametrize("case", ["bad_password", "unreachable", "no_database"])
def test_bad_database_fails_with_one_masked_sentence(nova_env, case):
    env = nova_env
    wrong = "ncWrongPw-55aa"
    url = {
        "bad_password": "mysql+pymysql://nova:%s@127.0.0.1:%d/%s" % (wrong, env.db.port,
                                                                     env.api_db),
        "unreachable": "mysql+pymysql://nova:%s@127.0.0.1:1/nova_api" % wrong,
        "no_database": "mysql+pymysql://nova:%s@127.0.0.1:%d/%snope" % (
            DB_PASSWORD, env.db.port, env.prefix),
    }[case]
    result = run(env, api_database_connection=url)
    assert_no_secret(result, wrong)
    assert result.failed
    msg = result["msg"]
    assert "\n" not in msg and msg.count(". ") == 0
    assert "nova_api database" in msg and "nova:********@127.0.0.1" in msg
    assert {"bad_password": "1045", "unreachable": "2003", "no_database": "1044"}[case] in msg
    assert env.count("cell_mappings") == 0


def test_missing_nova_manage_fails_with_one_sentence(nova_env):
    env = nova_env
    result = run(env, nova_manage="/nonexistent/bin/nova-manage")
    assert result.failed
    assert "nova-manage was not found at /nonexistent/bin/nova-manage" in result["msg"]
    result = run(env, nova_manage="nova-manage-not-installed")
    assert result.failed and "nova-manage-not-installed was not found" in result["msg"]


def test_bad_input_fails_before_changing(nova_env):
    env = nova_env
    result = run(env, cells=[{"name": "cell1"}, {"name": "cell2"}])
    assert result.failed
    assert "cells cell1 and cell2 would share" in result["msg"]
    assert run(env, max_count=0)["msg"].startswith("max_count is 0")
    assert env.count("cell_mappings") == 0
