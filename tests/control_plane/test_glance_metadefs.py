"""glance_metadefs with real glance 2024.1 (PyPI) on a private MariaDB.

The glance database is made by glance-manage db_sync; the module loads the release's
metadefs once, changes nothing on a second run, merges back what is missing without
touching what the operator edited, says in check mode what it would load, and fails
with one sentence on bad input. No password appears in any output.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.control_plane.conftest import DB_PASSWORD, PORT
from tests.lib.ansible_runner import run_module
from tests.lib.openstack_venv import GLANCE_2024_1, ensure_venv

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def glance_venv():
    return ensure_venv(*GLANCE_2024_1)


@pytest.fixture(scope="module")
def glance_schema(mariadb, glance_venv, tmp_path_factory):
    """A glance database synced once by glance 2024.1 (db_sync takes ~20 s)."""
    name = "gl_schema_%s" % uuid.uuid4().hex[:6]
    mariadb.create_user("gl", DB_PASSWORD, [name])
    conf = tmp_path_factory.mktemp("glance-schema") / "glance-api.conf"
    conf.write_text("[database]\nconnection = mysql+pymysql://gl:%s@127.0.0.1:%d/%s\n"
                    % (DB_PASSWORD, PORT, name))
    subprocess.run([str(glance_venv / "bin" / "glance-manage"), "--config-file", str(conf), "db_sync"],
                   check=True, capture_output=True, text=True, timeout=600)
    return name


@pytest.fixture
def glance_db(mariadb, glance_schema, tmp_path):
    """A copy of that schema (tables and alembic version, no rows) and a glance-api.conf
    naming it."""
    name = "gl_%s" % uuid.uuid4().hex[:8]
    mariadb.create_user("gl", DB_PASSWORD, [name])
    tables = [row[0] for row in mariadb.sql("SHOW TABLES", glance_schema)]
    mariadb.sql(["CREATE TABLE `%s`.`%s` LIKE `%s`.`%s`" % (name, t, glance_schema, t) for t in tables]
                + ["INSERT INTO `%s`.alembic_version SELECT * FROM `%s`.alembic_version"
                   % (name, glance_schema)])
    conf = tmp_path / "glance-api.conf"
    conf.write_text("[database]\nconnection = mysql+pymysql://gl:%s@127.0.0.1:%d/%s\n"
                    % (DB_PASSWORD, PORT, name))
    conf.chmod(0o600)
    return name, conf


def load(glance_venv, conf, check=False, **extra):
    args = {"glance_manage": str(glance_venv / "bin" / "glance-manage"),
            "config_files": [str(conf)], **extra}
    result = run_module("glance_metadefs", args, check=check, diff=True)
    assert DB_PASSWORD not in repr(result), "the database password leaked"
    return result


def test_loads_once_keeps_edits_and_merges_back_what_is_missing(glance_venv, glance_db, mariadb):
    name, conf = glance_db
    shipped = sorted(p.name for p in (glance_venv / "etc" / "glance" / "metadefs").glob("*.json"))

    check = load(glance_venv, conf, check=True)
    assert check["changed"] and not check["executed_commands"]
    assert check["loaded"]["namespaces"] == len(shipped) == check["namespaces"]
    assert mariadb.sql("SELECT COUNT(*) FROM metadef_namespaces", name)[0][0] == 0

    first = load(glance_venv, conf)
    assert first["changed"], first.get("msg")
    assert first["loaded"]["namespaces"] == len(shipped)
    assert first["loaded"]["properties"] > 100
    assert "db load_metadefs --path %s" % first["path"] in first["executed_commands"][0]
    assert first["path"].endswith("etc/glance/metadefs")
    assert mariadb.sql("SELECT COUNT(*) FROM metadef_namespaces", name)[0][0] == len(shipped)

    second = load(glance_venv, conf)
    assert not second["changed"] and not second["executed_commands"] and second["missing"] == {}

    # the operator edited a namespace; a property of another went missing
    mariadb.sql(["UPDATE metadef_namespaces SET display_name = 'Site libvirt' "
                 "WHERE namespace = 'OS::Compute::Libvirt'",
                 "DELETE p FROM metadef_properties p JOIN metadef_namespaces n ON p.namespace_id = n.id "
                 "WHERE n.namespace = 'OS::Compute::Watchdog'"], name)
    check = load(glance_venv, conf, check=True)
    assert check["changed"] and list(check["missing"]) == ["OS::Compute::Watchdog"]
    assert check["missing"]["OS::Compute::Watchdog"]["namespace"] is False
    assert check["missing"]["OS::Compute::Watchdog"]["properties"] == ["watchdog_action"]

    merged = load(glance_venv, conf)
    assert merged["changed"] and merged["loaded"]["properties"] == 1
    assert "--merge" in merged["executed_commands"][0]
    assert mariadb.sql("SELECT display_name FROM metadef_namespaces WHERE namespace = "
                       "'OS::Compute::Libvirt'", name)[0][0] == "Site libvirt"
    assert not load(glance_venv, conf)["changed"]


def test_the_database_url_may_come_from_the_config_option(glance_venv, glance_db, tmp_path):
    dummy, conf = glance_db
    empty = tmp_path / "empty.conf"
    empty.write_text("[DEFAULT]\n")
    result = load(glance_venv, empty, config=conf.read_text(), merge=False)
    assert result["changed"] and result["loaded"]["namespaces"] > 20
    assert conf.name not in " ".join(result["executed_commands"])
    assert not load(glance_venv, empty, config=conf.read_text())["changed"]


def test_bad_input_fails_with_one_sentence(glance_venv, glance_db, mariadb, tmp_path):
    name, conf = glance_db
    cases = [
        ({"prefer_new": True, "merge": False}, "prefer_new and overwrite need merge=true"),
        ({"path": str(tmp_path / "none")}, "does not exist; set path"),
        ({"glance_manage": str(tmp_path / "glance-manage")}, "set glance_manage to"),
    ]
    for extra, words in cases:
        result = load(glance_venv, conf, **extra)
        assert result["failed"] and words in result["msg"], result["msg"]
    empty = tmp_path / "empty.conf"
    empty.write_text("[DEFAULT]\n")
    result = load(glance_venv, empty)
    assert result["failed"] and "has no [database] connection" in result["msg"]
    mariadb.sql("DROP TABLE metadef_tags", name)
    result = load(glance_venv, conf)
    assert result["failed"] and "has no metadef_tags table; run glance-manage db_sync" in result["msg"]
    assert "********" in result["msg"]
