"""stackhop.upgrade.rabbitmq_bridge on two real RabbitMQ 3.10 nodes (Debian 12's package,
private nodes on loopback: tests/lib/private_rabbitmq.py), OLD and NEW, with real
oslo.messaging 14.7 (2024.1) RPC servers and clients (tests/rabbitmq/oslo_rpc.py):

* before the bridge, a call from a client on OLD to a server that runs only on NEW times out;
* the module on OLD, then on NEW with OLD's topology, then on OLD with NEW's: every call
  from OLD to the server on NEW is answered, and from NEW to a server on OLD; casts to a
  server reach it across; a fanout cast reaches a server on each broker once;
* a second run changes nothing, check mode changes nothing, the peer's password is on no
  command line and in no result;
* the bridge is taken down on OLD only when no service uses it: with a server still
  connected there, ``require_no_clients`` fails naming it.

The latencies are printed (run with -s)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.lib import openstack_venv
from tests.lib import private_rabbitmq
from tests.lib.ansible_runner import run_module

PASSWORD = "move-s3cret-pw"
OLD_ONLY = "cinder-test"
RPC = str(__import__("pathlib").Path(__file__).with_name("oslo_rpc.py"))


@pytest.fixture(scope="module")
def brokers(tmp_path_factory):
    base = tmp_path_factory.mktemp("rabbitmq")
    nodes = {}
    try:
        for name in ("old", "new"):
            node = private_rabbitmq.PrivateRabbitmq(base, "rmq%s" % name).start()
            node.add_user("stackhop-move", PASSWORD)
            node.add_user("svc", "svc-pw")
            nodes[name] = node
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


@pytest.fixture(scope="module")
def python():
    return str(openstack_venv.ensure_venv(*openstack_venv.OSLO_MESSAGING_2024_1) / "bin" / "python")


def svc(node):
    return node.url("svc", "svc-pw", scheme="rabbit")


def rpc(python, client, servers, mode="call", n=20, timeout=10.0, to=None, hold=0.0, exchange="nova"):
    argv = [python, RPC, "--client", svc(client), "--mode", mode, "-n", str(n), "--timeout", str(timeout),
            "--hold", str(hold), "--exchange", exchange]
    for name, node in servers.items():
        argv += ["--server", "%s=%s" % (name, svc(node))]
    if to:
        argv += ["--to", to]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bridge(node, peer, check=False, diff=False, **args):
    return run_module("rabbitmq_bridge", dict({
        "rabbitmqctl": node.ctl_path, "node": node.node,
        "peer_uri": peer.url("stackhop-move", PASSWORD)}, **args),
        check=check, diff=diff, extra_env=node.cli_env)


def absent(node, **args):
    return run_module("rabbitmq_bridge", dict({"rabbitmqctl": node.ctl_path, "node": node.node,
                                               "state": "absent"}, **args),
                      extra_env=node.cli_env)


def test_bridge_carries_calls_casts_and_fanouts_both_ways(brokers, python):
    old, new = brokers["old"], brokers["new"]
    # s1 has run on both brokers (its queues stackhop-test and stackhop-test.s1 are bound on
    # each), as a service's host has before the move; a host that first starts on one side
    # needs the bridge run again after its start (the module's documentation)
    rpc(python, old, {"s1": old}, n=1)
    rpc(python, new, {"s1": new}, n=1)
    rpc(python, old, {"legacy": old}, n=1)      # a host only the old broker has seen
    # an exchange only the old broker has (cinder's, when no cinder service has started on
    # the new side yet): the bridge declares it on the new one, where services declare it again
    rpc(python, old, {"vol": old}, n=1, exchange=OLD_ONLY)
    before = rpc(python, old, {"s1": new}, n=1, timeout=3)
    assert before["timeouts"] == 1, before

    check = bridge(old, new, check=True)
    assert check["changed"] and not check.get("failed"), check
    assert old.ctl("list_policies", "--formatter", "json").stdout.strip() in ("", "[]")

    first = bridge(old, new, diff=True)
    assert first["changed"] and first["set"][:3] == ["upstream stackhop-move", "policy stackhop-move-queues",
                                                     "policy stackhop-move-fanout"], first
    assert first["diff"]["after"] == {"upstream": ["stackhop-move"],
                                      "policies": ["stackhop-move-fanout", "stackhop-move-queues"]}
    second = bridge(new, old, peer_topology=first["topology"])
    # the new broker gets OLD_ONLY, legacy's binding and vol's two (OLD's federation link
    # declared the queues on NEW, unbound), so its publishers reach them
    assert second["changed"] and second["set"][3:] == ["1 exchange", "3 binding(s)"], second
    exchanges = json.loads(new.ctl("list_exchanges", "name", "internal", "durable", "auto_delete",
                                   "--formatter", "json").stdout)
    assert [x for x in exchanges if x["name"] == OLD_ONLY] == [
        {"name": OLD_ONLY, "internal": False, "durable": False, "auto_delete": False}], exchanges
    # OLD has every binding NEW has: nothing more to set there, nor on a second run anywhere
    third = bridge(old, new, peer_topology=second["topology"])
    assert third["changed"] is False and not third.get("failed"), third
    for result in (check, first, second, third):
        assert PASSWORD not in json.dumps(result)
        assert all("import_definitions" not in c or PASSWORD not in c for c in result["executed_commands"])
    again = bridge(new, old, peer_topology=third["topology"])
    assert again["changed"] is False, again

    figures = {}
    for label, client, server in (("old->new", old, new), ("new->old", new, old)):
        calls = rpc(python, client, {"s1": server}, n=50)
        assert calls["answered"] == 50 and calls["timeouts"] == 0, calls
        figures[label] = (calls["median_ms"], calls["max_ms"])
        casts = rpc(python, client, {"s1": server}, mode="cast", n=50, to="s1")
        assert casts["handled"] == {"s1": {"cast": 50}} and casts["duplicates"] == {"s1": 0}, casts
    legacy = rpc(python, new, {"legacy": old}, n=20, to="legacy")
    assert legacy["answered"] == 20, legacy
    for servers in ({"vol": old}, {"vol": new}):      # publishers and servers on NEW declare OLD_ONLY
        calls = rpc(python, new, servers, n=5, exchange=OLD_ONLY)
        assert calls["answered"] == 5, (servers, calls)
    fanout = rpc(python, old, {"agent-old": old, "agent-new": new}, mode="fanout", n=20)  # new fanout queues
    assert fanout["handled"] == {"agent-old": {"fanout": 20}, "agent-new": {"fanout": 20}}, fanout
    assert set(fanout["duplicates"].values()) == {0}
    fanout = rpc(python, new, {"agent-old": old, "agent-new": new}, mode="fanout", n=20)
    assert fanout["handled"] == {"agent-old": {"fanout": 20}, "agent-new": {"fanout": 20}}, fanout
    print("\ncalls across the bridge, median/max ms: %s" % figures)


def test_the_bridge_comes_down_only_when_no_service_uses_the_broker(brokers, python):
    old, new = brokers["old"], brokers["new"]
    held = subprocess.Popen([python, RPC, "--client", svc(new), "--server", "s-left=%s" % svc(old), "-n", "1",
                             "--hold", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        refused = None
        while time.monotonic() < deadline:
            refused = absent(old, require_no_clients=True)
            if refused.get("failed"):
                break
            time.sleep(1)
        assert refused["failed"] and "still serves" in refused["msg"] and str(held.pid) in refused["msg"], refused
        assert "taking the bridge stackhop-move down" in refused["msg"]
        assert any(c["service"].endswith(":%d" % held.pid) for c in refused["clients"])
        assert "stackhop-move-queues" in old.ctl("list_policies", "--formatter", "json").stdout
    finally:
        held.terminate()
        held.wait(60)
    deadline = time.monotonic() + 30
    while True:
        down = absent(old, require_no_clients=True)
        if not down.get("failed") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert down["changed"] and not down.get("failed"), down
    assert sorted(down["set"]) == ["policy stackhop-move-fanout", "policy stackhop-move-queues",
                                   "upstream stackhop-move"]
    assert old.ctl("list_policies", "--formatter", "json").stdout.strip() in ("", "[]")
    assert absent(old)["changed"] is False
