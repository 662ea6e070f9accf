"""With the callback enabled everywhere, runs without phases leave no report and JSON output stays JSON."""

from __future__ import annotations

from tests.lib.ansible_runner import run_module
from tests.report.conftest import report_env


def test_module_run_without_phases_leaves_nothing(tmp_path):
    report_dir = tmp_path / "report"
    res = run_module("ansible.builtin.debug", {"msg": "hello"}, extra_env=report_env(report_dir))
    assert res["msg"] == "hello"          # run_module parsed the json callback's stdout
    assert not report_dir.exists()
