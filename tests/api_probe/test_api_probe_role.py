"""playbooks/api_probe.yml and the api_probe role on this machine (the Ansible controller):
start (idempotent, check mode), report while it runs, stop, the report callback picks up
the records; and polling from inside a network namespace where the API is the only thing
reachable. This machine has no systemd as PID 1, so the probe runs as a detached process
here; the transient-unit launcher is exercised on a lab host (tests/lab/test_endpoint_vip.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.lib.ansible_runner import REPO, run_playbook
from tests.lib.version_api import VersionApi

PLAYBOOK = REPO / "playbooks" / "api_probe.yml"
NETNS = "vrap0"


def run(action, tmp_path, endpoints, check=False, callback=True, env_extra=None, **extra):
    extra_vars = {"api_probe_action": action, "api_probe_endpoints": endpoints,
                  "api_probe_state_dir": str(tmp_path / "state"),
                  "api_probe_name": "vr-api-probe-%d" % os.getpid(),
                  "api_probe_python": sys.executable, "api_probe_hz": 10,
                  "api_probe_netns": "",
                  # the product's default: a shorter one makes a poll delayed by CI's own
                  # load count as an outage (seen: "timeout after 0.3s" under xdist)
                  "api_probe_timeout": 1.0}
    extra_vars.update(extra)
    if extra_vars["api_probe_name"] is None:
        del extra_vars["api_probe_name"]   # the role's default
    env = dict(env_extra or {})
    env.update({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    if not callback:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.timer"   # not the report callback of ansible.cfg
    else:
        env.update({"ANSIBLE_CALLBACKS_ENABLED": "stackhop.upgrade.upgrade_report",
                    "STACKHOP_REPORT_DIR": str(tmp_path / "report"),
                    "STACKHOP_REPORT_SUMMARY": "false"})
    proc = run_playbook(PLAYBOOK, extra_vars=extra_vars, inventory="localhost,", check=check,
                        extra_env=env, timeout=300)
    try:
        out = json.JSONDecoder().raw_decode(proc.stdout)[0]   # ansible.posix.timer prints after it
    except ValueError as exc:
        raise AssertionError("no JSON (rc=%d)\n%s\n%s" % (proc.returncode, proc.stdout[-3000:],
                                                          proc.stderr[-3000:])) from exc
    assert proc.returncode == 0, json.dumps(out, indent=1)[-4000:]
    facts = {}
    for play in out["plays"]:
        for task in play["tasks"]:
            res = task["hosts"].get("localhost", {})
            facts.update(res.get("ansible_facts", {}))
    return out["stats"]["localhost"], facts


@pytest.fixture(autouse=True)
def no_probe_left(tmp_path):
    """Stop any probe a failed test left running (found by its state file under tmp_path)."""
    yield
    for state in (tmp_path / "state").glob("*.pid.json"):
        subprocess.run([sys.executable, str(REPO / "roles/api_probe/files/api_probe.py"), "stop",
                        "--state", str(state)], capture_output=True, check=False)


@pytest.fixture
def apis():
    servers = {"keystone": VersionApi(), "nova": VersionApi()}
    yield servers
    for server in servers.values():
        try:
            server.stop()
        except OSError:
            pass


def test_start_report_stop_and_the_report_callback(tmp_path, apis):
    endpoints = {name: api.url for name, api in apis.items()}
    stats, _facts = run("start", tmp_path, endpoints, check=True)
    assert stats["changed"] >= 1
    assert not (tmp_path / "report" / "probes" / "api-keystone.json").exists()

    stats, _facts = run("start", tmp_path, endpoints)
    assert stats["changed"] >= 1 and stats["failures"] == 0
    stats, _facts = run("start", tmp_path, endpoints)
    assert stats["changed"] == 0, "a second start must change nothing"

    apis["nova"].stop()
    time.sleep(1.0)
    apis["nova"].start()
    time.sleep(0.5)
    stats, facts = run("report", tmp_path, endpoints)
    report = facts["api_probe_report"]["services"]
    assert report["keystone"]["windows"] == 0
    assert report["nova"]["windows"] == 1 and 0.7 < report["nova"]["down_s"] < 1.4
    assert report["nova"]["polls_per_s"] >= 5

    # another target set restarts the probe; records of unchanged targets continue
    endpoints2 = dict(endpoints, nova=apis["nova"].url.replace("/v3", "/"))
    stats, _facts = run("start", tmp_path, endpoints2)
    assert stats["changed"] >= 1
    apis["keystone"].mode = "503"
    time.sleep(0.8)
    apis["keystone"].mode = "up"
    time.sleep(0.4)
    stats, facts = run("stop", tmp_path, endpoints2)
    report = facts["api_probe_report"]["services"]
    assert report["keystone"]["windows"] == 1 and report["keystone"]["reasons"] == ["HTTP 503"]
    assert not (tmp_path / "state" / ("vr-api-probe-%d.pid.json" % os.getpid())).exists()
    stats, _facts = run("stop", tmp_path, endpoints2)
    assert stats["changed"] == 0

    # the callback merged the probe files into report.json
    merged = json.loads((tmp_path / "report" / "report.json").read_text())
    api = {a["service"]: a for a in merged["api"]}
    assert merged["probe_errors"] == []
    assert len(api["keystone"]["down"]) == 1 and api["keystone"]["down"][0]["reason"] == "HTTP 503"
    # nova's target changed: its record started afresh; keystone's continued
    assert api["nova"]["down"] == []
    phases = {(p["phase"], p["component"]) for p in merged["phases"]}
    assert ("probe", "api") in phases


def test_report_handed_to_another_runs_report_by_set_stats(tmp_path, apis):
    """Probe started for one report directory; a run writing another report gets the records."""
    endpoints = {"keystone": apis["keystone"].url}
    run("start", tmp_path, endpoints, callback=False,
        stackhop_report_dir=str(tmp_path / "probe-report"))
    apis["keystone"].stop()
    time.sleep(0.6)
    apis["keystone"].start()
    time.sleep(0.3)
    run("stop", tmp_path, endpoints)
    assert (tmp_path / "probe-report" / "probes" / "api-keystone.json").exists()
    merged = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [a["service"] for a in merged["api"]] == ["keystone"]
    assert len(merged["api"][0]["down"]) == 1


def test_refuses_bad_input_and_missing_report_dir(tmp_path):
    proc = run_playbook(PLAYBOOK, inventory="localhost,", extra_vars={
        "api_probe_endpoints": {"nova": "ftp://x/"}, "api_probe_state_dir": str(tmp_path)},
        extra_env={"STACKHOP_REPORT_DIR": str(tmp_path), "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert proc.returncode != 0 and "api_probe inputs are invalid" in proc.stdout
    proc = run_playbook(PLAYBOOK, inventory="localhost,", extra_vars={
        "api_probe_endpoints": {"nova": "http://127.0.0.1:1/"}, "api_probe_hz": 1,
        "api_probe_state_dir": str(tmp_path)}, extra_env={"STACKHOP_REPORT_DIR": str(tmp_path)})
    assert proc.returncode != 0 and "api_probe_hz between 2 and 50" in proc.stdout
    env = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer", "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    proc = run_playbook(PLAYBOOK, inventory="localhost,", extra_vars={
        "api_probe_endpoints": {"nova": "http://127.0.0.1:1/"},
        "api_probe_state_dir": str(tmp_path)}, extra_env=env)
    assert proc.returncode != 0 and "api_probe_report_dir is empty" in proc.stdout


@pytest.mark.needs_root
def wait_listening(netns, port, timeout=60):
    """Until something accepts connections on 127.0.0.1:port inside ``netns``."""
    check = ("import socket; socket.create_connection(('127.0.0.1', %d), 1).close()" % port)
    deadline = time.monotonic() + timeout
    while subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", check],
                         capture_output=True, check=False).returncode != 0:
        assert time.monotonic() < deadline, "nothing listens on %d in %s" % (port, netns)
        time.sleep(0.2)


def test_polls_from_inside_a_network_namespace(tmp_path):
    """The API listens on 127.0.0.1 inside a namespace: only a probe inside reaches it."""
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    server = None
    try:
        subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
        argv = ["ip", "netns", "exec", NETNS, sys.executable, "-m", "http.server", "--bind",
                "127.0.0.1", "18999"]
        server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # (on a loaded machine the server takes seconds to listen: the probe must find it up)
        wait_listening(NETNS, 18999)
        endpoints = {"placement": "http://127.0.0.1:18999/"}
        run("start", tmp_path, endpoints, api_probe_netns=NETNS)
        time.sleep(0.6)
        server.send_signal(signal.SIGKILL)
        server.wait()
        time.sleep(0.8)
        server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(NETNS, 18999)
        time.sleep(1.0)
        _stats, facts = run("stop", tmp_path, endpoints, api_probe_netns=NETNS)
        row = facts["api_probe_report"]["services"]["placement"]
        # up before and after: in the root namespace nothing listens on 18999
        assert row["windows"] == 1 and row["polls"] > 10
        # refused once it is gone; reset when the kill lands in the middle of a poll (a
        # starved machine makes that likely)
        assert row["reasons"] and set(row["reasons"]) <= {"connection refused", "connection reset"}
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True, check=False)


def test_two_upgrades_have_two_probes_named_by_their_upgrade_ids(tmp_path, apis):
    """Two region upgrades run from one controller (two regions from one AWX node) each
    start the probe: one unit and one state file per upgrade id, so the end of one upgrade
    stops only its own probe (session 21 saw a lab's upgrade stop another lab's)."""
    endpoints = {"keystone": apis["keystone"].url}
    ids = ["dc1-2024.1-to-2025.1-%d" % os.getpid(), "dc2-2024.1-to-2025.1-%d" % os.getpid()]
    for ident in ids:
        run("start", tmp_path, endpoints, api_probe_name=None, env_extra={"STACKHOP_UPGRADE_ID": ident},
            stackhop_report_dir=str(tmp_path / ident))
    assert sorted(p.name for p in (tmp_path / "state").glob("*.pid.json")) == [
        "stackhop-api-probe-%s.pid.json" % ident for ident in ids]
    run("stop", tmp_path, endpoints, api_probe_name=None, env_extra={"STACKHOP_UPGRADE_ID": ids[0]})
    assert [p.name for p in (tmp_path / "state").glob("*.pid.json")] == ["stackhop-api-probe-%s.pid.json" % ids[1]]
    run("stop", tmp_path, endpoints, api_probe_name=None, env_extra={"STACKHOP_UPGRADE_ID": ids[1]})
    assert not list((tmp_path / "state").glob("*.pid.json"))


def test_authenticated_mode_from_a_clouds_yaml_entry(tmp_path):
    """api_probe_mode=authenticated: the role copies the clouds.yaml entry (here this host's
    own, as a controller's) into a 0600 file, gives the probe only its path, starts it once
    (a second start changes nothing), and stop reports reads and writes per service,
    removes the credentials file and leaves no probe object in the cloud."""
    from tests.lib.stub_cloud import PASSWORD, StubCloud   # pylint: disable=import-outside-toplevel
    cloud = StubCloud()
    try:
        entry = cloud.credentials()
        region = entry.pop("region_name")
        clouds = tmp_path / "clouds.yaml"
        clouds.write_text("clouds:\n  stub-admin:\n    auth:\n%s    region_name: %s\n" % (
            "".join("      %s: %s\n" % kv for kv in entry.items()), region))
        clouds.chmod(0o600)
        extra = {"api_probe_mode": "authenticated", "api_probe_cloud": "stub-admin",
                 "api_probe_clouds_yaml": str(clouds), "api_probe_clouds_host": "localhost",
                 "api_probe_reads": ["keystone", "nova", "neutron"], "api_probe_writes": ["neutron", "glance"],
                 "api_probe_read_timeout": 2.0, "api_probe_write_timeout": 3.0, "api_probe_cleanup_wait": 10}
        endpoints = {"keystone": cloud.auth_url}
        stats, _facts = run("start", tmp_path, endpoints, **extra)
        assert stats["changed"] >= 1 and stats["failures"] == 0
        creds = next((tmp_path / "state").glob("*.credentials.json"))
        assert creds.stat().st_mode & 0o777 == 0o600
        assert json.loads(creds.read_text())["clouds"]["stub-admin"]["auth"]["password"] == PASSWORD
        stats, _facts = run("start", tmp_path, endpoints, **extra)
        assert stats["changed"] == 0, "a second start must change nothing"
        state = json.loads(next((tmp_path / "state").glob("*.pid.json")).read_text())
        cmdline = open("/proc/%d/cmdline" % state["pid"], "rb").read().decode()
        assert PASSWORD not in cmdline and str(creds) in cmdline
        time.sleep(1.5)
        cloud.modes["neutron"] = "503"
        time.sleep(0.8)
        cloud.modes["neutron"] = "up"
        time.sleep(1.0)
        _stats, facts = run("stop", tmp_path, endpoints, **extra)
        report = facts["api_probe_report"]
        assert set(report["reads"]) == {"keystone", "nova", "neutron"}
        assert set(report["writes"]) == {"neutron", "glance"}
        assert report["reads"]["nova"]["failed_polls"] == 0 and report["reads"]["nova"]["polls"] > 10
        assert report["reads"]["neutron"]["windows"] == 1 and report["writes"]["neutron"]["windows"] == 1
        assert report["writes"]["glance"]["failed_polls"] == 0 and report["writes"]["glance"]["leftovers"] == 0
        assert "| API | reads |" in report["markdown"]
        assert not creds.exists()
        assert cloud.live("networks") == [] and cloud.live("images") == []
        merged = json.loads((tmp_path / "report" / "report.json").read_text())
        neutron = [a for a in merged["api"] if a["service"] == "neutron"][0]
        assert len(neutron["writes"]["down"]) == 1
        for path in list((tmp_path / "report").rglob("*")) + list((tmp_path / "state").rglob("*")):
            if path.is_file():
                assert PASSWORD not in path.read_text(errors="replace"), path
    finally:
        cloud.close()


def test_authenticated_mode_refuses_an_unknown_cloud_and_write(tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  lab-admin:\n    auth:\n      password: %s\n" % "Top-S3cret-x")
    clouds.chmod(0o600)
    base = {"api_probe_endpoints": {"nova": "http://127.0.0.1:1/"}, "api_probe_state_dir": str(tmp_path / "s"),
            "api_probe_mode": "authenticated", "api_probe_clouds_yaml": str(clouds),
            "api_probe_clouds_host": "localhost"}
    env = {"STACKHOP_REPORT_DIR": str(tmp_path), "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    proc = run_playbook(PLAYBOOK, inventory="localhost,", extra_vars=dict(base, api_probe_cloud="other"),
                        extra_env=env)
    assert proc.returncode != 0
    assert "has no cloud other (it has lab-admin); set api_probe_cloud to one of them" in proc.stdout
    assert "Top-S3cret-x" not in proc.stdout + proc.stderr
    proc = run_playbook(PLAYBOOK, inventory="localhost,", extra_vars=dict(base, api_probe_writes=["nova"]),
                        extra_env=env)
    assert proc.returncode != 0 and ("api_probe_writes" in proc.stdout)
