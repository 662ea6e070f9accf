"""db_preflight against a real private MariaDB: grants as the service user, unknown revisions."""

from __future__ import annotations

import pytest

from tests.preflight.conftest import PORT

pytestmark = pytest.mark.needs_root

PASSWORD = "rm-S3cret-pw"


@pytest.fixture(scope="module")
def service_db(mariadb, tmp_path_factory):
    mariadb.sql("DROP DATABASE IF EXISTS rmneutron; CREATE DATABASE rmneutron;"
                "CREATE TABLE rmneutron.alembic_version (version_num VARCHAR(32) NOT NULL "
                "PRIMARY KEY);"
                "INSERT INTO rmneutron.alembic_version VALUES ('aaa111'), ('ccc333');"
                "CREATE TABLE rmneutron.networks (id INT PRIMARY KEY, name VARCHAR(255));")
    for user, grant in (("rm_full", "ALL PRIVILEGES ON `rmneutron`.*"),
                        ("rm_limited", "SELECT, INSERT, UPDATE, DELETE ON `rmneutron`.*"),
                        ("rm_wild", "ALL PRIVILEGES ON `rmneu%`.*")):
        mariadb.sql("DROP USER IF EXISTS '%s'@'127.0.0.1'; CREATE USER '%s'@'127.0.0.1' "
                    "IDENTIFIED BY '%s'; GRANT %s TO '%s'@'127.0.0.1';"
                    % (user, user, PASSWORD, grant, user))
    versions = tmp_path_factory.mktemp("versions")
    (versions / "expand").mkdir()
    (versions / "aaa111_initial.py").write_text(
        "revision = 'aaa111'\ndown_revision = None\n")
    (versions / "expand" / "bbb222_add.py").write_text(
        'revision: str = "bbb222"\ndown_revision = "aaa111"\n')
    (versions / "expand" / "ccc333_more.py").write_text(
        "revision = 'ccc333'\ndown_revision = 'bbb222'\n")
    (versions / "README").write_text("not python\n")
    return versions


def args(user, versions=None, **extra):
    a = {"database": "rmneutron", "login_user": user, "login_password": PASSWORD,
         "login_host": "127.0.0.1", "login_port": PORT}
    if versions is not None:
        a["revision_paths"] = [str(versions)]
    a.update(extra)
    return a


def test_full_grants_known_revisions_ok(ansible_module, service_db):
    res = ansible_module("db_preflight", args("rm_full", service_db))
    assert not res.failed, res
    assert res["status"] == "ok" and res["problems"] == []
    assert {"ALTER", "DROP", "CREATE", "INDEX"} <= set(res["privileges"])
    assert res["revisions"] == ["aaa111", "ccc333"]
    assert res["known_revisions"] == 3 and res["unknown_revisions"] == []
    assert res["size_bytes"] > 0
    assert res["changed"] is False
    assert PASSWORD not in res.stdout and PASSWORD not in " ".join(res["executed_commands"])


def test_missing_grants_fail_with_the_fix(ansible_module, service_db):
    res = ansible_module("db_preflight", args("rm_limited", service_db))
    assert res["status"] == "failure"
    assert res["missing_privileges"] == ["ALTER", "CREATE", "DROP", "INDEX", "REFERENCES"]
    (sentence,) = res["problems"]
    assert "rm_limited lacks ALTER, CREATE, DROP, INDEX, REFERENCES on rmneutron" in sentence
    assert "GRANT ALL PRIVILEGES ON `rmneutron`.*" in sentence


def test_wildcard_grant_counts(ansible_module, service_db):
    res = ansible_module("db_preflight", args("rm_wild"))
    assert res["status"] == "ok", res["problems"]
    assert res["known_revisions"] == 0      # no revision check without revision_paths


def test_locally_altered_schema_is_caught(ansible_module, mariadb, service_db):
    # HULK: a local change recorded its own alembic revision
    mariadb.sql("INSERT INTO rmneutron.alembic_version VALUES ('hulk_dns_rr')")
    try:
        res = ansible_module("db_preflight", args("rm_full", service_db))
    finally:
        mariadb.sql("DELETE FROM rmneutron.alembic_version WHERE version_num='hulk_dns_rr'")
    assert res["status"] == "failure"
    assert res["unknown_revisions"] == ["hulk_dns_rr"]
    assert "records revision hulk_dns_rr, which the target release's migrations do not know" \
        in res["problems"][0]
    again = ansible_module("db_preflight", args("rm_full", service_db))
    assert again["status"] == "ok"


def test_bad_password_fails_before_anything(ansible_module, service_db):
    res = ansible_module("db_preflight", dict(args("rm_full"), login_password="wrong-pw"))
    assert res.failed
    assert res["msg"].startswith("Cannot connect to the database server 127.0.0.1:%d as rm_full" % PORT)
    assert "wrong-pw" not in res.stdout


def test_missing_revision_dir(ansible_module, service_db):
    res = ansible_module("db_preflight", args("rm_full", "/nonexistent/rm-versions"))
    assert res.failed
    assert "Migration directory /nonexistent/rm-versions does not exist" in res["msg"]
