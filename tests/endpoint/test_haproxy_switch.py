"""endpoint_switch method haproxy (a blue-green switch behind load balancers) on a real
HAProxy (Debian 12's 2.6) on 127.0.0.1, through playbooks/endpoint_switch.yml: nova's
backend goes from the old controllers ctl1 and ctl2 to the new ctlnew1 and ctlnew2 (whose
server is named green2) while requests go through it at 15 Hz and ctl1 holds a slow
session. No request fails, the run ends after the slow session, every request after it
reaches a new server, keystone's backend is untouched; check mode and a second run change
nothing; a rollback swaps the sides; a new server that never comes up stops the switch
before any old server leaves, and takes no request while its health check runs. The
figures are printed (run with -s)."""

from __future__ import annotations

import json
import shutil
import sys
import time

import pytest

from tests.lib.ansible_runner import REPO, run_playbook
from tests.lib.private_haproxy import PrivateHaproxy, Traffic

PLAYBOOK = REPO / "playbooks" / "endpoint_switch.yml"
OLD = ["ctl1", "ctl2"]
NEW = ["ctlnew1", "ctlnew2"]
# ctlnew2's server is "green2" (stackhop_lb_server_name); ctldead's address answers nothing
LAYOUT = {"nova_api": ["ctl1", "ctl2", "ctlnew1", "green2", "ctldead"],
          "keystone": ["ctl1", "ctl2", "ctlnew1", "green2"]}
INITIAL = {(backend, server): "maint" if server in ("ctlnew1", "green2", "ctldead") else "ready"
           for backend, servers in LAYOUT.items() for server in servers}
HZ = 15


@pytest.fixture(scope="module")
def lb(tmp_path_factory):
    if not shutil.which("haproxy"):
        pytest.fail("haproxy is not installed; run scripts/setup.sh")
    base = tmp_path_factory.mktemp("haproxy-switch")
    proxy = PrivateHaproxy(base, LAYOUT, slow={("nova_api", "ctl1")},
                           disabled={pair for pair, state in INITIAL.items() if state == "maint"},
                           dead={("nova_api", "ctldead")})
    proxy.start()
    inventory = {"all": {"children": {
        "stackhop_lb": {"hosts": {"lb1": {"ansible_connection": "local",
                                          "ansible_python_interpreter": sys.executable}}},
        "stackhop_controllers": {"hosts": {name: {} for name in OLD}},
        "stackhop_controllers_new": {"hosts": {"ctlnew1": {},
                                               "ctlnew2": {"stackhop_lb_server_name": "green2"},
                                               "ctldead": {}}}},
        "vars": {"stackhop_lb_socket": str(proxy.admin_socket),
                 "stackhop_lb_backends": {"nova": ["nova_api"]}}}}
    proxy.inventory = base / "hosts.yml"
    proxy.inventory.write_text(json.dumps(inventory))
    proxy.base = base
    yield proxy
    proxy.stop()


@pytest.fixture
def initial(lb):
    """The servers as the config starts them: old ready, new in maintenance."""
    for (backend, server), state in lb.admin_states().items():
        if state != INITIAL[(backend, server)]:
            lb.ask("set server %s/%s state %s" % (backend, server, INITIAL[(backend, server)]))
    return lb


def switch(lb, from_hosts, to_hosts, check=False, timeout=60):
    extra = {"endpoint_switch_service": "nova", "endpoint_switch_method": "haproxy",
             "endpoint_switch_from_hosts": from_hosts, "endpoint_switch_to_hosts": to_hosts,
             "endpoint_switch_lb_timeout": timeout, "endpoint_switch_verify_port": -1}
    env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
           "STACKHOP_REPORT_DIR": str(lb.base / "report"), "STACKHOP_REPORT_SUMMARY": "false"}
    proc = run_playbook(PLAYBOOK, extra_vars=extra, inventory=lb.inventory, check=check,
                        extra_env=env, timeout=600)
    out = json.loads(proc.stdout)
    proc.failed_tasks = [(t["task"]["name"], item.get("msg")) for play in out["plays"]
                         for t in play["tasks"] for r in t["hosts"].values() if r.get("failed")
                         for item in r.get("results", [r]) if item.get("failed")]
    proc.results = {t["task"]["name"]: r for play in out["plays"] for t in play["tasks"]
                    for r in t["hosts"].values()}
    proc.stats = out["stats"]
    return proc


@pytest.mark.usefixtures("initial")
def test_check_mode_moves_nothing(lb):
    proc = switch(lb, OLD, NEW, check=True)
    assert proc.returncode == 0, proc.failed_tasks
    assert proc.stats["localhost"]["changed"] >= 1
    assert lb.admin_states() == INITIAL


@pytest.mark.usefixtures("initial")
def test_every_request_moves_to_the_new_servers_and_none_fails(lb):
    with Traffic(lb, HZ, ["nova_api"]) as traffic:
        time.sleep(1)
        slow, slow_done = lb.hold_slow_session("nova_api", "ctl1", 8)
        t0 = time.monotonic()
        proc = switch(lb, OLD, NEW)
        t1 = time.monotonic()
        time.sleep(2)
    slow.join(10)
    assert proc.returncode == 0, proc.failed_tasks
    states = lb.admin_states()
    assert {server: states[("nova_api", server)] for server in LAYOUT["nova_api"]} == {
        "ctl1": "maint", "ctl2": "maint", "ctlnew1": "ready", "green2": "ready", "ctldead": "maint"}
    assert {pair: state for pair, state in states.items() if pair[0] == "keystone"} == {
        pair: state for pair, state in INITIAL.items() if pair[0] == "keystone"}
    # the run ended after the slow session on ctl1, which was answered
    assert slow_done["answer"] == (200, "nova_api/ctl1")
    assert t0 < slow_done["end"] <= t1

    during = [r for r in traffic.records if t0 <= r[0] < t1]
    after = [r for r in traffic.records if r[0] >= t1]
    failed = [r for r in traffic.records if r[3] != 200]
    print("haproxy switch of nova from %s to %s: %.1f s with a slow session on ctl1; %d requests "
          "during it, %d failed; %d after it, answered by %s"
          % (OLD, NEW, t1 - t0, len(during), len(failed), len(after),
             sorted({r[4] for r in after})))
    assert not failed, failed[:5]
    assert during and after
    assert {r[4] for r in after} == {"nova_api/ctlnew1", "nova_api/green2"}

    again = switch(lb, OLD, NEW)
    assert again.returncode == 0, again.failed_tasks
    assert again.stats["localhost"]["changed"] == 0, [
        name for name, r in again.results.items() if r.get("changed")]


@pytest.mark.usefixtures("initial")
def test_a_rollback_swaps_the_sides(lb):
    assert switch(lb, OLD, NEW).returncode == 0
    with Traffic(lb, HZ, ["nova_api"]) as traffic:
        proc = switch(lb, NEW, OLD)
        t1 = time.monotonic()
        time.sleep(1.5)
    assert proc.returncode == 0, proc.failed_tasks
    assert not [r for r in traffic.records if r[3] != 200]
    assert {r[4] for r in traffic.records if r[0] >= t1} == {"nova_api/ctl1", "nova_api/ctl2"}
    states = lb.admin_states()
    assert states[("nova_api", "ctlnew1")] == states[("nova_api", "green2")] == "maint"


@pytest.mark.usefixtures("initial")
def test_a_new_server_that_never_comes_up_stops_the_switch_before_any_old_server_leaves(lb):
    with Traffic(lb, HZ, ["nova_api"]) as traffic:
        proc = switch(lb, OLD, ["ctldead"], timeout=4)
    assert proc.returncode != 0
    (task, msg), = proc.failed_tasks
    print("a dead new server: " + msg)
    assert "Put the new controllers into the service's backends" in task and task.endswith("ctldead")
    assert msg.startswith("after 4 s drained, HAProxy on ")
    assert "has not found nova_api/ctldead (DOWN, L4CON) up by its health check: it stays drained " \
           "and takes no request; make its service answer" in msg
    states = lb.admin_states()
    assert states[("nova_api", "ctl1")] == states[("nova_api", "ctl2")] == "ready"
    assert states[("nova_api", "ctldead")] == "drain"
    assert not [r for r in traffic.records if r[3] != 200]
