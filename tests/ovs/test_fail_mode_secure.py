"""stackhop.upgrade.fail_mode_secure on a real (private) Open vSwitch, through Ansible.

Every test runs the module with ansible-playbook against an ovs-vswitchd started by the
``private_ovs`` fixture (own rundir and network namespace, userspace datapath) and
checks the bridge with ovs-ofctl / ovs-vsctl afterwards. Nothing is mocked.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.lib.bridge_traffic import VmPair

pytestmark = pytest.mark.needs_root

ALL_VERSIONS = "OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15"

# Several tables, priorities, cookies, timeouts and flags, ending in NORMAL.
FLOWS = [
    "table=0,priority=300,cookie=0x11,arp,actions=NORMAL",
    "table=0,priority=200,cookie=0x12,ip,actions=resubmit(,10)",
    "table=0,priority=100,cookie=0x13,dl_type=0x86dd,actions=drop",
    "table=0,priority=0,cookie=0x14,actions=resubmit(,20)",
    "table=10,priority=100,cookie=0x21,icmp,actions=resubmit(,20)",
    "table=10,priority=50,cookie=0x22,idle_timeout=3600,send_flow_rem,ip,actions=resubmit(,20)",
    "table=20,priority=10,cookie=0x31,actions=NORMAL",
]


def ofctl_args(protocols):
    return ["-O", ",".join(protocols) if protocols else ALL_VERSIONS]


def make_bridge(ovs, name, protocols=None, flows=tuple(FLOWS), fail_mode=None):
    ovs.add_bridge(name, protocols=protocols, fail_mode=fail_mode)
    if flows is not None:
        ovs.ofctl(*ofctl_args(protocols), "del-flows", ovs.mgmt(name))
        for flow in flows:
            ovs.ofctl(*ofctl_args(protocols), "add-flow", ovs.mgmt(name), flow)
    return name


def dump(ovs, name, protocols=None):
    """The bridge's flows without statistics, sorted, as a list of lines."""
    out = ovs.ofctl(*ofctl_args(protocols), "--no-stats", "--no-names", "dump-flows",
                    ovs.mgmt(name))
    return sorted(line.strip() for line in out.splitlines() if "actions=" in line)


def fail_mode(ovs, name):
    return ovs.vsctl("get-fail-mode", name).strip()


def run(ansible_module, ovs, bridges, backup_dir, check=False, diff=False, **extra):
    args = {"ovs_rundir": str(ovs.rundir), "bridges": bridges, "backup_dir": str(backup_dir)}
    args.update(extra)
    return ansible_module("fail_mode_secure", args, check=check, diff=diff)


@pytest.fixture
def backup_dir(tmp_path):
    return tmp_path / "flows"


def test_standalone_to_secure_keeps_every_flow_and_second_run_is_noop(
        private_ovs, ansible_module, backup_dir):
    br = make_bridge(private_ovs, "fmkeep")
    before = dump(private_ovs, br)
    assert len(before) == len(FLOWS)

    res = run(ansible_module, private_ovs, [br], backup_dir)
    assert not res.failed, res.get("msg")
    assert res["changed"] is True
    info = res["bridges"][br]
    assert info["previous_fail_mode"] == "standalone"
    assert info["flows_saved"] == len(FLOWS) == info["flows_restored"]
    assert fail_mode(private_ovs, br) == "secure"
    assert dump(private_ovs, br) == before
    # The backup holds exactly the flows, in add-flows syntax.
    backup = Path(info["backup_file"])
    assert backup.parent == backup_dir
    saved = sorted(line for line in backup.read_text().splitlines()
                   if line and not line.startswith("#"))
    assert saved == before
    assert list(backup_dir.iterdir()) == [backup]   # no temporary or ordered file left
    assert res["ovsdb_transactions"] == ["%s: fail_mode=secure" % br]
    assert any("dump-flows" in c for c in res["executed_commands"])

    again = run(ansible_module, private_ovs, [br], backup_dir)
    assert not again.failed, again.get("msg")
    assert again["changed"] is False
    assert again["bridges"][br]["backup_file"] is None
    assert again["ovsdb_transactions"] == []
    assert dump(private_ovs, br) == before


def test_already_secure_is_untouched(private_ovs, ansible_module, backup_dir):
    br = make_bridge(private_ovs, "fmsec", fail_mode="secure")
    before = dump(private_ovs, br)
    res = run(ansible_module, private_ovs, [br], backup_dir)
    assert not res.failed, res.get("msg")
    assert res["changed"] is False
    assert res["bridges"][br]["previous_fail_mode"] == "secure"
    assert res["executed_commands"] == []
    assert not backup_dir.exists()
    assert dump(private_ovs, br) == before


def test_openflow13_only_bridge(private_ovs, ansible_module, backup_dir):
    protocols = ["OpenFlow13"]
    flows = FLOWS + ["table=5,priority=7,cookie=0x51,actions=goto_table:20"]
    br = make_bridge(private_ovs, "fmof13", protocols=protocols, flows=flows)
    before = dump(private_ovs, br, protocols)
    res = run(ansible_module, private_ovs, [br], backup_dir)
    assert not res.failed, res.get("msg")
    assert res["bridges"][br]["flows_restored"] == len(flows)
    assert fail_mode(private_ovs, br) == "secure"
    assert dump(private_ovs, br, protocols) == before
    # OpenFlow10 was added for the relay and the original value written back.
    assert private_ovs.vsctl("get", "Bridge", br, "protocols").strip() == "[OpenFlow13]"
    assert res["ovsdb_transactions"] == [
        "%s: protocols+=OpenFlow10" % br, "%s: fail_mode=secure" % br,
        "%s: protocols restored" % br]


def test_bridge_with_a_controller_is_switched_without_the_relay(
        private_ovs, ansible_module, backup_dir):
    """With a primary controller OVS does not flush on a fail-mode change
    (connmgr_set_fail_mode), so the module only switches and verifies."""
    br = make_bridge(private_ovs, "fmctl", flows=None)
    # Adding the first controller flushes the flows itself, so load them afterwards.
    private_ovs.vsctl("set-controller", br, "tcp:127.0.0.1:6999")   # nobody listens
    make_bridge(private_ovs, br)
    before = dump(private_ovs, br)
    assert len(before) == len(FLOWS)
    res = run(ansible_module, private_ovs, [br], backup_dir)
    assert not res.failed, res.get("msg")
    assert "relay" not in res["bridges"][br]
    assert res["bridges"][br]["flows_restored"] == len(FLOWS)
    assert fail_mode(private_ovs, br) == "secure"
    assert dump(private_ovs, br) == before


def test_missing_bridge_changes_nothing(private_ovs, ansible_module, backup_dir):
    good = make_bridge(private_ovs, "fmgood")
    before = dump(private_ovs, good)
    res = run(ansible_module, private_ovs, [good, "fmnosuch"], backup_dir)
    assert res.failed
    assert "fmnosuch" in res["msg"] and "Nothing was changed" in res["msg"]
    assert fail_mode(private_ovs, good) == ""
    assert dump(private_ovs, good) == before
    assert not backup_dir.exists()


@pytest.mark.parametrize("kind", ["group", "meter"])
def test_bridge_with_groups_or_meters_is_refused_before_anything_changes(
        private_ovs, ansible_module, backup_dir, kind):
    """The fail-mode flush deletes groups and meters too; the module does not restore
    them, so it refuses such a bridge up front."""
    grp = make_bridge(private_ovs, "fm" + kind, flows=["priority=0,actions=NORMAL"])
    if kind == "group":
        private_ovs.ofctl("-O", "OpenFlow13", "add-group", private_ovs.mgmt(grp),
                          "group_id=1,type=all,bucket=actions=NORMAL")
    else:
        private_ovs.ofctl("-O", "OpenFlow13", "add-meter", private_ovs.mgmt(grp),
                          "meter=1,kbps,band=type=drop,rate=1000")
    other = make_bridge(private_ovs, "fm%sok" % kind)
    res = run(ansible_module, private_ovs, [other, grp], backup_dir)
    assert res.failed
    assert "Bridge %s has 1 OpenFlow group(s)/meter(s)" % grp in res["msg"]
    assert fail_mode(private_ovs, grp) == "" and fail_mode(private_ovs, other) == ""
    assert not backup_dir.exists()


def test_check_mode_and_diff_change_nothing(private_ovs, ansible_module, backup_dir):
    br = make_bridge(private_ovs, "fmcheck")
    before = dump(private_ovs, br)
    res = run(ansible_module, private_ovs, [br], backup_dir, check=True, diff=True)
    assert not res.failed, res.get("msg")
    assert res["changed"] is True
    assert res["bridges"][br]["flows_saved"] == len(FLOWS)
    assert res["bridges"][br]["backup_file"] is None
    assert res["diff"] == {"before": {br: {"fail_mode": "standalone", "flows": len(FLOWS)}},
                           "after": {br: {"fail_mode": "secure", "flows": len(FLOWS)}}}
    assert res["ovsdb_transactions"] == []
    assert fail_mode(private_ovs, br) == ""
    assert dump(private_ovs, br) == before
    assert not backup_dir.exists()


def test_diff_reports_fail_mode_and_flow_count(private_ovs, ansible_module, backup_dir):
    br = make_bridge(private_ovs, "fmdiff")
    res = run(ansible_module, private_ovs, [br], backup_dir, diff=True)
    assert not res.failed, res.get("msg")
    assert res["diff"] == {"before": {br: {"fail_mode": "standalone", "flows": len(FLOWS)}},
                           "after": {br: {"fail_mode": "secure", "flows": len(FLOWS)}}}


def test_restore_impossible_fails_naming_bridge_and_file(
        private_ovs, ansible_module, backup_dir):
    """A real refusal, no mock: table 0 is limited to 2 flows with overflow_policy=refuse
    after 4 flows are in it. OVS keeps the existing 4, but after the flush it accepts only
    2 of them back, so both restores fail and the module must say where the flows are."""
    flows = ["priority=%d,cookie=0x%x,in_port=%d,actions=NORMAL" % (10 + i, i, i + 1)
             for i in range(4)]
    br = make_bridge(private_ovs, "fmfull", flows=flows)
    private_ovs.vsctl("--", "--id=@ft", "create", "Flow_Table", "flow_limit=2",
                      "overflow_policy=refuse", "--", "set", "Bridge", br,
                      "flow_tables:0=@ft")
    time.sleep(0.2)
    assert len(dump(private_ovs, br)) == 4
    res = run(ansible_module, private_ovs, [br], backup_dir)
    assert res.failed
    assert br in res["msg"]
    backup = res["backup_file"]
    assert backup in res["msg"]
    saved = [line for line in Path(backup).read_text().splitlines()
             if line and not line.startswith("#")]
    assert len(saved) == 4
    # Both attempts ran: the first restore, then replace-flows from the file.
    restores = [c for c in res["executed_commands"] if "replace-flows" in c or "add-flows" in c]
    assert len(restores) == 2


@pytest.mark.parametrize("protocols", [None, ["OpenFlow13"], ["OpenFlow10"]],
                         ids=["all-versions-bundle", "of13-only", "of10-only-no-bundle"])
def test_traffic_crossing_the_bridge_loses_nothing(
        private_ovs, ansible_module, backup_dir, protocols):
    """500 ICMP echoes/s between two namespaces across the bridge while the module runs."""
    name = {None: "fmtr", "OpenFlow13": "fmtr13", "OpenFlow10": "fmtr10"}[
        protocols[0] if protocols else None]
    br = make_bridge(private_ovs, name, protocols=protocols, flows=None)
    pair = VmPair(private_ovs, br, name).create()
    try:
        pa, pb = pair.ofport("a"), pair.ofport("b")
        flows = FLOWS + [
            # The VM ports get their own high-priority entry point with a cookie each.
            "table=0,priority=400,cookie=0x41,in_port=%d,ip,actions=resubmit(,10)" % pa,
            "table=0,priority=400,cookie=0x42,in_port=%d,ip,actions=resubmit(,10)" % pb,
        ]
        private_ovs.ofctl(*ofctl_args(protocols), "del-flows", private_ovs.mgmt(br))
        for flow in flows:
            private_ovs.ofctl(*ofctl_args(protocols), "add-flow", private_ovs.mgmt(br), flow)
        assert pair.ping_once()
        before = dump(private_ovs, br, protocols)

        probe = pair.start_probe(duration=60)
        time.sleep(1.0)
        res = run(ansible_module, private_ovs, [br], backup_dir)
        time.sleep(1.0)
        figures = pair.finish_probe(probe, stop=True)

        assert not res.failed, res.get("msg")
        assert fail_mode(private_ovs, br) == "secure"
        assert dump(private_ovs, br, protocols) == before
        assert figures["sent"] > 1000
        relay = res["bridges"][br]["relay"]
        print("%s: %s, relay %s" % (name, figures, relay))
        assert figures["lost"] == 0, (figures, relay)
    finally:
        pair.delete()


# -- controllers: the new agent's controller, set under the same relay ----------------
# neutron's OVS agent (native OpenFlow driver, every release since stein) adds
# tcp:127.0.0.1:6633 to each bridge when it starts; on a bridge that has no controller
# (a kilo agent's: ovs-ofctl driver) that alone flushes every flow again. The option sets
# it in the same transaction as the fail mode. Nobody listens on these ports here.
AGENT_CONTROLLER = "tcp:127.0.0.1:6993"


def controllers(ovs, name):
    return sorted(ovs.vsctl("get-controller", name).split())


def test_first_controller_flushes_the_flows(private_ovs):
    """The OVS behaviour the option exists for (connmgr_set_controllers), on a secure
    bridge: adding the first controller empties the flow table."""
    br = make_bridge(private_ovs, "cmfcflush", fail_mode="secure")
    assert len(dump(private_ovs, br)) == len(FLOWS)
    private_ovs.vsctl("set-controller", br, AGENT_CONTROLLER)
    time.sleep(0.3)
    assert dump(private_ovs, br) == []


@pytest.mark.parametrize("start", ["standalone", "secure"])
def test_controllers_added_with_the_flows_kept_and_second_run_is_noop(
        private_ovs, ansible_module, backup_dir, start):
    br = make_bridge(private_ovs, "cmfc" + start[:4],
                     fail_mode="secure" if start == "secure" else None)
    before = dump(private_ovs, br)
    res = run(ansible_module, private_ovs, [br], backup_dir, diff=True,
              controllers=[AGENT_CONTROLLER])
    assert not res.failed, res.get("msg")
    info = res["bridges"][br]
    assert res["changed"] is True and info["changed"] is True
    assert info["controllers_added"] == [AGENT_CONTROLLER]
    assert "relay" in info                       # no controller before: OVS flushed
    assert fail_mode(private_ovs, br) == "secure"
    assert controllers(private_ovs, br) == [AGENT_CONTROLLER]
    ctl_uuid = private_ovs.vsctl("get", "Bridge", br, "controller").strip("[] \n")
    assert private_ovs.vsctl("get", "Controller", ctl_uuid, "connection_mode").strip() == "out-of-band"
    assert dump(private_ovs, br) == before
    label = ("fail_mode=secure, " if start == "standalone" else "") + \
        "controller+=" + AGENT_CONTROLLER
    assert res["ovsdb_transactions"] == ["%s: %s" % (br, label)]
    assert res["diff"]["before"][br]["controllers"] == []
    assert res["diff"]["after"][br]["controllers"] == [AGENT_CONTROLLER]

    # What the agent does next: set-controller only if its target is missing -> nothing.
    again = run(ansible_module, private_ovs, [br], backup_dir, controllers=[AGENT_CONTROLLER])
    assert not again.failed and again["changed"] is False
    assert again["bridges"][br]["controllers_added"] == []
    assert dump(private_ovs, br) == before


def test_bad_controller_target_is_refused_before_anything_changes(
        private_ovs, ansible_module, backup_dir):
    br = make_bridge(private_ovs, "cmfcbad")
    before = dump(private_ovs, br)
    res = run(ansible_module, private_ovs, [br], backup_dir, controllers=["127.0.0.1:6633"])
    assert res.failed
    assert "127.0.0.1:6633" in res["msg"] and "Nothing was changed" in res["msg"]
    assert fail_mode(private_ovs, br) == "" and controllers(private_ovs, br) == []
    assert dump(private_ovs, br) == before


def test_traffic_loses_nothing_when_the_controller_is_added(
        private_ovs, ansible_module, backup_dir):
    """500 ICMP echoes/s across a standalone bridge without controller (a kilo agent's)
    while the module makes it secure and adds the agent's controller: 0 lost."""
    br = make_bridge(private_ovs, "cmfctr", flows=None)
    pair = VmPair(private_ovs, br, "cmfctr").create()
    try:
        pa, pb = pair.ofport("a"), pair.ofport("b")
        flows = FLOWS + [
            "table=0,priority=400,cookie=0x41,in_port=%d,ip,actions=resubmit(,10)" % pa,
            "table=0,priority=400,cookie=0x42,in_port=%d,ip,actions=resubmit(,10)" % pb,
        ]
        private_ovs.ofctl(*ofctl_args(None), "del-flows", private_ovs.mgmt(br))
        for flow in flows:
            private_ovs.ofctl(*ofctl_args(None), "add-flow", private_ovs.mgmt(br), flow)
        assert pair.ping_once()
        before = dump(private_ovs, br)
        probe = pair.start_probe(duration=60)
        time.sleep(1.0)
        res = run(ansible_module, private_ovs, [br], backup_dir, controllers=[AGENT_CONTROLLER])
        time.sleep(1.0)
        figures = pair.finish_probe(probe, stop=True)
        assert not res.failed, res.get("msg")
        assert controllers(private_ovs, br) == [AGENT_CONTROLLER]
        assert dump(private_ovs, br) == before
        relay = res["bridges"][br]["relay"]
        print("controller added: %s, relay %s" % (figures, relay))
        assert figures["sent"] > 1000
        assert figures["lost"] == 0, (figures, relay)
    finally:
        pair.delete()
