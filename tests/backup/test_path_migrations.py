"""The region flow's test-upgrade (MCP, issue 22 part 6): playbooks/backup.yml with its
defaults runs the schema migrations of the upgrade path on the <db>_upgrade copies, with
the release's real venv on the migration host (localhost here), through a temporary
account that reaches only the copies; a copy the release cannot migrate stops the run
with one sentence naming the database, the release and the error, and the originals
are left as they were.

Needs the nova 2024.1 venv that tests/lib/openstack_venv.py builds (the backup tests'
seed uses it for nova's real schemas).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.backup.conftest import NOVA_API_INITIAL, NOVA_PASSWORD, PASSWORD, PORT, play

pytestmark = pytest.mark.needs_root

NOVA_DBS = ["nova_api", "nova", "nova_cell0"]
UNKNOWN = "badc0ffee000"


@pytest.fixture(scope="module")
def venv_root(mariadb, tmp_path_factory):
    """<root>/2024.1 -> the cached nova 2024.1 venv, as stage_release lays venvs out."""
    venv = mariadb.seed["venv"]
    if venv is None:
        pytest.skip("the nova 2024.1 venv is not cached: python -m tests.lib.openstack_venv "
                    "nova-2024.1 2024-06-01 'nova==29.*' PyMySQL 'setuptools<80'")
    root = tmp_path_factory.mktemp("bk-venvs")
    (root / "2024.1").symlink_to(venv)
    return root


def path_vars(backup_vars, venv_root, backup_id):
    """The region flow's backup of nova's databases on the path 2023.2 -> 2024.1, with
    backup.yml's own defaults for the test-upgrade (nothing but where things are)."""
    return dict(backup_vars, backup_id=backup_id, backup_databases=NOVA_DBS,
                backup_config_paths=[], backup_state_paths=[],
                stackhop_current_release="2023.2", stackhop_target_release="2024.1",
                stackhop_components=["nova"],
                backup_verify_migration_host="localhost", backup_verify_venv_root=str(venv_root),
                backup_verify_db_address="127.0.0.1", backup_verify_db_port=PORT)


def assert_no_secret(proc, mariadb):
    for text in (proc.stdout, proc.stderr):
        assert PASSWORD not in text and NOVA_PASSWORD not in text
        assert "stackhop_copies:" not in text   # no URL with the account's password


def copies_and_account_gone(mariadb):
    assert not {db + "_upgrade" for db in NOVA_DBS} & mariadb.databases()
    assert mariadb.sql("SELECT COUNT(*) FROM mysql.user WHERE User = 'stackhop_copies'")[0][0] == 0


def test_the_path_migrations_run_on_the_copies(mariadb, backup_vars, inventory, venv_root):
    before = {db: mariadb.checksums(db) for db in NOVA_DBS}
    start = time.monotonic()
    proc = play("backup.yml", path_vars(backup_vars, venv_root, "bk-path"), inventory)
    wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = " ".join(proc.stdout.split())
    assert ("runs on the copies from localhost, in order: 2024.1 nova-manage api_db sync nova_api_upgrade, "
            "2024.1 nova-manage db sync --local_cell nova_upgrade, "
            "2024.1 nova-manage db sync --local_cell nova_cell0_upgrade") in out
    manifest = json.loads(Path(backup_vars["backup_dir"], "bk-path", "manifest.json").read_text())
    runs = {db: manifest["databases"][db]["migrations"] for db in NOVA_DBS}
    for db in NOVA_DBS:
        assert [(m["release"], m["rc"], m["host"]) for m in runs[db]] == [("2024.1", 0, "localhost")], db
    # the API copy went from its initial revision to 2024.1's head; the empty cell0 copy got the schema
    assert runs["nova_api"][0]["revisions_after"]["nova_api_upgrade"] not in ([], [NOVA_API_INITIAL])
    assert runs["nova_cell0"][0]["revisions_after"]["nova_cell0_upgrade"]
    # the originals did not move; the copies and the account are gone
    assert {db: mariadb.checksums(db) for db in NOVA_DBS} == before
    assert mariadb.sql("SELECT version_num FROM nova_api.alembic_version")[0][0] == NOVA_API_INITIAL
    copies_and_account_gone(mariadb)
    assert_no_secret(proc, mariadb)
    seconds = sum(m["duration"] for db in NOVA_DBS for m in runs[db])
    print("migrations on the copies: %.1f s (playbook %.1f s)" % (seconds, wall))


def test_check_mode_says_what_would_run_and_changes_nothing(mariadb, backup_vars, inventory, venv_root):
    proc = play("backup.yml", path_vars(backup_vars, venv_root, "bk-path-check"), inventory, check=True)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "would run on the copies from localhost, in order: 2024.1 nova-manage api_db sync" in " ".join(
        proc.stdout.split())
    assert not Path(backup_vars["backup_dir"], "bk-path-check").exists()
    copies_and_account_gone(mariadb)


def test_a_copy_the_release_cannot_migrate_stops_the_run(mariadb, backup_vars, inventory, venv_root):
    """An unknown alembic revision in nova_api's version table (as a locally added
    migration leaves it): 2024.1's api_db sync fails on the copy, the run stops with
    one sentence, and nothing else changed."""
    mariadb.sql("UPDATE nova_api.alembic_version SET version_num = %s", args=(UNKNOWN,))
    try:
        before = {db: mariadb.checksums(db) for db in NOVA_DBS}
        proc = play("backup.yml", path_vars(backup_vars, venv_root, "bk-path-bad"), inventory)
        after = {db: mariadb.checksums(db) for db in NOVA_DBS}
    finally:
        mariadb.sql("UPDATE nova_api.alembic_version SET version_num = %s", args=(NOVA_API_INITIAL,))
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    sentence = [line for line in out.split("fatal: ") if "the test-upgrade stopped" in line]
    assert sentence, proc.stdout[-4000:]
    assert ("the test-upgrade stopped the upgrade before anything in the region changed: release 2024.1's "
            "nova-manage api_db sync failed on nova_api_upgrade, the copy of database nova_api (exit code ") in out
    assert UNKNOWN in sentence[0]          # alembic's own words about the revision it cannot find
    assert "fix nova_api (or that release's migration) and run the upgrade again" in out
    # the first failure stops the run: the cell databases' migrations never ran
    assert "Migrate the copy with its release's command, 2024.1 nova-manage db sync --local_cell on nova_upgrade" \
        not in out
    assert after == before
    assert not Path(backup_vars["backup_dir"], "bk-path-bad", "manifest.json").exists()
    copies_and_account_gone(mariadb)
    assert_no_secret(proc, mariadb)


def test_a_release_not_staged_on_the_migration_host_is_named(mariadb, backup_vars, inventory, tmp_path):
    """backup.yml before stage_release.yml: the sentence names the missing venv and the fix,
    not the database (the rehearsal verify-rollback ran backup.yml on an unstaged region)."""
    empty = tmp_path / "no-venvs"
    empty.mkdir()
    proc = play("backup.yml", path_vars(backup_vars, empty, "bk-unstaged"), inventory)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert ("the test-upgrade runs each release of the path 2023.2 -> 2024.1 from its venv on localhost, "
            "and %s/2024.1/bin/python is not there: stage the path with playbooks/stage_release.yml, "
            "or set backup_verify_path_migrations: false" % empty) in out, out[-3000:]
    assert_no_secret(proc, mariadb)
    copies_and_account_gone(mariadb)
