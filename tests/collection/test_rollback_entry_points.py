"""The rollback's role entry points accept what playbooks/rollback_computes.yml gives them
(issue 22 part 4): each role's argument check templates every option it lists, defaults
included, on release N as the role's release; one of them (nova_compute_computes_too_old)
asked the release model for the quirks of release N to release N, which refuses that.

The play's host is unreachable (port 1): the argument check is an action of the controller,
the first task after it can reach nothing, so nothing runs anywhere."""

from __future__ import annotations

import json

import pytest

from tests.lib.ansible_runner import run_playbook

COMMON = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
          "stackhop_current_release": "2024.1", "stackhop_target_release": "2025.1",
          "stackhop_physnet": "physnet1", "stackhop_physnet_bridge": "br-ex",
          "stackhop_physnet_interface": "eth1", "stackhop_api_host": "localhost",
          "stackhop_upgrade_id": "dc1-2024.1-to-2025.1"}

CASES = {
    "nova_compute": ("rollback", {"nova_compute_release": "{{ stackhop_current_release }}"}),
    "nova_compute-adopted": ("rollback", {"nova_compute_release": "{{ stackhop_current_release }}",
                                          "nova_compute_adopted": True}),
    "neutron_compute": ("rollback", {
        "neutron_compute_release": "{{ stackhop_current_release }}",
        "neutron_compute_current_release": "{{ stackhop_target_release }}",
        "neutron_compute_quirks": "{{ (stackhop_current_release | stackhop.upgrade.compute_rollback("
                                  "stackhop_target_release)).run }}"}),
    "adopted_service": ("restore", {"adopted_service_component": "nova", "adopted_service_units": ["nova-compute"]}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_argument_check_passes(tmp_path, case):
    role = case.split("-")[0]
    tasks_from, role_vars = CASES[case]
    play = [{"hosts": "nohost", "gather_facts": False, "vars": COMMON,
             "tasks": [{"name": "under test", "ansible.builtin.include_role": {
                 "name": "stackhop.upgrade." + role, "tasks_from": tasks_from}, "vars": role_vars}]}]
    path = tmp_path / "play.json"
    path.write_text(json.dumps(play))
    inventory = tmp_path / "hosts"
    inventory.write_text("nohost\n")
    proc = run_playbook(path, inventory=inventory, extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
                        timeout=300)
    doc = json.loads(proc.stdout[proc.stdout.index("{"):])
    tasks = [t for p in doc["plays"] for t in p["tasks"]]
    check = [t for t in tasks if ("Validating arguments against arg spec '%s'" % tasks_from) in t["task"]["name"]]
    assert check, [t["task"]["name"] for t in tasks]
    result = check[0]["hosts"]["nohost"]
    assert not result.get("failed"), result.get("msg")
    # and nothing after it reached a host
    assert all(t["hosts"]["nohost"].get("unreachable") or t["hosts"]["nohost"].get("skipped")
               or t["hosts"]["nohost"].get("ansible_facts") is not None
               for t in tasks[tasks.index(check[0]) + 1:]), tasks
