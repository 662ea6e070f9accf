"""control_plane's state reading: where each component runs and where a run takes it.

The decision (filter stackhop.upgrade.control_plane_state, called by
tasks/_state_compute.yml; its cases are unit-tested in tests/control_plane/test_control_plane_state.py)
is run by a real ansible-playbook on local hosts whose ``control_plane_node`` (addresses
held, release of each unit) describes the situations a run or a re-run meets: fresh, half
moved, moved but not yet switched, no holder, two holders, done; blue_green and in_place;
a controller without facts (unreachable); a second region's controllers.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.lib.ansible_runner import REPO, VENV, ansible_env

VIP = "10.20.0.101"
OLD, NEW = "ctl-old", "ctl-new"


def node(addresses=(), keystone=None):
    units = {"keystone": keystone} if keystone else {}
    return {"addresses": ["10.20.0.1"] + list(addresses), "units": units, "hostname": "x"}


def facts(node_):
    """A host's variables: its control_plane_node, none at all for an unreachable one (None)."""
    return {} if node_ is None else {"control_plane_node": node_}


def decide(tmp_path, old, new, target="2025.1", strategy="blue_green", other_region=None):
    """The keystone state every host works out; ``other_region``: (old, new) nodes of a
    second region's controllers, outside the selection (the group stackhop_scope)."""
    old_hosts, new_hosts = {OLD: facts(old)}, {NEW: facts(new)}
    children = {}
    if other_region is not None:
        old_hosts["r2-" + OLD], new_hosts["r2-" + NEW] = (facts(n) for n in other_region)
        children["stackhop_scope"] = {"hosts": {OLD: {}, NEW: {}}}
    children.update({"stackhop_controllers": {"hosts": old_hosts}, "stackhop_controllers_new": {"hosts": new_hosts}})
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": str(VENV / "bin" / "python"),
                 "stackhop_current_release": "2024.1", "stackhop_target_release": target,
                 "stackhop_control_plane_strategy": strategy,
                 "stackhop_components": ["keystone"], "stackhop_service_addresses": {"keystone": VIP}},
        "children": children}}
    inv = tmp_path / "hosts.json"
    inv.write_text(json.dumps(inventory))
    play = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_role": {"name": "stackhop.upgrade.control_plane",
                                          "tasks_from": "_state_compute"}},
        {"ansible.builtin.debug": {"var": "control_plane_state"}}]}]
    pb = tmp_path / "play.json"
    pb.write_text(json.dumps(play))
    proc = subprocess.run([str(VENV / "bin" / "ansible-playbook"), "-i", str(inv), str(pb)],
                          env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}),
                          capture_output=True, text=True, cwd=str(REPO), check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    results = out["plays"][0]["tasks"][-1]["hosts"]
    states = [r["control_plane_state"] for r in results.values()]
    assert all(s == states[0] for s in states), "every host must work out the same state"
    return states[0]["keystone"]


@pytest.mark.parametrize("old, new, strategy, target, want", [
    # a fresh region: all on the old node
    (node([VIP], "2024.1"), node(), "blue_green", "2025.1",
     dict(serving=OLD, done=False, src=OLD, dst=NEW, peer=OLD, switch=True)),
    # deployed on the new node, address not moved yet (a re-run after a failed smoke test)
    (node([VIP], "2024.1"), node([], "2025.1"), "blue_green", "2025.1",
     dict(serving=OLD, done=False, src=OLD, dst=NEW, switch=True)),
    # nobody holds the address (released, then the run died): the target's node takes it
    (node([], "2024.1"), node([], "2025.1"), "blue_green", "2025.1",
     dict(serving=NEW, done=False, src=OLD, dst=NEW, switch=True)),
    # both hold it: not done, the new one keeps it
    (node([VIP], "2024.1"), node([VIP], "2025.1"), "blue_green", "2025.1",
     dict(serving=NEW, done=False, dst=NEW, switch=True)),
    # finished: a second run converges on the new node, nothing moves
    (node([], "2024.1"), node([VIP], "2025.1"), "blue_green", "2025.1",
     dict(serving=NEW, done=True, src=OLD, dst=NEW, peer=OLD, switch=False)),
    # the next blue-green upgrade goes back to the old controller
    (node([], "2024.1"), node([VIP], "2025.1"), "blue_green", "2025.2",
     dict(serving=NEW, done=False, src=NEW, dst=OLD, peer=NEW, switch=True)),
    # in place where it serves now
    (node([], "2024.1"), node([VIP], "2025.1"), "in_place", "2025.2",
     dict(serving=NEW, done=False, src=NEW, dst=NEW, peer="", switch=False)),
    (node([], "2024.1"), node([VIP], "2025.2"), "in_place", "2025.2",
     dict(serving=NEW, done=True, src=NEW, dst=NEW, switch=False)),
])
def test_decision(tmp_path, old, new, strategy, target, want):
    got = decide(tmp_path, old, new, target=target, strategy=strategy)
    assert {k: got[k] for k in want} == want, got


def test_unreachable_controller_holds_nothing(tmp_path):
    # the new controller has no control_plane_node (it did not answer): a fresh start
    got = decide(tmp_path, node([VIP], "2024.1"), None)
    assert got["releases"] == {OLD: "2024.1", NEW: ""}
    assert {k: got[k] for k in ("holders", "serving", "done", "src", "dst", "switch")} == dict(
        holders=[OLD], serving=OLD, done=False, src=OLD, dst=NEW, switch=True)


def test_other_regions_controllers_are_not_read(tmp_path):
    # a second region already moved to 2025.1 and holds the same address: the selected one is fresh
    got = decide(tmp_path, node([VIP], "2024.1"), node(), other_region=(node([], "2024.1"), node([VIP], "2025.1")))
    assert set(got["releases"]) == {OLD, NEW} and got["holders"] == [OLD]
    assert (got["serving"], got["done"], got["dst"]) == (OLD, False, NEW)
