"""stackhop.upgrade.haproxy_server on a real HAProxy (Debian 12's 2.6) on 127.0.0.1: two
backends of three HTTP servers each, ctl1 of api_a holding a slow request. ctl1 is drained
from both backends while requests go through both frontends at 30 Hz: the module returns
once the slow request has ended, no request fails, none sent afterwards reaches ctl1;
check mode, a second run, ready, a timeout, an operator-level socket, wrong names, a
missing socket and a socket the user may not open (the figures are printed: run with -s)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils.haproxy_runtime import HaproxyRuntime
from tests.lib.ansible_runner import VENV, run_module
from tests.lib.private_haproxy import PrivateHaproxy, Traffic

LAYOUT = {"api_a": ["ctl1", "ctl2", "ctl3"], "api_b": ["ctl1", "ctl2", "ctl3"]}
HZ_PER_FRONTEND = 15


@pytest.fixture(scope="module")
def lb(tmp_path_factory):
    if not shutil.which("haproxy"):
        pytest.fail("haproxy is not installed; run scripts/setup.sh")
    proxy = PrivateHaproxy(tmp_path_factory.mktemp("haproxy"), LAYOUT, slow={("api_a", "ctl1")})
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def ready(lb):
    """Every server of ``lb`` ready, whatever the test before left."""
    runtime = HaproxyRuntime(str(lb.admin_socket), "test")
    for (backend, server), state in admin_states(lb).items():
        if state != "ready":
            runtime.ask("set server %s/%s state ready" % (backend, server))
    return lb


def admin_states(lb):
    return lb.admin_states()


def sessions(lb, backend, server):
    return lb.sessions(backend, server)


def haproxy_server(lb, check=False, diff=False, **args):
    return run_module("haproxy_server", dict({"socket": str(lb.admin_socket)}, **args),
                      check=check, diff=diff)


CTL1 = [{"server": "ctl1"}]


def hold_a_session(lb, seconds):
    """A /slow request through api_a's frontend on ctl1 (the only slow server)."""
    return lb.hold_slow_session("api_a", "ctl1", seconds)


@pytest.mark.usefixtures("ready")
def test_drain_waits_for_the_slow_session_while_every_request_goes_elsewhere(lb):
    with Traffic(lb, HZ_PER_FRONTEND) as traffic:
        time.sleep(1)
        slow, slow_done = hold_a_session(lb, 10)
        t0 = time.monotonic()
        res = haproxy_server(lb, diff=True, servers=CTL1, state="drain", timeout=60, interval=0.2)
        t1 = time.monotonic()
        time.sleep(2)
    slow.join(10)
    assert not res.failed, res
    assert res["changed"]
    assert res["executed_commands"] == ["set server api_a/ctl1 state drain",
                                        "set server api_b/ctl1 state drain"]
    assert [(s["backend"], s["server"], s["before"], s["state"], s["sessions"]) for s in res["servers"]] == [
        ("api_a", "ctl1", "ready", "drain", 0), ("api_b", "ctl1", "ready", "drain", 0)]
    assert res["diff"]["before"] == "api_a/ctl1 ready\napi_b/ctl1 ready\n"
    assert res["diff"]["after"] == "api_a/ctl1 drain\napi_b/ctl1 drain\n"
    # the module returned after the slow request ended, not before
    assert slow_done["answer"] == (200, "api_a/ctl1")
    assert t0 < slow_done["end"] <= t1, (t0, slow_done["end"], t1)
    assert res["seconds"] > 0
    assert sessions(lb, "api_a", "ctl1") == 0

    during = traffic.between(t0, t1)
    after = traffic.between(t1, t1 + 2)
    failed = [r for r in during + after if r[3] != 200]
    rate = len(during) / (t1 - t0)
    print("drain of ctl1 from api_a and api_b: the module took %.1f s (waited %.1f s for the slow "
          "session); %d requests during it (%.1f Hz), %d failed; %d in the 2 s after, %d to ctl1"
          % (t1 - t0, res["seconds"], len(during), rate, len(failed), len(after),
             sum(1 for r in after if r[4].endswith("/ctl1"))))
    assert not failed, failed[:5]
    assert rate >= 20, "the traffic ran at %.1f Hz only" % rate
    assert after and not [r for r in after if r[4].endswith("/ctl1")]
    assert {r[4] for r in after} == {"api_a/ctl2", "api_a/ctl3", "api_b/ctl2", "api_b/ctl3"}


@pytest.mark.usefixtures("ready")
def test_check_mode_and_a_second_run_change_nothing_and_ready_brings_it_back(lb):
    assert haproxy_server(lb, servers=CTL1, state="drain", wait=False)["changed"]
    res = haproxy_server(lb, check=True, diff=True, servers=CTL1, state="ready")
    assert not res.failed, res
    assert res["changed"] and res["executed_commands"] == []
    assert [s["state"] for s in res["servers"]] == ["ready", "ready"]
    assert res["diff"]["after"] == "api_a/ctl1 ready\napi_b/ctl1 ready\n"
    assert admin_states(lb)[("api_a", "ctl1")] == "drain"
    assert admin_states(lb)[("api_b", "ctl1")] == "drain"

    again = haproxy_server(lb, servers=CTL1, state="drain", timeout=10)
    assert not again.failed, again
    assert not again["changed"] and again["executed_commands"] == []

    back = haproxy_server(lb, servers=CTL1, state="ready")
    assert not back.failed, back
    assert back["changed"] and back["executed_commands"] == ["set server api_a/ctl1 state ready",
                                                             "set server api_b/ctl1 state ready"]
    assert set(admin_states(lb).values()) == {"ready"}
    answered = {lb.get(backend)[1] for backend in LAYOUT for _round in range(6)}
    assert {"api_a/ctl1", "api_b/ctl1"} <= answered
    assert not haproxy_server(lb, servers=CTL1, state="ready")["changed"]


@pytest.mark.usefixtures("ready")
def test_a_timeout_names_the_servers_still_holding_sessions(lb):
    slow, slow_done = hold_a_session(lb, 30)
    res = haproxy_server(lb, servers=[{"backend": "api_a", "server": "ctl1"}], state="maint",
                         timeout=1, interval=0.2)
    assert res.failed and res["changed"]
    print("timeout: " + res["msg"])
    assert res["msg"].startswith("after 1 s in maint, HAProxy on ")
    assert "still has api_a/ctl1 (1 session): it stays in maint and takes no new request" in res["msg"]
    assert "'shutdown sessions server <backend>/<server>' on %s" % lb.admin_socket in res["msg"]
    assert res["executed_commands"] == ["set server api_a/ctl1 state maint"]
    assert admin_states(lb)[("api_a", "ctl1")] == "maint"
    assert sessions(lb, "api_a", "ctl1") == 1           # a maintenance cuts no session
    # the sentence's fix: end them, and the same task passes
    runtime = HaproxyRuntime(str(lb.admin_socket), "test")
    assert runtime.ask("shutdown sessions server api_a/ctl1") == ""
    slow.join(10)
    assert not slow.is_alive() and slow_done["answer"][0] != 200
    again = haproxy_server(lb, servers=[{"backend": "api_a", "server": "ctl1"}], state="maint",
                           timeout=1, interval=0.2)
    assert not again.failed and not again["changed"], again


@pytest.mark.usefixtures("ready")
def test_a_server_set_back_while_the_task_waits_fails_it(lb):
    """A reload of HAProxy, or someone's command, puts a drained server back: the task
    must not report a drain that no longer holds."""
    # The session lasts until the test shuts it down below: a fixed length raced
    # ansible-playbook's start on a loaded CI machine (the session ended before the drain).
    slow, _slow_done = hold_a_session(lb, 300)
    result = {}
    task = threading.Thread(target=lambda: result.update(
        haproxy_server(lb, servers=CTL1, state="drain", timeout=300, interval=0.2)), daemon=True)
    task.start()
    deadline = time.monotonic() + 240
    while set(admin_states(lb).values()) != {"ready", "drain"} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(admin_states(lb).values()) == {"ready", "drain"}, "the task set no drain in 240 s"
    time.sleep(0.5)     # past the task's own read-back of what it set: it waits now
    assert sessions(lb, "api_a", "ctl1") == 1, "the task is not waiting any more"
    runtime = HaproxyRuntime(str(lb.admin_socket), "test")
    assert runtime.ask("set server api_a/ctl1 state ready") == ""
    assert runtime.ask("shutdown sessions server api_a/ctl1") == ""    # the wait ends now
    task.join(120)
    slow.join(30)
    assert result.get("failed"), result
    print("set back while waiting: " + result["msg"])
    assert " moved api_a/ctl1 (now ready) out of drain (a reload resets the runtime's states" in result["msg"]
    assert haproxy_server(lb, servers=CTL1, state="ready")["changed"]


@pytest.mark.usefixtures("ready")
def test_an_operator_level_socket_changes_nothing(lb):
    res = run_module("haproxy_server", {"socket": str(lb.operator_socket), "servers": CTL1,
                                        "state": "drain"})
    assert res.failed
    print("operator socket: " + res["msg"])
    assert res["msg"] == (
        "HAProxy's socket %s on %s is at level operator, which may not set a server's state: set "
        "socket to a 'stats socket' line with 'level admin' (Debian's /run/haproxy/admin.sock is "
        "one)" % (lb.operator_socket, res["msg"].split(" on ", 1)[1].split(" is at", 1)[0]))
    assert res["executed_commands"] == []
    assert set(admin_states(lb).values()) == {"ready"}
    # reading is allowed there: a server already in the state needs no admin level
    ready = run_module("haproxy_server", {"socket": str(lb.operator_socket), "servers": CTL1,
                                          "state": "ready"})
    assert not ready.failed and not ready["changed"]


@pytest.mark.usefixtures("ready")
def test_wrong_names_change_nothing(lb):
    res = haproxy_server(lb, servers=[{"server": "ctl1", "backend": "api_a"}, {"server": "ctl9"},
                                      {"server": "ctl2", "backend": "api_x"}], state="drain")
    assert res.failed
    print("wrong names: " + res["msg"])
    assert res["msg"].startswith("nothing was changed: HAProxy on ")
    assert "has no server named ctl9 in any backend, no backend api_x; name servers" in res["msg"]
    assert res["msg"].endswith("(backends: api_a, api_b)")
    assert res["executed_commands"] == []
    assert set(admin_states(lb).values()) == {"ready"}
    res = haproxy_server(lb, servers=[{"server": "ctl1;shutdown"}], state="drain")
    assert res.failed and "which is not an HAProxy name" in res["msg"]


@pytest.mark.needs_root     # setpriv to nobody
def test_a_missing_socket_and_one_the_user_may_not_open(lb, tmp_path):
    res = run_module("haproxy_server", {"socket": str(tmp_path / "none.sock"), "servers": CTL1,
                                        "state": "drain"})
    assert res.failed and res["msg"].startswith("No HAProxy socket at %s on " % (tmp_path / "none.sock"))
    # the admin socket is root's, mode 0600: the client as nobody
    code = ("import sys\n"
            "from ansible_collections.stackhop.upgrade.plugins.module_utils.haproxy_runtime import *\n"
            "try:\n    HaproxyRuntime(sys.argv[1], 'lb1').ask('show servers state')\n"
            "except HaproxyRuntimeError as exc:\n    print(exc)\n")
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           str(VENV / "bin" / "python"), "-c", code, str(lb.admin_socket)],
                          capture_output=True, text=True, check=False, timeout=60,
                          env={"PYTHONPATH": ":".join(p for p in sys.path if p.endswith("collections"))})
    print("as nobody: " + proc.stdout.strip())
    assert proc.stdout.startswith("nobody may not open HAProxy's socket %s on lb1 (permission "
                                  "denied): run the task as root" % lb.admin_socket), proc


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """api_t's servers follow api_a's (``track``), as a shared health check does."""
    proxy = PrivateHaproxy(tmp_path_factory.mktemp("haproxy-track"),
                           {"api_a": ["ctl1", "ctl2"], "api_t": ["ctl1", "ctl2"]},
                           track={"api_t": "api_a"})
    proxy.start()
    yield proxy
    proxy.stop()


def test_a_tracking_server_follows_the_server_it_tracks(tracked):
    res = haproxy_server(tracked, servers=[{"backend": "api_a", "server": "ctl1"}], state="maint",
                         wait=False)
    assert res["changed"] and res["executed_commands"] == ["set server api_a/ctl1 state maint"]
    assert admin_states(tracked)[("api_t", "ctl1")] == "maint"       # inherited
    # alone, no command brings it back: refused before anything is sent
    alone = haproxy_server(tracked, servers=[{"backend": "api_t", "server": "ctl1"}], state="ready")
    assert alone.failed and alone["executed_commands"] == []
    print("tracking server alone: " + alone["msg"])
    assert alone["msg"] == ("nothing was changed: api_t/ctl1 follows the state of api_a/ctl1, which "
                            "it tracks, so no command makes it ready: list api_a/ctl1 in servers "
                            "too")
    # with the server it tracks, both come back
    both = haproxy_server(tracked, servers=[{"server": "ctl1"}], state="ready")
    assert not both.failed, both
    # out of maintenance through a drain, until the health check found them up
    assert both["executed_commands"] == ["set server api_a/ctl1 state drain",
                                         "set server api_t/ctl1 state drain",
                                         "set server api_a/ctl1 state ready",
                                         "set server api_t/ctl1 state ready"]
    assert [s["status"] for s in both["servers"]] == ["UP", "UP"]
    assert set(admin_states(tracked).values()) == {"ready"}
