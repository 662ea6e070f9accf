"""stackhop.upgrade.nova_archive_deleted_rows against a real MariaDB and a real nova-manage
(nova 2024.1): thousands of soft-deleted instances with their child rows, next to live
ones. Every deleted row must end in a shadow table, live rows must stay as they were, the
counts must be nova's, a second run must change nothing and check mode nothing at all.

The time of ``nova-manage db online_data_migrations`` with and without the archive first
is bench/bench_nova_archive.py's (a measurement, not a test).
"""

from __future__ import annotations

import datetime
import json
import os
import uuid
from pathlib import Path

import pytest

from tests.lib.ansible_runner import VENV, run_module, run_playbook
from tests.nova.conftest import SECRETS, assert_no_secret

pytestmark = [pytest.mark.needs_root]

# 1,000 instances: 5,000 rows to archive at ~3 ms a row (nova follows every foreign key);
# bench/bench_nova_archive.py measures larger sets and the migrations with and without it
DELETED = int(os.environ.get("STACKHOP_ARCHIVE_TEST_DELETED", "1000"))
LIVE = 200
NS = uuid.UUID("6f2b7d0e-8c41-4a53-9d0c-1d6e0b6a2f10")
# Child tables nova soft-deletes with an instance; each has a shadow table and a FK to
# instances.uuid, so nova archives them with their instance.
CHILDREN = ("instance_extra", "instance_info_caches", "instance_system_metadata")


def populate(env, deleted=DELETED, live=LIVE, deleted_at=None):
    """``deleted`` soft-deleted instances (deleted = id, as nova marks them) and ``live``
    live ones, each with its instance_extra, info cache, one system metadata row and an
    instance mapping in nova_api. The same arguments always give the same rows."""
    deleted_at = deleted_at or datetime.datetime(2024, 3, 1)
    created = datetime.datetime(2024, 1, 1)
    inst, extra, cache, sysmeta, mappings = [], [], [], [], []
    for index in range(1, deleted + live + 1):
        gone = index <= deleted
        u = str(uuid.uuid5(NS, "%s-%d" % (env.prefix, index)))
        when = deleted_at if gone else None
        flag = index if gone else 0
        inst.append((index, created, when, u, "p1", "u1", "compute-1", "compute-1",
                     "deleted" if gone else "active", flag, "vm-%d" % index, "vm-%d" % index))
        extra.append((created, when, u, flag))
        cache.append((created, when, u, '[]', flag))
        sysmeta.append((created, when, u, "image_base_image_ref", "img-1", flag))
        mappings.append((created, u, "p1", "u1"))
    conn = env.db.root(env.cell_db)
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO instances (id, created_at, deleted_at, uuid, project_id, user_id, "
                "host, node, vm_state, deleted, hostname, display_name) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", inst)
            cur.executemany(
                "INSERT INTO instance_extra (created_at, deleted_at, instance_uuid, deleted) "
                "VALUES (%s, %s, %s, %s)", extra)
            cur.executemany(
                "INSERT INTO instance_info_caches (created_at, deleted_at, instance_uuid, "
                "network_info, deleted) VALUES (%s, %s, %s, %s, %s)", cache)
            cur.executemany(
                "INSERT INTO instance_system_metadata (created_at, deleted_at, instance_uuid, "
                "`key`, value, deleted) VALUES (%s, %s, %s, %s, %s, %s)", sysmeta)
    finally:
        conn.close()
    conn = env.db.root(env.api_db)
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO instance_mappings (created_at, instance_uuid, project_id, user_id, "
                "queued_for_delete) VALUES (%s, %s, %s, %s, 0)", mappings)
    finally:
        conn.close()


def live_rows(env):
    """Every live row of the tables the archive touches (to compare before and after)."""
    out = {}
    for table in ("instances",) + CHILDREN:
        out[table] = env.db.sql("SELECT * FROM %s WHERE deleted = 0 ORDER BY id" % table,
                                env.cell_db)
    live = set(r[0] for r in env.db.sql("SELECT uuid FROM instances WHERE deleted = 0",
                                        env.cell_db))
    out["instance_mappings"] = [r for r in env.sql("SELECT * FROM instance_mappings ORDER BY id")
                                if r[3] in live]
    return out


def counts(env):
    """Rows per table and shadow table (cell) and instance mappings (nova_api)."""
    out = {}
    for table in ("instances",) + CHILDREN:
        out[table] = env.count_cell(table)
        out["shadow_" + table] = env.count_cell("shadow_" + table)
    out["instance_mappings"] = env.count("instance_mappings")
    return out


def run(env, check=False, **args):
    args.setdefault("config_files", [str(env.conf)])
    result = run_module("nova_archive_deleted_rows", {"nova_manage": env.nova_manage, **args},
                        check=check, diff=True, timeout=1800)
    assert_no_secret(result)
    assert not result.failed, result.get("msg")
    return result


@pytest.fixture
def env(nova_env):
    nova_env.count_cell = lambda table, where="1=1": nova_env.db.sql(
        "SELECT COUNT(*) FROM %s WHERE %s" % (table, where), nova_env.cell_db)[0][0]
    return nova_env


def test_every_deleted_row_archived_live_rows_untouched(env, tmp_path):
    populate(env)
    before_counts, before_live = counts(env), live_rows(env)
    total = DELETED + LIVE
    assert before_counts["instances"] == total and before_counts["shadow_instances"] == 0

    # Check mode: counts the soft-deleted rows, runs nothing, changes nothing.
    check = run(env, check=True, max_rows=2000)
    assert check["changed"] is True
    assert check["archived"] == {t: DELETED for t in ("instances",) + CHILDREN}
    assert check["executed_commands"] == []
    assert check["diff"]["before"]["deleted_rows"]["instances"] == DELETED
    assert counts(env) == before_counts and live_rows(env) == before_live

    progress = tmp_path / "progress" / "archive.json"
    first = run(env, max_rows=2000, progress_file=str(progress), label="test")
    assert first["changed"] is True
    # nova's dots read as they came: a line per batch, later ones later, then the end
    history = first["progress_history"]
    assert len(history) == first["batches"] + 2, history
    assert history[0]["line"].startswith("nova archive_deleted_rows, test: 0 batches, 0 rows")
    assert "about %d batches left" % -(-4 * DELETED // 2000) in history[0]["line"]
    assert history[1]["line"].startswith("nova archive_deleted_rows, test: 1 batches, up to 2,000")
    assert history[1]["seconds"] < history[-2]["seconds"], history
    saved = json.loads(progress.read_text())
    assert saved["done"] and saved["archived_total"] == 5 * DELETED
    assert saved["line"].endswith("%d batches, %s rows archived in %.0f s; done" % (
        first["batches"], format(5 * DELETED, ","), saved["seconds"]))
    assert oct(progress.stat().st_mode & 0o777) == "0o600"
    expected = {t: DELETED for t in ("instances",) + CHILDREN}
    expected["API_DB.instance_mappings"] = DELETED
    assert first["archived"] == expected
    assert first["archived_total"] == 5 * DELETED
    # 2000 rows a batch, four rows an instance: 500 instances a batch.
    assert first["batches"] == -(-4 * DELETED // 2000)
    assert first["pending"] == {t: DELETED for t in ("instances",) + CHILDREN}
    assert first["diff"]["after"]["deleted_rows"] == {}
    assert first["stackhop_figures"]["nova_archived_rows"] == 5 * DELETED
    assert len(first["executed_commands"]) == 1
    assert "--until-complete" in first["executed_commands"][0]
    after = counts(env)
    for table in ("instances",) + CHILDREN:
        assert after[table] == LIVE
        assert after["shadow_" + table] == DELETED
        assert env.count_cell(table, "deleted != 0") == 0
    assert after["instance_mappings"] == LIVE
    assert live_rows(env) == before_live
    print("\n[archive] %d rows of %d deleted instances archived in %d batches, %.1f s"
          % (first["archived_total"], DELETED, first["batches"], first["seconds"]))

    second = run(env, max_rows=2000)
    assert second["changed"] is False
    assert second["archived"] == {} and second["batches"] == 0
    assert counts(env) == after

    check_again = run(env, check=True)
    assert check_again["changed"] is False and check_again["archived"] == {}


def test_module_loop_before_date_and_purge(env, tmp_path):
    # The config the role's migrate tasks write: database URLs only, no transport URL.
    minimal = tmp_path / "migrate.conf"
    minimal.write_text("[api_database]\nconnection = %s\n[database]\nconnection = %s\n"
                       % (env.api_url, env.cell_url))
    os.chmod(minimal, 0o600)
    old, new = datetime.datetime(2023, 6, 1), datetime.datetime(2024, 6, 1)
    populate(env, deleted=12, live=8, deleted_at=old)
    # The 8 others are deleted after the cut-off date (their child rows not yet).
    env.db.sql("UPDATE instances SET deleted = id, deleted_at = %s, vm_state = 'deleted' "
               "WHERE deleted = 0", env.cell_db, (new,))
    assert env.count_cell("instances", "deleted != 0") == 20

    check = run(env, check=True, before="2024-01-01", until_complete=False, max_rows=10)
    assert check["archived"] == {t: 12 for t in ("instances",) + CHILDREN}

    # until_complete false: the module calls nova-manage once a batch until nothing is left.
    first = run(env, before="2024-01-01", until_complete=False, max_rows=10, purge=True,
                config_files=[str(minimal)], progress_file=str(tmp_path / "p.json"))
    assert first["changed"] is True
    # a call per batch: the rows of each batch are known as it ends
    assert [h["line"].split(": ", 1)[1].split(" in ")[0] for h in first["progress_history"]] == [
        "0 batches, 0 rows archived", "1 batches, 15 rows archived",
        "2 batches, 30 rows archived", "3 batches, 45 rows archived",
        "4 batches, 60 rows archived", "4 batches, 60 rows archived"]
    assert first["archived"]["instances"] == 12
    assert first["archived"]["instance_extra"] == 12
    # 10 rows a batch, four rows an instance: 3 instances a batch, 4 batches, 1 empty call.
    assert first["batches"] == 4
    assert len(first["executed_commands"]) == 6   # 5 archive calls, 1 purge
    assert not any("--until-complete" in c for c in first["executed_commands"])
    assert "--before 2024-01-01" in first["executed_commands"][0]
    assert " purge --verbose --before 2024-01-01" in first["executed_commands"][-1]
    assert first["purged"] == {"shadow_" + t: 12 for t in ("instances",) + CHILDREN}
    assert env.count_cell("shadow_instances") == 0
    # The later deletions stay: deleted after the date.
    assert env.count_cell("instances", "deleted != 0") == 8
    assert first["diff"]["after"]["deleted_rows"] == {}   # counted with the same date

    second = run(env, before="2024-01-01", until_complete=False, max_rows=10)
    assert second["changed"] is False and len(second["executed_commands"]) == 1


def test_bad_input_is_one_sentence(env, tmp_path):
    bad = run_module("nova_archive_deleted_rows", {
        "nova_manage": env.nova_manage, "config_files": [str(env.conf)], "before": "last week"})
    assert bad.failed and "YYYY-MM-DD" in bad["msg"] and "\n" not in bad["msg"]
    missing = run_module("nova_archive_deleted_rows", {
        "nova_manage": str(tmp_path / "nova-manage"), "config_files": [str(env.conf)]})
    assert missing.failed and "nova-manage was not found" in missing["msg"]
    # nova-manage's own failure (exit 3, no nova_api): its meaning, no password.
    conf = tmp_path / "broken.conf"
    conf.write_text(env.conf.read_text().replace(env.api_db, "no_such_db"))
    broken = run_module("nova_archive_deleted_rows", {
        "nova_manage": env.nova_manage, "config_files": [str(env.conf), str(conf)]})
    assert_no_secret(broken)
    assert broken.failed and "archive_deleted_rows exited with" in broken["msg"]


def test_the_role_archives_in_the_background_with_a_line_per_batch(env, tmp_path):
    """nova_controller's tasks (_archive_deleted_rows.yml, as migrate.yml runs them):
    started with async, followed by async_progress: a line per batch, no FAILED - RETRYING."""
    populate(env, deleted=60, live=5)
    venv = str(Path(env.nova_manage).parent.parent)
    proc = run_playbook(
        Path(__file__).parent / "playbooks" / "archive_deleted_rows.yml", inventory="localhost,",
        extra_vars={"nova_controller_venv": venv, "nova_controller_release": "2024.1",
                    "nova_controller_archive_max_rows": 40, "nova_controller_odm_poll_interval": 1,
                    "__nova_controller_archive_config_files": [str(env.conf)],
                    "__nova_controller_archive_progress_file": str(tmp_path / "archive.json")},
        extra_env={"ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python")})
    out = proc.stdout + proc.stderr
    assert not [secret for secret in SECRETS if secret in out], "a password leaked into the output"
    assert proc.returncode == 0, out[-4000:]
    assert "FAILED - RETRYING" not in out
    lines = [ln for ln in out.splitlines()
             if ln.startswith("localhost | nova archive_deleted_rows, 2024.1: ")]
    assert lines and lines[-1].endswith("; done"), out[-3000:]
    assert "300 deleted rows archived in 6 batches" in out, out[-3000:]
    assert env.count_cell("instances", "deleted != 0") == 0
