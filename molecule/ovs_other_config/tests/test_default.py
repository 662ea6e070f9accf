"""Verify ovs_other_config on the lab hosts' own Open vSwitch (testinfra, over SSH)."""

import json

testinfra_hosts = ["ansible://computes"]

NET_VLAN = "2c4f7a40-9a3c-4c4e-8e3a-5b7c1c0e9d11"
NET_VXLAN = "9a0c1d2e-3f40-4b5c-8d6e-7f8091a2b3c4"
NET_FLAT = "0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3"


def ports(host):
    out = host.check_output(
        "ovs-vsctl --format=json --data=json --columns=name,other_config list Port")
    rows = json.loads(out)["data"]
    return {name: dict(other[1]) for name, other in rows}


def test_each_host_has_its_own_ovs(host):
    system_id = host.check_output("ovs-vsctl get Open_vSwitch . external_ids:system-id")
    assert system_id.strip('"') == host.check_output("hostname")


def test_vlan_port_described(host):
    assert ports(host)["qvo-a"] == {
        "net_uuid": NET_VLAN, "network_type": "vlan", "physical_network": "physnet1",
        "segmentation_id": "101", "tag": "1"}


def test_port_found_by_iface_id(host):
    assert ports(host)["qvo-b"] == {
        "net_uuid": NET_VXLAN, "network_type": "vxlan", "physical_network": "None",
        "segmentation_id": "5001", "tag": "2"}


def test_other_keys_kept(host):
    assert ports(host)["qvo-c"] == {
        "net_uuid": NET_FLAT, "network_type": "flat", "physical_network": "physnet2",
        "tag": "3", "operator-note": "keep-me"}


def test_untagged_port_left_alone(host):
    assert ports(host)["qvo-u"] == {}
