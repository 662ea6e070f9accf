"""plugins/module_utils/copy_migrations.py and its filters: MCP's test-upgrade, the schema
migrations of every release of the path pointed at the backup's <db>_upgrade copies."""

from __future__ import annotations

import configparser
import pathlib

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.stackhop.upgrade.plugins.filter.copy_migrations import (
    copy_migration_host,
    copy_migrations as copy_migrations_filter,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils import components as cat
from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm
from ansible_collections.stackhop.upgrade.plugins.module_utils.copy_migrations import (
    CopyMigrationsError,
    copy_migrations,
    migration_host,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
CONN = {"host": "10.0.0.5", "user": "stackhop_copies", "password": "p@ss/w:rd%"}
ALL = ["keystone", "glance", "placement", "nova", "neutron", "cinder"]


def _sections(config):
    parser = configparser.RawConfigParser(default_section="__none__")
    parser.read_string(config)
    return {s: dict(parser.items(s)) for s in parser.sections()}


def test_a_fast_forward_runs_each_release_component_by_component():
    steps = copy_migrations(ALL, "2023.2", "2025.1", connection=CONN)
    order = [(s["component"], s["release"], s["command"], s["copy_db"]) for s in steps]
    assert order == [
        ("keystone", "2024.1", "keystone-manage db_sync", "keystone_upgrade"),
        ("keystone", "2024.2", "keystone-manage db_sync", "keystone_upgrade"),
        ("keystone", "2025.1", "keystone-manage db_sync", "keystone_upgrade"),
        ("glance", "2024.1", "glance-manage db_sync", "glance_upgrade"),
        ("glance", "2024.2", "glance-manage db_sync", "glance_upgrade"),
        ("glance", "2025.1", "glance-manage db_sync", "glance_upgrade"),
        ("placement", "2024.1", "placement-manage db sync", "placement_upgrade"),
        ("placement", "2024.2", "placement-manage db sync", "placement_upgrade"),
        ("placement", "2025.1", "placement-manage db sync", "placement_upgrade"),
        ("nova", "2024.1", "nova-manage api_db sync", "nova_api_upgrade"),
        ("nova", "2024.1", "nova-manage db sync --local_cell", "nova_upgrade"),
        ("nova", "2024.1", "nova-manage db sync --local_cell", "nova_cell0_upgrade"),
        ("nova", "2024.2", "nova-manage api_db sync", "nova_api_upgrade"),
        ("nova", "2024.2", "nova-manage db sync --local_cell", "nova_upgrade"),
        ("nova", "2024.2", "nova-manage db sync --local_cell", "nova_cell0_upgrade"),
        ("nova", "2025.1", "nova-manage api_db sync", "nova_api_upgrade"),
        ("nova", "2025.1", "nova-manage db sync --local_cell", "nova_upgrade"),
        ("nova", "2025.1", "nova-manage db sync --local_cell", "nova_cell0_upgrade"),
        ("neutron", "2024.1", "neutron-db-manage upgrade heads", "neutron_upgrade"),
        ("neutron", "2024.2", "neutron-db-manage upgrade heads", "neutron_upgrade"),
        ("neutron", "2025.1", "neutron-db-manage upgrade heads", "neutron_upgrade"),
        ("cinder", "2024.1", "cinder-manage db sync", "cinder_upgrade"),
        ("cinder", "2024.2", "cinder-manage db sync", "cinder_upgrade"),
        ("cinder", "2025.1", "cinder-manage db sync", "cinder_upgrade"),
    ]


def test_each_release_runs_with_its_own_venv_and_the_config_on_argv_only_as_a_path():
    steps = copy_migrations(["nova"], "2024.1", "2025.1", venv_root="/opt/v/", connection=CONN)
    api = steps[0]
    assert api["argv"] == ["/opt/v/2025.1/bin/nova-manage", "--config-file", "@config@", "api_db", "sync"]
    assert api["python"] == "/opt/v/2025.1/bin/python"
    assert api["databases"] == ["nova_api_upgrade"] and api["database"] == "nova_api"
    for step in steps:
        assert not any(CONN["password"] in a or "p%40ss" in a for a in step["argv"] + [step["command"]])


def test_the_config_names_only_the_copies_with_the_password_encoded():
    steps = copy_migrations(["nova", "neutron", "placement"], "2024.1", "2024.2",
                            connection=dict(CONN, port=3307, query="?ssl_ca=/etc/ca.pem"))
    by = {(s["component"], s["copy_db"]): _sections(s["config"]) for s in steps}

    def url(db):
        return "mysql+pymysql://stackhop_copies:p%40ss%2Fw%3Ard%25@10.0.0.5:3307/" + db + "?ssl_ca=/etc/ca.pem"
    assert by[("nova", "nova_api_upgrade")] == {"api_database": {"connection": url("nova_api_upgrade")}}
    # cell0 never from its mapping: each cell database alone, [database] only
    assert by[("nova", "nova_cell0_upgrade")] == {"database": {"connection": url("nova_cell0_upgrade")}}
    assert by[("neutron", "neutron_upgrade")] == {
        "DEFAULT": {"core_plugin": "ml2"}, "database": {"connection": url("neutron_upgrade")}}
    assert by[("placement", "placement_upgrade")] == {
        "placement_database": {"connection": url("placement_upgrade")}}
    for step in steps:
        assert "/nova_api?" not in step["config"] and "/nova?" not in step["config"]


def test_a_slurp_jump_runs_the_target_only_and_a_direct_hop_its_target():
    assert {s["release"] for s in copy_migrations(ALL, "2024.1", "2025.1", connection=CONN)} == {"2025.1"}
    assert {s["release"] for s in copy_migrations(ALL, "2024.2", "2025.1", connection=CONN)} == {"2025.1"}


def test_databases_not_dumped_are_passed_over():
    steps = copy_migrations(["keystone", "nova", "ironic"], "2024.1", "2024.2",
                            databases=["nova_api", "nova_cell0", "ironic"], connection=CONN)
    assert [(s["command"], s["copy_db"]) for s in steps] == [
        ("nova-manage api_db sync", "nova_api_upgrade"),
        ("nova-manage db sync --local_cell", "nova_cell0_upgrade"),
        ("ironic-dbsync upgrade", "ironic_upgrade")]


def test_the_given_component_order_is_kept_and_the_suffix_used():
    steps = copy_migrations(["cinder", "keystone"], "2024.1", "2024.2", suffix="_mcp", connection=CONN)
    assert [(s["component"], s["copy_db"]) for s in steps] == [("cinder", "cinder_mcp"), ("keystone", "keystone_mcp")]


def test_old_releases_follow_the_release_model():
    steps = copy_migrations(["placement", "nova"], "kilo", "newton", connection=CONN)
    # no placement before stein; no api_db before mitaka; no --local_cell before ocata
    assert [(s["release"], s["command"], s["copy_db"]) for s in steps] == [
        ("2015.2", "nova-manage db sync", "nova_upgrade"),
        ("2016.1", "nova-manage api_db sync", "nova_api_upgrade"),
        ("2016.1", "nova-manage db sync", "nova_upgrade"),
        ("2016.2", "nova-manage api_db sync", "nova_api_upgrade"),
        ("2016.2", "nova-manage db sync", "nova_upgrade")]
    first = copy_migrations(["placement"], "2018.2", "2019.1", connection=CONN)
    assert [s["command"] for s in first] == ["placement-manage db sync"]


@pytest.mark.parametrize("args, words", [
    (("keystone", "2024.1", "2024.2"), "must be a list of names"),
    ((["keystone"], "2024.2", "2024.1"), "downgrade"),
    ((["keystone"], "2024.1", "2099.1"), "Unknown OpenStack release"),
    ((["heat"], "2024.1", "2024.2"), "Unknown component 'heat'"),
])
def test_refusals_are_one_sentence_with_the_fix(args, words):
    with pytest.raises(ValueError, match=words):
        copy_migrations(*args, connection=CONN)
    with pytest.raises(AnsibleFilterError, match=words):
        copy_migrations_filter(*args, connection=CONN)


def test_refuses_a_bad_suffix_or_connection():
    with pytest.raises(CopyMigrationsError, match="backup_verify_suffix"):
        copy_migrations(["nova"], "2024.1", "2024.2", suffix="-x", connection=CONN)
    with pytest.raises(CopyMigrationsError, match="stackhop_db_address"):
        copy_migrations(["nova"], "2024.1", "2024.2", connection={"host": "", "user": "x"})


def test_the_migration_host_is_the_first_new_controller_in_scope_else_a_controller():
    groups = {"stackhop_controllers": ["a-ctl", "b-ctl"], "stackhop_controllers_new": ["a-new", "b-new"],
              "stackhop_scope": ["b-ctl", "b-new", "db"]}
    assert migration_host(groups) == "b-new"
    assert copy_migration_host(dict(groups, stackhop_controllers_new=[])) == "b-ctl"
    assert migration_host({"stackhop_controllers": ["a-ctl"]}) == "a-ctl"     # no scope: every host
    assert migration_host({"stackhop_db": ["db"], "stackhop_scope": ["db"]}) == ""
    assert migration_host(None) == ""


def _tasks(tasks):
    for task in tasks:
        yield task
        yield from _tasks(task.get("block", []))


def _role_argv(path, component):
    """The command a role's db_migrate task runs: a literal argv (nova's), or the
    release's command plus the arguments filter stackhop.upgrade.schema_args gives the
    role's ``<role>_migrate_step`` (its default, sync)."""
    role = path.split("/")[1]
    for task in _tasks(yaml.safe_load((REPO / path).read_text())):
        if "stackhop.upgrade.db_migrate" in task:
            argv = task["stackhop.upgrade.db_migrate"]["argv"]
            if isinstance(argv, list):
                return [argv[0].rsplit("/", 1)[1]] + argv[3:]
            command = argv.split("'/bin/", 1)[1].split("'", 1)[0]
            assert argv.rstrip(" }").endswith("+ __%s_migrate_args" % role), argv
            derived = yaml.safe_load((REPO / "roles" / role / "vars/main.yml").read_text())["__%s_migrate_args" % role]
            assert derived == "{{ '%s' | stackhop.upgrade.schema_args(%s_migrate_step) }}" % (component, role)
            step = yaml.safe_load((REPO / "roles" / role / "defaults/main.yml").read_text())["%s_migrate_step" % role]
            return [command] + rm.schema_args(component, step)
    raise AssertionError("no db_migrate task in %s" % path)


def test_the_release_model_holds_the_commands_the_roles_run():
    """One table: the control-plane roles' db_migrate commands equal SCHEMA_SYNC's."""
    files = {"keystone": ["roles/keystone/tasks/migrate.yml"],
             "glance": ["roles/glance/tasks/migrate.yml"],
             "placement": ["roles/placement/tasks/migrate.yml"],
             "nova": ["roles/nova_controller/tasks/_schema_api.yml", "roles/nova_controller/tasks/_schema_cells.yml"],
             "neutron": ["roles/neutron_controller/tasks/migrate.yml"],
             "cinder": ["roles/cinder/tasks/migrate.yml"],
             "ironic": ["roles/ironic/tasks/migrate.yml"]}
    assert sorted(files) == sorted(cat.names(deployable=True))
    for name, paths in files.items():
        model = [[s["command"]] + s["args"] for s in rm.schema_sync_steps(name, "2025.1")]
        assert [_role_argv(p, name) for p in paths] == model, name


def test_the_plan_prints_the_same_commands():
    assert rm._migrate_commands("nova", rm.get_release("2024.1")) == [
        "nova-manage api_db sync", "nova-manage db sync", "nova-manage db online_data_migrations"]
    assert rm._migrate_commands("neutron", rm.get_release("2024.1")) == ["neutron-db-manage upgrade heads"]
    assert rm._migrate_commands("ironic", rm.get_release("2025.1")) == [
        "ironic-dbsync upgrade", "ironic-dbsync online_data_migrations"]
