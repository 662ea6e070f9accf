"""stackhop.upgrade.conntrack_zone_keep through ansible-playbook, on real iptables and OVS.

A private Open vSwitch (own netns, see tests/conftest.py) carries a br-int with qvo ports
whose ``external_ids:iface-id`` are neutron port UUIDs; the same netns holds the raw table
an iptables_hybrid agent writes (zone rules on tap and qvb devices, one stateless port, one
port without any rule: kilo's zone 0). The module runs inside that netns, so the root
namespace's firewall is never touched.

``agent_zone_map`` and ``agent_lookup`` re-state what neutron's OVS agent does with the raw
table when it starts (neutron/agent/linux/ip_conntrack.py in 2024.1, 2025.1 and 2025.2:
``_populate_initial_zone_map`` keys by the device name minus 3 characters,
``_device_key`` looks up the port UUID minus 3 characters, 11 characters long). The real
agent is exercised on the lab region (tests/lab/test_compute_upgrade.py).
"""

from __future__ import annotations

import re

import pytest

from tests.lib.nsansible import run_module_in_netns

pytestmark = pytest.mark.needs_root

PORTS = {
    "cae84d15-e726-44a7-a7d4-694bff79c967": ("tap", 4097),      # the agent's rule on tap
    "5f0c2d1e-93ab-4c1d-8e7f-0a1b2c3d4e5f": ("qvb", 4100),      # only on qvb
    "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d": (None, 0),          # kilo: no rule, zone 0
    "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b": ("notrack", None),  # port security off
}
AGENT_RE = re.compile(r".* --physdev-in (?P<dev>[a-zA-Z0-9\-]+).* -j CT --zone (?P<zone>\d+).*")


def agent_zone_map(raw_lines):
    zones = {}
    for line in raw_lines:
        m = AGENT_RE.match(line)
        if m:
            zones[m.group("dev")[3:]] = int(m.group("zone"))
    return zones


def agent_lookup(zone_map, port_id):
    return zone_map.get(port_id[3:][:11])


class Setup:
    def __init__(self, ovs):
        self.ovs = ovs
        self.ns = ovs.netns_name

    def sh(self, *argv):
        return self.ovs._run(*argv, netns=True)

    def raw(self):
        return [ln for ln in self.sh("/usr/sbin/iptables-save", "-t", "raw").splitlines()
                if ln.startswith("-A")]

    def run(self, check=False, diff=False, **kw):
        args = {"ovs_rundir": str(self.ovs.rundir)}
        args.update(kw)
        return run_module_in_netns(self.ns, "conntrack_zone_keep", args, check=check, diff=diff)


@pytest.fixture(scope="module")
def setup(private_ovs):
    s = Setup(private_ovs)
    private_ovs.vsctl("--may-exist", "add-br", "br-int", "--", "set", "Bridge", "br-int",
                      "datapath_type=netdev")
    s.sh("ip", "link", "add", "cmzkqbr", "type", "bridge")    # physdev needs a bridge
    s.sh("iptables", "-t", "raw", "-N", "neutron-openvswi-PREROUTING")
    s.sh("iptables", "-t", "raw", "-A", "PREROUTING", "-j", "neutron-openvswi-PREROUTING")
    for port_id, (kind, zone) in PORTS.items():
        short = port_id[:11]
        private_ovs.vsctl("add-port", "br-int", "qvo" + short, "--", "set", "Interface",
                          "qvo" + short, "type=internal",
                          "external_ids:iface-id=%s" % port_id,
                          "external_ids:attached-mac=fa:16:3e:00:00:01")
        if kind in ("tap", "qvb"):
            s.sh("iptables", "-t", "raw", "-A", "neutron-openvswi-PREROUTING", "-m", "physdev",
                 "--physdev-in", kind + short, "-m", "comment", "--comment",
                 "Set zone for %s" % port_id, "-j", "CT", "--zone", str(zone))
        elif kind == "notrack":
            s.sh("iptables", "-t", "raw", "-A", "neutron-openvswi-PREROUTING", "-m", "physdev",
                 "--physdev-in", "tap" + short, "-j", "CT", "--notrack")
    # A port on br-int that is not a VM port, and one without iface-id: ignored.
    private_ovs.vsctl("add-port", "br-int", "int-br-cmzk", "--", "set", "Interface",
                      "int-br-cmzk", "type=internal")
    return s


def test_before_the_agent_cannot_find_any_zone(setup):
    """The neutron bug itself: the zones are in the table, the agent's lookup misses them."""
    zone_map = agent_zone_map(setup.raw())
    assert zone_map["cae84d15-e7"] == 4097
    for port_id in PORTS:
        assert agent_lookup(zone_map, port_id) is None


def test_hints_make_the_agent_find_every_zone_and_second_run_is_noop(setup):
    check = setup.run(check=True, diff=True)
    assert not check.failed, check.get("msg")
    assert check["changed"] is True
    assert not [ln for ln in setup.raw() if "stackhop-zone-keep" in ln]

    res = setup.run(diff=True)
    assert not res.failed, res.get("msg")
    assert res["changed"] is True
    want = {p: z for p, (kind, z) in PORTS.items() if kind != "notrack"}
    assert res["hints"] == want
    assert res["stateless"] == ["9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"]
    assert sorted(res["added"]) == sorted(want)
    assert res["diff"][0]["before"] == ""
    hints = [ln for ln in setup.raw() if "stackhop-zone-keep" in ln]
    assert len(hints) == 3
    assert all(ln.startswith("-A stackhop-zone-keep ") for ln in hints)
    # Nothing jumps to the chain: the hints never see a packet.
    assert not [ln for ln in setup.raw() if ln.endswith("-j stackhop-zone-keep")]
    restores = [c for c in res["executed_commands"] if "iptables-restore" in c]
    assert restores == ["/usr/sbin/iptables-restore --noflush"]

    zone_map = agent_zone_map(setup.raw())
    assert agent_lookup(zone_map, "cae84d15-e726-44a7-a7d4-694bff79c967") == 4097
    assert agent_lookup(zone_map, "5f0c2d1e-93ab-4c1d-8e7f-0a1b2c3d4e5f") == 4100
    # Zone 0 is printed as a bare "-j CT": the agent needs conntrack_zone_pin's wrapper.
    zero = [ln for ln in hints if "0a1b2c3d-4e5" in ln][0]
    assert zero.endswith("-j CT") and agent_lookup(zone_map, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d") is None
    assert agent_lookup(agent_zone_map([zero + " --zone 0"]),
                        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d") == 0

    again = setup.run()
    assert not again.failed and again["changed"] is False and again["added"] == []


def test_zone_change_and_removed_port_update_the_hints(setup):
    setup.run()
    port = "5f0c2d1e-93ab-4c1d-8e7f-0a1b2c3d4e5f"
    setup.sh("iptables", "-t", "raw", "-R", "neutron-openvswi-PREROUTING", "1", "-m", "physdev",
             "--physdev-in", "tapcae84d15-e7", "-m", "comment", "--comment", "moved", "-j", "CT",
             "--zone", "4200")
    setup.ovs.vsctl("del-port", "br-int", "qvo" + port[:11])
    res = setup.run()
    assert not res.failed, res.get("msg")
    assert res["changed"] is True
    assert res["hints"]["cae84d15-e726-44a7-a7d4-694bff79c967"] == 4200
    assert port not in res["hints"]
    assert sorted(res["removed"]) == sorted([port[:14], "cae84d15-e726-"])
    zone_map = agent_zone_map(setup.raw())
    assert agent_lookup(zone_map, "cae84d15-e726-44a7-a7d4-694bff79c967") == 4200
    assert agent_lookup(zone_map, port) is None


def test_bad_chain_is_refused(setup):
    before = setup.raw()
    res = setup.run(chain="neutron-openvswi-PREROUTING")
    assert res.failed and "chain of its own" in res["msg"]
    assert setup.raw() == before


def test_absent_removes_every_hint_and_the_chain(setup):
    setup.run()
    res = setup.run(state="absent")
    assert not res.failed, res.get("msg")
    assert res["changed"] is True
    out = setup.sh("/usr/sbin/iptables-save", "-t", "raw")
    assert "stackhop-zone-keep" not in out
    assert "neutron-openvswi-PREROUTING" in out
