"""stackhop.upgrade.service_address on three real network namespaces on a Linux bridge:
the address moves from ``old`` to ``new``, and the neighbour entry that ``peer`` cached for
it flips to new's MAC at once from the announcement alone (the peer sends nothing), for
IPv4 (gratuitous ARP) and IPv6 (unsolicited neighbour advertisement); idempotence,
check mode, diff, arping, bad input."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.lib.netlab import NetLab
from tests.lib.ansible_runner import run_module

pytestmark = pytest.mark.needs_root

VIP4 = "10.250.0.100"
VIP6 = "fd00:250::100"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    lab = NetLab("sa", tmp_path_factory.mktemp("netlab"))
    yield lab
    lab.destroy()


def on(net, host, check=False, diff=False, **args):
    res = run_module("service_address", dict({"interface": "eth0"}, **args), check=check,
                     diff=diff, extra_env={"ANSIBLE_PYTHON_INTERPRETER": net.python(host)})
    assert not res.failed, res
    return res


def cache(net, address, via):
    """Make peer cache ``address`` (one ping), then wait past the 1 s ARP locktime."""
    net.run("peer", "ping", "-c", "1", "-W", "1", address)
    time.sleep(1.2)


@pytest.mark.parametrize("vip", [VIP4, VIP6], ids=["ipv4-garp", "ipv6-na"])
def test_move_flips_the_peers_neighbour_entry(net, vip):
    on(net, "old", address=vip)
    cache(net, vip, "old")
    assert net.neighbour("peer", vip) == net.mac("old")

    res = on(net, "old", address=vip, state="absent")
    assert res["changed"] and vip not in net.addresses("old")
    res = on(net, "new", address=vip, announce_interval=0.2)
    assert res["changed"] and res["announced"] >= 3 and res["mac"] == net.mac("new")
    # no traffic from the peer: only the announcement can have changed its entry
    assert net.neighbour("peer", vip) == net.mac("new"), "the peer still maps %s to old" % vip
    net.run("peer", "ping", "-c", "1", "-W", "1", vip)

    again = on(net, "new", address=vip)
    assert not again["changed"] and again["announced"] == 0
    gone = on(net, "old", address=vip, state="absent")
    assert not gone["changed"]
    on(net, "new", address=vip, state="absent")


def test_check_mode_and_diff_change_nothing(net):
    res = on(net, "old", check=True, diff=True, address="10.250.0.101")
    assert res["changed"] and "10.250.0.101/32" in res["diff"]["after"]
    assert "10.250.0.101" not in net.addresses("old")
    assert res["announced"] == 0 and res["executed_commands"] == []
    on(net, "old", address="10.250.0.101", prefix=24, announce="never")
    res = on(net, "old", address="10.250.0.101", diff=True, announce="never")
    assert res["changed"], "a wrong prefix length is corrected"
    assert "10.250.0.101/24" in res["diff"]["before"] and "10.250.0.101/32" in res["diff"]["after"]
    res = on(net, "old", address="10.250.0.101", announce="always", announce_count=1)
    assert not res["changed"] and res["announced"] == 2
    on(net, "old", address="10.250.0.101", state="absent")


@pytest.mark.skipif(not shutil.which("arping"), reason="iputils-arping is not installed")
def test_arping_announces_too(net):
    on(net, "old", address="10.250.0.102", announce="never")
    cache(net, "10.250.0.102", "old")
    on(net, "old", address="10.250.0.102", state="absent")
    res = on(net, "new", address="10.250.0.102", announce_tool="arping", announce_count=2)
    assert res["changed"] and res["executed_commands"][-1].startswith("/usr/bin/arping -U -c 2")
    assert net.neighbour("peer", "10.250.0.102") == net.mac("new")
    on(net, "new", address="10.250.0.102", state="absent")


def test_bad_input_fails_before_anything_changes(net):
    res = run_module("service_address", {"address": "10.250.0.300", "interface": "eth0"},
                     extra_env={"ANSIBLE_PYTHON_INTERPRETER": net.python("old")})
    assert res.failed and "is not an IPv4 or IPv6 address" in res["msg"]
    res = run_module("service_address", {"address": "10.250.0.103", "interface": "eth9"},
                     extra_env={"ANSIBLE_PYTHON_INTERPRETER": net.python("old")})
    assert res.failed and "interface eth9 does not exist" in res["msg"]
    res = run_module("service_address", {"address": VIP6, "announce_tool": "arping"},
                     extra_env={"ANSIBLE_PYTHON_INTERPRETER": net.python("old")})
    assert res.failed and "arping announces IPv4 only" in res["msg"]
    assert "10.250.0.103" not in net.addresses("old")
