"""stackhop.upgrade.online_data_migrations and the nova_controller role's background run
(async + stackhop.upgrade.async_progress) against a real MariaDB and a real nova-manage
(nova 2024.1): instances and their mappings written as an older nova left them (no
compute_id, no queued_for_delete, no user_id) are what nova's own migrations
populate_instance_compute_id, populate_queued_for_delete and populate_user_id fill,
batch by batch. The counts must be nova's, every row filled, a second run must change
nothing and check mode nothing at all; a migration nova cannot run (cell0's database
never synced) fails the run with nova's error named once nothing else progresses; the
role prints a progress line per batch instead of FAILED - RETRYING."""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path

import pytest

from tests.lib.ansible_runner import VENV, run_module, run_playbook
from tests.nova.conftest import SECRETS, assert_no_secret

pytestmark = [pytest.mark.needs_root]

# ~250 rows to migrate in batches of 50: six nova-manage runs of ~8 s each
INSTANCES = 90
BATCH = 50
PLAYBOOK = Path(__file__).parent / "playbooks" / "online_data_migrations.yml"


def old_mappings(env, count=INSTANCES, cell0_schema=True):
    """``count`` instances on compute-1 in cell1 and their mappings without
    queued_for_delete and user_id."""
    # cell0 gets the cell schema, as nova-manage db sync gives it on a real controller:
    # nova's migrations read every cell
    if cell0_schema:
        dump = subprocess.run(["mariadb-dump", "--socket=%s" % env.db.socket, "-uroot", "--no-data",
                               "--skip-comments", env.cell_db], capture_output=True, check=True)
        subprocess.run(["mariadb", "--socket=%s" % env.db.socket, "-uroot", env.cell0_db],
                       input=dump.stdout, check=True)
    env.manage("cell_v2", "map_cell0")
    env.manage("cell_v2", "create_cell", "--name", "cell1")
    cell_id = env.sql("SELECT id FROM cell_mappings WHERE name = 'cell1'")[0][0]
    env.add_computes(["compute-1"])
    now = datetime.datetime(2024, 1, 1)
    for index, uuid in enumerate(env.add_instances(count)):
        # a third of them soft-deleted: populate_queued_for_delete marks those True
        if index % 3 == 0:
            env.db.sql("UPDATE instances SET deleted = id, deleted_at = %s WHERE uuid = %s",
                       env.cell_db, (now, uuid))
        env.sql("INSERT INTO instance_mappings (created_at, instance_uuid, cell_id, project_id) "
                "VALUES (%s, %s, %s, 'p1')", args=(now, uuid, cell_id))


def unfilled(env):
    return {"queued_for_delete": env.count("instance_mappings", "queued_for_delete IS NULL"),
            "user_id": env.count("instance_mappings", "user_id IS NULL")}


def run(env, check=False, **args):
    args = dict({"service": "nova", "manage": env.nova_manage, "config_files": [str(env.conf)],
                 "max_count": BATCH}, **args)
    result = run_module("online_data_migrations", args, check=check, timeout=1800)
    assert_no_secret(result)
    return result


def test_every_row_migrated_batch_by_batch_then_nothing(nova_env, tmp_path):
    env = nova_env
    env.count_cell = lambda table, where: env.db.sql(
        "SELECT COUNT(*) FROM %s WHERE %s" % (table, where), env.cell_db)[0][0]
    old_mappings(env)
    assert unfilled(env) == {"queued_for_delete": INSTANCES, "user_id": INSTANCES}
    before = env.snapshot()

    checked = run(env, check=True)
    assert checked.get("skipped") and not checked.get("changed"), checked
    assert env.snapshot() == before

    progress = tmp_path / "progress" / "odm.json"
    first = run(env, progress_file=str(progress), label="test")
    assert not first.failed, first.get("msg")
    assert first["changed"] and first["done"]
    assert unfilled(env) == {"queued_for_delete": 0, "user_id": 0}
    assert env.count_cell("instances", "compute_id IS NULL AND deleted = 0") == 0
    migrated = first["migrated"]
    assert migrated["populate_queued_for_delete"] == INSTANCES, migrated
    assert migrated["populate_user_id"] == INSTANCES, migrated
    assert migrated["populate_instance_compute_id"] >= INSTANCES - INSTANCES // 3, migrated
    assert first["migrated_total"] == sum(migrated.values())
    # nova ends a batch once max_count rows were migrated; one more batch finds nothing left
    assert first["batches"] == -(-first["migrated_total"] // BATCH) + 1, first["batches"]
    # (nova may still "find" a row it does not migrate: fill_virtual_interface_list's marker)
    assert (first["last_batch"]["migrated"], first["last_batch"]["rc"]) == (0, 0)
    assert len(first["executed_commands"]) == first["batches"]
    assert all("--max-count %d" % BATCH in c for c in first["executed_commands"])
    assert first["stackhop_figures"]["nova_online_migrated_rows"] == first["migrated_total"]
    # the soft-deleted third is queued for delete, the rest is not
    assert env.count("instance_mappings", "queued_for_delete = 1") == INSTANCES // 3
    saved = json.loads(progress.read_text())
    assert saved["line"] == first["line"] and saved["line"].endswith("; done")
    assert oct(progress.stat().st_mode & 0o777) == "0o600"

    second = run(env)
    assert not second.failed and not second["changed"]
    assert (second["batches"], second["migrated_total"]) == (1, 0)


def test_a_migration_nova_cannot_run_fails_with_its_error(nova_env):
    env = nova_env
    old_mappings(env, count=30, cell0_schema=False)
    failed = run(env)
    assert failed.failed
    msg = failed["msg"]
    assert msg.startswith("nova online data migrations failed in batch "), msg
    assert "with exit code 2 (a migration failed and no other could progress)" in msg, msg
    assert "(last error: Error attempting to run <function fill_virtual_interface_list" in msg
    assert "nova_cell0.virtual_interfaces' doesn't exist" in msg, msg
    assert msg.endswith("; fix the rows nova's log names (or what it says is missing) and "
                        "run the upgrade again"), msg
    # what could be migrated before it stopped was
    assert failed["progress"]["migrated"]["populate_user_id"] == 30


def test_bad_input_is_one_sentence(nova_env, tmp_path):
    env = nova_env
    bad = run(env, max_count=0)
    assert bad.failed and bad["msg"] == ("max_count is 0; set it to a positive number of rows "
                                         "per batch")
    missing = run(env, config_files=[str(tmp_path / "nope.conf")])
    assert missing.failed and missing["msg"].startswith(
        "the nova configuration file %s does not exist on " % (tmp_path / "nope.conf"))
    assert missing["msg"].endswith("; set config_files to the files nova-manage reads")


def test_the_role_prints_a_line_per_batch_in_the_background(nova_env):
    """The nova_controller role's tasks: started with async, followed by async_progress."""
    env = nova_env
    old_mappings(env, count=60)
    proc = run_playbook(
        PLAYBOOK, inventory="localhost,",
        extra_vars={"nova_controller_nova_manage": env.nova_manage,
                    "nova_controller_config_file": str(env.conf),
                    "nova_controller_odm_max_count": 50, "nova_controller_odm_poll_interval": 1},
        extra_env={"ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python")})
    out = proc.stdout + proc.stderr
    for secret in SECRETS:
        assert secret not in out, "a password leaked into the output"
    assert proc.returncode == 0, out[-4000:]
    assert "FAILED - RETRYING" not in out
    lines = [ln for ln in out.splitlines()
             if ln.startswith("localhost | nova online data migrations, (test): batch ")]
    # ~170 rows in batches of 50: the lines printed while it ran, the last one at the end
    assert len(lines) >= 2 and lines[-1].endswith("; done"), out[-3000:]
    assert unfilled(env) == {"queued_for_delete": 0, "user_id": 0}


def test_runs_as_the_services_user(nova_env):
    """``user``: the command runs through runuser (the rolling strategy runs it as the
    service's own user, so the log file it writes stays the service's)."""
    env = nova_env
    old_mappings(env, count=5)
    result = run(env, user="root")
    assert result.get("changed") and result["migrated_total"] > 0, result
    assert all(cmd.split()[:4] == [cmd.split()[0], "-u", "root", "--"] and cmd.split()[0].endswith("runuser")
               for cmd in result["executed_commands"]), result["executed_commands"]
    assert unfilled(env) == {"queued_for_delete": 0, "user_id": 0}

    missing = run_module("online_data_migrations", {
        "service": "nova", "manage": env.nova_manage, "config_files": [str(env.conf)],
        "user": "no-such-user-here"}, timeout=600)
    assert missing.get("failed") and missing["msg"].startswith("the user no-such-user-here does not exist on "), missing
