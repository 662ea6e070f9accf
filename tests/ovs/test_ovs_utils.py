"""Pure-Python parts of the OVS client and ovs_other_config's validation."""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import ovs
from ansible_collections.stackhop.upgrade.plugins.modules import ovs_other_config as m


def test_from_ovsdb_converts_maps_sets_and_uuids():
    assert ovs.from_ovsdb(["map", [["a", "1"], ["b", "2"]]]) == {"a": "1", "b": "2"}
    assert ovs.from_ovsdb(["set", []]) == []
    assert ovs.from_ovsdb(["set", [1, 2]]) == [1, 2]
    assert ovs.from_ovsdb(["uuid", "u-1"]) == "u-1"
    assert ovs.from_ovsdb(7) == 7
    assert ovs.optional([]) is None
    assert ovs.optional([5]) == 5
    assert ovs.optional(5) == 5


def test_to_ovsdb_map_is_sorted_strings():
    assert ovs.to_ovsdb_map({"b": 2, "a": "x"}) == ["map", [["a", "x"], ["b", "2"]]]


def test_ofctl_protocol_args():
    assert ovs.ofctl_protocol_args([]) == []
    assert ovs.ofctl_protocol_args(["OpenFlow13", "OpenFlow10"]) == ["-O", "OpenFlow10,OpenFlow13"]


BASE = {"name": "qvo1", "net_uuid": "2c4f7a40-9a3c-4c4e-8e3a-5b7c1c0e9d11"}


@pytest.mark.parametrize("spec, error", [
    (dict(BASE, network_type="vlan", physical_network="p", segmentation_id=1), None),
    (dict(BASE, network_type="vlan", physical_network="p", segmentation_id=4094), None),
    (dict(BASE, network_type="vlan", physical_network="p", segmentation_id=0), "segmentation_id"),
    (dict(BASE, network_type="vxlan", segmentation_id=16777215), None),
    (dict(BASE, network_type="geneve", segmentation_id=16777216), "segmentation_id"),
    (dict(BASE, network_type="gre", segmentation_id=4294967295), None),
    (dict(BASE, network_type="flat", physical_network="p"), None),
    (dict(BASE, network_type="flat", physical_network="p", segmentation_id=3), "segmentation_id"),
    (dict(BASE, network_type="local"), None),
    (dict(BASE, network_type="vxlan", physical_network="p", segmentation_id=3), "physical_network"),
    (dict(BASE, network_type="ib"), "network_type"),
    ({"net_uuid": BASE["net_uuid"], "network_type": "local"}, "neither name nor iface_id"),
])
def test_validate_spec(spec, error):
    result = m.validate_spec(spec)
    if error is None:
        assert result is None
    else:
        assert error in result


def test_wanted_other_config_matches_agent_formats():
    want = m.wanted_other_config(dict(BASE, network_type="vxlan", segmentation_id=9), 4)
    assert want == {"net_uuid": BASE["net_uuid"], "network_type": "vxlan",
                    "physical_network": "None", "segmentation_id": "9", "tag": "4"}
    flat = m.wanted_other_config(dict(BASE, network_type="flat", physical_network="p"), 1)
    assert "segmentation_id" not in flat
