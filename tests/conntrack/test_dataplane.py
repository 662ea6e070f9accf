"""Data-plane proof: a kilo VM connection survives the liberty agent's per-port zones.

Real kernel, real iptables (1.8.9, nf_tables backend), real TCP, in namespaces (see
hybrid.py for the topology). The liberty agent is the test double in liberty_agent.py,
which does what neutron 7.x does to the raw table when it starts. The stream is
opened by the VM and pushed by the peer (the VM only receives), the case where a
connection cannot recover by itself: after a zone change the peer's packets arrive
in an empty zone, are NEW there, and the port's ingress chain (no ingress rule for
them) drops them.
"""

from __future__ import annotations

import time

import pytest

from tests.lib.hybrid import QVB, SHORT, TAP, W, make_node
from tests.lib.nsansible import run_module_in_netns

pytestmark = pytest.mark.needs_root

OBSERVE = 4.0   # seconds of stream watched after each agent restart
INTERVAL = 0.5  # the peer pushes 1 KiB every INTERVAL seconds


@pytest.fixture
def node(request, tmp_path):
    n = make_node("dp", tmp_path)
    yield n
    n.close()


def restart_agent_between_messages(node, watch):
    """Restart the agent right after a message was received and acknowledged.

    The VM acknowledges within its delayed-ACK time (<= 40 ms), so 80 ms after a
    message nothing of the VM's is in flight: the next packet of the stream to cross
    qbr is the peer's next push, 0.5 s later. Returns (agent summary, time the restart
    ended).
    """
    watch.wait_message()
    time.sleep(0.08)
    result = node.restart_agent()
    return result, time.monotonic()


def observe(watch, since):
    time.sleep(OBSERVE)
    now = time.monotonic()
    return {"bytes": watch.bytes_after(since), "gap": round(watch.longest_gap_after(since, now), 2),
            "resets": len(watch.resets())}


def pin(node, **args):
    params = {"wrapper_dir": str(node.wrapper_dir), "rootwrap_conf": str(node.rootwrap),
              "create_chain": True}
    params.update(args)
    res = run_module_in_netns(node.host.name, "conntrack_zone_pin", params)
    assert not res.failed, res
    return res


def test_without_pin_the_agent_move_stalls_the_connection(node):
    watch = node.start_stream(INTERVAL)
    for _msg in range(3):
        watch.wait_message()
    assert node.conntrack_zones() == [0]
    drops = node.fallback_drops()

    agent, since = restart_agent_between_messages(node, watch)
    assert agent["read"] == {}
    assert agent["zones"] == {"c7a1b2c3-d4e5-4f60-8a9b-0c1d2e3f4a5b": 1}
    seen = observe(watch, since)
    print("without pin:", seen)
    assert seen["bytes"] == 0, seen          # nothing arrives any more
    assert seen["gap"] >= OBSERVE - 0.1      # a stall, not a hiccup
    assert seen["resets"] == 0               # silently: no RST reaches the VM
    assert node.fallback_drops() > drops     # the peer's pushes die in sg-fallback


def test_with_pin_the_connection_survives_two_agent_restarts(node):
    watch = node.start_stream(INTERVAL)
    for _msg in range(3):
        watch.wait_message()
    res = pin(node)
    assert res["changed"] and res["added"] == [TAP] and res["wrapper_changed"]
    assert res["rootwrap_changed"]
    drops = node.fallback_drops()

    # 1. the agent reads the pin through the wrapper and keeps the port in zone 0
    agent, since = restart_agent_between_messages(node, watch)
    assert agent["read"] == {SHORT: 0}
    assert set(agent["zones"].values()) == {0}
    seen = observe(watch, since)
    print("with pin, agent restart 1:", seen)
    assert seen["bytes"] >= 1024 * (OBSERVE / INTERVAL - 2), seen
    assert seen["gap"] < 2 * INTERVAL, seen
    assert seen["resets"] == 0

    # The agent replaced the pin (in its own chain) by its own zone 0 rules, which the
    # real iptables-save prints without the zone.
    raw = node.save("raw")
    assert "stackhop-zone-pin -j CT" not in raw
    assert "--physdev-in %s -j CT\n" % TAP in raw and "--zone" not in raw

    # 2. the next restart must still see zone 0: only the wrapper shows it
    wrapped = node.host.run(str(node.wrapper_dir / "iptables-save"), "-t", "raw")
    assert "-A %s-PREROUTING -m physdev --physdev-in %s -j CT --zone 0" % (W, TAP) in wrapped
    agent, since = restart_agent_between_messages(node, watch)
    assert agent["read"] == {SHORT: 0}
    assert agent["commands"]["4"] == []       # text matches: the agent changes nothing
    seen = observe(watch, since)
    print("with pin, agent restart 2:", seen)
    assert seen["bytes"] > 0 and seen["gap"] < 2 * INTERVAL and seen["resets"] == 0, seen
    assert node.fallback_drops() == drops
    assert node.conntrack_zones() == [0]


def test_pin_without_wrapper_does_not_help(node):
    """The pin alone is invisible to the agent: iptables-save hides zone 0."""
    watch = node.start_stream(INTERVAL)
    for _msg in range(3):
        watch.wait_message()
    res = pin(node, save_wrapper=False)
    assert res["added"] == [TAP] and not res["wrapper_changed"] and not res["rootwrap_changed"]
    agent, since = restart_agent_between_messages(node, watch)
    assert agent["read"] == {}
    seen = observe(watch, since)
    print("pin without wrapper:", seen)
    assert seen["bytes"] == 0 and seen["resets"] == 0, seen


def test_first_ct_rule_wins(node):
    """In raw PREROUTING the first CT rule that matches sets the zone (xt_CT skips a
    packet that already has a conntrack template), so pins must come before any other
    zone rule of the device, and must cover both directions (tap and qvb) to protect a
    connection without the agent's help. The module inserts its pins at the top."""
    watch = node.start_stream(INTERVAL)
    for _msg in range(3):
        watch.wait_message()
    res = pin(node, devices=[TAP, QVB], save_wrapper=False, ip_versions=[4])
    assert res["added"] == sorted([TAP, QVB])

    chain = "%s-PREROUTING" % W
    watch.wait_message()
    time.sleep(0.08)
    for dev in (QVB, TAP):   # a zone 5 rule AFTER the pins
        node.host.run("iptables", "-t", "raw", "-A", chain, "-m", "physdev",
                      "--physdev-in", dev, "-j", "CT", "--zone", "5")
    since = time.monotonic()
    seen = observe(watch, since)
    print("zone 5 rules after the pins:", seen)
    assert seen["bytes"] > 0 and seen["gap"] < 2 * INTERVAL, seen

    watch.wait_message()
    time.sleep(0.08)
    for dev in (QVB, TAP):   # the same rules BEFORE the pins
        node.host.run("iptables", "-t", "raw", "-I", chain, "1", "-m", "physdev",
                      "--physdev-in", dev, "-j", "CT", "--zone", "5")
    since = time.monotonic()
    seen = observe(watch, since)
    print("zone 5 rules before the pins:", seen)
    assert seen["bytes"] == 0, seen
