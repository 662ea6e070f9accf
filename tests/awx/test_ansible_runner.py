"""stackhop run as AWX runs it: through ansible-runner (issue "Fit the operator's ecosystem").

Each test builds an ansible-runner private data directory as AWX does for a job:

- ``project/``: a site playbook that uses the collection by FQCN (as a project synced from
  the repository; AWX installs ``collections/requirements.yml`` into
  ``requirements_collections/`` and puts it on ``ANSIBLE_COLLECTIONS_PATH``);
- ``inventory/``: the example inventory (a region dc1 of 7 computes in 2 AZs, no host exists);
- ``env/extravars``: YAML, with the strings that AWX survey answers give;
- ``env/envvars``;

and runs it with ``ansible_runner.run``. Nothing here needs a cloud: the plan is built
offline on localhost, and the approval gate runs on the controller.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import pytest
import yaml

from tests.lib.ansible_runner import REPO, VENV
from tests.lib.tiers import ci_enabled

try:
    import ansible_runner
except ImportError:  # pragma: no cover - depends on the venv
    ansible_runner = None

GATE = "dc1-control-plane-switch"
PLAN = "plan-dc1-2024.1-2025.1"


@pytest.fixture(autouse=True)
def runner_installed():
    if ansible_runner is None:
        why = ("ansible-runner is not installed in the venv (requirements.txt, test-only "
               "section: ansible-runner)")
        if ci_enabled(os.environ):
            pytest.fail(why)
        pytest.skip(why)


def private_data_dir(tmp_path, playbook, extravars, envvars=None, ansible_cfg=None):
    """A job's private data dir, as AWX lays it out; returns its path."""
    pdd = tmp_path / "job"
    (pdd / "project").mkdir(parents=True)
    (pdd / "project" / "site.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    if ansible_cfg:
        (pdd / "project" / "ansible.cfg").write_text(ansible_cfg)
    # the collection as `ansible-galaxy collection install -r collections/requirements.yml`
    # leaves it (source: . is this checkout)
    installed = pdd / "requirements_collections" / "ansible_collections" / "stackhop"
    installed.mkdir(parents=True)
    (installed / "upgrade").symlink_to(REPO, target_is_directory=True)
    shutil.copytree(REPO / "inventories" / "example", pdd / "inventory")
    (pdd / "env").mkdir()
    (pdd / "env" / "extravars").write_text(yaml.safe_dump(extravars, sort_keys=False))
    env = {
        "PATH": "%s:%s" % (VENV / "bin", os.environ.get("PATH", "/usr/bin:/bin")),
        "ANSIBLE_COLLECTIONS_PATH": str(pdd / "requirements_collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
    }
    env.update(envvars or {})
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(env, sort_keys=False))
    return pdd


def run(pdd, ident):
    """ansible_runner.run on the job's directory, with a clean process environment."""
    saved = {k: os.environ.pop(k) for k in list(os.environ)
             if k.startswith(("ANSIBLE_", "STACKHOP_", "AWX_", "RUNNER_"))}
    try:
        start = time.monotonic()
        result = ansible_runner.run(private_data_dir=str(pdd), playbook="site.yml", ident=ident,
                                    quiet=True, timeout=600)
        seconds = time.monotonic() - start
    finally:
        os.environ.update(saved)
    artifacts = pdd / "artifacts" / ident
    stdout = (artifacts / "stdout").read_text() if (artifacts / "stdout").exists() else ""
    return result, artifacts, stdout, seconds


def gate_results(result):
    """The approval_gate task's results, from the job's events (what AWX shows of a task)."""
    return [e["event_data"]["res"] for e in result.events
            if e.get("event") in ("runner_on_ok", "runner_on_failed")
            and e["event_data"].get("task_action", "").endswith("approval_gate")]


def failure_messages(result):
    return [e["event_data"]["res"].get("msg", "") for e in result.events
            if e.get("event") == "runner_on_failed"]


PLAN_PLAYBOOK = [{"name": "Plan the upgrade of the region",
                  "ansible.builtin.import_playbook": "stackhop.upgrade.plan"}]
# as a survey gives them: every answer a string
PLAN_VARS = {"stackhop_select_region": "dc1", "stackhop_plan_offline": "true",
             "stackhop_current_release": "2024.1", "stackhop_target_release": "2025.1"}


@pytest.mark.parametrize("report_callback", [False, True], ids=["plain", "report-callback"])
def test_plan_job_writes_into_the_artifact_dir(tmp_path, report_callback):
    # With the project's ansible.cfg enabling the report callback, the report directory
    # itself defaults into the artifact dir, and the plan goes there with it.
    cfg = ("[defaults]\ncallbacks_enabled = stackhop.upgrade.upgrade_report\n"
           if report_callback else None)
    pdd = private_data_dir(tmp_path, PLAN_PLAYBOOK, PLAN_VARS, ansible_cfg=cfg)
    result, artifacts, stdout, dummy = run(pdd, "plan-1")
    assert (result.status, result.rc) == ("successful", 0), stdout[-4000:]
    out = artifacts / "stackhop-output"
    files = sorted(p.name for p in out.glob("plan-*"))
    assert files == [PLAN + ".json", PLAN + ".md"], stdout[-4000:]
    plan = json.loads((out / (PLAN + ".json")).read_text())
    assert plan["offline"] is True and plan["region"] == "dc1"
    assert {z["az"] for z in plan["compute_batches"]} == {"vlan1", "vxlan1"}
    for name in files:
        assert "stackhop wrote %s" % (out / name) in stdout
    # nothing into the project (or the installed collection)
    assert not list((pdd / "project").glob("stackhop-*")) and not (pdd / "project" / "build").exists()
    assert not (REPO / "playbooks" / "stackhop-output").exists()


GATE_PLAYBOOK = [{
    "name": "Approval before the control-plane switch",
    "hosts": "localhost",
    "connection": "local",
    "gather_facts": False,
    "tasks": [{"name": "Gate", "ansible.builtin.include_role": {"name": "stackhop.upgrade.approval_gate"},
               "vars": {"approval_gate_name": GATE,
                        "approval_gate_message": "Switch the control plane of dc1 to 2025.1?"}}],
}]


def test_gate_passes_with_an_approval_file_in_the_job_dir(tmp_path):
    approvals = tmp_path / "job" / "approvals"
    extravars = {"stackhop_approval": "file", "stackhop_approval_dir": str(approvals),
                 "stackhop_approval_timeout": "60"}
    pdd = private_data_dir(tmp_path, GATE_PLAYBOOK, extravars)
    approvals.mkdir()
    (approvals / (GATE + ".approved")).write_text("ops: go\n")
    result, dummy, stdout, seconds = run(pdd, "gate-file")
    assert (result.status, result.rc) == ("successful", 0), stdout[-4000:]
    [gate] = gate_results(result)
    assert gate["approved"] is True and gate["approved_by"] == "file %s" % (approvals / (GATE + ".approved"))
    assert seconds < 60


@pytest.mark.parametrize("approved", [[GATE], GATE], ids=["list", "survey-string"])
def test_gate_passes_approved_by_a_workflow_approval_node(tmp_path, approved):
    # an AWX workflow's approval node before the job: the job template passes the gate's name
    pdd = private_data_dir(tmp_path, GATE_PLAYBOOK, {"stackhop_approved_gates": approved})
    result, dummy, stdout, dummy2 = run(pdd, "gate-workflow")
    assert (result.status, result.rc) == ("successful", 0), stdout[-4000:]
    [gate] = gate_results(result)
    assert gate["approved"] is True and gate["approved_by"] == "stackhop_approved_gates"


def test_gate_without_terminal_or_approval_fails_at_once_in_one_sentence(tmp_path):
    pdd = private_data_dir(tmp_path, GATE_PLAYBOOK, {"stackhop_select_region": "dc1"})
    result, dummy, stdout, seconds = run(pdd, "gate-nobody")
    assert result.status == "failed" and result.rc != 0, stdout[-4000:]
    assert seconds < 30, "the gate waited %.0f s for nobody" % seconds
    msgs = failure_messages(result)
    assert len(msgs) == 1, stdout[-4000:]
    msg = msgs[0]
    [gate] = gate_results(result)
    assert gate["unattended"] is True and gate["approved"] is False
    assert msg.startswith("approval gate %s cannot ask anyone because it runs under ansible-runner" % GATE)
    assert "stackhop_approved_gates" in msg and "stackhop_approval=file" in msg
    # one sentence: no full stop before the end
    assert not re.search(r"\.\s+[A-Z]", msg), msg
