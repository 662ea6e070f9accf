"""The lab region with N computes (issue 21 part 1): lab/labctl.py fleet-inventory's
inventory, checked without making a lab: the default layout unchanged, group membership
as Ansible reads it, AZs and racks spread evenly, the VMs pinned to every compute."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
import yaml

from lab.labctl import (FLEET_MAX_COMPUTES, LabError, fleet_inventory, fleet_layout, fleet_shape,
                        load_inventory_data, plan)
from tests.lib.ansible_runner import REPO, VENV, ansible_env

SOURCE = REPO / "lab" / "inventory" / "hosts.yml"


def source():
    return yaml.safe_load(SOURCE.read_text())


def computes_of(data):
    hosts, groups = load_inventory_data(data)
    return {h: v for h, v in hosts.items() if v.get("stackhop_az")}, groups


def test_two_computes_one_vm_each_is_the_default_lab_exactly():
    assert fleet_inventory(source(), 2) == source()


@pytest.mark.parametrize("n, azs, racks", [(2, 2, 1), (8, 2, 2), (16, 4, 2), (32, 4, 2), (1, 1, 1)])
def test_azs_and_racks_derived_from_the_size(n, azs, racks):
    assert fleet_shape(n) == (azs, racks)


@pytest.mark.parametrize("n", [8, 16, 32, 13])
def test_spread_over_azs_and_racks(n):
    computes, groups = computes_of(fleet_inventory(source(), n))
    assert sorted(computes, key=lambda h: int(h[3:])) == ["cmp%d" % i for i in range(1, n + 1)]
    per_az = Counter(v["stackhop_az"] for v in computes.values())
    assert max(per_az.values()) - min(per_az.values()) <= 1, per_az
    racks = {}
    for name, hv in computes.items():
        racks.setdefault(hv["stackhop_aggregate"], set()).add(hv["stackhop_az"])
        # every compute is a real lab host like cmp1: its own OVS on the VLAN trunk
        assert hv["lab_provider"] is True and hv["lab_ovs"] is True and hv["lab_systemd"] is True
    assert all(len(azs) == 1 for azs in racks.values()), racks      # a rack is in one AZ
    rack_sizes = Counter(v["stackhop_aggregate"] for v in computes.values())
    assert max(rack_sizes.values()) - min(rack_sizes.values()) <= 1, rack_sizes
    # cmp1 and cmp2 where the default lab has them (the probe's vm1 and vm2)
    assert (computes["cmp1"]["stackhop_az"], computes["cmp2"]["stackhop_az"]) == ("az1", "az2")
    # addresses: the default lab's .21 onwards, one each
    assert [computes["cmp%d" % i]["ansible_host"] for i in (1, n)] == ["10.20.0.21", "10.20.0.%d" % (20 + n)]
    assert len({v["ansible_host"] for v in computes.values()}) == n
    assert set(groups["lab"]) >= set(computes)


def test_thirty_two_computes_as_ansible_reads_them(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(fleet_inventory(source(), 32, vms_per_compute=3)))
    # as lab-up.sh writes it: the lab's group_vars next to it (its all/ beats file group vars)
    (tmp_path / "group_vars").symlink_to(REPO / "lab" / "inventory" / "group_vars")
    out = json.loads(subprocess.run(
        [str(VENV / "bin" / "ansible-inventory"), "-i", str(inv), "--list"], env=ansible_env(),
        capture_output=True, text=True, check=True).stdout)

    def members(group):
        return set(out.get(group, {}).get("hosts", [])) | {
            h for child in out.get(group, {}).get("children", []) for h in members(child)}
    assert len(members("stackhop_computes")) == 32
    assert members("stackhop_controllers") == {"ctl-old"} and members("stackhop_controllers_new") == {"ctl-new"}
    assert [len(members("lab_az%d" % a)) for a in range(1, 5)] == [8, 8, 8, 8]
    assert sorted(members("lab_az1")) == sorted("cmp%d" % i for i in range(1, 33, 4))
    racks = {g: members(g) for g in out if g.startswith("lab_az") and "_rack" in g}
    assert sorted(racks) == ["lab_az%d_rack%d" % (a, r) for a in range(1, 5) for r in (2 * a - 1, 2 * a)]
    assert {len(m) for m in racks.values()} == {4}
    hv = out["_meta"]["hostvars"]
    assert hv["cmp32"]["stackhop_az"] == "az4" and hv["cmp32"]["stackhop_aggregate"] == "rack8"
    assert hv["cmp5"]["stackhop_region"] == "RegionOne"
    # the computes' own venv (lab/inventory/group_vars/stackhop_computes.yml)
    assert hv["cmp5"]["openstack_install_components_wanted"] == ["nova", "neutron"]
    # neutron-server logs its RPC replies' times, with room for every VM's port
    over = hv["ctl-old"]["neutron_controller_neutron_conf_overrides"]
    assert "oslo_messaging=DEBUG" in over["DEFAULT"]["default_log_levels"]
    assert over["quotas"]["quota_port"] >= 32 * 3 + 50
    # a compute keeps the lab's (group_vars/all), which no neutron-server reads there
    assert "default_log_levels" not in hv["cmp5"]["neutron_controller_neutron_conf_overrides"]["DEFAULT"]


def test_the_fleet_keeps_the_labs_neutron_overrides():
    """The controllers' host vars hide group_vars/all's: the lab's (DHCP lease) stay in them."""
    out = fleet_inventory(source(), 8, vms_per_compute=3, neutron_overrides={
        "quotas": {"quota_port": 200}, "DEFAULT": {"dhcp_lease_duration": 120}})
    over = out["all"]["children"]["stackhop_controllers"]["hosts"]["ctl-old"]["neutron_controller_neutron_conf_overrides"]
    assert over["DEFAULT"]["dhcp_lease_duration"] == 120
    assert over["quotas"]["quota_port"] == 200 and "oslo_messaging=DEBUG" in over["DEFAULT"]["default_log_levels"]


def test_labctl_accepts_the_fleet(tmp_path):
    """labctl's own checks (one network, an address each) pass on the largest fleet."""
    inv = tmp_path / "hosts.yml"
    data = fleet_inventory(source(), FLEET_MAX_COMPUTES)
    data["all"]["vars"]["lab_name"] = "fleet"
    inv.write_text(yaml.safe_dump(data))
    p = plan("fleet", inv)
    ips = [h["ip"] for h in p["hosts"]]
    assert len(ips) == FLEET_MAX_COMPUTES + 2 and len(set(ips)) == len(ips)
    assert "10.20.0.100" in ips     # the last compute, below the service addresses (.101-)


def test_vms_pinned_to_every_compute():
    data = fleet_inventory(source(), 8, vms_per_compute=3)
    servers = data["all"]["vars"]["lab_vm_servers"]
    assert len(servers) == 24 and len({s["name"] for s in servers}) == 24
    per_host = Counter(s["az"].split(":")[1] for s in servers)
    assert per_host == {"cmp%d" % i: 3 for i in range(1, 9)}
    by_name = {s["name"]: s for s in servers}
    assert by_name["vm1"]["az"] == "az1:cmp1" and by_name["vm2"]["az"] == "az2:cmp2"
    assert by_name["vm-cmp7-3"]["az"] == "az1:cmp7"
    # each VM's AZ is its compute's
    computes, _groups = computes_of(data)
    assert all(s["az"].split(":")[0] == computes[s["az"].split(":")[1]]["stackhop_az"] for s in servers)
    assert data["all"]["vars"]["lab_vm_ping_targets"] == ["vm1"]


@pytest.mark.parametrize("n, vms, message", [
    (0, 1, "--computes 0 is out of range; give 1 to 80 computes"),
    (81, 1, "--computes 81 is out of range"),
    (32, 5, "32 computes with 5 VMs each is 160 VMs; give 1 or more VMs a compute and at most 140"),
    (4, 0, "give 1 or more VMs a compute"),
])
def test_sizes_out_of_range_are_refused(n, vms, message):
    with pytest.raises(LabError, match=message.replace("(", r"\(")):
        fleet_inventory(source(), n, vms_per_compute=vms)


def test_an_inventory_without_the_lab_region_groups_is_refused():
    with pytest.raises(LabError, match="use the lab region's lab/inventory/hosts.yml"):
        fleet_inventory({"all": {"children": {"computes": {"hosts": {"c1": {"ansible_host": "10.1.0.5"}}}}}}, 4)


def test_fleet_inventory_command_writes_the_labs_connection_vars(tmp_path):
    out = tmp_path / "fleet" / "hosts.yml"
    proc = subprocess.run([sys.executable, str(REPO / "lab" / "labctl.py"), "fleet-inventory", "--lab", "fleet",
                           "--computes", "16", "--vms-per-compute", "2", "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.startswith("# generated by lab/labctl.py fleet-inventory") and "16 computes in 4 AZs" in text
    data = yaml.safe_load(text)
    assert data["all"]["vars"]["lab_name"] == "fleet"
    assert "ip netns exec fleet-sw socat" in data["all"]["vars"]["ansible_ssh_common_args"]
    assert len(computes_of(data)[0]) == 16 and len(data["all"]["vars"]["lab_vm_servers"]) == 32
    bad = subprocess.run([sys.executable, str(REPO / "lab" / "labctl.py"), "fleet-inventory", "--lab", "fleet",
                          "--computes", "99", "--out", str(out)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("labctl: --computes 99 is out of range")


def test_layout_round_robin_and_contiguous_racks():
    layout = {c["name"]: (c["az"], c["rack"]) for c in fleet_layout(8)}
    assert layout == {"cmp1": (1, 1), "cmp3": (1, 1), "cmp5": (1, 2), "cmp7": (1, 2),
                      "cmp2": (2, 3), "cmp4": (2, 3), "cmp6": (2, 4), "cmp8": (2, 4)}
