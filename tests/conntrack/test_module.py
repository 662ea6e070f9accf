"""stackhop.upgrade.conntrack_zone_pin through ansible-playbook, on real iptables.

Every test gets its own network namespace (prefix ``ct``) holding a Linux bridge, real
tap devices and kilo's raw table, and runs the playbook inside it (nsansible.py), so the
root namespace's firewall is never touched. Wrappers and rootwrap.conf live in tmp_path.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.lib.nsansible import run_module_in_netns
from tests.lib.netns import Netns

pytestmark = pytest.mark.needs_root

CHAIN = "neutron-openvswi-PREROUTING"
TAPS = ["tapct0000a-01", "tapct0000b-02", "tapct0000c-03"]
ROOTWRAP = """[DEFAULT]
# Where rootwrap looks for filters
filters_path=/etc/neutron/rootwrap.d,/usr/share/neutron/rootwrap
# exec_dirs: where to look for executables
exec_dirs=/sbin,/usr/sbin,/bin,/usr/bin,/usr/local/bin
use_syslog=False

[xenapi]
xenapi_connection_url=<None>
"""


class Host:
    def __init__(self, tmp_path):
        self.ns = Netns("ctmod%d" % (os.getpid() % 10000))
        self.ns.run("ip", "link", "add", "ctqbr0", "type", "bridge")
        for tap in TAPS:
            self.ns.run("ip", "tuntap", "add", tap, "mode", "tap")
        self.ns.run("ip", "link", "add", "qvbct0000a-01", "type", "veth", "peer", "name", "qvoct0000a-01")
        # kilo: the agent's raw chain exists for IPv4 only
        self.ns.run("iptables", "-t", "raw", "-N", CHAIN)
        self.ns.run("iptables", "-t", "raw", "-A", "PREROUTING", "-j", CHAIN)
        self.ns.run("iptables", "-A", "FORWARD", "-m", "comment", "--comment", "not raw -j CT",
                    "-j", "ACCEPT")
        self.wrapper_dir = tmp_path / "sbin"
        self.wrapper_dir.mkdir()
        self.rootwrap = tmp_path / "rootwrap.conf"
        self.rootwrap.write_text(ROOTWRAP)

    def args(self, **kw):
        base = {"wrapper_dir": str(self.wrapper_dir), "rootwrap_conf": str(self.rootwrap),
                "ip_versions": [4]}
        base.update(kw)
        return base

    def run(self, check=False, diff=False, **kw):
        return run_module_in_netns(self.ns.name, "conntrack_zone_pin", self.args(**kw),
                                   check=check, diff=diff)

    def save(self, version=4):
        tool = "/usr/sbin/iptables-save" if version == 4 else "/usr/sbin/ip6tables-save"
        out = self.ns.run(tool, "-t", "raw")
        return "".join(ln for ln in out.splitlines(True) if not ln.startswith("#"))

    def state(self):
        return (self.save(4), self.save(6), self.rootwrap.read_text(),
                sorted(os.listdir(self.wrapper_dir)))

    def pins(self, version=4):
        return [ln for ln in self.save(version).splitlines() if "stackhop-zone-pin" in ln]


@pytest.fixture
def host(tmp_path):
    h = Host(tmp_path)
    yield h
    h.ns.delete()


def test_add_then_idempotent(host):
    res = host.run(diff=True)
    assert not res.failed, res
    assert res["changed"] and res["added"] == TAPS and res["present"] == TAPS
    assert res["removed"] == [] and res["wrapper_changed"] and res["rootwrap_changed"]
    # one restore for the whole change set, reads with the real tool by absolute path
    assert res["executed_commands"] == ["/usr/sbin/iptables-save -t raw",
                                        "/usr/sbin/iptables-restore --noflush",
                                        "write %s/iptables-save" % host.wrapper_dir,
                                        "write %s" % host.rootwrap]
    pins = host.pins()
    assert pins == ["-A %s -m physdev --physdev-in %s -m comment --comment "
                    "stackhop-zone-pin -j CT" % (CHAIN, t) for t in TAPS]
    # the kernel holds zone 0: -C with the explicit zone finds each rule
    for tap in TAPS:
        host.ns.run("iptables", "-t", "raw", "-C", CHAIN, "-m", "physdev", "--physdev-in", tap,
                    "-m", "comment", "--comment", "stackhop-zone-pin", "-j", "CT", "--zone", "0")
    rw = host.rootwrap.read_text()
    assert "exec_dirs=%s,/sbin,/usr/sbin,/bin,/usr/bin,/usr/local/bin\n" % host.wrapper_dir in rw
    assert "[xenapi]\nxenapi_connection_url=<None>" in rw and "# exec_dirs: where" in rw
    # diff: rules with the zone written out, the wrapper, rootwrap.conf
    rules_diff = res["diff"][0]
    assert rules_diff["before"] == ""
    assert rules_diff["after"].count("-j CT --zone 0\n") == 3
    assert res["diff"][1]["after_header"] == "%s/iptables-save" % host.wrapper_dir
    assert "exec_dirs=%s," % host.wrapper_dir in res["diff"][2]["after"]

    again = host.run()
    assert not again.failed and again["changed"] is False, again
    assert again["added"] == [] and again["present"] == TAPS
    assert not again["wrapper_changed"] and not again["rootwrap_changed"]
    assert again["executed_commands"] == ["/usr/sbin/iptables-save -t raw"]


def test_check_mode_changes_nothing(host):
    before = host.state()
    res = host.run(check=True, diff=True, ip_versions=[4, 6], create_chain=True)
    assert not res.failed and res["changed"] and res["added"] == TAPS, res
    assert res["wrapper_changed"] and res["rootwrap_changed"]
    assert len(res["diff"]) == 5   # 2 rule sets, 2 wrappers, rootwrap.conf
    assert host.state() == before
    assert not any("restore" in c for c in res["executed_commands"])


def test_absent_removes_only_what_it_manages(host):
    agent_rule = ["-m", "physdev", "--physdev-in", "qvbct0000a-01", "-j", "CT", "--zone", "3"]
    host.ns.run("iptables", "-t", "raw", "-A", CHAIN, *agent_rule)
    assert host.run(ip_versions=[4, 6], create_chain=True)["changed"]
    assert len(host.pins(6)) == 4   # 3 pins + the jump to the chain it created

    res = host.run(state="absent", devices=[TAPS[0]], diff=True)
    assert res["changed"] and res["removed"] == [TAPS[0]] and res["present"] == TAPS[1:], res
    # pins remain: the wrapper and the rootwrap change must stay for the agent to see them
    assert not res["wrapper_changed"] and not res["rootwrap_changed"]
    assert [TAPS[0] in p for p in host.pins()] == [False, False]

    res = host.run(state="absent", ip_versions=[4, 6])
    assert res["changed"] and res["removed"] == TAPS and res["present"] == [], res
    assert res["wrapper_changed"] and res["rootwrap_changed"]
    assert host.pins() == [] and host.pins(6) == []
    raw4 = host.save(4)
    assert "-A %s -m physdev --physdev-in qvbct0000a-01 -j CT --zone 3" % CHAIN in raw4
    assert "-A PREROUTING -j %s" % CHAIN in raw4
    assert CHAIN not in host.save(6)          # the chain it created is gone again
    assert host.rootwrap.read_text() == ROOTWRAP
    assert os.listdir(host.wrapper_dir) == []

    again = host.run(state="absent", ip_versions=[4, 6])
    assert again["changed"] is False, again


def test_devices_versus_regex(host):
    res = host.run(devices=[TAPS[1]], save_wrapper=False)
    assert res["added"] == [TAPS[1]] and not res["wrapper_changed"] and not res["rootwrap_changed"]
    res = host.run(device_regex="^qvb", save_wrapper=False, match="interface")
    assert res["added"] == ["qvbct0000a-01"], res
    assert res["present"] == ["qvbct0000a-01", TAPS[1]]
    assert ("-A %s -i qvbct0000a-01 -m comment --comment stackhop-zone-pin -j CT" % CHAIN
            in host.pins())
    both = host.run(devices=TAPS, device_regex="^tap")
    assert both.failed and "mutually exclusive" in both["msg"]


def test_zone_change_replaces_own_pins_and_leaves_foreign_devices(host):
    host.ns.run("iptables", "-t", "raw", "-A", CHAIN, "-m", "physdev", "--physdev-in", TAPS[2],
                "-j", "CT", "--zone", "9")
    assert host.run(devices=TAPS[:2], save_wrapper=False)["added"] == TAPS[:2]
    res = host.run(zone=7, save_wrapper=False)
    assert res["added"] == TAPS[:2] and res["removed"] == TAPS[:2], res
    assert any("%s already has a CT rule" % TAPS[2] in w for w in res.get("warnings", [])), res
    assert host.pins() == ["-A %s -m physdev --physdev-in %s -m comment --comment "
                           "stackhop-zone-pin -j CT --zone 7" % (CHAIN, t) for t in TAPS[:2]]
    assert host.run(zone=7, save_wrapper=False)["changed"] is False


def test_create_chain(host):
    missing = host.run(ip_versions=[4, 6])
    assert missing.failed
    assert missing["msg"] == (
        "chain %s does not exist in the raw table of ip6tables on %s; set create_chain: "
        "true, or leave 6 out of ip_versions" % (CHAIN, os.uname().nodename))
    assert host.pins() == [] and host.state()[2] == ROOTWRAP   # nothing changed
    res = host.run(ip_versions=[4, 6], create_chain=True)
    assert res["changed"] and res["added"] == TAPS
    raw6 = host.save(6)
    assert ":%s - [0:0]" % CHAIN in raw6
    assert raw6.index("-A PREROUTING -m comment --comment stackhop-zone-pin -j %s" % CHAIN) \
        < raw6.index("-A %s " % CHAIN)


def test_bad_input_fails_before_changing_anything(host):
    before = host.state()
    res = host.run(zone=70000)
    assert res.failed and res["msg"].startswith("zone 70000 is out of range"), res
    res = host.run(devices=[TAPS[0], "tapnothere-00"])
    assert res.failed
    assert res["msg"].startswith("devices tapnothere-00 are not interfaces of "), res
    host.rootwrap.write_text("[DEFAULT]\nfilters_path=/etc/neutron/rootwrap.d\n")
    res = host.run()
    assert res.failed and "has no exec_dirs in [DEFAULT]" in res["msg"], res
    host.rootwrap.write_text(ROOTWRAP)
    (host.wrapper_dir / "iptables-save").write_text("#!/bin/sh\n/sbin/iptables-save \"$@\" | sed 's/ -j CT$/ -j CT --zone 0/'\n")
    res = host.run()
    assert res.failed and "was not written by this module" in res["msg"], res
    os.unlink(host.wrapper_dir / "iptables-save")
    res = host.run(wrapper_dir="/usr/sbin")
    assert res.failed and "holds the real iptables tools" in res["msg"], res
    assert host.state() == before
    res = host.run(device_regex="^nomatch", save_wrapper=False)
    assert not res.failed and res["changed"] is False and res["present"] == []
    assert any("matches device_regex" in w for w in res["warnings"])


def test_wrapper_round_trip(host):
    """iptables-save | iptables-restore through the wrapper keeps --zone 0, passes every
    argument through and keeps the real tool's exit status."""
    assert host.run(ip_versions=[4, 6], create_chain=True)["wrapper_changed"]
    wrapper = str(host.wrapper_dir / "iptables-save")
    ns = ["ip", "netns", "exec", host.ns.name]

    saved = host.ns.run(wrapper)
    assert saved.count("stackhop-zone-pin -j CT --zone 0\n") == 3
    assert "*filter" in saved            # no arguments: every table, like the real tool
    assert '--comment "not raw -j CT" -j ACCEPT\n' in saved
    # the agent's cycle: save, then restore what was saved (full flush of every table)
    subprocess.run(ns + ["/usr/sbin/iptables-restore"], input=saved, text=True, check=True)
    assert host.ns.run(wrapper, "-t", "raw").count("-j CT --zone 0\n") == 3
    for tap in TAPS:
        host.ns.run("iptables", "-t", "raw", "-C", CHAIN, "-m", "physdev", "--physdev-in", tap,
                    "-m", "comment", "--comment", "stackhop-zone-pin", "-j", "CT", "--zone", "0")
    # arguments pass through: -c counters, -t table, -f file
    counted = host.ns.run(wrapper, "-c", "-t", "raw")
    assert "[0:0] -A %s -m physdev --physdev-in %s" % (CHAIN, TAPS[0]) in counted
    assert counted.count("--zone 0\n") == 3 and "*filter" not in counted
    out = host.wrapper_dir.parent / "saved.rules"
    host.ns.run(wrapper, "-t", "raw", "-f", str(out))
    assert out.read_text().count("-j CT --zone 0\n") == 3
    ip6 = host.ns.run(str(host.wrapper_dir / "ip6tables-save"), "-t", "raw")
    assert ip6.count("-j CT --zone 0\n") == 3
    # exit status and stderr of the real tool
    real = subprocess.run(ns + ["/usr/sbin/iptables-save", "-t", "nosuchtable"],
                          capture_output=True, text=True, check=False)
    wrapped = subprocess.run(ns + [wrapper, "-t", "nosuchtable"],
                             capture_output=True, text=True, check=False)
    assert real.returncode != 0
    assert (wrapped.returncode, wrapped.stdout, wrapped.stderr) == \
        (real.returncode, real.stdout, real.stderr)
    bad = subprocess.run(ns + [wrapper, "--no-such-option"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == subprocess.run(ns + ["/usr/sbin/iptables-save", "--no-such-option"],
                                            capture_output=True, check=False).returncode != 0
