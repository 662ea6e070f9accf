"""The region/AZ selection filters (scope_select, in_scope) on hand-made and real inventories."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

from ansible_collections.stackhop.upgrade.plugins.filter.scope import SENTINEL, in_scope, scope_select

REPO = Path(__file__).resolve().parents[2]


def load(inventory):
    """groups and hostvars as a play sees them (inventory and group_vars only)."""
    loader = DataLoader()
    inv = InventoryManager(loader=loader, sources=[str(inventory)])
    var_manager = VariableManager(loader=loader, inventory=inv)
    groups = {name: [h.name for h in group.get_hosts()] for name, group in inv.groups.items()}
    groups["all"] = [h.name for h in inv.get_hosts("all")]
    hostvars = {h.name: var_manager.get_vars(host=h, include_hostvars=False) for h in inv.get_hosts("all")}
    return groups, hostvars


@pytest.fixture(scope="module")
def example():
    return load(REPO / "inventories" / "example")


@pytest.fixture(scope="module")
def lab():
    return load(REPO / "lab" / "inventory" / "hosts.yml")


def dc1(example):
    groups = example[0]
    return [h for h in groups["all"] if h.endswith(".dc1.example.com")]


def test_region_selects_exactly_its_hosts(example):
    groups, hostvars = example
    scope = scope_select(groups, hostvars, region="dc1")
    assert scope["region"] == "dc1" and scope["az"] is None
    assert scope["hosts"] == dc1(example)
    assert scope["regions"] == ["dc1", "dc2"] and scope["azs"] == ["vlan1", "vxlan1"]
    # the shared keystone has no region: in no region's scope
    assert not [h for h in scope["hosts"] if "global" in h]


def test_az_selects_that_azs_computes_and_the_region_wide_hosts(example):
    groups, hostvars = example
    scope = scope_select(groups, hostvars, region="dc2", az="vlan2")
    assert scope["az"] == "vlan2"
    assert sorted(scope["hosts"]) == sorted(["ctl1.dc2.example.com", "ctl2.dc2.example.com",
                                             "cmp109.dc2.example.com", "cmp110.dc2.example.com",
                                             "cmp111.dc2.example.com"])


def test_several_regions_and_no_selector_is_refused(example):
    groups, hostvars = example
    with pytest.raises(AnsibleFilterError, match=r"^The inventory has 2 regions \(dc1, dc2\): "
                                                 r"choose one with -e stackhop_select_region=NAME\.$"):
        scope_select(groups, hostvars)
    # an AZ alone does not say which region's vlan1
    with pytest.raises(AnsibleFilterError, match="2 regions"):
        scope_select(groups, hostvars, az="vlan1")


def test_limit_to_one_region_selects_it(example):
    groups, hostvars = example
    limit = groups["dc1"] + ["keystone1.global.example.com", "localhost"]
    assert scope_select(groups, hostvars, limit=limit)["hosts"] == dc1(example)
    with pytest.raises(AnsibleFilterError, match=r"hosts of --limit are in 2 regions \(dc1, dc2\)"):
        scope_select(groups, hostvars, limit=groups["dc1_vlan1"] + groups["dc2_vlan1"])
    # a limit to controller-side hosts only narrows nothing
    with pytest.raises(AnsibleFilterError, match="The inventory has 2 regions"):
        scope_select(groups, hostvars, limit=["localhost"])
    with pytest.raises(AnsibleFilterError, match=r"^--limit leaves no host of region dc1: "):
        scope_select(groups, hostvars, region="dc1", limit=groups["dc2"])


def test_unknown_region_and_az_are_refused(example):
    groups, hostvars = example
    with pytest.raises(AnsibleFilterError, match=r"^Region nowhere is not in the inventory: use one of "
                                                 r"dc1, dc2 \(the stackhop_region values\)\.$"):
        scope_select(groups, hostvars, region="nowhere")
    with pytest.raises(AnsibleFilterError, match=r"^No compute of region dc1 is in AZ vlan2: use one of "
                                                 r"vlan1, vxlan1 \(the stackhop_az values\)\.$"):
        scope_select(groups, hostvars, region="dc1", az="vlan2")


def test_whole_region_playbook_refuses_an_az(example):
    groups, hostvars = example
    with pytest.raises(AnsibleFilterError, match=r"^upgrade_control_plane\.yml acts on region dc1 as a whole: "
                                                 r"drop -e stackhop_select_az=vlan1 "):
        scope_select(groups, hostvars, region="dc1", az="vlan1", whole_region="upgrade_control_plane.yml")
    # without an AZ it selects the region
    assert scope_select(groups, hostvars, region="dc1", whole_region="backup.yml")["hosts"] == dc1(example)


@pytest.mark.parametrize("name,value,sentence", [
    ("stackhop_region", "dc1", "-e stackhop_region overrides every host's own region; "
                               "select a region with -e stackhop_select_region=dc1."),
    ("stackhop_az", "az1", "-e stackhop_az overrides every host's own availability zone; "
                           "select an AZ with -e stackhop_select_az=az1."),
    ("stackhop_aggregate", "rack1", "-e stackhop_aggregate overrides every host's own aggregate; "
                                    "select its hosts with --limit <region>_<az>_rack1."),
])
def test_layout_vars_from_extra_vars_are_refused(example, name, value, sentence):
    groups, hostvars = example
    layout = {"stackhop_region": SENTINEL, "stackhop_az": SENTINEL, "stackhop_aggregate": SENTINEL}
    assert scope_select(groups, hostvars, region="dc1", layout_vars=layout)["region"] == "dc1"
    layout[name] = value
    with pytest.raises(AnsibleFilterError) as err:
        scope_select(groups, hostvars, region="dc1", layout_vars=layout)
    assert str(err.value) == sentence
    assert scope_select(groups, hostvars, region="dc1", layout_vars=layout, on_error="return") == {"error": sentence}


def test_lab_one_region_no_selector_is_every_host(lab):
    groups, hostvars = lab
    scope = scope_select(groups, hostvars)
    assert scope["region"] == "RegionOne"
    assert sorted(scope["hosts"]) == ["cmp1", "cmp2", "ctl-new", "ctl-old"]
    az1 = scope_select(groups, hostvars, az="az1")["hosts"]
    assert sorted(az1) == ["cmp1", "ctl-new", "ctl-old"]


def test_inventory_without_regions_selects_every_host():
    groups = {"all": ["localhost", "db1"], "stackhop_db": ["db1"]}
    hostvars = {"localhost": {}, "db1": {}}
    scope = scope_select(groups, hostvars, limit=["localhost"])
    assert scope["region"] is None and scope["hosts"] == ["localhost", "db1"]
    with pytest.raises(AnsibleFilterError, match="no host sets stackhop_region"):
        scope_select(groups, hostvars, region="dc1")


def test_in_scope_keeps_order_and_falls_back_without_a_scope_group():
    hosts = ["ctl1.dc2", "ctl1.dc1"]
    assert in_scope(hosts, {"all": hosts, "stackhop_scope": ["ctl1.dc1"]}) == ["ctl1.dc1"]
    assert in_scope(hosts, {"all": hosts}) == hosts
    assert in_scope(None, {"all": []}) == []


def test_control_endpoints_of_the_run_region():
    from ansible_collections.stackhop.upgrade.plugins.filter.scope import control_endpoints
    groups = {"stackhop_controllers": ["ctl", "ctl-dc2"], "stackhop_rabbitmq": ["ctl"],
              "stackhop_scope": ["ctl", "cmp1"]}
    hostvars = {"ctl": {"ansible_host": "10.20.0.11"}, "ctl-dc2": {"ansible_host": "10.30.0.11"}}
    # no service address (a packaged region): the region's controllers and RabbitMQ hosts
    assert control_endpoints(groups, hostvars, {}, "", 9696) == [
        {"name": "neutron-server", "host": "10.20.0.11", "port": 9696},
        {"name": "rabbitmq", "host": "10.20.0.11", "port": 5672}]
    # the service addresses win
    assert control_endpoints(groups, hostvars, {"neutron": "10.20.0.100"}, "10.20.0.50") == [
        {"name": "neutron-server", "host": "10.20.0.100", "port": 9696},
        {"name": "rabbitmq", "host": "10.20.0.50", "port": 5672}]


# --- The keystone several regions share (issue 22 part 3) --------------------------------
def test_a_region_shares_the_keystone_of_no_region(example, lab):
    groups, hostvars = example
    assert scope_select(groups, hostvars, region="dc1")["shared"] == ["keystone"]
    # the lab region runs its own keystone: nothing shared
    assert scope_select(*lab)["shared"] == []


def test_the_keystone_tier_is_its_hosts_in_the_runs_role_groups(example):
    groups, hostvars = example
    scope = scope_select(groups, hostvars, tier="keystone")
    ks = ["keystone1.global.example.com", "keystone2.global.example.com"]
    assert scope["hosts"] == ks + ["lb1.global.example.com"] and scope["tier"] == "keystone"
    assert scope["role_groups"] == {"stackhop_controllers": ks, "stackhop_db": ks[:1],
                                    "stackhop_lb": ["lb1.global.example.com"]}
    assert scope["settings"] == {"stackhop_components": ["keystone"], "stackhop_control_plane_strategy": "rolling"}
    assert scope_select(groups, hostvars, tier="keystone", keystone_strategy="in_place")["settings"][
        "stackhop_control_plane_strategy"] == "in_place"


@pytest.mark.parametrize("change,kwargs,sentence", [
    (None, {"region": "dc1"}, "The shared keystone is in no region: drop -e stackhop_select_region"),
    (None, {"keystone_strategy": "blue_green"},
     "The shared keystone is upgraded in place or rolling, not blue_green: set stackhop_keystone_strategy"),
    ("no_lb", {"keystone_strategy": "rolling"},
     "A rolling upgrade of the shared keystone needs two hosts or more in stackhop_keystone and their load"
     " balancer in stackhop_keystone_lb"),
    ("in_region", {}, "keystone1.global.example.com of stackhop_keystone is in region dc1: a keystone that"
                      " regions share belongs to none"),
    ("none", {}, "The inventory has no host in stackhop_keystone: a keystone no other region shares is"
                 " upgraded with its region by upgrade_region.yml."),
])
def test_the_keystone_tier_refusals(example, change, kwargs, sentence):
    groups, hostvars = dict(example[0]), dict(example[1])
    if change == "no_lb":
        groups["stackhop_keystone_lb"] = []
    elif change == "in_region":
        hostvars["keystone1.global.example.com"] = dict(hostvars["keystone1.global.example.com"], stackhop_region="dc1")
    elif change == "none":
        groups["stackhop_keystone"] = []
    with pytest.raises(AnsibleFilterError) as err:
        scope_select(groups, hostvars, tier="keystone", **kwargs)
    assert sentence in str(err.value)
    assert scope_select(groups, hostvars, tier="keystone", on_error="return", **kwargs) == {"error": str(err.value)}
