"""Figures a module returns (stackhop_figures) are summed into its phase in report.json."""

from __future__ import annotations

import json

from tests.lib.ansible_runner import VENV, run_playbook
from tests.report.conftest import load, report_env

MODULE = '''#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
m = AnsibleModule(argument_spec=dict(rows=dict(type="int")))
m.exit_json(changed=True, stackhop_figures={"nova_archived_rows": m.params["rows"],
                                            "nova_archive_seconds": 0.5, "flag": True})
'''


def test_figures_summed_per_phase(tmp_path):
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "figures.py").write_text(MODULE)
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"stackhop_phase": "migrate", "stackhop_component": "nova"},
             "tasks": [{"name": "first", "figures": {"rows": 1200}},
                       {"name": "second", "figures": {"rows": 34}}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = report_env(tmp_path / "report", ANSIBLE_LIBRARY=str(tmp_path / "library"),
                     ANSIBLE_PYTHON_INTERPRETER=str(VENV / "bin" / "python"))
    proc = run_playbook(tmp_path / "play.yml", inventory="localhost,", extra_env=env)
    assert proc.returncode == 0, proc.stdout[-3000:]
    phases = load(tmp_path / "report" / "report.json")["phases"]
    assert [(p["phase"], p["component"]) for p in phases] == [("migrate", "nova")]
    assert phases[0]["figures"] == {"nova_archived_rows": 1234, "nova_archive_seconds": 1.0}
