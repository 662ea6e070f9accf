"""The report's callback reads a task's stackhop_phase and stackhop_component untemplated
(plugins/callback/upgrade_report.py): a templated one shows as its Jinja text in the
report (the HA region's rolling run showed a phase "{{ __control_plane_schema_step }}")."""

from __future__ import annotations

import re

from tests.lib.ansible_runner import REPO

TEMPLATED = re.compile(r"^\s*(stackhop_phase|stackhop_component):\s*['\"]?\{\{", re.M)


def test_no_task_sets_a_templated_phase_or_component():
    found = []
    for base in ("roles", "playbooks", "lab"):
        for path in sorted((REPO / base).rglob("*.yml")):
            for match in TEMPLATED.finditer(path.read_text()):
                line = path.read_text()[:match.start()].count("\n") + 1
                found.append("%s:%d" % (path.relative_to(REPO), line))
    assert not found, found
