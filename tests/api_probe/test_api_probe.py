"""The API downtime probe (roles/api_probe/files/api_probe.py) against a real local HTTP
server that is stopped (connection refused), made to answer 503 and made to hang, while
the real probe program polls it; the records it writes are read back through the report
callback's own loader."""

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
from tests.lib.version_api import VersionApi as Api

PROBE = Path(__file__).resolve().parents[2] / "roles" / "api_probe" / "files" / "api_probe.py"


@pytest.fixture
def api():
    server = Api()
    yield server
    try:
        server.stop()
    except OSError:
        pass


def start_probe(out_dir, targets, hz=10, timeout=0.3, extra=()):
    argv = [sys.executable, str(PROBE), "run", "--hz", str(hz), "--timeout", str(timeout),
            "--out-dir", str(out_dir), "--write-every", "0.2"]
    for service, url in targets.items():
        argv += ["--target", "%s=%s" % (service, url)]
    launched = time.time()
    proc = subprocess.Popen(argv + list(extra))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(_written_after(Path(out_dir) / ("api-%s.json" % s), launched) for s in targets):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the probe wrote no record within 10 s")


def _written_after(path, when):
    try:
        return model.parse_time(json.loads(path.read_text())["end"]) >= when
    except (OSError, ValueError, KeyError):
        return False


def stop_probe(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def record(out_dir, service):
    return json.loads((Path(out_dir) / ("api-%s.json" % service)).read_text())


def test_outages_are_measured_within_one_interval(tmp_path, api):
    """Refused for 1.0 s, then HTTP 503 for 0.8 s: two windows, each within ~one poll
    interval (0.1 s at 10 Hz) plus scheduling slack of the true outage."""
    out = tmp_path / "probes"
    proc = start_probe(out, {"keystone": api.url})
    time.sleep(1.0)
    t0 = time.time()
    api.stop()
    time.sleep(1.0)
    api.start()
    t1 = time.time()
    time.sleep(0.8)
    t2 = time.time()
    api.mode = "503"
    time.sleep(0.8)
    api.mode = "up"
    t3 = time.time()
    time.sleep(0.8)
    stop_probe(proc)
    rec = record(out, "keystone")
    assert rec["kind"] == "api" and rec["service"] == "keystone" and rec["target"] == api.url
    assert rec["interval_s"] == 0.1 and not rec["ongoing"]
    # a poll caught in the listen backlog when the server closes sees a reset first
    assert rec["down"][0]["reason"] in ("connection refused", "connection reset")
    assert rec["down"][1]["reason"] == "HTTP 503" and len(rec["down"]) == 2
    for window, (start, end) in zip(rec["down"], [(t0, t1), (t2, t3)]):
        got_start, got_end = model.parse_time(window["start"]), model.parse_time(window["end"])
        assert abs(got_start - start) < 0.25, (window, start)
        assert abs(got_end - end) < 0.25, (window, end)
        assert abs(window["seconds"] - (end - start)) < 0.3
    # ≥ 2 Hz kept even while the server refuses (a refused connect fails fast)
    assert rec["polls_per_s"] >= 5, rec["polls_per_s"]


def test_hang_is_a_timeout_and_an_open_window_is_written_while_it_lasts(tmp_path, api):
    out = tmp_path / "probes"
    proc = start_probe(out, {"glance": api.url}, hz=4, timeout=0.4)
    time.sleep(0.6)
    api.mode = "hang"
    time.sleep(1.5)
    during = record(out, "glance")
    assert during["ongoing"] is True
    assert during["down"][-1]["ongoing"] is True
    assert during["down"][-1]["reason"].startswith("timeout after 0.4s")
    # an open window ends "now": the report can show an outage while it lasts
    assert model.parse_time(during["end"]) - model.parse_time(during["down"][-1]["end"]) < 0.01
    api.mode = "up"
    time.sleep(4)   # the hung handler threads finish; polls succeed again
    stop_probe(proc)
    rec = record(out, "glance")
    assert not rec["ongoing"] and len(rec["down"]) == 1 and "ongoing" not in rec["down"][0]


def test_records_are_accepted_by_the_report_and_the_report_command(tmp_path, api):
    report_dir = tmp_path / "report"
    out = report_dir / "probes"
    other = Api()
    proc = start_probe(out, {"nova": api.url, "neutron": other.url})
    time.sleep(0.5)
    other.stop()
    time.sleep(0.7)
    other.start()
    time.sleep(0.5)
    stop_probe(proc)
    other.stop()
    probes, errors = model.load_probe_files(str(report_dir))
    assert errors == []
    by_service = {p["service"]: p for p in probes}
    assert set(by_service) == {"nova", "neutron"}
    assert by_service["nova"]["down"] == []
    assert len(by_service["neutron"]["down"]) == 1
    merged = model.merge(str(report_dir), [], probes)
    neutron = [a for a in merged["api"] if a["service"] == "neutron"][0]
    assert 0.5 < neutron["down_s"] < 1.0 and neutron["longest_s"] == neutron["down_s"]

    out_json = subprocess.run([sys.executable, str(PROBE), "report", "--out-dir", str(out)],
                              capture_output=True, text=True, check=True).stdout
    rows = json.loads(out_json)["services"]
    assert rows["neutron"]["windows"] == 1 and rows["nova"]["windows"] == 0
    assert abs(rows["neutron"]["down_s"] - neutron["down_s"]) < 0.002
    assert "| neutron |" in json.loads(out_json)["markdown"]


def test_a_restarted_probe_continues_its_record(tmp_path, api):
    out = tmp_path / "probes"
    proc = start_probe(out, {"placement": api.url})
    api.stop()
    time.sleep(0.5)
    api.start()
    time.sleep(0.4)
    stop_probe(proc)
    first = record(out, "placement")
    assert len(first["down"]) == 1
    time.sleep(0.5)
    proc = start_probe(out, {"placement": api.url})
    time.sleep(0.4)
    stop_probe(proc)
    second = record(out, "placement")
    assert second["start"] == first["start"]
    # the window is the same; its seconds are re-rounded from the stored times (±1 ms)
    assert {k: v for k, v in second["down"][0].items() if k != "seconds"} == \
        {k: v for k, v in first["down"][0].items() if k != "seconds"}
    assert abs(second["down"][0]["seconds"] - first["down"][0]["seconds"]) <= 0.002
    assert len(second["unmonitored"]) == 1
    assert model.parse_time(second["unmonitored"][0]["end"]) - model.parse_time(
        second["unmonitored"][0]["start"]) >= 0.4
    # --fresh starts over
    proc = start_probe(out, {"placement": api.url}, extra=["--fresh"])
    stop_probe(proc)
    assert record(out, "placement")["down"] == []


def test_daemon_mode_and_stop_by_state_file(tmp_path, api):
    out = tmp_path / "probes"
    state = tmp_path / "state.json"
    subprocess.run([sys.executable, str(PROBE), "run", "--target", "cinder=" + api.url,
                    "--out-dir", str(out), "--state", str(state), "--daemon",
                    "--log", str(tmp_path / "probe.log")], check=True, timeout=10)
    deadline = time.monotonic() + 10
    while not (state.exists() and (out / "api-cinder.json").exists()):
        assert time.monotonic() < deadline, "the detached probe did not start"
        time.sleep(0.05)
    pid = json.loads(state.read_text())["pid"]
    assert os.path.exists("/proc/%d" % pid)
    res = subprocess.run([sys.executable, str(PROBE), "stop", "--state", str(state)],
                         capture_output=True, text=True, check=True)
    assert json.loads(res.stdout)["stopped"] is True
    assert not state.exists()
    assert record(out, "cinder")["polls"] >= 1
    # stopping again is harmless
    res = subprocess.run([sys.executable, str(PROBE), "stop", "--state", str(state)],
                         capture_output=True, text=True, check=True)
    assert json.loads(res.stdout)["stopped"] is False


def test_a_probe_nobody_stops_ends_after_max_seconds(tmp_path, api):
    # a playbook killed between the probe's start and its stop leaves no probe for ever
    out = tmp_path / "probes"
    state = tmp_path / "state.json"
    proc = start_probe(out, {"glance": api.url}, extra=["--state", str(state), "--max-seconds", "1.5"])
    assert proc.wait(15) == 0
    assert not state.exists()
    rec = record(out, "glance")
    assert rec["polls"] >= 5
    assert model.parse_time(rec["end"]) - model.parse_time(rec["start"]) < 10


def test_bad_targets_are_refused(tmp_path):
    res = subprocess.run([sys.executable, str(PROBE), "run", "--target", "nova",
                          "--out-dir", str(tmp_path)], capture_output=True, text=True, check=False)
    assert res.returncode != 0 and "give SERVICE=http(s)://HOST:PORT/PATH" in res.stderr
    res = subprocess.run([sys.executable, str(PROBE), "run", "--target", "a=http://x/",
                          "--target", "a=http://y/", "--out-dir", str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert res.returncode != 0 and "given twice" in res.stderr
