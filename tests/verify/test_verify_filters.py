"""The verify role's pure parts: the inventory comparison filter and the log scanner."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from ansible_collections.stackhop.upgrade.plugins.filter.verify import (
    inventory_diff,
    log_scan_hits,
    log_scan_table,
)

SCAN = Path(__file__).resolve().parents[2] / "roles" / "verify" / "files" / "log_scan.py"

SERVER = {"id": "s1", "name": "vm1", "status": "ACTIVE", "project_id": "p", "compute_host": "cmp1",
          "availability_zone": "az1", "image": {"id": "i1"},
          "flavor": {"original_name": "m1.tiny", "vcpus": 1},
          "addresses": {"net": [{"addr": "192.168.100.51", "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}]},
          "power_state": 1, "updated_at": "x"}


def test_equal_inventories_and_fields_that_may_change():
    after = [dict(SERVER, power_state=4, updated_at="y", flavor={"original_name": "m1.tiny", "vcpus": 2})]
    assert inventory_diff(after, [SERVER], "servers") == []


def test_missing_new_and_changed_servers_are_named():
    other = dict(SERVER, id="s2", name="vm2")
    after = [dict(SERVER, status="ERROR"), dict(SERVER, id="s3", name="vm3")]
    diffs = inventory_diff(after, [SERVER, other], "servers")
    assert "1 servers missing (s2 vm2)" in diffs
    assert "1 servers new (s3 vm3)" in diffs
    assert any("s1 vm1: status ACTIVE -> ERROR" in d for d in diffs)
    assert inventory_diff(after, [SERVER, other], "servers", allow_new=True)[-1].startswith("1 fields")


def test_addresses_and_image_are_compared_by_value():
    moved = dict(SERVER, addresses={"net": [{"addr": "192.168.100.99",
                                             "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}]})
    assert any("addresses" in d for d in inventory_diff([moved], [SERVER], "servers"))
    assert inventory_diff([dict(SERVER, image="i1")], [SERVER], "servers") == []


def test_host_fields_may_follow_a_moved_node():
    port = {"id": "pt", "network_id": "n", "mac_address": "m", "fixed_ips": [{"ip_address": "1.1.1.1"}],
            "device_id": "d", "device_owner": "network:router_interface", "binding_host_id": "ctl-old",
            "status": "ACTIVE"}
    moved = dict(port, binding_host_id="ctl-new")
    assert inventory_diff([moved], [port], "ports") != []
    assert inventory_diff([moved], [port], "ports", {"ctl-old": "ctl-new"}) == []
    # DHCP ports are exempt: rebound or recreated when the DHCP agent moves
    dhcp = dict(port, id="dh", device_owner="network:dhcp")
    assert inventory_diff([moved, dict(dhcp, id="dh2")], [port, dhcp], "ports", {"ctl-old": "ctl-new"}) == []


def test_agents_keyed_by_type_and_host():
    before = [{"ID": "a1", "Agent Type": "DHCP agent", "Host": "ctl-old", "Alive": True, "State": True},
              {"ID": "a2", "Agent Type": "Open vSwitch agent", "Host": "cmp1", "Alive": True, "State": True},
              {"ID": "a3", "Agent Type": "Open vSwitch agent", "Host": "cmp2", "Alive": False, "State": True}]
    after = [{"ID": "a1", "Agent Type": "DHCP agent", "Host": "ctl-old", "Alive": False, "State": True},
             {"ID": "a4", "Agent Type": "DHCP agent", "Host": "ctl-new", "Alive": True, "State": True},
             {"ID": "a2", "Agent Type": "Open vSwitch agent", "Host": "cmp1", "Alive": False, "State": True},
             {"ID": "a3", "Agent Type": "Open vSwitch agent", "Host": "cmp2", "Alive": False, "State": True}]
    diffs = inventory_diff(after, before, "agents", {"ctl-old": "ctl-new"})
    # cmp1's agent died; the DHCP agent moved and is alive; cmp2's was already dead
    assert diffs == ["1 fields of agents changed (Open vSwitch agent@cmp1: alive True -> False)"]
    # without the move, ctl-old's dead DHCP agent counts too
    assert inventory_diff(after, before, "agents")[0].startswith("2 fields")
    # the moved agent must be alive on the new node
    after[1]["Alive"] = False
    diffs = inventory_diff(after, before, "agents", {"ctl-old": "ctl-new"})
    assert "DHCP agent@ctl-new: alive True -> False" in diffs[0]


def test_volumes_and_networks():
    vol = {"id": "v", "name": "data", "status": "in-use", "size": 1, "volume_type": "lvm",
           "is_bootable": False, "attachments": [{"server_id": "s1"}], "project_id": "p"}
    assert inventory_diff([dict(vol, attachments=[])], [vol], "volumes")[0].startswith("1 fields")
    net = {"id": "n", "name": "provider", "status": "ACTIVE", "provider_network_type": "vlan",
           "provider_physical_network": "physnet1", "provider_segmentation_id": 100,
           "subnet_ids": ["b", "a"], "is_shared": False, "is_router_external": False, "mtu": 1500,
           "project_id": "p"}
    assert inventory_diff([dict(net, subnet_ids=["a", "b"])], [net], "networks") == []
    assert "provider_segmentation_id 100 -> 101" in inventory_diff(
        [dict(net, provider_segmentation_id=101)], [net], "networks")[0]


def _scan(tmp_path, since, *lines):
    log = tmp_path / "nova" / "nova-api.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text("\n".join(lines) + "\n")
    out = subprocess.run([sys.executable, str(SCAN), "--since", str(since),
                          "--service", "nova=%s/nova/*.log" % tmp_path,
                          "--service", "glance=%s/glance/*.log" % tmp_path],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_log_scan_counts_since_the_start(tmp_path):
    old = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 3600))
    new = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 10))
    scan = _scan(tmp_path, time.time() - 600,
                 old + ".100 12 ERROR nova.api [-] an error before the upgrade",
                 new + ".100 12 WARNING oslo_config.cfg [-] Option \"foo\" from group \"DEFAULT\" is deprecated.",
                 new + ".200 12 ERROR nova.api [-] Unexpected exception",
                 "Traceback (most recent call last):",
                 '  File "x.py", line 1, in <module>',
                 new + ".300 12 CRITICAL nova [-] boom",
                 new + ".400 12 INFO nova.api [-] fine")
    nova = scan["services"]["nova"]
    assert (nova["deprecations"], nova["errors"], nova["critical"], nova["tracebacks"]) == (1, 1, 1, 1)
    assert nova["deprecation_examples"] == ['WARNING oslo_config.cfg [-] Option "foo" from group '
                                            '"DEFAULT" is deprecated.']
    assert "glance" not in scan["services"]          # no file, no unit: not listed
    table = log_scan_table({"ctl": scan})
    assert "| ctl | nova | 1 | 1 | 1 | 1 |" in table
    assert log_scan_hits({"ctl": scan}, ["critical", "errors"]) == ["1 critical (ctl/nova)",
                                                                    "1 errors (ctl/nova)"]
    assert log_scan_hits({"ctl": scan}, []) == []


def test_log_scan_accepts_iso_since(tmp_path):
    new = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 10))
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600))
    scan = _scan(tmp_path, iso, new + ".1 1 ERROR x [-] y")
    assert scan["services"]["nova"]["errors"] == 1
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
    assert _scan(tmp_path, future, new + ".1 1 ERROR x [-] y")["services"]["nova"]["errors"] == 0
