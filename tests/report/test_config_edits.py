"""The report keeps what stackhop.upgrade.config_migrate changed in each config file, and why
(report.json's config_edits and a table of report.html), without any value; in check mode
the edits are marked planned."""

from __future__ import annotations

import json

from ansible_collections.stackhop.upgrade.plugins.plugin_utils import upgrade_report as model

from tests.lib.ansible_runner import VENV, run_playbook
from tests.report.conftest import load, report_env

EDIT = {"action": "set", "section": "api", "option": "max_limit", "values": ["500"], "multi": False,
        "kind": "rename", "reason": "DEFAULT/osapi_max_limit is renamed api/max_limit in 2024.1", "secret": False}
ROW = {"path": "/etc/nova/nova.conf", "action": "set", "section": "api", "option": "max_limit", "kind": "rename",
       "reason": "DEFAULT/osapi_max_limit is renamed api/max_limit in 2024.1"}


def test_edits_of_each_result_shape_without_values():
    assert model.config_edits({"path": "/etc/nova/nova.conf", "edits": [EDIT]}) == [ROW]
    # paths: one result per file
    assert model.config_edits({"files": [{"path": "/etc/nova/nova.conf", "edits": [EDIT]},
                                         {"path": "/etc/nova/nova-compute.conf", "edits": []}]}) == [ROW]
    # a loop: each item's
    assert model.config_edits({"results": [{"path": "/etc/nova/nova.conf", "edits": [EDIT]},
                                           {"skipped": True}]}) == [ROW]
    assert model.config_edits({"changed": True}) == [] and model.config_edits(None) == []


def _conf_and_meta(tmp_path):
    conf = tmp_path / "nova.conf"
    conf.write_text("[DEFAULT]\n# the operator's comment\nosapi_max_limit = 500\n\n[database]\nconnection = x\n")
    conf.chmod(0o640)
    meta = tmp_path / "nova-2024.1.json"
    option = {"name": "max_limit", "dest": "max_limit", "multi": False, "secret": False,
              "deprecated_opts": [{"group": "DEFAULT", "name": "osapi_max_limit"}],
              "deprecated_for_removal": False, "deprecated_since": None}
    connection = {"name": "connection", "dest": "connection", "multi": False, "secret": True,
                  "deprecated_opts": [], "deprecated_for_removal": False, "deprecated_since": None}
    meta.write_text(json.dumps({"format": 1, "groups": {"api": {"max_limit": option},
                                                        "database": {"connection": connection},
                                                        "upgrade_levels": {}}}))
    return conf, meta


def _run(tmp_path, check):
    conf, meta = _conf_and_meta(tmp_path)
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"stackhop_phase": "start", "stackhop_component": "nova"},
             "tasks": [{"name": "Migrate nova.conf", "stackhop.upgrade.config_migrate": {
                 "paths": [str(conf)], "releases": [{"name": "2024.1", "metadata": str(meta)}],
                 "settings": {"upgrade_levels": {"compute": "auto"}}}}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    report = tmp_path / "report"
    proc = run_playbook(tmp_path / "play.yml", inventory="localhost,", check=check,
                        extra_env=report_env(report, ANSIBLE_PYTHON_INTERPRETER=str(VENV / "bin" / "python")))
    assert proc.returncode == 0, proc.stdout[-3000:]
    return conf, load(report / "report.json"), (report / "report.html").read_text()


def test_the_report_lists_each_edit_with_its_reason(tmp_path):
    conf, report, html = _run(tmp_path, check=False)
    rows = [(e["host"], e["path"], e["section"], e["option"], e["action"], e["kind"], e["planned"])
            for e in report["config_edits"]]
    assert rows == [
        ("localhost", str(conf), "api", "max_limit", "set", "rename", False),
        ("localhost", str(conf), "DEFAULT", "osapi_max_limit", "remove", "rename", False),
        ("localhost", str(conf), "upgrade_levels", "compute", "set", "setting", False),
    ], report["config_edits"]
    assert all(e["reason"] and e["run"] == 1 and e["phase"] == "start" for e in report["config_edits"])
    assert "values" not in json.dumps(report["config_edits"])
    assert '<h2 id="config">Config changes</h2>' in html and "[api] max_limit" in html


def test_check_mode_edits_are_planned(tmp_path):
    conf, report, html = _run(tmp_path, check=True)
    assert "osapi_max_limit = 500" in conf.read_text()
    assert report["config_edits"] and all(e["planned"] for e in report["config_edits"])
    assert "(planned, check mode)" in html
