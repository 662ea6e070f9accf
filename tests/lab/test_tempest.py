"""Tempest in the verify phase on the lab region (issue 20, item 2: "verify as the upstream
gate does").

One region (lab ``tmp``, 2024.1, deployed by scripts/lab-up.sh), in order:

1. the main job's upgrade (scripts/main.sh: probe, playbooks/upgrade_region.yml 2024.1 ->
   2025.1, upgrade id ``tempest-2024.1-to-2025.1``): its pre-flight runs tempest's smoke
   tests on ctl-old (the lab's group_vars set verify_tempest) and saves the results beside
   the inventories; its verify runs them again on ctl-new after the upgrade and compares.
   The run passes, the report (report.json and the printed summary) holds tempest's
   before/after table, and no test that passed before fails after;
2. pre-flight again with the same upgrade id (a resume, or the main job's second run):
   the run before the upgrade is kept, and nothing is copied, written or run for it;
3. an injected regression: playbooks/verify.yml runs the tests of one class that passed
   before with tempest.conf's flavor_ref naming a flavor that does not exist
   (verify_tempest_conf_overrides): they fail, and verify fails with one sentence naming
   them (the after-results on ctl-new are then those of this run).

The rehearsal ``tempest`` (scripts/rehearse.sh tempest); STACKHOP_LAB_REGION=<lab> uses a
deployed 2024.1 region instead of deploying ``tmp``. Figures (tempest's seconds before
and after, passed/failed/skipped) go to build/lab/tempest-figures.json.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
import yaml

from tests.lib.region_lab import failed_tasks, region_lab, task_results
from tests.lib.ansible_runner import REPO, VENV, ansible_env

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(7200),
              pytest.mark.rehearsal("tempest")]

UPGRADE_ID = "tempest-2024.1-to-2025.1"
REPORT_DIR = REPO / "build" / "reports" / UPGRADE_ID
BEFORE = "/var/lib/stackhop/inventories/%s/before-tempest.json"
AFTER = "/var/lib/stackhop/tempest/%s/after-tempest.json"
FIGURES_FILE = REPO / "build" / "lab" / "tempest-figures.json"
FIGURES = {}
# the tests of this class boot a server (a smoke class that passes in the lab)
INJECTED_CLASS = "tempest.api.compute.servers.test_create_server.ServersTestJSON"


def _save():
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=1, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def region():
    lab = region_lab("tmp")
    yield lab
    lab.destroy()


def region_name(lab):
    return lab.hostvars["ctl-old"].get("stackhop_region") or "region"


def read_json(lab, host, path):
    return json.loads(lab.exec(host, "cat", path).stdout)


def totals(counts):
    return {k: sum(c.get(k, 0) for c in counts.values()) for k in ("passed", "failed", "skipped")}


@pytest.fixture(scope="module")
def upgraded(region):
    """The main job's upgrade of this lab (scripts/main.sh), its tempest runs inside."""
    env = ansible_env({"STACKHOP_LAB": region.name, "STACKHOP_UPGRADE_ID": UPGRADE_ID,
                       "STACKHOP_MAIN_BENCH": "0", "STACKHOP_VENV": str(VENV)})
    log = REPO / "build" / "lab" / ("tempest-upgrade-%s.log" % region.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.run([str(REPO / "scripts" / "main.sh")], cwd=str(REPO), env=env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=6000, check=False)
    seconds = time.monotonic() - t0
    print("\nscripts/main.sh on %s: rc %d in %.0f s (log %s)" % (region.name, proc.returncode, seconds, log))
    return proc.returncode, seconds, log


def test_upgrade_runs_tempest_before_and_after_with_no_regression(region, upgraded):
    rc, seconds, log = upgraded
    text = log.read_text(errors="replace")
    assert rc == 0, text[-6000:]
    name = region_name(region)
    before = read_json(region, "ctl-old", BEFORE % name)
    after = read_json(region, "ctl-new", AFTER % name)
    assert before["label"] == "before" and before["upgrade_id"] == UPGRADE_ID
    b, a = totals(before["counts"]), totals(after["counts"])
    assert b["passed"] > 20 and a["passed"] > 20, (b, a)
    # cinder-volume runs with cinder's fake driver (lab/inventory/group_vars/all/cinder.yml):
    # tempest.conf says cinder is there and its volume tests run, before and after
    assert "cinder" in before["counts"] and "cinder" in after["counts"], (before["counts"], after["counts"])
    report = json.loads((REPORT_DIR / "report.json").read_text())
    tempest = report["tempest"]
    assert tempest and tempest["phase"] == "after" and tempest["compared"] is True, tempest
    assert tempest["regressions"] == [], tempest["regressions"]
    services = {row["service"]: row for row in tempest["table"]}
    assert services["nova"]["before"]["passed"] > 0 and services["nova"]["after"]["passed"] > 0
    assert "Tempest before and after the upgrade" in (REPORT_DIR / "report.html").read_text()
    # the summary the report callback printed at the end of the run
    assert "| tempest 47.0.0: service | before (passed / failed / skipped) |" in text
    assert "No test that passed before fails after." in text
    passed_before = {t for t, s in before["tests"].items() if s == "passed"}
    now_failing = sorted(t for t in passed_before if after["tests"].get(t) == "failed")
    assert now_failing == []
    FIGURES["tempest"] = {
        "before_s": before["seconds"], "after_s": after["seconds"], "before": b, "after": a,
        "before_per_service": before["counts"], "after_per_service": after["counts"],
        "regressions": tempest["regressions"], "upgrade_s": round(seconds),
        "failed_both": sorted(t for t, s in after["tests"].items() if s == "failed"
                              and before["tests"].get(t) == "failed")}
    _save()
    print("\ntempest smoke before the upgrade: %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % b
          + " in %.0f s" % before["seconds"])
    print("tempest smoke after the upgrade:  %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % a
          + " in %.0f s" % after["seconds"])
    for line in report_lines(text):
        print(line)


def test_a_rerun_of_preflight_keeps_the_run_before_and_changes_nothing_for_it(region, upgraded, tmp_path):
    """Pre-flight again with the same upgrade id, on the upgraded region (a resume, or a
    second run of the main job): tempest's run before the upgrade stays the one made before
    it, and nothing is copied, written or run again for it."""
    assert upgraded[0] == 0, "the upgrade failed; see the first test"
    path = BEFORE % region_name(region)
    saved = region.exec("ctl-old", "cat", path).stdout
    extra = {"stackhop_target_release": "2025.1", "stackhop_upgrade_id": UPGRADE_ID}
    extra.update(yaml.safe_load((REPO / "lab" / "inventory" / "acknowledgements-2025.1.yml").read_text()))
    proc, doc = region.playbook(REPO / "playbooks" / "preflight.yml", extra_vars=extra, timeout=1800, env={
        "STACKHOP_REPORT_DIR": str(tmp_path / "report"), "STACKHOP_REPORT_SUMMARY": "false"})
    assert proc.returncode == 0, (failed_tasks(doc), proc.stderr[-3000:])
    for name in ("Copy tempest's venv to the host", "Write tempest.conf from what the region has"):
        result = task_results(doc, name).get("ctl-old", {})
        assert result.get("skipped") is True, (name, result)
    run = task_results(doc, "Run tempest's tests").get("ctl-old", {})
    assert run.get("kept") is True and run.get("changed") is False, run
    assert region.exec("ctl-old", "cat", path).stdout == saved


def report_lines(text):
    """The tempest table of the report's printed summary."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("| tempest ")), None)
    if start is None:
        return []
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("No test that passed")
                or lines[i].startswith("Passed before, fail after")), start + 20)
    return lines[start:end + 1]


def test_a_test_that_passed_before_and_fails_after_fails_verify(region, upgraded, tmp_path):
    """A real failure after the upgrade, small and reversible: verify.yml runs one class of
    tests that passed before, with tempest.conf's flavor pointing at a flavor that does not
    exist (verify_tempest_conf_overrides; the file is written again by every run), so its
    server is never created. Verify must fail with one sentence naming those tests."""
    assert upgraded[0] == 0, "the upgrade failed; see the first test"
    before = read_json(region, "ctl-old", BEFORE % region_name(region))
    passed = sorted(t for t, s in before["tests"].items() if s == "passed" and t.startswith(INJECTED_CLASS + "."))
    assert passed, "no test of %s passed before the upgrade" % INJECTED_CLASS
    extra = {"verify_checks": [], "verify_release": "2025.1", "stackhop_cloud": "lab-admin",
             "verify_tempest_regex": re.escape(INJECTED_CLASS) + r"\.",
             "verify_tempest_conf_overrides": {"compute": {"flavor_ref": "stackhop-injected-no-such-flavor"}}}
    t0 = time.monotonic()
    proc, doc = region.playbook(REPO / "playbooks" / "verify.yml", extra_vars=extra, timeout=5400, env={
        "STACKHOP_REPORT_DIR": str(tmp_path / "report"), "STACKHOP_REPORT_SUMMARY": "false"})
    seconds = time.monotonic() - t0
    assert proc.returncode != 0, "verify passed with tests that passed before and fail after"
    msgs = [m for _task, _host, m in failed_tasks(doc)]
    sentence = [m for m in msgs if "passed before the upgrade and fail after it" in m]
    assert sentence and sentence[0].startswith("verify failed on ctl-new: tempest: %d test(s)" % len(passed)), msgs
    assert all(test in sentence[0] for test in passed), (passed, sentence[0])
    FIGURES["injected_regression"] = {"tests": passed, "verify_s": round(seconds), "sentence": sentence[0]}
    _save()
    print("\ninjected regression (flavor_ref of a flavor that does not exist, %s): verify failed in %.0f s with:\n  %s"
          % (INJECTED_CLASS, seconds, sentence[0]))
