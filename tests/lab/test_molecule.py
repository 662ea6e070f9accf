"""Every molecule scenario: its static inventory reaches its lab, and `molecule test` passes.

The scenarios run on lab hosts made by lab/labctl.py (molecule's default driver,
create/destroy in molecule/resources/playbooks), converge, check idempotence and verify
with testinfra over SSH. The `lab` scenario deploys a whole second region: it is the
rehearsal ``molecule-lab``, not part of CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from lab.labctl import Lab
from tests.lib.ansible_runner import REPO, ansible_env

SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))
# Seconds a scenario may take; `lab` deploys a whole OpenStack region from scratch, then
# converges it again for idempotence (11 min alone on 2 cores, 20+ min when other jobs
# share them). pytest's own timeout (pytest.ini) is raised to match for each scenario.
TIMEOUTS = {"lab": 2700}
# Scenarios too long for CI (45 min): the rehearsal that runs each (scripts/rehearse.sh).
REHEARSALS = {"lab": "molecule-lab"}
LOG_DIR = REPO / "build" / "reports"


def scenario_inventory(name):
    return yaml.safe_load((REPO / "molecule" / name / "inventory" / "hosts.yml").read_text())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_inventory_matches_labctl(scenario):
    """The literal connection vars are what labctl.py derives from the lab's name."""
    inv_vars = scenario_inventory(scenario)["all"]["vars"]
    want = Lab(inv_vars["lab_name"]).connection_vars()
    assert {k: inv_vars.get(k) for k in want} == want


def test_default_lab_inventory_matches_labctl():
    """ansible.cfg's default inventory reaches the lab named in it."""
    inv = yaml.safe_load((REPO / "lab" / "inventory" / "hosts.yml").read_text())
    inv_vars = inv["all"]["vars"]
    want = Lab(inv_vars["lab_name"]).connection_vars()
    assert {k: inv_vars.get(k) for k in want} == want


def test_scenarios_use_distinct_labs():
    names = [scenario_inventory(s)["all"]["vars"]["lab_name"] for s in SCENARIOS]
    assert len(set(names)) == len(names)


def scenario_marks(scenario):
    marks = [pytest.mark.timeout(TIMEOUTS.get(scenario, 900) + 300)]
    if scenario in REHEARSALS:
        marks.append(pytest.mark.rehearsal(REHEARSALS[scenario]))
    return marks


def run_molecule(scenario, env, timeout):
    """`molecule test -s SCENARIO` with its whole output in build/reports; on timeout the
    whole process group (molecule and the ansible-playbook it runs) is killed."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / ("molecule-%s.log" % scenario)
    with open(log, "w") as out:
        proc = subprocess.Popen(["molecule", "test", "-s", scenario], cwd=str(REPO), env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = "timeout after %d s" % timeout
    return rc, log


@pytest.mark.needs_root
@pytest.mark.slow
@pytest.mark.parametrize("scenario", [
    pytest.param(s, marks=scenario_marks(s)) for s in SCENARIOS])
def test_molecule_scenario(scenario):
    env = ansible_env()
    env.pop("ANSIBLE_CONFIG", None)  # molecule writes its own
    env["MOLECULE_NO_LOG"] = "false"
    t0 = time.monotonic()
    rc, log = run_molecule(scenario, env, TIMEOUTS.get(scenario, 900))
    took = time.monotonic() - t0
    lab = scenario_inventory(scenario)["all"]["vars"]["lab_name"]
    if rc != 0:  # killed or failed before its destroy step: leave nothing running
        Lab(lab).destroy()
    text = log.read_text(errors="replace")
    failed = [ln for ln in text.splitlines() if ln.startswith(("fatal:", "failed:", "ERROR"))]
    assert rc == 0, "molecule test -s %s: rc %s after %.0f s; whole log in %s\n%s\n...\n%s" % (
        scenario, rc, took, log, "\n".join(failed[-20:]), text[-6000:])
    print("\nmolecule test -s %s: %.0f s" % (scenario, took))
    assert not Path("/run/netns/%s-sw" % lab).exists()
