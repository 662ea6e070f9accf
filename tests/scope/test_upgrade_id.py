"""One upgrade id per run (issue 16 item 2): playbooks/_scope.yml decides it once and every
play of every phase of upgrade_region.yml sees the same stackhop_upgrade_id on every host.

Run through ansible-playbook with the test-only strategy of tests/scope (plugins/strategy):
the scope play runs for real (again at the head of each imported phase playbook), every
other play is only recorded, with the value of stackhop_upgrade_id on each of its hosts.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.lib.ansible_runner import REPO, VENV, ansible_env, run_playbook
from tests.scope.test_scope_playbooks import EXAMPLE, HERE, SCOPE_PLAY

PHASES = ["Target release code", "Pre-flight", "Backup", "Control plane", "Computes", "The old RabbitMQ left behind",
          "Verify"]


def ids(tmp_path, playbook, environ=None, **extra):
    """Run the playbook; return (process, [(play, {host: stackhop_upgrade_id})])."""
    out = tmp_path / ("%s.jsonl" % playbook)
    out.unlink(missing_ok=True)
    extra_vars = {"stackhop_approval": "auto", "stackhop_plan_offline": True,
                  "stackhop_plan_dir": str(tmp_path / "plans"), "stackhop_select_region": "dc1"}
    extra_vars.update(extra)
    env = ansible_env({"ANSIBLE_STRATEGY_PLUGINS": str(HERE / "plugins" / "strategy"),
                       "ANSIBLE_STRATEGY": "record_hosts",
                       "STACKHOP_RECORD_RUN": "|".join([SCOPE_PLAY, "Plan the compute batches"]),
                       "STACKHOP_RECORD_FILE": str(out), "STACKHOP_RECORD_VARS": "stackhop_upgrade_id",
                       "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer"})
    env.pop("STACKHOP_UPGRADE_ID", None)
    env.update(environ or {})
    argv = [str(VENV / "bin" / "ansible-playbook"), str(REPO / "playbooks" / ("%s.yml" % playbook)),
            "-i", str(EXAMPLE), "-e", json.dumps(extra_vars)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False,
                          cwd=str(REPO))
    plays = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return proc, [(p["play"], p["vars"]["stackhop_upgrade_id"]) for p in plays]


@pytest.mark.parametrize("environ, extra, expected", [
    # nothing given: one default for the whole region upgrade, in every phase
    ({}, {}, "dc1-2024.1-to-2025.1"),
    # STACKHOP_UPGRADE_ID (the lab tests, scripts/main.sh)
    ({"STACKHOP_UPGRADE_ID": "lab-2024.1-to-2025.1"}, {}, "lab-2024.1-to-2025.1"),
    # -e stackhop_upgrade_id wins over the environment
    ({"STACKHOP_UPGRADE_ID": "from-env"}, {"stackhop_upgrade_id": "2025.1-dc1"}, "2025.1-dc1"),
])
def test_every_phase_of_upgrade_region_sees_one_id(tmp_path, environ, extra, expected):
    proc, plays = ids(tmp_path, "upgrade_region", environ, **extra)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    # the scope play of each imported phase playbook, then the phases' own plays
    names = [play for play, _seen in plays]
    assert names.count(SCOPE_PLAY) == 1 + len(PHASES), names
    recorded = [(play, seen) for play, seen in plays if play != SCOPE_PLAY]
    assert len(recorded) >= 10
    for play, seen in recorded:
        assert seen and set(seen.values()) == {expected}, (play, seen)
    assert ("upgrade id %s" % expected) in proc.stdout


def test_a_preflight_on_its_own_has_no_id(tmp_path):
    # as before: the saved inventories are saved again on every run, a backup takes a new set
    proc, plays = ids(tmp_path, "preflight")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    plays = [seen for play, seen in plays if play != SCOPE_PLAY]
    assert plays and all(set(seen.values()) == {""} for seen in plays)
    proc, plays = ids(tmp_path, "preflight", {"STACKHOP_UPGRADE_ID": "from-env"})
    plays = [seen for play, seen in plays if play != SCOPE_PLAY]
    assert plays and all(set(seen.values()) == {"from-env"} for seen in plays)


def test_the_roles_read_the_runs_id(tmp_path):
    out = tmp_path / "defaults.json"
    proc = run_playbook(HERE / "playbooks" / "role_defaults.yml", inventory=EXAMPLE,
                        extra_vars={"stackhop_select_region": "dc2", "role_defaults_file": str(out),
                                    "stackhop_scope_upgrade_id_default": True},
                        extra_env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer", "STACKHOP_UPGRADE_ID": ""},
                        timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    picked = json.loads(out.read_text())
    assert {picked[k] for k in ("control_plane_upgrade_id", "rollback_backup_id", "preflight_upgrade_id",
                                "backup_id", "step_marker_upgrade_id")} == {"dc2-2024.1-to-2025.1"}
