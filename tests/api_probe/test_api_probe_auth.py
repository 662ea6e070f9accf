"""The API probe's authenticated mode (api_probe.py --mode authenticated) against a toy
OpenStack on 127.0.0.1 (tests/lib/stub_cloud.py): the real probe program reads and writes
every service with a token from a 0600 credentials file, renews the token before it expires
and when an API refuses it, counts a keystone outage against keystone only, keeps windows
and counters per service and check, deletes what it created (and an earlier run's
``stackhop-probe-*`` objects), and never writes the password or a token anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.stackhop.upgrade.plugins.plugin_utils import upgrade_report as model
from tests.lib.stub_cloud import PASSWORD, PROJECT_ID, StubCloud

PROBE = Path(__file__).resolve().parents[2] / "roles" / "api_probe" / "files" / "api_probe.py"
READS = ("keystone", "glance", "nova", "neutron", "cinder", "placement")
WRITES = ("neutron", "cinder", "glance")


@pytest.fixture
def cloud():
    stub = StubCloud()
    yield stub
    stub.close()


def credentials(tmp_path, cloud, mode=0o600, content=None):
    path = tmp_path / "probe-credentials.json"
    path.write_text(json.dumps(content if content is not None else cloud.credentials()))
    os.chmod(path, mode)
    return path


def start(tmp_path, cloud, reads=READS, writes=WRITES, hz=10, extra=(), wait=True, timeout=1):
    """The probe against the stub; ``timeout``: seconds a read (and a token issue) may take,
    1 where a test measures timeouts, longer where it counts failures that a loaded
    machine's slow answer must not make."""
    out = tmp_path / "probes"
    argv = [sys.executable, str(PROBE), "run", "--mode", "authenticated",
            "--credentials", str(credentials(tmp_path, cloud)), "--hz", str(hz),
            "--timeout", str(timeout), "--read-timeout", str(timeout), "--write-timeout", str(2 * timeout),
            "--out-dir", str(out), "--write-every", "0.2", "--state", str(tmp_path / "state.json"),
            "--target", "keystone=" + cloud.auth_url, "--cleanup-wait", "10"]
    argv += ["--read=" + ",".join(reads)] if reads else []
    argv += ["--write=" + ",".join(writes)] if writes else []
    log = open(tmp_path / "probe.log", "ab")
    proc = subprocess.Popen(argv + list(extra), stderr=log)
    proc.log_path = tmp_path / "probe.log"
    if not wait:
        return proc
    deadline = time.monotonic() + 20
    want = ["api-read-%s.json" % s for s in reads] + ["api-write-%s.json" % s for s in writes]
    while time.monotonic() < deadline:
        if all((out / name).exists() for name in want):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no read/write records within 20 s:\n" + proc.log_path.read_text())


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.log_path.read_text()


def outage(cloud, service, mode, seconds, settle):
    """``service`` answers as ``mode`` for ``seconds`` after ``settle`` seconds of normal
    answers; (start, end) of the outage by the wall clock."""
    time.sleep(settle)
    t0 = time.time()
    cloud.modes[service] = mode
    time.sleep(seconds)
    cloud.modes[service] = "up"
    return t0, time.time()


def rec(tmp_path, service, check):
    return json.loads((tmp_path / "probes" / ("api-%s-%s.json" % (check, service))).read_text())


def test_reads_and_writes_of_every_service_and_nothing_left(tmp_path, cloud):
    proc = start(tmp_path, cloud)
    time.sleep(2.5)
    status = subprocess.run([sys.executable, str(PROBE), "status", "--state", str(tmp_path / "state.json")],
                            capture_output=True, text=True, check=True).stdout
    stop(proc)
    for service in READS:
        read = rec(tmp_path, service, "read")
        assert read["kind"] == "api" and read["check"] == "read" and read["service"] == service
        assert read["polls"] >= 10 and read["failed_polls"] == 0 and read["down"] == [], read
    for service in WRITES:
        write = rec(tmp_path, service, "write")
        assert write["polls"] >= 5 and write["failed_polls"] == 0, write
        assert write["created"] >= 3 and write["leftovers"] == 0, write
    assert rec(tmp_path, "nova", "read")["target"].endswith("/v2.1/servers?limit=1")
    assert rec(tmp_path, "cinder", "read")["target"].endswith("/v3/%s/volumes?limit=1" % PROJECT_ID)
    # placement refuses a limit on this list (the lab's 2024.1 answered 400 to every read)
    assert rec(tmp_path, "placement", "read")["target"].endswith("/resource_providers?name=stackhop-probe")
    # one password login for the whole run; keystone's read issues tokens from the token
    assert cloud.password_auths == 1
    assert cloud.token_auths >= 10
    # what the writes made is gone; nothing else was touched
    assert cloud.live("networks") == [] and cloud.live("ports") == []
    assert cloud.live("images") == [] and cloud.live("volumes") == []
    assert cloud.count("neutron", "POST", "/v2.0/ports") >= 5
    # the secrets are nowhere but in the credentials file and keystone's request
    tokens = {h.get("X-Subject-Token") for h in cloud.headers_seen} | {
        h.get("X-Auth-Token") for h in cloud.headers_seen}
    tokens.discard(None)
    assert tokens
    written = [p.read_text() for p in (tmp_path / "probes").iterdir()]
    written += [status, proc.log_path.read_text()]
    for text in written:
        assert PASSWORD not in text
        assert not [t for t in tokens if t in text]
    assert json.loads(status)["credentials"] == str(tmp_path / "probe-credentials.json")
    assert json.loads(status)["writes"] == list(WRITES)


def test_the_token_is_renewed_before_it_expires(tmp_path, cloud):
    cloud.token_life = 2.0
    proc = start(tmp_path, cloud, reads=["nova", "keystone"], writes=[], timeout=5)
    time.sleep(4)
    stop(proc)
    # renewed at 3/4 of its life: about every 1.5 s, and no call went out expired
    assert cloud.password_auths >= 3
    for service in ("nova", "keystone"):
        read = rec(tmp_path, service, "read")
        assert read["failed_polls"] == 0 and not read.get("skipped_polls"), read
    assert rec(tmp_path, "keystone", "read")["token_renewals"] >= 3


def test_a_refused_token_is_renewed_and_the_call_sent_again(tmp_path, cloud):
    """Keystone starts refusing every token issued so far (new fernet keys): the services'
    calls answer 401, the probe renews once and sends again: no service read fails; only
    keystone's own read, which presented the refused token, records it."""
    proc = start(tmp_path, cloud, reads=["nova", "neutron", "keystone"], writes=["glance"], timeout=5)
    time.sleep(1)
    logins = cloud.password_auths
    cloud.refuse_tokens()
    time.sleep(1.5)
    stop(proc)
    assert cloud.password_auths == logins + 1, "one renewal for every thread that was refused"
    for service in ("nova", "neutron"):
        assert rec(tmp_path, service, "read")["failed_polls"] == 0
    assert rec(tmp_path, "glance", "write")["failed_polls"] == 0
    keystone = rec(tmp_path, "keystone", "read")
    # reads overlap by one: on a loaded machine two were in flight with the refused token
    assert keystone["failed_polls"] <= 2
    for window in keystone["down"]:
        assert window["reason"] == "HTTP 401 (the probe's token refused)", window


def test_keystone_moving_counts_against_keystone_only(tmp_path, cloud):
    """Keystone is down longer than the token lives: its reads fail (one window); the
    other services' reads go on with the token while it is valid, then are not made (no
    token) and are not counted as their failures; all is measured again once keystone is
    back."""
    cloud.token_life = 2.0
    proc = start(tmp_path, cloud, reads=["keystone", "nova", "placement"], writes=["neutron"])
    time.sleep(0.8)
    t0 = time.time()
    cloud.stop("keystone")
    time.sleep(3)
    cloud.start("keystone")
    t1 = time.time()
    time.sleep(2.5)
    stop(proc)
    keystone = rec(tmp_path, "keystone", "read")
    assert len(keystone["down"]) == 1, keystone["down"]
    window = keystone["down"][0]
    assert abs(model.parse_time(window["start"]) - t0) < 0.5
    assert abs(model.parse_time(window["end"]) - t1) < 1.6   # the next renewal try (1 s) + a poll
    for service, check in (("nova", "read"), ("placement", "read"), ("neutron", "write")):
        other = rec(tmp_path, service, check)
        assert other["failed_polls"] == 0 and other["down"] == [], (service, other["down"])
        assert other["skipped_polls"] > 0, other      # the token expired while keystone was down
    assert "keystone issued no token" in (tmp_path / "probe.log").read_text()


def test_a_service_that_cannot_reach_keystone_is_not_counted_down(tmp_path, cloud):
    """While keystone moves, a service's keystonemiddleware that has not cached the probe's
    token answers 503 "The Keystone service is temporarily unavailable.": keystone's
    failure, so the call is not counted (skipped_polls), not a window of the service; any
    other 503 is the service's."""
    proc = start(tmp_path, cloud, reads=["nova", "placement"], writes=["glance"])
    time.sleep(0.6)
    cloud.modes["nova"] = cloud.modes["glance"] = "no-keystone"
    cloud.modes["placement"] = "503"
    time.sleep(1.0)
    cloud.modes["nova"] = cloud.modes["glance"] = cloud.modes["placement"] = "up"
    time.sleep(0.8)
    stop(proc)
    for service, check in (("nova", "read"), ("glance", "write")):
        other = rec(tmp_path, service, check)
        assert other["failed_polls"] == 0 and other["down"] == [], other["down"]
        assert other["skipped_polls"] >= 3, other
    assert len(rec(tmp_path, "placement", "read")["down"]) == 1


def test_a_service_outage_is_its_own_read_and_write_window(tmp_path, cloud):
    proc = start(tmp_path, cloud, reads=["neutron", "glance"], writes=["neutron", "glance"])
    t0, t1 = outage(cloud, "neutron", "503", 1.0, settle=0.8)
    time.sleep(1.0)
    stop(proc)
    for check in ("read", "write"):
        neutron = rec(tmp_path, "neutron", check)
        assert len(neutron["down"]) == 1, neutron["down"]
        window = neutron["down"][0]
        assert abs(model.parse_time(window["start"]) - t0) < 0.4
        assert abs(model.parse_time(window["end"]) - t1) < 0.6
        assert neutron["failed_polls"] >= 3 and neutron["longest_s"] > 0.6
        assert rec(tmp_path, "glance", check)["failed_polls"] == 0
    assert rec(tmp_path, "neutron", "write")["down"][0]["reason"].endswith("HTTP 503")
    # a cycle cut by the outage left its network: deleted by a later cycle or the stop
    assert cloud.live("networks") == [] and cloud.live("ports") == []


@pytest.mark.parametrize("slow", ["/ports", "/networks"])
def test_what_a_create_that_timed_out_made_is_deleted_while_the_probe_runs(tmp_path, cloud, slow):
    """A create that times out may still make its object (port creates on a loaded lab's
    neutron): the next cycles find it (a network by its name) and delete it, a network's
    ports first, so leftovers do not pile up into the project's quota while the probe runs."""
    proc = start(tmp_path, cloud, reads=["neutron"], writes=["neutron"])
    try:
        outage(cloud, "neutron", "slow-posts:" + slow, 2.5, settle=0.6)
        deadline = time.monotonic() + 10
        while cloud.live("networks") or cloud.live("ports"):
            assert time.monotonic() < deadline, (cloud.live("networks"), cloud.live("ports"))
            time.sleep(0.2)
        assert cloud.count("neutron", "POST", "/v2.0" + slow) >= 1
    finally:
        stop(proc)


def test_a_start_deletes_an_earlier_runs_objects_and_nothing_else(tmp_path, cloud):
    now = time.time()
    cloud.objects["networks"]["n1"] = {"id": "n1", "name": "stackhop-probe-old-1"}
    cloud.objects["ports"]["p1"] = {"id": "p1", "name": "stackhop-probe-old-1", "network_id": "n1"}
    cloud.objects["networks"]["n2"] = {"id": "n2", "name": "provider-vlan100"}
    cloud.objects["images"]["i1"] = {"id": "i1", "name": "stackhop-probe-old-2"}
    cloud.objects["images"]["i2"] = {"id": "i2", "name": "cirros"}
    # stuck in creating: reset to error, then deleted
    cloud.objects["volumes"]["v1"] = {"id": "v1", "name": "stackhop-probe-old-3",
                                      "status": "creating", "_since": now + 3600}
    cloud.objects["volumes"]["v2"] = {"id": "v2", "name": "data", "status": "available", "_since": now}
    proc = start(tmp_path, cloud, reads=["neutron"], writes=WRITES)
    time.sleep(1.5)
    assert "n1" not in cloud.objects["networks"] and "p1" not in cloud.objects["ports"]
    assert "i1" not in cloud.objects["images"]
    stop(proc)
    assert cloud.live("networks") == ["provider-vlan100"]
    assert cloud.live("images") == ["cirros"] and cloud.live("volumes") == ["data"]
    assert "deleted" in (tmp_path / "probe.log").read_text()


def test_volumes_stuck_in_creating_are_capped_and_deleted_at_the_stop(tmp_path, cloud):
    cloud.volume_create_s = 3600
    proc = start(tmp_path, cloud, reads=[], writes=["cinder"], extra=["--max-volumes", "2"])
    time.sleep(1.5)
    assert len(cloud.live("volumes")) == 2          # the cap: no more while they are creating
    stop(proc)
    write = rec(tmp_path, "cinder", "write")
    assert write["created"] == 2 and write["failed_polls"] == 0 and write["leftovers"] == 0
    assert cloud.live("volumes") == []


def test_bad_credentials_files_are_refused(tmp_path, cloud):
    def run(path, *extra):
        return subprocess.run([sys.executable, str(PROBE), "run", "--mode", "authenticated",
                               "--credentials", str(path), "--read", "nova",
                               "--out-dir", str(tmp_path / "o")] + list(extra),
                              capture_output=True, text=True, check=False, timeout=30)
    res = run(credentials(tmp_path, cloud, mode=0o644))
    assert res.returncode != 0 and "is open to other users (mode 644); chmod 600 it" in res.stderr
    res = run(credentials(tmp_path, cloud, content={"auth_url": cloud.auth_url, "username": "a"}))
    assert res.returncode != 0 and "lacks password, project_name; add them" in res.stderr
    clouds = {"clouds": {"a": {"auth": cloud.credentials()}, "b": {"auth": cloud.credentials()}}}
    res = run(credentials(tmp_path, cloud, content=clouds), "--cloud", "c")
    assert res.returncode != 0 and "has no cloud 'c'; give --cloud with one of a, b" in res.stderr
    assert PASSWORD not in res.stderr
    res = subprocess.run([sys.executable, str(PROBE), "run", "--mode", "authenticated", "--read", "nova",
                          "--out-dir", str(tmp_path / "o")], capture_output=True, text=True, check=False)
    assert res.returncode != 0 and "needs --credentials FILE" in res.stderr
    res = run(credentials(tmp_path, cloud), "--write", "nova")
    assert res.returncode != 0 and "--write nova: no write is known" in res.stderr


def test_a_clouds_yaml_entry_and_the_report(tmp_path, cloud):
    """A clouds.yaml structure (JSON is YAML) with the entry named by --cloud; the records
    go through the report callback's loader into each service's reads and writes."""
    entry = cloud.credentials()
    region = entry.pop("region_name")
    path = credentials(tmp_path, cloud, content={"clouds": {
        "lab-admin": {"auth": entry, "region_name": region}, "other": {"auth": {}}}})
    out = tmp_path / "report" / "probes"
    proc = subprocess.Popen([sys.executable, str(PROBE), "run", "--mode", "authenticated",
                             "--credentials", str(path), "--cloud", "lab-admin", "--hz", "10",
                             "--read", "nova,neutron", "--write", "neutron", "--out-dir", str(out),
                             "--target", "nova=" + cloud.url("nova"), "--write-every", "0.2"])
    deadline = time.monotonic() + 20
    while not (out / "api-write-neutron.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    outage(cloud, "neutron", "503", 0.6, settle=0.6)
    time.sleep(0.6)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    probes, errors = model.load_probe_files(str(tmp_path / "report"))
    assert errors == []
    merged = model.merge(str(tmp_path / "report"), [], probes)
    api = {a["service"]: a for a in merged["api"]}
    assert set(api) == {"nova", "neutron"}
    assert api["nova"]["down"] == [] and api["nova"]["reads"]["failed_polls"] == 0
    assert "writes" not in api["nova"]
    neutron = api["neutron"]
    assert neutron["down"] == []            # no version-document record for neutron
    assert neutron["reads"]["failed_polls"] > 0 and neutron["writes"]["failed_polls"] > 0
    assert len(neutron["writes"]["down"]) == 1 and neutron["writes"]["leftovers"] == 0
    assert neutron["writes"]["longest_s"] == neutron["writes"]["down"][0]["seconds"]
    text = model.markdown_summary(merged)
    assert "| neutron | %d | %d |" % (neutron["reads"]["polls"], neutron["reads"]["failed_polls"]) in text
    html = model.render_html(merged)
    assert 'class="apicheck" data-service="neutron"' in html
    assert 'class="apiwrite" data-service="neutron"' in html and 'class="apiread" data-service="neutron"' in html
    res = subprocess.run([sys.executable, str(PROBE), "report", "--out-dir", str(out)],
                         capture_output=True, text=True, check=True)
    report = json.loads(res.stdout)
    assert set(report["reads"]) == {"nova", "neutron"} and set(report["writes"]) == {"neutron"}
    assert report["writes"]["neutron"]["windows"] == 1
    assert "| neutron |" in report["markdown"].split("| API | reads")[1]


def test_a_hanging_api_is_read_with_one_read_in_reserve(tmp_path, cloud):
    """Reads overlap by one: while glance hangs (each read times out after 1 s) a second
    read is sent beside the hanging one, never more (the probe must not become the load of
    a struggling API): about two reads a timeout, and the window ends within one timeout
    of the hang's end."""
    proc = start(tmp_path, cloud, reads=["glance", "nova"], writes=[])
    t0, t1 = outage(cloud, "glance", "hang", 2.0, settle=0.8)
    time.sleep(2.5)
    stop(proc)
    glance = rec(tmp_path, "glance", "read")
    assert len(glance["down"]) == 1, glance["down"]
    window = glance["down"][0]
    assert window["reason"].startswith("timeout after 1s")
    assert abs(model.parse_time(window["start"]) - t0) < 0.35
    assert -0.35 < model.parse_time(window["end"]) - t1 < 1.3
    assert 3 <= window["polls"] <= 8, window       # 2 in flight per 1 s timeout, not 10 a second
    assert rec(tmp_path, "nova", "read")["failed_polls"] == 0
