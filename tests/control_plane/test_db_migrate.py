"""db_migrate: one release's migrations, skipped once the database is past that release.

Real keystone 2024.1 and 2025.2 (PyPI) migrate a real MariaDB: the fast-forward chain a
control-plane upgrade runs, and its re-run, where the older release's code would fail on
the newer revision and must not run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.control_plane.conftest import DB_PASSWORD, PORT
from tests.lib.ansible_runner import VENV, ansible_env

SITE = "lib/python%d.%d/site-packages" % sys.version_info[:2]
VERSIONS = "keystone/common/sql/migrations/versions"


def migrate(venv, db, release, check=False, argv=None, relative=True, password=DB_PASSWORD,
            interpreter=None, **extra):
    """Run db_migrate in a real ansible-playbook with the release venv's Python."""
    url = "mysql+pymysql://ks:%s@127.0.0.1:%d/%s" % (password, PORT, db)
    task = {
        "name": "under test",
        "stackhop.upgrade.db_migrate": {
            "release": release,
            # console scripts of a cached venv name its build path: run them with its python
            "argv": argv or [str(venv / "bin" / "python"), str(venv / "bin" / "keystone-manage"),
                             "--config-file", "@config@", "db_sync"],
            "config": "[database]\nconnection = %s\n" % url,
            "databases": [db],
            "revision_paths": [VERSIONS if relative else str(venv / SITE / VERSIONS)],
            "login_user": "ks", "login_password": password,
            "login_host": "127.0.0.1", "login_port": PORT, **extra,
        },
        "vars": {"ansible_python_interpreter": str(interpreter or venv / "bin" / "python")},
        "register": "r", "ignore_errors": True,
    }
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [task]}]
    pb = Path("/tmp/cp-db-migrate-%s.json" % uuid.uuid4().hex)
    pb.write_text(json.dumps(play))
    try:
        argv_ = [str(VENV / "bin" / "ansible-playbook"), "-i", "localhost,", str(pb), "-vvv"]
        if check:
            argv_.append("--check")
        proc = subprocess.run(argv_, env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}),
                              capture_output=True, text=True, timeout=600, check=False)
    finally:
        pb.unlink()
    assert password not in proc.stdout + proc.stderr, "the database password leaked"
    out = json.loads(proc.stdout[proc.stdout.index("{"):])
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.fixture
def db(mariadb):
    name = "ks_%s" % uuid.uuid4().hex[:8]
    mariadb.create_user("ks", DB_PASSWORD, [name])
    return name


def test_fast_forward_chain_and_rerun(keystone_venvs, db, mariadb, tmp_path):
    old, new = keystone_venvs["2024.1"], keystone_venvs["2025.2"]
    progress = tmp_path / "progress" / "keystone.json"
    first = migrate(old, db, "2024.1", progress_file=str(progress), progress_interval=1,
                    label="keystone 2024.1")
    assert not first.get("failed"), first
    assert first["ran"] and first["changed"] and first["state"] == {db: "empty"}
    assert first["revisions_after"][db] == first["heads"]
    # the file a follower (async_progress) reads: every revision of 2024.1 applied, done
    saved = json.loads(progress.read_text())
    assert saved["done"] and saved["revisions"] == first["revisions_after"]
    assert saved["line"].startswith("keystone 2024.1: %s " % db) and saved["line"].endswith("; done")
    count = int(saved["line"].split(" of ")[1].split()[0])
    assert "%s %d of %d revisions (%d this run" % (db, count, count, count) in saved["line"]
    assert oct(progress.stat().st_mode & 0o777) == "0o600"

    again = migrate(old, db, "2024.1")
    assert again["ran"] and not again["changed"] and again["state"] == {db: "at_head"}

    # 2025.2's files define e8725d6fa226 (2025.02/expand), but keystone 28.0.0's own
    # db_sync never applies it: keystone.common.sql.upgrades.RELEASES stops at
    # '2024.01', so alembic does not scan 2025.02/. The module reads every file, so it
    # reports the database "behind" 2025.2 and runs the (no-op) sync each time.
    ahead = migrate(new, db, "2025.2")
    assert ahead["ran"] and not ahead["changed"] and ahead["state"] == {db: "behind"}
    assert "e8725d6fa226" in ahead["heads"]
    assert ahead["revisions_after"] == first["revisions_after"]


def test_rerun_skips_a_release_the_database_is_past(keystone_venvs, db, mariadb):
    """A database migrated by a later release records a revision the older code does not
    know. keystone 2025.2 adds none that it applies (above), so the later release's
    revision is written into the version table here, the state a later release's
    migrations leave; the older release's own db_sync fails on it, db_migrate skips it."""
    old = keystone_venvs["2024.1"]
    assert migrate(old, db, "2024.1")["changed"]
    mariadb.sql("UPDATE alembic_version SET version_num = 'zz_later_release' "
                "WHERE version_num = '47147121'", database=db)
    rerun = migrate(old, db, "2024.1")
    assert not rerun.get("failed"), rerun
    assert not rerun["ran"] and not rerun["changed"] and rerun["state"] == {db: "past"}
    assert rerun["unknown_revisions"][db] == ["zz_later_release"]
    assert "already past 2024.1" in rerun["msg"]
    # ... while the old code itself fails on that schema: the skip is what lets a
    # fast-forward re-run go through every release again
    conf = "[database]\nconnection = mysql+pymysql://ks:%s@127.0.0.1:%d/%s\n" % (DB_PASSWORD, PORT, db)
    path = Path("/tmp/cp-ks-%s.conf" % uuid.uuid4().hex)
    path.write_text(conf)
    try:
        proc = subprocess.run([str(old / "bin" / "python"), str(old / "bin" / "keystone-manage"),
                               "--config-file", str(path), "db_sync"],
                              capture_output=True, text=True, check=False, timeout=300)
    finally:
        path.unlink()
    assert proc.returncode != 0 and "zz_later_release" in proc.stderr + proc.stdout


def test_check_mode_and_absolute_paths(keystone_venvs, db):
    old = keystone_venvs["2024.1"]
    res = migrate(old, db, "2024.1", check=True, relative=False)
    assert not res.get("failed"), res
    assert res["changed"] and not res["ran"] and res["msg"].startswith("would run 2024.1")
    assert migrate(old, db, "2024.1", relative=False)["changed"]


def test_failure_is_masked_and_names_the_fix(keystone_venvs, db):
    old = keystone_venvs["2024.1"]
    # a command that prints its whole config (with the URL's password) and fails
    argv = [str(old / "bin" / "python"), "-c",
            "import sys; print(open(sys.argv[1]).read()); sys.exit(3)", "@config@"]
    res = migrate(old, db, "2024.1", argv=argv)
    assert res["failed"] and res["rc"] == 3
    assert "exited 3" in res["msg"] and "re-run" in res["msg"]
    assert any("********" in line for line in res["stdout_lines"])


def test_wrong_password_fails_before_running(keystone_venvs, db):
    res = migrate(keystone_venvs["2024.1"], db, "2024.1", password="not-the-password")
    assert res["failed"] and "Cannot connect to the database server" in res["msg"]
    assert not res.get("ran")


@pytest.mark.parametrize("option,value,words", [
    ("lock_timeout", -1, "lock_timeout is -1; set it to 0 seconds or more."),
    ("progress_interval", 0, "progress_interval is 0; set it to 1 second or more."),
])
def test_a_bad_wait_fails_with_one_sentence_before_running(keystone_venvs, db, option, value, words):
    res = migrate(keystone_venvs["2024.1"], db, "2024.1", **{option: value})
    assert res["failed"] and res["msg"] == words
    assert not res.get("ran") and not res["executed_commands"]


def test_without_pymysql_names_the_interpreter(keystone_venvs, db):
    res = migrate(keystone_venvs["2024.1"], db, "2024.1", interpreter="/usr/bin/python3")
    if "PyMySQL is not importable" not in res.get("msg", ""):
        pytest.skip("this machine's /usr/bin/python3 has PyMySQL")
    assert res["failed"]


def test_a_second_run_waits_for_the_lock_of_the_first(keystone_venvs, db):
    """An interrupted play leaves its migration job running on the host: a re-run must
    not migrate the same databases beside it. The lock is a file (Galera refuses GET_LOCK)."""
    import fcntl
    lock_dir = Path("/var/lib/stackhop/locks")
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / ("db_migrate-%s.lock" % db), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = migrate(keystone_venvs["2024.1"], db, "2024.1", lock_timeout=1)
    assert busy.get("failed") and not busy.get("ran"), busy
    assert busy["msg"] == (
        "Another migration of %s still holds /var/lib/stackhop/locks/db_migrate-%s.lock after "
        "1 s (an earlier run's job in the background?): wait for it to end, or raise "
        "lock_timeout." % (db, db))
    done = migrate(keystone_venvs["2024.1"], db, "2024.1", lock_timeout=1)
    assert not done.get("failed") and done["ran"] and done["changed"], done


def test_a_failed_migration_is_named_by_its_exception_line():
    from ansible_collections.stackhop.upgrade.plugins.modules.db_migrate import failure_line
    cinder = [  # cinder-manage 2023.2 on SQLAlchemy 2, as oslo.log writes it with colours
        "2026-12-05 06:14:39.425 29049 ERROR cinder \x1b[01;35m\x1b[00m  File \"env.py\", line 86, in run",
        "2026-12-05 06:14:39.425 29049 ERROR cinder \x1b[01;35m\x1b[00m    with connectable.connect() as c:",
        "2026-12-05 06:14:39.425 29049 ERROR cinder \x1b[01;35m\x1b[00mAttributeError: 'Connection' object has "
        "no attribute 'connect'",
        "2026-12-05 06:14:39.425 29049 ERROR cinder \x1b[00m",
    ]
    assert failure_line(cinder) == "AttributeError: 'Connection' object has no attribute 'connect'"
    assert failure_line(["", "Killed"]) == "Killed"
    assert failure_line([]) == "no output"


def test_rolling_expand_then_contract_with_the_catalogues_arguments(keystone_venvs, db):
    """The rolling strategy's schema steps, with the arguments the roles take from the
    component catalogue (filter stackhop.upgrade.schema_args): keystone's expand grows the
    schema and leaves its contract branch behind, which the old nodes need; the contract
    after the last node brings it to the heads a full db_sync reaches; each again changes
    nothing."""
    from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm

    venv = keystone_venvs["2024.1"]
    manage = [str(venv / "bin" / "python"), str(venv / "bin" / "keystone-manage"), "--config-file", "@config@"]
    assert rm.schema_args("keystone", "expand") == ["db_sync", "--expand"]
    assert rm.schema_args("keystone", "data") == []
    expand = migrate(venv, db, "2024.1", argv=manage + rm.schema_args("keystone", "expand"))
    assert not expand.get("failed") and expand["changed"], expand
    assert expand["revisions_after"][db] != expand["heads"]
    assert not migrate(venv, db, "2024.1", argv=manage + rm.schema_args("keystone", "expand"))["changed"]
    contract = migrate(venv, db, "2024.1", argv=manage + rm.schema_args("keystone", "contract"))
    assert not contract.get("failed") and contract["changed"], contract
    assert sorted(contract["revisions_after"][db]) == sorted(contract["heads"])
    again = migrate(venv, db, "2024.1", argv=manage + rm.schema_args("keystone", "contract"))
    assert not again["changed"] and again["state"] == {db: "at_head"}
