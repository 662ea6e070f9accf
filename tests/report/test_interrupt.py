"""Ctrl-C in the middle of the upgrade: the run's report is written, marked interrupted, and
the re-run with the same upgrade id resumes and adds itself to the same report."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from tests.lib.ansible_runner import REPO, VENV, ansible_env
from tests.report.conftest import INVENTORY, PLAYBOOKS, load, play, report_env


def test_sigint_midway_then_resume(tmp_path):
    report_dir, facts = tmp_path / "report", tmp_path / "facts"
    facts.mkdir()
    extra = {"stackhop_upgrade_id": "rep-sigint", "rep_fact_dir": str(facts), "stackhop_approval": "auto"}
    argv = [str(VENV / "bin" / "ansible-playbook"), "-i", str(INVENTORY),
            str(PLAYBOOKS / "upgrade_sim.yml"), "-e", json.dumps(extra)]
    proc = subprocess.Popen(argv, env=ansible_env(report_env(report_dir)), cwd=str(REPO), text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, deadline = "", time.time() + 300
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out += line
        if line.startswith("TASK [Install new packages]"):
            break
    time.sleep(0.3)                        # the first batch is inside "Install new packages"
    proc.send_signal(signal.SIGINT)        # what Ctrl-C does
    rest, dummy = proc.communicate(timeout=120)
    out += rest
    assert proc.returncode == 99, out[-3000:]        # ansible-playbook: user interrupted execution
    assert "[stackhop report] %s/report.html" % report_dir in out
    first = load(report_dir / "report.json")
    assert [r["status"] for r in first["runs"]] == ["interrupted"]
    running = [p for p in first["phases"] if p["interrupted"]]
    assert {(p["host"], p["phase"], p["component"]) for p in running} == \
        {("rep-compute1", "upgrade", "nova"), ("rep-compute2", "upgrade", "nova")}
    assert "upgrade" not in json.loads((facts / "rep-compute1.fact").read_text())["upgrades"]["rep-sigint"]["steps"]

    second = play("upgrade_sim.yml", report_dir, extra)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "rep-compute1: remaining upgrade, verify (done: backup)" in second.stdout
    assert "rep-compute3: remaining backup, upgrade, verify (done: nothing)" in second.stdout
    merged = load(report_dir / "report.json")
    assert [r["status"] for r in merged["runs"]] == ["interrupted", "ok"]
    assert "interrupted" in (report_dir / "report.html").read_text()
    assert list(facts.glob("*.fact")) == []
