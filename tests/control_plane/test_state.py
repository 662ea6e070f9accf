"""control_plane's state reading: where each component runs and where a run takes it.

The decision (templates/state.j2) is run by a real ansible-playbook on local hosts whose
``control_plane_node`` (addresses held, release of each unit) describes the situations a
run or a re-run meets: fresh, half moved, moved but not yet switched, no holder, two
holders, done; blue_green and in_place.
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


def decide(tmp_path, old, new, target="2025.1", strategy="blue_green"):
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": str(VENV / "bin" / "python"),
                 "stackhop_current_release": "2024.1", "stackhop_target_release": target,
                 "stackhop_control_plane_strategy": strategy,
                 "stackhop_components": ["keystone"], "stackhop_service_addresses": {"keystone": VIP}},
        "children": {"stackhop_controllers": {"hosts": {OLD: {"control_plane_node": old}}},
                     "stackhop_controllers_new": {"hosts": {NEW: {"control_plane_node": new}}}}}}
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
    assert states[0] == states[1], "every host must work out the same state"
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
