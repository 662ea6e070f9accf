"""Fixtures of the report tests: run the test playbooks with the report callback enabled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lib.ansible_runner import run_playbook

HERE = Path(__file__).resolve().parent
PLAYBOOKS = HERE / "playbooks"
INVENTORY = HERE / "inventory" / "hosts.yml"


def report_env(report_dir, **extra):
    env = {"ANSIBLE_CALLBACKS_ENABLED": "stackhop.upgrade.upgrade_report",
           "STACKHOP_REPORT_DIR": str(report_dir)}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def play(name, report_dir, extra_vars=None, timeout=600, **env):
    """Run tests/report/playbooks/<name> on the four local hosts; return the CompletedProcess."""
    return run_playbook(PLAYBOOKS / name, extra_vars=extra_vars, inventory=INVENTORY,
                        extra_env=report_env(report_dir, **env), timeout=timeout)


def load(path):
    return json.loads(Path(path).read_text())


@pytest.fixture
def run_play():
    return play
