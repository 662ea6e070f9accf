"""The database moved with the control plane (issue 22 part 1, DeNA's blue-green): the
decisions of plugins/module_utils/db_move.py (which server each phase uses, what a
rollback does, URLs and account statements for the new server) and what the plan prints,
which is what the executor runs (filter stackhop.upgrade.control_plane_phases).

The move itself on two real MariaDB servers: tests/backup/test_db_move.py."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.filter.db_move import db_move, db_rollback
from ansible_collections.stackhop.upgrade.plugins.module_utils import db_move as dm
from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm

OLD, NEW = "10.20.0.11", "10.20.0.12"


def test_without_a_new_server_every_phase_uses_the_one_server():
    for strategy in ("blue_green", "in_place"):
        got = dm.database_move(strategy, ["ctl-old"], [], OLD)
        assert got["moves"] is False and got["new"] is None
        assert set(got["addresses"].values()) == {OLD}
        assert set(got["servers"].values()) == {"old"}


def test_a_moving_database_is_written_only_on_the_new_server():
    got = dm.database_move("blue_green", ["ctl-old"], ["ctl-new", "db2"], OLD, NEW)
    assert got["moves"] is True
    assert got["old"] == {"host": "ctl-old", "address": OLD}
    assert got["new"] == {"host": "ctl-new", "address": NEW}
    # the dump is read on the old server; the load, migrations and the new node's services
    # use the new one; the agents and the rollback keep the old one
    assert got["servers"]["backup"] == "old"
    for phase in ("load", "migrate", "deploy", "smoke", "cleanup"):
        assert got["servers"][phase] == "new" and got["addresses"][phase] == NEW, phase
    for phase in ("stop", "retire", "agents", "rollback"):
        assert got["addresses"][phase] == OLD, phase
    # every phase the executor knows has a server
    assert set(rm.CONTROL_PLANE_PHASES) <= set(got["servers"])


@pytest.mark.parametrize("args,match", [
    (("in_place", ["ctl-old"], ["db2"], OLD, NEW), "only in a blue_green upgrade: remove db2"),
    (("blue_green", ["ctl-old"], ["db2"], OLD, ""), "stackhop_db_address_new is not set"),
    (("blue_green", ["ctl-old"], ["ctl-old"], OLD, NEW), "already: name another server"),
    (("blue_green", ["ctl-old"], ["db2"], OLD, OLD), "already: name another server"),
    (("blue_green", ["ctl-old"], ["db2"], OLD, NEW, ["keystone"]), "keystone is installed by the operator"),
])
def test_refusals_are_one_sentence_with_the_fix(args, match):
    with pytest.raises(dm.DbMoveError, match=match) as err:
        dm.database_move(*args)
    assert str(err.value).count(". ") == 0 and str(err.value).endswith(".")
    with pytest.raises(AnsibleFilterError, match=match):
        db_move(*args)


def test_rollback_restores_or_switches_back():
    assert db_rollback(False, ["keystone"], "/var/backups/stackhop", "up", ["/b/up"]) == {
        "action": "restore", "server": "old", "sets": ["/b/up"]}
    got = db_rollback(True, ["keystone", "nova"], "/var/backups/stackhop/", "up", ["/b/up"])
    assert got == {"action": "switch_back", "server": "old",
                   "sets": ["/var/backups/stackhop/up-keystone", "/var/backups/stackhop/up-nova"]}


@pytest.mark.parametrize("url,want", [
    ("mysql+pymysql://nova:p%40ss:w/rd@10.20.0.11/nova_cell0?charset=utf8",
     "mysql+pymysql://nova:p%40ss:w/rd@10.20.0.12/nova_cell0?charset=utf8"),
    ("mysql+pymysql://nova:pw@10.20.0.11:3306/nova", "mysql+pymysql://nova:pw@10.20.0.12:3306/nova"),
    ("mysql+pymysql://nova:pw@10.20.0.11", "mysql+pymysql://nova:pw@10.20.0.12"),
    ("mysql+pymysql://10.20.0.11/nova", "mysql+pymysql://10.20.0.12/nova"),
    # another server, a template (nova resolves it from its own config), not a URL
    ("mysql+pymysql://nova:pw@10.20.0.99/nova", None),
    ("{scheme}://{username}:{password}@{hostname}/{path}?{query}", None),
    ("none:///", None),
    ("", None),
])
def test_stored_urls_follow_the_database(url, want):
    assert dm.rewrite_url_host(url, OLD, NEW) == want


def test_ipv6_hosts_keep_their_brackets():
    assert dm.url_host("mysql+pymysql://u:p@[fd00::1]:3306/nova") == "fd00::1"
    assert dm.rewrite_url_host("mysql+pymysql://u:p@[fd00::1]:3306/nova", "fd00::1", "fd00::2") == \
        "mysql+pymysql://u:p@[fd00::2]:3306/nova"


CREATE = "CREATE USER `nova`@`%` IDENTIFIED BY PASSWORD '*0123456789ABCDEF0123456789ABCDEF01234567'"
GRANTS = ["GRANT USAGE ON *.* TO `nova`@`%` IDENTIFIED BY PASSWORD '*0123456789ABCDEF0123456789ABCDEF01234567'",
          "GRANT ALL PRIVILEGES ON `nova_api`.* TO `nova`@`%`",
          "GRANT ALL PRIVILEGES ON `nova\\_cell0`.* TO `nova`@`%`",
          "GRANT SELECT ON `keystone`.`user` TO `nova`@`%`"]


def test_an_account_keeps_only_the_grants_on_the_moving_databases():
    rec = dm.account_record("nova", "%", CREATE, GRANTS, ["nova_api", "nova", "nova_cell0"])
    assert rec["grants"] == GRANTS[1:3]
    dm.check_account(rec, ["nova_api", "nova", "nova_cell0"])
    assert dm.account_statements(rec, None) == [CREATE] + GRANTS[1:3]
    # the same account on the new server: nothing; another password: ALTER USER only
    assert dm.account_statements(rec, {"create": CREATE, "grants": GRANTS[:3]}) == []
    other = {"create": CREATE.replace("0123", "FFFF"), "grants": GRANTS[:2]}
    assert dm.account_statements(rec, other) == ["ALTER USER" + CREATE[len("CREATE USER"):], GRANTS[2]]


def test_account_records_are_checked_before_they_run():
    rec = dm.account_record("nova", "%", CREATE, GRANTS, ["nova_api"])
    with pytest.raises(dm.DbMoveError, match="not on one of keystone"):
        dm.check_account(dict(rec, grants=["GRANT ALL PRIVILEGES ON *.* TO `nova`@`%`"]), ["keystone"])
    with pytest.raises(dm.DbMoveError, match="no CREATE USER statement of its own"):
        dm.check_account(dict(rec, create=CREATE.replace("`nova`@`%`", "`root`@`%`")), ["nova_api"])
    with pytest.raises(dm.DbMoveError, match="not on one of"):
        dm.check_account(dict(rec, grants=["GRANT ALL ON `nova_api`.* TO `nova`@`%`; DROP DATABASE x"]
                              + ["GRANT ALL ON `x`.* TO `nova`@`%`"]), ["nova_api"])


def test_password_hashes_are_masked():
    assert "0123" not in dm.mask_statement(CREATE)
    assert dm.mask_statement(CREATE).endswith("IDENTIFIED BY PASSWORD '********'")
    ed = "CREATE USER `k`@`%` IDENTIFIED VIA ed25519 USING 'ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY'"
    assert "ZIgU" not in dm.mask_statement(ed)
    mysql8 = "CREATE USER `k`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$x\\'y' REQUIRE SSL"
    assert "$A$005" not in dm.mask_statement(mysql8) and "REQUIRE SSL" in dm.mask_statement(mysql8)


def test_grantees_and_schema_patterns():
    assert dm.parse_grantee("'nova'@'%'") == ("nova", "%")
    assert dm.parse_grantee("'o''brien'@'10.%'") == ("o'brien", "10.%")
    with pytest.raises(dm.DbMoveError):
        dm.parse_grantee("nova@%")
    assert dm.schema_patterns(["nova_api", "nova"]) == ["nova_api", "nova\\_api", "nova"]


# --- the plan prints what the executor runs -------------------------------------------

def test_the_plan_lists_the_load_only_when_the_database_moves():
    path = rm.upgrade_path("2024.1", "2025.1")
    for comp in rm.COMPONENTS:
        plain = [s["action"] for s in rm.component_steps(comp, path, "blue_green", [])]
        moved = rm.component_steps(comp, path, "blue_green", [], db_move="ctl-new")
        assert "load" not in plain
        phases = [a for i, a in enumerate(s["action"] for s in moved)
                  if a not in [s["action"] for s in moved][:i]]
        assert phases[:5] == ["prepare", "stop", "backup", "load", "migrate"], (comp, phases)
        assert phases == rm.control_plane_phases(comp, "2024.1", "2025.1", "blue_green", db_move="ctl-new")
        texts = [s["text"] for s in moved]
        assert any("load the dump into the new database server ctl-new" in t and "checksum" in t
                   for t in texts), texts
        assert all(t.endswith("on the new database server") for t in texts
                   if t.startswith(("keystone-manage", "nova-manage db sync")))
    # an in-place upgrade never moves it (the role refuses; the plan lists no load)
    assert "load" not in rm.control_plane_phases("nova", "2025.1", "2025.2", "in_place", db_move="ctl-new")


def test_nova_points_its_cell_mappings_at_the_new_server():
    path = rm.upgrade_path("2024.1", "2025.1")
    loads = [s["text"] for s in rm.component_steps("nova", path, "blue_green", [], db_move="db2")
             if s["action"] == "load"]
    assert len(loads) == 2 and "nova_api.cell_mappings.database_connection" in loads[1]
    assert len([s for s in rm.component_steps("keystone", path, "blue_green", [], db_move="db2")
                if s["action"] == "load"]) == 1


def test_the_whole_plan_says_where_the_databases_go():
    plan = rm.build_plan("2024.1", "2025.1", "RegionOne", [], db_move="ctl-new")
    assert plan["db_move"] == "ctl-new"
    assert "the databases move to the new database server ctl-new" in rm.plan_markdown(plan)
    assert rm.build_plan("2024.1", "2025.1", "RegionOne", [])["db_move"] is None
    with pytest.raises(rm.ReleaseModelError, match="only in a blue_green upgrade"):
        rm.build_plan("2024.1", "2025.1", "RegionOne", [], strategy="in_place", db_move="ctl-new")
