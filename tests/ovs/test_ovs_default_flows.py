"""stackhop.upgrade.ovs_default_flows on a real (private) Open vSwitch, through Ansible.

br-int's pipeline as a 2024.1 agent leaves it (table 0 -> 58 -> 60 NORMAL), then the
flow mods a 2025.1 agent sends when it starts, in its order (58 -> 59 before 59 -> 60):
after each one, ofproto/trace tells whether a VM's packet still leaves the bridge.
Without the module the packet is dropped between two of them; with it, never.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.needs_root

VERSIONS = "OpenFlow10,OpenFlow13"
OLD_AGENT = 0x3DDB92C4682C0EBC
NEW_AGENT = 0xBDCCCD73CE2CF3A9
OURS = 0x737461636B686F70
PIPELINE_2024_1 = [
    "cookie=%#x,table=0,priority=0,actions=goto_table:58" % OLD_AGENT,
    "cookie=%#x,table=58,priority=0,actions=goto_table:60" % OLD_AGENT,
    "cookie=%#x,table=60,priority=3,actions=NORMAL" % OLD_AGENT,
]
# what neutron 26's br_int.setup_default_table sends first, in its order
AGENT_2025_1 = [
    "cookie=%#x,table=0,priority=0,actions=goto_table:58" % NEW_AGENT,
    "cookie=%#x,table=58,priority=0,actions=goto_table:59" % NEW_AGENT,
    "cookie=%#x,table=59,priority=0,actions=goto_table:60" % NEW_AGENT,
    "cookie=%#x,table=60,priority=1,actions=NORMAL" % NEW_AGENT,
]
TABLE_59 = [{"table": 59, "priority": 0, "actions": "goto_table:60"}]
PACKET = "in_port=1,dl_src=fa:16:3e:28:f6:87,dl_dst=fa:16:3e:00:00:02,dl_type=0x0800"


def make_br_int(ovs, name):
    ovs.add_bridge(name, protocols=VERSIONS.split(","))
    for port in ("vm", "uplink"):
        ovs.vsctl("add-port", name, "%s-%s" % (name, port), "--", "set", "Interface",
                  "%s-%s" % (name, port), "type=internal")
    ovs.ofctl("-O", VERSIONS, "del-flows", ovs.mgmt(name))
    for line in PIPELINE_2024_1:
        ovs.ofctl("-O", VERSIONS, "add-flow", ovs.mgmt(name), line)
    return name


def forwards(ovs, bridge):
    """True when the VM's packet leaves the bridge (ofproto/trace's datapath actions)."""
    out = ovs.appctl("ofproto/trace", bridge, PACKET)
    actions = [line for line in out.splitlines() if line.startswith("Datapath actions:")]
    assert actions, out
    return actions[-1].split(":", 1)[1].strip() != "drop"


def table_59(ovs, bridge):
    out = ovs.ofctl("-O", VERSIONS, "--no-stats", "dump-flows", ovs.mgmt(bridge), "table=59")
    return [line.strip() for line in out.splitlines() if "actions=" in line]


def agent_starts(ovs, bridge):
    """The new agent's flow mods one by one; whether the packet left after each."""
    seen = []
    for line in AGENT_2025_1:
        ovs.ofctl("-O", VERSIONS, "add-flow", ovs.mgmt(bridge), line)
        seen.append(forwards(ovs, bridge))
    return seen


def run(ansible_module, ovs, bridge, check=False, diff=False, **extra):
    args = {"ovs_rundir": str(ovs.rundir), "bridge": bridge}
    args.update(extra)
    return ansible_module("ovs_default_flows", args, check=check, diff=diff)


def test_without_the_table_the_new_agent_drops_packets_between_two_flow_mods(private_ovs):
    br = make_br_int(private_ovs, "dfnone")
    assert forwards(private_ovs, br)
    assert agent_starts(private_ovs, br) == [True, False, True, True]


def test_with_the_table_every_packet_leaves_and_the_agent_takes_the_flow_over(
        private_ovs, ansible_module):
    br = make_br_int(private_ovs, "dfprime")
    res = run(ansible_module, private_ovs, br, flows=TABLE_59, diff=True)
    assert not res.failed, res.get("msg")
    assert res["changed"] is True
    assert res["added"] == ["table=59,priority=0,cookie=%#x,actions=goto_table:60" % OURS]
    assert "goto_table:60" in res["diff"]["after"]
    assert any("--bundle" in c for c in res["executed_commands"])
    assert table_59(private_ovs, br) and "cookie=%#x" % OURS in table_59(private_ovs, br)[0]

    again = run(ansible_module, private_ovs, br, flows=TABLE_59)
    assert again["changed"] is False and again["present"] == ["table=59,priority=0"]

    assert agent_starts(private_ovs, br) == [True, True, True, True]
    # the agent's identical flow replaced the module's: nothing of ours is left
    assert "cookie=%#x" % NEW_AGENT in table_59(private_ovs, br)[0]
    gone = run(ansible_module, private_ovs, br, state="absent")
    assert gone["changed"] is False and gone["deleted"] == []


def test_check_mode_changes_nothing_and_absent_removes_what_was_added(
        private_ovs, ansible_module):
    br = make_br_int(private_ovs, "dfcheck")
    res = run(ansible_module, private_ovs, br, flows=TABLE_59, check=True)
    assert res["changed"] is True and len(res["added"]) == 1
    assert table_59(private_ovs, br) == []

    assert run(ansible_module, private_ovs, br, flows=TABLE_59)["changed"] is True
    res = run(ansible_module, private_ovs, br, state="absent")
    assert res["changed"] is True and len(res["deleted"]) == 1
    assert table_59(private_ovs, br) == []
    assert forwards(private_ovs, br)


def test_a_missing_bridge_fails_naming_it(private_ovs, ansible_module):
    res = run(ansible_module, private_ovs, "dfnosuch", flows=TABLE_59)
    assert res.failed and "Bridge dfnosuch not found" in res["msg"]


def test_an_openflow10_only_bridge_is_refused(private_ovs, ansible_module):
    private_ovs.add_bridge("dfof10", protocols=["OpenFlow10"])
    res = run(ansible_module, private_ovs, "dfof10", flows=TABLE_59)
    assert res.failed and "allow OpenFlow13" in res["msg"]
