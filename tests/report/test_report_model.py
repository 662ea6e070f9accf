"""Pure Python parts of the report: probe format checks, merging, progress, time axis."""

from __future__ import annotations

import json

import pytest

from ansible_collections.stackhop.upgrade.plugins.filter.upgrade_progress import az_hosts, upgrade_progress
from ansible_collections.stackhop.upgrade.plugins.plugin_utils import upgrade_report as model


def test_times_accept_iso_and_epoch():
    assert model.parse_time("2026-01-01T00:00:00Z") == 1767225600.0
    assert model.parse_time("2026-01-01T01:00:00+01:00") == 1767225600.0
    assert model.parse_time(1767225600) == 1767225600.0
    assert model.iso(1767225600.25) == "2026-01-01T00:00:00.250Z"
    assert model.human_duration(4.25) == "4.2s" and model.human_duration(185) == "3m05s"
    assert model.human_duration(7260) == "2h01m"


def test_probe_format_errors_name_the_file_and_the_fix(tmp_path):
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "a.json").write_text(json.dumps({"kind": "api", "down": []}))
    (tmp_path / "probes" / "b.json").write_text(json.dumps({"kind": "tcp"}))
    (tmp_path / "probes" / "c.json").write_text("{half")
    (tmp_path / "probes" / "d.json").write_text(json.dumps([
        {"kind": "api", "service": "glance", "down": [{"start": 10, "end": 5}]},
        {"kind": "dataplane", "path": "vm1 -> vm2", "sent": 10,
         "loss": [{"start": 100, "end": 103, "lost": 3}, {"start": 110, "lost": 1}]}]))
    probes, errors = model.load_probe_files(str(tmp_path))
    assert len(probes) == 1 and probes[0]["lost"] == 4 and probes[0]["longest_gap_s"] == 3.0
    assert any("probes/a.json has no service; set service" in e for e in errors)
    assert any("kind 'tcp'; set kind to 'api' or 'dataplane'" in e for e in errors)
    assert any("probes/c.json is not valid JSON" in e for e in errors)
    assert any("glance" in e and "start <= end" in e for e in errors)


def _run(run_id, start, status, phases=()):
    return {"run_id": run_id, "start": model.iso(start), "end": model.iso(start + 10), "status": status,
            "phases": [dict(host=h, az="az1", phase=p, component="nova", start=model.iso(start + a),
                            end=model.iso(start + b), tasks=1, changed=1, failed=False)
                       for h, p, a, b in phases]}


def test_a_run_left_running_is_shown_as_interrupted(tmp_path):
    runs = [_run("r1", 1000, "running", [("h1", "backup", 0, 5)]), _run("r2", 2000, "running")]
    report = model.merge(str(tmp_path), runs, [], current_run_id="r2")
    assert [r["status"] for r in report["runs"]] == ["interrupted", "running"]
    assert report["phases"][0]["duration_s"] == 5.0 and report["phases"][0]["run"] == 1


def test_long_pause_between_runs_is_cut_out_of_the_axis():
    report = {"runs": [{"start": model.iso(0), "end": model.iso(100)},
                       {"start": model.iso(7300), "end": model.iso(7400)}]}
    pieces = model.axis_pieces(report, 0, 7400, 1000, left=0)
    assert [p[4] for p in pieces] == [False, True, False]
    assert pieces[1][3] == model.BREAK_PX
    assert pieces[0][3] == pytest.approx(pieces[2][3])        # both runs get the same width
    short = {"runs": [{"start": model.iso(0), "end": model.iso(100)},
                      {"start": model.iso(110), "end": model.iso(200)}]}
    assert len(model.axis_pieces(short, 0, 200, 1000)) == 1


def test_progress_estimate_from_rehearsal():
    rehearsal = {"phases": [
        {"host": "c1", "az": "az1", "start": model.iso(0), "end": model.iso(100)},
        {"host": "c2", "az": "az1", "start": model.iso(50), "end": model.iso(200)},
        {"host": "c3", "az": "az2", "start": model.iso(300), "end": model.iso(360)}]}
    state = upgrade_progress({"az1": ["c1", "c2", "c5"], "az2": ["c3", "c4"], "az3": ["c6"]},
                             ["c1"], rehearsal)
    assert state["az1"]["done"] == 1 and state["az1"]["total"] == 3
    assert state["az1"]["seconds_per_host"] == 100.0 and state["az1"]["estimate_s"] == 200.0
    assert state["az2"]["estimate_s"] == 120.0
    assert state["az3"]["estimate_source"] == "rehearsal average" and state["az3"]["estimate_s"] == 80.0
    assert state["_all"] == dict(state["_all"], done=1, total=6, estimate_s=400.0)
    assert state["az1"]["line"] == "az1: 1/3 hosts done, about 3m20s left (from the rehearsal)"
    bare = upgrade_progress({"az1": ["c1"]}, [])
    assert bare["az1"]["estimate_s"] is None and bare["_all"]["eta"] is None
    assert bare["az1"]["line"] == "az1: 0/1 hosts done"


def test_az_hosts_groups_by_host_var():
    hostvars = {"a": {"stackhop_az": "az1"}, "b": {}, "c": {"stackhop_az": "az1"}}
    assert az_hosts(["a", "b", "c"], hostvars) == {"az1": ["a", "c"], "-": ["b"]}


def test_html_escapes_names(tmp_path):
    run = _run("r1", 1000, "ok", [("<h1>", "backup", 0, 5)])
    html = model.render_html(model.merge(str(tmp_path), [run], []))
    assert "<h1>&lt;h1&gt;" not in html and "&lt;h1&gt;" in html
