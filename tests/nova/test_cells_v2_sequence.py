"""roles/nova_controller/tasks/cells_v2_sequence.yml through ansible-playbook, twice,
on empty databases of a real MariaDB with a real nova 2024.1: the first run builds the
schemas and the cells v2 layout, the second changes nothing. (Hosts and instances to
map are covered by test_nova_cell_v2.py: rows inserted by hand between runs would give
online_data_migrations real work too.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lib.ansible_runner import VENV, run_playbook
from tests.nova.conftest import DB_PASSWORD, SECRETS, NovaEnv

pytestmark = [pytest.mark.needs_root, pytest.mark.slow]

PLAYBOOK = Path(__file__).parent / "playbooks" / "cells_v2_sequence.yml"


def play(env, extra):
    proc = run_playbook(
        PLAYBOOK, inventory="localhost,", extra_vars=extra,
        extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                   "ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python")})
    for secret in SECRETS:
        assert secret not in proc.stdout + proc.stderr, "a password leaked into the output"
    try:
        out = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError("no JSON (rc=%d): %s %s" % (
            proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])) from exc
    assert proc.returncode == 0, json.dumps(out["plays"][0]["tasks"][-1], indent=1)[-4000:]
    tasks = {}
    for task in out["plays"][0]["tasks"]:
        res = task["hosts"].get("localhost", {})
        if res.get("skipped"):
            continue
        tasks[task["task"]["name"].split(" : ", 1)[-1]] = res
    return tasks


def changed(tasks):
    return sorted(name for name, res in tasks.items() if res.get("changed"))


def test_sequence_twice_second_run_changes_nothing(mariadb, nova_venv, tmp_path):
    env = NovaEnv(mariadb, nova_venv, tmp_path, "mcp_")
    mariadb.sql(["DROP DATABASE IF EXISTS `%s`" % d
                 for d in (env.api_db, env.cell_db, env.cell0_db)])
    mariadb.create_user("nova", DB_PASSWORD, [env.api_db, env.cell_db, env.cell0_db])
    extra = {"nova_controller_nova_manage": env.nova_manage,
             "nova_controller_config_file": str(env.conf),
             "nova_controller_map_instances_max_count": 2}
    try:
        first = play(env, extra)
        assert changed(first) == [
            "Cells v2 layout (cell0, cells, hosts, instances)",
            "Sync a nova schema: api_db sync (before cells v2)",
            "Sync a nova schema: db sync (after cells v2)",   # cell0's schema
            "Sync a nova schema: db sync (before cells v2)",
        ]
        after_sync = json.loads(first["Sync a nova schema: db sync (after cells v2)"]["stdout"])
        assert after_sync["before"]["cell0"] is None and after_sync["after"]["cell0"]
        assert after_sync["before"]["main"] == after_sync["after"]["main"]
        cells = first["Cells v2 layout (cell0, cells, hosts, instances)"]["cells"]
        assert [c["name"] for c in cells] == ["cell0", "cell1"]

        second = play(env, extra)
        assert changed(second) == []
        layout = second["Cells v2 layout (cell0, cells, hosts, instances)"]
        assert layout["executed_commands"] == []
    finally:
        mariadb.sql(["DROP DATABASE IF EXISTS `%s`" % d
                     for d in (env.api_db, env.cell_db, env.cell0_db)])
