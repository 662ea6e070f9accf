"""A real interrupted upgrade run, its re-run, and the merged report in headless Chromium.

Run 1 fails on rep-compute3 in its upgrade step (any_errors_fatal stops the play);
run 2 resumes: completed steps are skipped, what remains is printed first, and the
report in the same directory shows both runs.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.lib import chromium
from tests.report.conftest import load, play

UPGRADE_ID = "rep-resume-test"
STEPS = ("backup", "upgrade", "verify")


def rehearsal_report(path):
    """A rehearsal report.json: az1 took 40 s and az2 60 s for two hosts each."""
    base = time.time() - 86400

    def phase(host, az, start, end):
        return {"host": host, "az": az, "phase": "upgrade", "component": "nova",
                "start": base + start, "end": base + end}

    doc = {"format": 1, "phases": [phase("rep-compute1", "az1", 0, 30), phase("rep-compute2", "az1", 5, 40),
                                   phase("rep-compute3", "az2", 50, 100), phase("rep-compute4", "az2", 60, 110)]}
    for row in doc["phases"]:
        row["start"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["start"]))
        row["end"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["end"]))
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    base = tmp_path_factory.mktemp("rep-resume")
    report_dir, facts = base / "report", base / "facts"
    facts.mkdir()
    common = {"stackhop_upgrade_id": UPGRADE_ID, "rep_fact_dir": str(facts), "stackhop_approval": "auto",
              "stackhop_region": "dc1"}
    started = time.time()
    first = play("upgrade_sim.yml", report_dir, dict(common, rep_fail_host="rep-compute3"))
    facts_after_first = {p.stem: load(p) for p in facts.glob("*.fact")}
    runs_after_first = sorted((report_dir / "runs").glob("*.json"))
    rehearsal = rehearsal_report(base / "rehearsal.json")
    second = play("upgrade_sim.yml", report_dir, dict(common, stackhop_rehearsal_report=str(rehearsal)))
    return {"dir": report_dir, "facts": facts, "first": first, "second": second,
            "facts_after_first": facts_after_first, "runs_after_first": runs_after_first,
            "seconds": time.time() - started, "base": base}


def task_output(out, name):
    """Output of every batch's run of the task ``name``."""
    parts = re.split(r"\n(?=TASK \[|PLAY \[|PLAY RECAP)", out)
    return "\n".join(p for p in parts if p.startswith("TASK [%s]" % name))


def steps_of(doc):
    return list(doc["upgrades"][UPGRADE_ID]["steps"])


def test_first_run_fails_midway_and_records_its_steps(resumed):
    first = resumed["first"]
    assert first.returncode != 0, first.stdout[-3000:]
    assert "rep_fail_host asked rep-compute3 to fail" in first.stdout
    facts = resumed["facts_after_first"]
    assert sorted(steps_of(facts["rep-compute1"])) == sorted(STEPS)
    assert sorted(steps_of(facts["rep-compute2"])) == sorted(STEPS)
    assert steps_of(facts["rep-compute3"]) == ["backup"]
    assert steps_of(facts["rep-compute4"]) == ["backup"]
    # the run that completed a step is recorded with it
    assert facts["rep-compute3"]["upgrades"][UPGRADE_ID]["steps"]["backup"]["run_id"]
    # the failed run's report exists already, with its path printed
    assert len(resumed["runs_after_first"]) == 1
    assert "[stackhop report] %s/report.html" % resumed["dir"] in first.stdout


def test_rerun_prints_what_remains_first_and_skips_completed_steps(resumed):
    second = resumed["second"]
    assert second.returncode == 0, second.stdout[-4000:]
    out = second.stdout
    assert "RESUMING upgrade %s: 8 steps already done, 4 remaining." % UPGRADE_ID in out
    assert "rep-compute3: remaining upgrade, verify (done: backup)" in out
    assert "rep-compute1: remaining nothing (done: backup, upgrade, verify)" in out
    # the remaining list comes before any upgrade work
    assert out.index("RESUMING") < out.index("TASK [Install new packages]")
    # completed steps are skipped: compute1/2 install nothing, compute3/4 back up nothing
    install = task_output(out, "Install new packages")
    assert "changed: [rep-compute1]" not in install and "skipping: [rep-compute1]" in install
    assert "changed: [rep-compute3]" in install
    dump = task_output(out, "Dump nova state")
    assert "changed: [rep-compute3]" not in dump and "skipping: [rep-compute3]" in dump
    # success clears the step markers (local facts) of every host
    assert list(resumed["facts"].glob("*.fact")) == []


def test_report_shows_both_runs(resumed):
    report = load(resumed["dir"] / "report.json")
    assert [r["status"] for r in report["runs"]] == ["failed", "ok"]
    assert report["upgrade_id"] == UPGRADE_ID and report["status"] == "ok"
    by_run = {1: set(), 2: set()}
    for phase in report["phases"]:
        by_run[phase["run"]].add((phase["host"], phase["phase"], phase["component"]))
    assert ("rep-compute3", "upgrade", "nova") in by_run[1]
    assert ("rep-compute3", "upgrade", "nova") in by_run[2]
    assert ("rep-compute1", "backup", "nova") in by_run[1]
    assert ("rep-compute1", "backup", "nova") not in by_run[2]      # skipped: no phase
    assert ("rep-compute3", "approval", "before-az2") in by_run[1]  # component from the gate
    assert ("rep-compute1", "upgrade", "neutron") in by_run[1]      # phase from the tag
    failed = [p for p in report["phases"] if p["failed"]]
    assert [(p["run"], p["host"], p["phase"]) for p in failed] == [(1, "rep-compute3", "upgrade")]
    assert report["hosts"]["rep-compute3"]["az"] == "az2"
    for phase in report["phases"]:
        assert phase["end"] >= phase["start"]
    # probes: one file per run (written by a task through $STACKHOP_REPORT_DIR) and set_stats
    api = {e["service"]: e for e in report["api"]}
    assert len(api["nova"]["down"]) == 2 and 1.5 < api["nova"]["down_s"] < 2.2
    paths = sorted(e["path"] for e in report["dataplane"])
    assert paths == ["vm-rep-compute1 -> gateway", "vm-rep-compute3 -> gateway"]
    assert all(e["lost"] == 2 and e["longest_gap_s"] == 0.4 for e in report["dataplane"])
    assert report["probe_errors"] == []


def test_summary_and_progress_are_printed(resumed):
    out = resumed["second"].stdout
    assert "## stackhop upgrade report" in out
    assert "runs: 1 (failed), 2 (ok)" in out
    assert re.search(r"\| backup \| nova \| 4 \| [0-9.]+s \| \d+ \| 0 \|", out)
    assert "| nova | " in out and "| vm-rep-compute3 -> gateway | 100 | 2 | 0.4s |" in out
    # progress from the rehearsal: az2 costs (110 - 50) / 2 = 30 s per host
    # AZs qualified by their region: another region's az2 is another AZ
    assert "[stackhop progress] dc1 az2: 1/2 hosts done, about 30.0s left (from the rehearsal)" in out
    assert "[stackhop progress] dc1 az2: 2/2 hosts done, about 0.0s left (from the rehearsal)" in out
    assert "- dc1 az1: 2/2 hosts done" in out      # done in run 1, counted on the re-run
    assert out.rstrip().endswith("[stackhop report] %s/report.html" % resumed["dir"])


@pytest.mark.skipif(chromium.binary() is None, reason="chromium is not installed (scripts/apt-packages.txt)")
def test_html_renders_in_chromium_with_the_run_phases(resumed):
    html = resumed["dir"] / "report.html"
    text = html.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "").replace("http://192.0.2.10", "")
    assert "<script src" not in text and "<link" not in text
    dom = chromium.dump_dom(html)
    assert '<svg id="timeline"' in dom
    phases = set(re.findall(r'class="phase" data-phase="([a-z_]+)" data-component="([a-z0-9-]+)" '
                            r'data-host="([a-z0-9-]+)"', dom))
    report = load(resumed["dir"] / "report.json")
    expected = {(p["phase"], p["component"], p["host"]) for p in report["phases"]}
    assert phases == expected
    assert {p[0] for p in phases} == {"preflight", "backup", "upgrade", "verify", "done", "approval"}
    assert len(re.findall(r'class="apidown" data-service="nova"', dom)) == 2
    assert len(re.findall(r'class="lossmark"', dom)) == 2
    assert "run 1 (failed)" in dom and "run 2 (ok)" in dom
    assert 'id="tip"' in dom   # the script ran and the page is complete


@pytest.mark.skipif(chromium.binary() is None, reason="chromium is not installed (scripts/apt-packages.txt)")
def test_screenshot_is_not_blank(resumed):
    png = chromium.screenshot(resumed["dir"] / "report.html", resumed["base"] / "report.png",
                              width=1300, height=700)
    stats = chromium.pixel_stats(png)
    assert (stats["width"], stats["height"]) == (1300, 700)
    assert stats["distinct"] > 50, stats["distinct"]
    assert stats["non_white"] > 0.05, stats["non_white"]
    # the chart's solid fills are on screen: backup, upgrade, verify phases and the API band
    for colour in ("#8e6cbf", "#3f8f5f", "#3fa09a", "#d62728"):
        assert chromium.hex_rgb(colour) in stats["colours"], colour
