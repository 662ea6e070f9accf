"""tests/lib/rehearsals.py: the catalogue scripts/rehearse.sh runs, and the summary table
made from sample figure files shaped as the rehearsals' tests save them."""

from __future__ import annotations

import json
import os
import re

import yaml

from tests.lib import rehearsals
from tests.lib.rehearsals import BY_NAME, REHEARSALS, REPO, command, summary

JUNIT = ('<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="%d" failures="%d" '
         'errors="0" skipped="%d"></testsuite></testsuites>')
PROBE = {"icmp": {"sent": 176105, "lost": 0, "longest_gap_ms": 69},
         "tcp": {"records_echoed": 140883, "resets": 0, "reconnects": 0}}


def _run(out, name, rc, start, seconds, tests=(0, 0, 0), commit=None):
    """A rehearsal's run.json and junit.xml; ``tests``: (tests, failures, skipped) as junit
    counts them (tests includes the skipped)."""
    d = out / name
    d.mkdir(parents=True)
    run = {"name": name, "rc": rc, "start": start, "seconds": seconds}
    if commit:
        run["commit"] = commit
    (d / "run.json").write_text(json.dumps(run))
    (d / "junit.xml").write_text(JUNIT % tests)


def _figures(repo, rel, data, mtime):
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    os.utime(path, (mtime, mtime))


def test_summary_of_sample_figures(tmp_path):
    repo, out, start = tmp_path / "repo", tmp_path / "out", 1_700_000_000
    # control-plane: api_down_s as the test saves it, (down, longest, windows) per service
    _run(out, "control-plane", 0, start, 3000, (5, 0, 1))
    _figures(repo, "build/cp-test/figures.json", {"bg_2025_1": {
        "api_down_s": {"keystone": [37.6, 37.6, 1], "nova": [61.8, 61.8, 1], "cinder": [39.5, 39.5, 1]},
        "vm_icmp": PROBE["icmp"], "vm_tcp": PROBE["tcp"]}}, start + 2900)
    # compute-upgrade failed, its figures nested under "probe"; no API figure
    _run(out, "compute-upgrade", 1, start, 1500, (5, 1, 0))
    _figures(repo, "build/lab/compute-upgrade-figures.json", {"upgrade_computes": {"probe": {
        "icmp": {"sent": 65542, "lost": 3}, "tcp": {"resets": 1}}}}, start + 1400)
    # verify-rollback: api downtime as dicts, no packets
    _run(out, "verify-rollback", 0, start, 700, (3, 0, 0))
    _figures(repo, "build/results/rollback-blue-green.json", {"api_downtime": {
        "glance": {"down_s": 12.25, "longest_s": 12.25, "windows": 1}}}, start + 600)
    # region-in-place's figures are from an older run: not this rehearsal's
    _run(out, "region-in-place", 0, start, 3100, (9, 0, 0))
    _figures(repo, "build/lab/upgrade-region-in-place-figures.json",
             {"upgrade": {"vm_icmp": {"sent": 1, "lost": 1}}}, start - 10)
    # molecule-lab passed with rc 0 but every test skipped: it proved nothing
    _run(out, "molecule-lab", 0, start, 5, (1, 0, 1))

    names = ["control-plane", "compute-upgrade", "verify-rollback", "region-in-place", "molecule-lab"]
    rows, text = summary(out, names, repo=repo)
    by = {r["rehearsal"]: r for r in rows}
    assert [r["result"] for r in rows] == ["passed", "failed", "passed", "passed", "failed"]
    assert by["control-plane"]["minutes"] == 50.0
    assert by["control-plane"]["api_down_s"] == {"keystone": 37.6, "nova": 61.8, "cinder": 39.5}
    assert (by["compute-upgrade"]["icmp_lost"], by["compute-upgrade"]["icmp_sent"],
            by["compute-upgrade"]["tcp_resets"]) == (3, 65542, 1)
    assert by["region-in-place"]["icmp_sent"] is None and by["region-in-place"]["figures"] is None
    lines = text.splitlines()
    assert lines[2] == ("| control-plane | passed | 50.0 | - | 4 passed, 1 skipped | 0/176105 | 0 | "
                        "keystone 37.6, nova 61.8, cinder 39.5 |")
    assert lines[3] == "| compute-upgrade | failed | 25.0 | - | 4 passed, 1 failed | 3/65542 | 1 | - |"
    assert lines[4] == "| verify-rollback | passed | 11.7 | - | 3 passed | - | - | glance 12.2 |"
    assert lines[5] == "| region-in-place | passed | 51.7 | - | 9 passed | - | - | - |"
    assert lines[6] == "| molecule-lab | failed | 0.1 | - | 1 skipped | - | - | - |"
    assert (out / "summary.md").read_text().endswith(text)
    assert json.loads((out / "summary.json").read_text()) == rows
    assert json.loads((out / "control-plane" / "figures.json").read_text())["bg_2025_1"]


def test_summary_prints_tempest_seconds_before_and_after(tmp_path):
    repo, out, start = tmp_path / "repo", tmp_path / "out", 1_700_000_000
    _run(out, "tempest", 0, start, 3300, (2, 0, 0))
    _figures(repo, "build/lab/tempest-figures.json", {"tempest": {"before_s": 397.2, "after_s": 412.0}}, start + 3200)
    rows, text = summary(out, ["tempest"], repo=repo)
    assert rows[0]["tempest_s"] == [397.2, 412.0]
    assert text.splitlines()[2] == "| tempest | passed | 55.0 | - | 2 passed | - | - | - |"
    assert text.rstrip().endswith("tempest: tempest ran 397.2 s before the upgrade and 412.0 s after it")


def test_figures_collected_after_each_run_survive_the_next_rehearsal_on_the_same_file(tmp_path):
    """fast-forward and control-plane save build/cp-test/figures.json, each run writing only
    its own key: the copy collect takes right after a run is what the summary reads."""
    repo, out, start = tmp_path / "repo", tmp_path / "out", 1_700_000_000
    rel = "build/cp-test/figures.json"
    _run(out, "fast-forward", 0, start, 1800, (1, 0, 0), commit="abc123")
    _figures(repo, rel, {"ffu_2025_2": {"api_down_s": {"nova": [80.5, 80.5, 1]}}}, start + 1700)
    assert rehearsals.collect(BY_NAME["fast-forward"], out, repo=repo)
    _run(out, "control-plane", 0, start + 1800, 3000, (5, 0, 0), commit="abc123")
    _figures(repo, rel, {"bg_2025_1": {"api_down_s": {"nova": [61.8, 61.8, 1]}}}, start + 4700)
    assert rehearsals.collect(BY_NAME["control-plane"], out, repo=repo)
    # verify-rollback ran but saved nothing this time: nothing to collect
    _run(out, "verify-rollback", 0, start, 700, (3, 0, 0))
    assert not rehearsals.collect(BY_NAME["verify-rollback"], out, repo=repo)
    rows, text = summary(out, rehearsals.recorded(out), repo=repo)
    assert [r["rehearsal"] for r in rows] == ["control-plane", "fast-forward", "verify-rollback"]
    assert [r["api_down_s"] for r in rows] == [{"nova": 61.8}, {"nova": 80.5}, {}]
    assert text.splitlines()[3] == "| fast-forward | passed | 30.0 | abc123 | 1 passed | - | - | nova 80.5 |"


def test_summary_without_names_takes_every_recorded_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(rehearsals, "REPO", tmp_path)
    assert rehearsals.main(["summary", str(tmp_path)]) == 2
    _run(tmp_path, "molecule-lab", 0, 0, 60, (1, 0, 0), commit="c0ffee")
    _run(tmp_path, "tempest", 0, 0, 60, (3, 0, 0), commit="c0ffee+changes")
    assert rehearsals.main(["summary", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| tempest", "| molecule-lab"]
    assert "| c0ffee+changes |" in lines[2]


def test_main_exits_non_zero_when_one_failed(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(rehearsals, "REPO", tmp_path)
    _run(tmp_path, "fast-forward", 0, 0, 60, (1, 0, 0))
    _run(tmp_path, "molecule-lab", 2, 0, 60, (1, 1, 0))
    assert rehearsals.main(["summary", str(tmp_path), "fast-forward"]) == 0
    assert rehearsals.main(["summary", str(tmp_path), "fast-forward", "molecule-lab"]) == 1
    assert "| molecule-lab | failed |" in capsys.readouterr().out
    assert rehearsals.main(["summary", str(tmp_path), "no-such"]) == 2


def test_command_selects_only_its_rehearsal():
    argv = command(BY_NAME["region-in-place"], python="py", out_dir="/o")
    assert argv == ["env", "STACKHOP_REHEARSAL=region-in-place", "STACKHOP_LAB_REGION_LAB=rgn",
                    "py", "-m", "pytest", "-s", "--junitxml=/o/region-in-place/junit.xml",
                    "tests/lab/test_no_secret_on_argv.py", "tests/lab/test_lab_region_cinder.py",
                    "tests/lab/test_preflight_on_lab.py", "tests/lab/test_upgrade_region.py",
                    "tests/lab/test_upgrade_region_in_place.py"]


def test_catalogue_matches_the_tests():
    """Each rehearsal's tests exist and carry its marker; labs are distinct and not the main
    job's (stackhop) nor CI's (regiontest)."""
    labs = [r.lab for r in REHEARSALS]
    assert len(set(labs)) == len(labs) and not {"stackhop", "regiontest"} & set(labs)
    assert all(re.fullmatch(r"[a-z0-9]{1,12}", lab) for lab in labs)
    for r in REHEARSALS:
        files = [REPO / t.split("::")[0] for t in r.tests]
        assert all(f.exists() for f in files), r.name
        assert any('"%s"' % r.name in f.read_text() for f in files), "no test is marked %s" % r.name
    inv = yaml.safe_load((REPO / "molecule" / "lab" / "inventory" / "hosts.yml").read_text())
    assert inv["all"]["vars"]["lab_name"] == BY_NAME["molecule-lab"].lab
    assert 'os.environ.get("STACKHOP_CP_LAB_NAME", "cpt")' in (REPO / "tests/lab/test_control_plane.py").read_text()
    assert 'LAB = "cmcu"' in (REPO / "tests/lab/test_compute_upgrade.py").read_text()
    assert 'LAB = "fleet"' in (REPO / "tests/lab/test_fleet.py").read_text()
    assert 'region_lab("vrreg")' in (REPO / "tests/lab/test_verify_rollback.py").read_text()
    assert 'region_lab("tmp")' in (REPO / "tests/lab/test_tempest.py").read_text()
    assert '"STACKHOP_DEBIAN_REGION_LAB", "debregion"' in (REPO / "tests/lab/test_debian_region.py").read_text()
