"""Every lost packet placed in time (issue 21 item 6): the data-plane probe's events in the
report — which phase and host were moving at each one (``place_events``), the marks on the
timeline, the 'Losses and gaps' table and the summary; and the lab_probe role's records
carry the events from probe.py's figures to the report directory."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.stackhop.upgrade.plugins.plugin_utils import upgrade_report as model
from tests.lib.ansible_runner import REPO, run_playbook
from tests.lib import chromium

T0 = 1795316700.0     # 2026-11-22T...


def _phase(host, phase, start, end, component="nova", run=1):
    return {"host": host, "az": "az1", "phase": phase, "component": component,
            "start": model.iso(T0 + start), "end": model.iso(T0 + end), "run": run}


PHASES = [_phase("cmp1", "stop", 0, 10, "ovs"), _phase("cmp1", "upgrade", 10, 40, "ovs"),
          _phase("cmp2", "upgrade", 30, 50, "nova")]


def test_place_events_names_the_phase_and_host_moving_then():
    events = [{"kind": "loss", "start": T0 + 5, "end": T0 + 5, "seq": 3},     # cmp1 stop
              {"kind": "gap", "start": T0 + 35, "end": T0 + 35.127, "ms": 127.0},  # both
              {"kind": "loss", "start": T0 + 60, "end": T0 + 60},             # none
              {"kind": "gap", "start": T0 - 1, "end": T0 + 0.5, "ms": 1500.0}]    # starts before
    placed = model.place_events(events, PHASES)
    assert [e["kind"] for e in placed] == ["loss", "gap", "loss", "gap"]        # order kept
    assert placed[0]["moving"] == [{"host": "cmp1", "phase": "stop", "component": "ovs", "run": 1}]
    assert [(m["host"], m["phase"]) for m in placed[1]["moving"]] == [("cmp1", "upgrade"),
                                                                      ("cmp2", "upgrade")]
    assert placed[2]["moving"] == []
    assert [m["phase"] for m in placed[3]["moving"]] == ["stop"]                 # overlap counts
    assert placed[0]["seq"] == 3 and "moving" not in events[0]                  # copies


def test_place_events_at_the_boundary_and_with_iso_times():
    # the instant one span ends and the next starts: both were moving
    placed = model.place_events([{"kind": "loss", "start": model.iso(T0 + 10), "end": None}], PHASES)
    assert [m["phase"] for m in placed[0]["moving"]] == ["stop", "upgrade"]
    assert model.place_events([], PHASES) == []
    assert model.place_events([{"kind": "loss", "start": T0}], [])[0]["moving"] == []


def _report(tmp_path, events, dropped=None):
    run = {"run_id": "r1", "start": model.iso(T0), "end": model.iso(T0 + 50), "status": "ok",
           "phases": [dict(p, tasks=1, changed=1, failed=False) for p in PHASES]}
    probe = model.normalize_probe({
        "kind": "dataplane", "name": "ICMP vm1 -> vm2 at 250/s", "path": "vm1 -> 10.0.0.2",
        "sent": 437753, "lost": 4, "longest_gap_s": 0.127, "events": events,
        "events_dropped": dropped or {}}, "probes/dataplane-stackhop-probe.json")
    return model.merge(str(tmp_path), [run], [probe])


EVENTS = [{"kind": "loss", "start": T0 + 5.004, "end": T0 + 5.004, "ms": 0.0, "seq": 1251, "n": 1251},
          {"kind": "gap", "start": T0 + 35.0, "end": T0 + 35.127, "ms": 127.0},
          {"kind": "loss", "start": T0 + 55.5, "end": T0 + 55.5, "ms": 0.0, "seq": 13876}]


def test_report_json_keeps_totals_and_places_each_event(tmp_path):
    report = _report(tmp_path, EVENTS, {"loss": 2})
    entry = report["dataplane"][0]
    assert (entry["sent"], entry["lost"], entry["longest_gap_s"]) == (437753, 4, 0.127)
    assert [e["kind"] for e in entry["events"]] == ["loss", "gap", "loss"]
    assert entry["events"][0]["start"] == model.iso(T0 + 5.004) and entry["events"][0]["seq"] == 1251
    assert entry["events"][1]["moving"][0]["host"] == "cmp1" and entry["events"][2]["moving"] == []
    assert entry["events_dropped"] == {"loss": 2}
    json.dumps(report)
    # the event extends the time axis beyond the run's end
    layout = model.timeline_layout(report)
    assert layout["marks"]["events"][-1]["x"] == pytest.approx(layout["label_w"] + layout["plot_w"])


def test_bad_events_are_named_with_the_fix():
    with pytest.raises(model.ProbeError, match="start <= end"):
        model.normalize_probe({"kind": "dataplane", "path": "p",
                               "events": [{"kind": "gap", "start": 10, "end": 5}]}, "x.json")
    with pytest.raises(model.ProbeError, match="not a list"):
        model.normalize_probe({"kind": "dataplane", "path": "p", "events": "loss"}, "x.json")
    old = model.normalize_probe({"kind": "dataplane", "path": "p", "sent": 3}, "x.json")
    assert old["events"] == [] and old["events_dropped"] == {}


def test_timeline_table_and_summary_show_the_events(tmp_path):
    report = _report(tmp_path, EVENTS, {"loss": 2})
    layout = model.timeline_layout(report)
    kinds = [m["kind"] for m in layout["marks"]["events"]]
    assert kinds == ["gap", "loss", "loss"]                       # gaps drawn first
    beside = layout["marks"]["beside"]
    assert sorted(m["host"] for m in beside) == ["cmp1", "cmp1", "cmp2"]
    lanes = {lane["name"]: lane["y"] for lane in layout["lanes"]}
    assert all(m["y"] == lanes[m["host"]] for m in beside)
    gap = layout["marks"]["events"][0]
    assert gap["y"] == lanes["vm1 -> 10.0.0.2"] and "127 ms" in gap["tip"]
    assert "upgrade/ovs on cmp1, upgrade/nova on cmp2" in gap["tip"]

    html = model.render_html(report)
    svg = html[html.index("<svg id=\"timeline\""):html.index("</svg>")]
    assert svg.count('class="event"') == 3 and svg.count('class="eventhost"') == 3
    table = html[html.index("<h2>Losses and gaps</h2>"):]
    rows = re.findall(r'<tr class="event" data-kind="(\w+)"><td>([^<]+)</td>', table)
    assert rows == [("loss", model.iso(T0 + 5.004)[11:23]), ("gap", model.iso(T0 + 35)[11:23]),
                    ("loss", model.iso(T0 + 55.5)[11:23])]
    assert "stop/ovs on cmp1" in table and ">none<" in table and "127 ms" in table
    assert "not listed: 2 loss" in table

    summary = model.markdown_summary(report)
    assert "| losses and gaps (UTC) | data path | event | duration | moving |" in summary
    assert "| gap | 127 ms |" in summary.replace(model.iso(T0 + 35)[11:23] + " | vm1 -> 10.0.0.2 ", "")
    assert "loss (seq 13876)" in summary and "| none |" in summary


def test_summary_lists_the_first_events_only(tmp_path):
    many = [{"kind": "loss", "start": T0 + i, "end": T0 + i, "seq": i} for i in range(25)]
    summary = model.markdown_summary(_report(tmp_path, many))
    assert summary.count("loss (seq") == model.SUMMARY_EVENTS
    assert "15 more in the report's table 'Losses and gaps'." in summary


@pytest.mark.skipif(chromium.binary() is None, reason="chromium is not installed (apt-get install chromium)")
def test_chromium_draws_the_events(tmp_path):
    report = _report(tmp_path, EVENTS)
    html_path = tmp_path / "report.html"
    html_path.write_text(model.render_html(report))
    dom = chromium.dump_dom(html_path)
    assert dom.count('class="eventhost"') == 3 and "Losses and gaps" in dom
    png = chromium.screenshot(html_path, tmp_path / "shot.png", width=1300, height=700)
    width, height, rows = chromium.read_png(png)
    colours = {px for row in rows for px in row}
    # the gap band (orange, 60 % over the row) and the loss ticks (magenta) are drawn
    assert any(abs(r - 0xc5) < 8 and abs(g - 0x1b) < 8 and abs(b - 0x7d) < 8 for r, g, b in colours)
    assert any(r > 200 and 100 < g < 170 and b < 110 for r, g, b in colours)


def test_lab_probe_role_hands_the_events_to_the_report(tmp_path):
    """lab/roles/lab_probe tasks/report.yml on this machine: probe.py reads a state file with
    events, the role writes the probe records (totals as before, plus events)."""
    name = "stackhop-probe-evtest-%d" % id(tmp_path)
    state = Path("/run") / ("%s.json" % name)
    snap = {"seconds": 60.0, "at": T0 + 60, "running": True,
            "icmp": {"sent": 15000, "replied": 14996, "lost": 4, "longest_gap_ms": 127.0, "pps": 250,
                     "events": EVENTS[:2], "events_dropped": {}},
            "tcp": {"connected": True, "records_sent": 12000, "records_echoed": 11990,
                    "bytes_sent": 768000, "bytes_echoed": 767360, "longest_gap_ms": 60.0,
                    "resets": 1, "reconnects": 1, "connect_failures": 0,
                    "events": [{"kind": "reset", "start": T0 + 36, "end": T0 + 36, "ms": 0.0,
                                "reason": "Connection reset by peer"}],
                    "events_dropped": {"gap": 3}}}
    state.write_text(json.dumps(snap))
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
             "tasks": [{"name": "report", "ansible.builtin.include_role": {
                 "name": "stackhop.lab.lab_probe", "tasks_from": "report"}}]}]
    pb = tmp_path / "play.json"
    pb.write_text(json.dumps(play))
    local = {"host": "localhost", "netns": "none", "ip": "10.0.0.2"}
    try:
        proc = run_playbook(pb, extra_vars={
            "lab_probe_name": name, "lab_probe_dir": str(REPO / "lab" / "roles" / "lab_probe" / "files"),
            "lab_probe_source": local, "lab_probe_target": local,
            "lab_probe_report_dir": str(tmp_path / "rep"),
            "ansible_python_interpreter": sys.executable}, inventory="localhost,")
    finally:
        state.unlink()
    assert proc.returncode == 0, proc.stdout[-3000:]
    records = json.loads((tmp_path / "rep" / "probes" / ("dataplane-%s.json" % name)).read_text())
    icmp, tcp = records
    assert (int(icmp["sent"]), int(icmp["lost"]), float(icmp["longest_gap_s"])) == (15000, 4, 0.127)
    assert icmp["events"] == EVENTS[:2] and icmp["events_dropped"] == {}
    assert tcp["events"][0]["kind"] == "reset" and tcp["events_dropped"] == {"gap": 3}
    probes, errors = model.load_probe_files(str(tmp_path / "rep"))
    assert errors == [] and [len(p["events"]) for p in probes] == [2, 1]


def test_probe_py_report_passes_the_events_through(tmp_path):
    state = tmp_path / "probe.json"
    state.write_text(json.dumps({"at": T0, "icmp": {"events": EVENTS}, "tcp": {"events": []}}))
    out = subprocess.run([sys.executable, str(REPO / "lab/roles/lab_probe/files/probe.py"), "report",
                          "--state", str(state)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["icmp"]["events"] == EVENTS
