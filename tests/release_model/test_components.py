"""plugins/module_utils/components.py and the filter stackhop.upgrade.component_facts: one
catalogue of components, read by every role that used to keep a table of its own."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.stackhop.upgrade.plugins.filter.component_facts import component_facts
from ansible_collections.stackhop.upgrade.plugins.module_utils import components as cat
from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm
from ansible_collections.stackhop.upgrade.plugins.module_utils import smoke

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_every_entry_has_every_field_and_the_order_names_each_once():
    assert sorted(cat.ORDER) == sorted(cat.CATALOGUE)
    for name, entry in cat.CATALOGUE.items():
        assert set(entry) == set(cat.FIELDS), name
        assert entry["primary_units"] and set(entry["primary_units"]) <= set(entry["units"]), name
        assert isinstance(entry["port"], int) and entry["databases"], name


def test_the_roles_named_exist_and_every_component_has_one():
    for name, entry in cat.CATALOGUE.items():
        if entry["role"]:
            assert (REPO / "roles" / entry["role"] / "tasks" / "main.yml").is_file(), name
    assert cat.names(deployable=True) == ["keystone", "glance", "placement", "nova", "neutron", "cinder", "ironic"]


def test_the_release_model_and_the_smoke_test_read_the_catalogue():
    # the values the release model and the smoke test held before the catalogue
    assert rm.DATABASES["nova"] == ("nova_api", "nova", "nova_cell0")
    assert rm.PIP_NAMES["placement"] == "openstack-placement"
    assert rm.DEFAULT_COMPONENT_ORDER == cat.ORDER == rm.COMPONENTS
    assert smoke.COMPONENTS == ["keystone", "glance", "placement", "nova", "neutron", "cinder", "ironic"]
    assert smoke.SERVICE_TYPES["cinder"] == "block-storage"
    assert smoke.API_PATHS == {"identity": "/v3", "image": "", "placement": "", "compute": "/v2.1",
                               "network": "", "block-storage": "/v3/%(project_id)s", "baremetal": ""}


def test_views_api_endpoint_and_log_scan():
    api = cat.facts("all", "api")
    assert list(api) == list(cat.ORDER)
    assert api["keystone"] == {"port": 5000, "path": "/v3"} and api["nova"] == {"port": 8774, "path": "/"}
    assert cat.facts(["nova"], "endpoint") == {"nova": {"port": 8774, "path": "/v2.1"}}
    scan = cat.facts(["neutron", "nova"], "log_scan")
    assert list(scan) == ["neutron", "nova"]
    assert scan["nova"]["units"] == ["nova-api", "nova-conductor", "nova-scheduler", "nova-api-metadata",
                                     "nova-novncproxy", "nova-spicehtml5proxy", "nova-serialproxy", "nova-compute"]
    # the server's units of every release, then the agents, the OVS agent once
    assert scan["neutron"]["units"] == ["neutron-server", "neutron-api", "neutron-rpc-server",
                                        "neutron-periodic-workers", "neutron-openvswitch-agent",
                                        "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent"]


def test_flat_lists_every_value_once_in_the_components_order():
    assert cat.facts("all", "databases", flat=True) == [
        "keystone", "glance", "placement", "nova_api", "nova", "nova_cell0", "neutron", "cinder", "ironic"]
    assert cat.facts("all", "package", flat=True)[2] == "openstack-placement"
    # empty values are left out; a unit two components list is there once
    assert cat.facts(["keystone", "nova", "neutron"], "compute_units", flat=True) == [
        "nova-compute", "neutron-openvswitch-agent"]
    assert component_facts(["nova", "neutron"], "compute_units", flat=True) == [
        "nova-compute", "neutron-openvswitch-agent"]


def test_config_dir_and_the_state_outside_it_are_what_a_backup_archives():
    assert cat.facts("all", "config_dir", flat=True) == [
        "/etc/keystone", "/etc/glance", "/etc/placement", "/etc/nova", "/etc/neutron", "/etc/cinder", "/etc/ironic"]
    # keystone's keys are in /etc/keystone, archived with it
    assert cat.facts("all", "state_dirs_outside_config", flat=True) == [
        "/var/lib/glance/images", "/tftpboot", "/var/lib/ironic/images", "/var/lib/ironic/master_images"]


def test_backup_preflight_and_the_compute_playbooks_hold_no_copy_of_the_catalogue():
    """Their defaults are the catalogue's (a component added there is backed up and
    version-checked): no database, package, config or state directory, unit or port."""
    units, ports = _literals()
    literals = set(cat.facts("all", "databases", flat=True)) | set(cat.facts("all", "config_dir", flat=True)) \
        | set(cat.facts("all", "state_dirs", flat=True)) | set(cat.facts("all", "package", flat=True))
    found = []
    for path in [REPO / "roles" / "backup" / "defaults" / "main.yml",
                 REPO / "roles" / "preflight" / "defaults" / "main.yml",
                 REPO / "playbooks" / "upgrade_computes.yml", REPO / "playbooks" / "rollback_computes.yml"]:
        text = path.read_text()
        found += ["%s: %s" % (path.relative_to(REPO), v) for v in copies_in(text, units, ports)]
        for value in _scalars(yaml.safe_load(text)):
            if isinstance(value, list):
                continue
            if isinstance(value, str) and value in literals - set(cat.ORDER):
                found.append("%s: %s" % (path.relative_to(REPO), value))
        # a list of databases or packages written out (component names alone are not facts)
        found += ["%s: %s" % (path.relative_to(REPO), m) for m in re.findall(
            r"^\s*-\s*(nova_api|nova_cell0|openstack-placement|/etc/\w+|/var/lib/\S+)\s*$", text, re.M)]
    assert not found, found


def test_facts_are_copies():
    got = cat.facts(["nova"], "units")
    got["nova"].append("nova-appended-by-a-caller")
    assert "nova-appended-by-a-caller" not in cat.CATALOGUE["nova"]["units"]


def test_the_filter_all_deployable_and_one_sentence_errors():
    assert list(component_facts("all", "role", deployable=True)) == cat.names(deployable=True)
    assert component_facts(["glance"], "port") == {"glance": 9292}
    with pytest.raises(AnsibleFilterError, match=r"^Unknown component 'swift': use one of keystone, .*ironic\.$"):
        component_facts(["swift"], "units")
    with pytest.raises(AnsibleFilterError, match=r"^Unknown component field 'unit': use one of "):
        component_facts(["nova"], "unit")
    with pytest.raises(AnsibleFilterError, match="a list of names or 'all'"):
        component_facts("nova", "units")


# The roles that act on several components keep no table of their own: no unit name and
# no API port of a component as a value in their vars, defaults or tasks (a whole scalar,
# an item of a Jinja list, a port: value). Names, messages and labels may mention them.
CROSS_COMPONENT_ROLES = ["control_plane", "rollback", "api_probe", "endpoint_switch", "verify", "preflight"]


def _literals():
    # (a unit named like its component, keystone, cannot be told from the name)
    units = {u for e in cat.CATALOGUE.values()
             for u in e["units"] + e["agent_units"] + e["compute_units"] + e["service_records"]}
    units -= set(cat.CATALOGUE)
    ports = {e["port"] for e in cat.CATALOGUE.values()}
    return units, ports


def _scalars(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in ("name", "msg", "fail_msg", "success_msg", "label"):
                yield from _scalars(value)
    elif isinstance(node, list):
        for item in node:
            yield from _scalars(item)
    else:
        yield node


def copies_in(text, units, ports):
    found = []
    for value in _scalars(yaml.safe_load(text)):
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and value in ports or isinstance(value, str) and value in units:
            found.append(value)
        elif isinstance(value, str):
            for items in re.findall(r"\[([^\[\]]*)\]", value):
                found += [u for u in re.findall(r"['\"]([\w-]+)['\"]", items) if u in units]
            found += [int(p) for p in re.findall(r"port['\"]?\s*:\s*(\d+)", value) if int(p) in ports]
    return found


def test_copies_in_finds_values_not_prose():
    units, ports = _literals()
    assert copies_in("a: [nova-api, x]\nb: 8774\nc: \"{{ x in ['cinder-volume'] }}\"\n"
                     "d: \"{{ {'port': 9696} }}\"\n", units, ports) == ["nova-api", 8774, "cinder-volume", 9696]
    assert copies_in("- name: Stop nova-api on 8774\n  debug: {msg: nova-conductor}\n"
                     "  vars: {x: \"{{ {'name': 'neutron-server'} }}\"}\n", units, ports) == []


@pytest.mark.parametrize("role", CROSS_COMPONENT_ROLES)
def test_cross_component_roles_hold_no_copy_of_the_catalogue(role):
    units, ports = _literals()
    found = []
    for sub in ("vars", "defaults", "tasks"):
        for path in sorted((REPO / "roles" / role / sub).glob("*.yml")):
            found += ["%s: %s" % (path.relative_to(REPO), v) for v in copies_in(path.read_text(), units, ports)]
    assert not found, found


def test_removed_list_items_the_target_no_longer_accepts():
    from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm
    key = ("filter_scheduler", "enabled_filters")
    assert "AvailabilityZoneFilter" in rm.removed_list_items("nova", "2024.1")[key]
    assert "AvailabilityZoneFilter" in rm.removed_list_items("nova", "bobcat")[key]
    # a target before the removal keeps it; other components have none
    assert rm.removed_list_items("nova", "2023.1") == {}
    assert rm.removed_list_items("neutron", "2024.1") == {}


def test_root_helper_view_is_debians_rootwrap_for_what_runs_something_as_root():
    helpers = cat.facts(["keystone", "neutron", "nova"], "root_helper")
    assert helpers["keystone"] is None
    assert helpers["neutron"] == {
        "user": "neutron", "rootwrap": "neutron-rootwrap", "conf": "/etc/neutron/rootwrap.conf",
        "filters_dir": "/etc/neutron/rootwrap.d", "command": "sudo neutron-rootwrap /etc/neutron/rootwrap.conf",
        "sudoers": "/etc/sudoers.d/stackhop-neutron"}
    assert helpers["nova"]["command"] == "sudo nova-rootwrap /etc/nova/rootwrap.conf"


@pytest.mark.parametrize("role", CROSS_COMPONENT_ROLES)
def test_cross_component_roles_hold_no_config_file_or_revision_folder_of_the_catalogue(role):
    """The files a component's commands read and its alembic folders are the catalogue's."""
    literals = set()
    for entry in cat.CATALOGUE.values():
        literals.update(entry["config_files"])
        for dirs in entry["revision_dirs"].values():
            literals.update(dirs)
    found = []
    for sub in ("vars", "defaults", "tasks"):
        for path in sorted((REPO / "roles" / role / sub).glob("*.yml")):
            text = path.read_text()
            found += ["%s: %s" % (path.relative_to(REPO), v) for v in sorted(literals) if v in text]
    assert not found, found


def test_config_file_is_the_first_of_config_files():
    files = cat.facts("all", "config_files")
    assert cat.facts("all", "config_file") == {name: paths[0] for name, paths in files.items()}
    assert files["neutron"] == ["/etc/neutron/neutron.conf", "/etc/neutron/plugins/ml2/ml2_conf.ini"]
    assert set(cat.facts(["nova"], "revision_dirs")["nova"]) == {"nova_api", "nova", "nova_cell0"}


def _units_a_role_runs(role_dir):
    """The literal unit names a component role gives service_unit: ``service_unit_name``
    values, the ``name`` of each ``{name, exec}`` entry of its services lists, and the
    literal lists of its ``*_units`` variables."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            name = node.get("service_unit_name")
            if isinstance(name, str) and "{{" not in name:
                found.add(name)
            if "exec" in node and isinstance(node.get("name"), str):
                found.add(node["name"])
            for key, value in node.items():
                if str(key).endswith("_units") and isinstance(value, list) \
                        and all(isinstance(v, str) and "{{" not in v for v in value):
                    found.update(value)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((role_dir / "tasks").glob("*.yml")) + sorted((role_dir / "vars").glob("*.yml")):
        walk(yaml.safe_load(path.read_text()))
    return found


# one-shot units, not services: nothing of the upgrade stops, moves or reads them
ONE_SHOT_UNITS = {"neutron-ovs-cleanup"}


def test_every_unit_a_component_role_runs_is_in_the_catalogue():
    """The roles that run a component's services name only units the catalogue lists for
    it (the cross-component roles find them there: the upgrade stops, moves and scans
    those), so a unit added to a role without the catalogue fails here."""
    roles = {entry["role"]: name for name, entry in cat.CATALOGUE.items() if entry["role"]}
    roles.update({"nova_compute": "nova", "neutron_compute": "neutron"})
    for role, component in sorted(roles.items()):
        entry = cat.CATALOGUE[component]
        known = set(entry["units"]) | set(entry["agent_units"]) | set(entry["compute_units"]) | ONE_SHOT_UNITS
        units = _units_a_role_runs(REPO / "roles" / role)
        assert units, role
        assert units <= known, "%s runs %s, which the catalogue's %s entry does not list" % (
            role, sorted(units - known), component)
