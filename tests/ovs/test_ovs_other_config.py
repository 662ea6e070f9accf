"""ovs_other_config against a real (private) Open vSwitch, run through ansible-playbook."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.needs_root

NET_VLAN = "2c4f7a40-9a3c-4c4e-8e3a-5b7c1c0e9d11"
NET_VXLAN = "9a0c1d2e-3f40-4b5c-8d6e-7f8091a2b3c4"
NET_FLAT = "0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3"


def other_config(ovs, port):
    out = ovs.vsctl("--format=json", "--data=json", "--columns=other_config",
                    "list", "Port", port)
    data = json.loads(out)["data"][0][0]
    assert data[0] == "map"
    return dict(data[1])


def db_snapshot(ovs):
    return ovs.vsctl("--format=json", "--data=json", "--columns=name,tag,other_config",
                     "list", "Port")


@pytest.fixture()
def bridge(private_ovs):
    """br-int with four VM-like ports, re-made for every test."""
    ovs = private_ovs
    ovs.vsctl("--if-exists", "del-br", "br-int")
    ovs.add_bridge("br-int")
    for name, tag, iface_id in (("qvo-a", 1, "11111111-1111-4111-8111-111111111111"),
                                ("qvo-b", 2, "22222222-2222-4222-8222-222222222222"),
                                ("qvo-c", 3, "33333333-3333-4333-8333-333333333333"),
                                ("qvo-u", None, "44444444-4444-4444-8444-444444444444")):
        ovs.vsctl("add-port", "br-int", name, "--", "set", "Interface", name, "type=internal",
                  "external_ids:iface-id=%s" % iface_id,
                  "external_ids:attached-mac=fa:16:3e:00:00:0%s" % name[-1])
        if tag:
            ovs.vsctl("set", "Port", name, "tag=%d" % tag)
    # a partly-set port: an unrelated key the agent or an operator put there
    ovs.vsctl("set", "Port", "qvo-c", "other_config:operator-note=keep-me")
    return ovs


def ports_arg():
    return [
        {"name": "qvo-a", "net_uuid": NET_VLAN, "network_type": "vlan",
         "physical_network": "physnet1", "segmentation_id": 101},
        {"iface_id": "22222222-2222-4222-8222-222222222222", "net_uuid": NET_VXLAN,
         "network_type": "vxlan", "segmentation_id": 5001},
        {"name": "qvo-c", "net_uuid": NET_FLAT, "network_type": "flat",
         "physical_network": "physnet2"},
        {"name": "qvo-u", "net_uuid": NET_VLAN, "network_type": "vlan",
         "physical_network": "physnet1", "segmentation_id": 101},
    ]


def args(ovs, **extra):
    base = {"ovs_rundir": str(ovs.rundir), "bridge": "br-int", "ports": ports_arg()}
    base.update(extra)
    return base


def test_writes_what_the_agent_reads_and_is_idempotent(bridge, ansible_module):
    res = ansible_module("ovs_other_config", args(bridge))
    assert not res.failed, res
    assert res["changed"] is True
    assert sorted(res["updated"]) == ["qvo-a", "qvo-b", "qvo-c"]
    assert res["untagged"] == ["qvo-u"]
    assert res["missing"] == [] and res["kept"] == []
    # exactly the agent's keys and string formats (neutron port_bound)
    assert other_config(bridge, "qvo-a") == {
        "net_uuid": NET_VLAN, "network_type": "vlan", "physical_network": "physnet1",
        "segmentation_id": "101", "tag": "1"}
    assert other_config(bridge, "qvo-b") == {
        "net_uuid": NET_VXLAN, "network_type": "vxlan", "physical_network": "None",
        "segmentation_id": "5001", "tag": "2"}
    assert other_config(bridge, "qvo-c") == {
        "net_uuid": NET_FLAT, "network_type": "flat", "physical_network": "physnet2",
        "tag": "3", "operator-note": "keep-me"}
    assert other_config(bridge, "qvo-u") == {}
    assert any("ovsdb transact" in c for c in res["executed_commands"])

    again = ansible_module("ovs_other_config", args(bridge))
    assert not again.failed, again
    assert again["changed"] is False
    assert again["updated"] == []
    assert sorted(again["kept"]) == ["qvo-a", "qvo-b", "qvo-c"]


def test_check_mode_writes_nothing_and_reports_the_same(bridge, ansible_module):
    before = db_snapshot(bridge)
    res = ansible_module("ovs_other_config", args(bridge), check=True, diff=True)
    assert not res.failed, res
    assert res["changed"] is True
    assert sorted(res["updated"]) == ["qvo-a", "qvo-b", "qvo-c"]
    assert db_snapshot(bridge) == before
    assert res["diff"]["before"]["qvo-c"] == {"operator-note": "keep-me"}
    assert res["diff"]["after"]["qvo-a"]["segmentation_id"] == "101"


def test_diff_shows_per_port_before_and_after(bridge, ansible_module):
    res = ansible_module("ovs_other_config", args(bridge), diff=True)
    assert set(res["diff"]["after"]) == {"qvo-a", "qvo-b", "qvo-c"}
    assert res["diff"]["after"]["qvo-b"]["tag"] == "2"
    no_diff = ansible_module("ovs_other_config", args(bridge))
    assert "diff" not in no_diff


def test_kept_unless_overwrite(bridge, ansible_module):
    bridge.vsctl("set", "Port", "qvo-a", "other_config:net_uuid=%s" % NET_FLAT,
                 "other_config:network_type=flat")
    res = ansible_module("ovs_other_config", args(bridge))
    assert "qvo-a" in res["kept"]
    assert other_config(bridge, "qvo-a")["net_uuid"] == NET_FLAT
    res = ansible_module("ovs_other_config", args(bridge, overwrite=True))
    assert "qvo-a" in res["updated"]
    assert other_config(bridge, "qvo-a")["net_uuid"] == NET_VLAN


def test_missing_port_reported_or_strict_error(bridge, ansible_module):
    ports = ports_arg() + [{"name": "qvo-gone", "net_uuid": NET_VLAN, "network_type": "vlan",
                            "physical_network": "physnet1", "segmentation_id": 7}]
    res = ansible_module("ovs_other_config", args(bridge, ports=ports))
    assert not res.failed
    assert res["missing"] == ["qvo-gone"]
    bridge.vsctl("clear", "Port", "qvo-a", "other_config")
    before = db_snapshot(bridge)
    res = ansible_module("ovs_other_config", args(bridge, ports=ports, strict=True))
    assert res.failed
    assert "qvo-gone" in res["msg"] and "br-int" in res["msg"]
    assert db_snapshot(bridge) == before


@pytest.mark.parametrize("bad, words", [
    ({"network_type": "token-ring"}, ["qvo-a", "network_type"]),
    ({"segmentation_id": 4095}, ["qvo-a", "segmentation_id", "4094"]),
    ({"network_type": "vxlan", "physical_network": None, "segmentation_id": 16777216},
     ["qvo-a", "segmentation_id", "16777215"]),
    ({"physical_network": None}, ["qvo-a", "physical_network"]),
    ({"net_uuid": "not-a-uuid"}, ["qvo-a", "net_uuid"]),
    ({"iface_id": "22222222-2222-4222-8222-222222222222"}, ["qvo-a", "qvo-b", "iface_id"]),
])
def test_bad_input_fails_before_anything_is_written(bridge, ansible_module, bad, words):
    ports = ports_arg()
    ports[0] = {k: v for k, v in dict(ports[0], **bad).items() if v is not None}
    before = db_snapshot(bridge)
    res = ansible_module("ovs_other_config", args(bridge, ports=ports))
    assert res.failed
    for word in words:
        assert word in res["msg"], res["msg"]
    assert db_snapshot(bridge) == before


def test_missing_bridge_and_missing_database(bridge, ansible_module, tmp_path):
    res = ansible_module("ovs_other_config", args(bridge, bridge="br-nope"))
    assert res.failed and "br-nope" in res["msg"]
    res = ansible_module("ovs_other_config", args(bridge, ovs_rundir=str(tmp_path)))
    assert res.failed and "db.sock" in res["msg"]
