"""Where a run writes its files (plugins/plugin_utils/output_dir.py, filter stackhop.upgrade.output_dir)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.stackhop.upgrade.plugins.filter.output_dir import output_dir
from ansible_collections.stackhop.upgrade.plugins.plugin_utils import output_dir as decide

RUNNER = {"AWX_ISOLATED_DATA_DIR": "/srv/job/artifacts/7"}
REPORT = {"STACKHOP_REPORT_DIR": "/srv/reports/2026.1-dc1"}


@pytest.mark.parametrize("explicit, environ, expected, source", [
    # nothing known: the current directory's stackhop-output
    ("", {}, "/work/here/stackhop-output", "current directory"),
    (None, {"AWX_ISOLATED_DATA_DIR": ""}, "/work/here/stackhop-output", "current directory"),
    # ansible-runner (AWX): into the job's artifact directory
    ("", RUNNER, "/srv/job/artifacts/7/stackhop-output", "ansible-runner"),
    # the report callback's (or the operator's) report directory wins over the runner's
    ("", dict(RUNNER, **REPORT), "/srv/reports/2026.1-dc1", "STACKHOP_REPORT_DIR"),
    # stackhop_output_dir wins over everything; relative to the current directory
    ("/data/out", dict(RUNNER, **REPORT), "/data/out", "stackhop_output_dir"),
    ("out/plans/", {}, "/work/here/out/plans", "stackhop_output_dir"),
    ("  ", RUNNER, "/srv/job/artifacts/7/stackhop-output", "ansible-runner"),
])
def test_resolve(explicit, environ, expected, source):
    assert decide.resolve(explicit, environ, "/work/here") == (expected, source)


def test_home_is_expanded():
    path, dummy = decide.resolve("~/stackhop", {}, "/work/here")
    assert path == os.path.join(os.path.expanduser("~"), "stackhop")


def test_filter_reads_the_controller_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STACKHOP_REPORT_DIR", raising=False)
    monkeypatch.setenv("AWX_ISOLATED_DATA_DIR", str(tmp_path / "artifacts" / "job"))
    assert output_dir("") == str(tmp_path / "artifacts" / "job" / "stackhop-output")
    monkeypatch.delenv("AWX_ISOLATED_DATA_DIR")
    assert output_dir("") == str(tmp_path / "stackhop-output")
    assert output_dir("", environ=RUNNER, cwd="/x") == "/srv/job/artifacts/7/stackhop-output"


@pytest.mark.parametrize("environ, upgrade_id, expected", [
    ({}, "2026.1-dc1", "build/reports/2026.1-dc1"),
    ({}, None, "build/reports/20260101T000000Z"),
    (RUNNER, "2026.1-dc1", "/srv/job/artifacts/7/stackhop-output"),
])
def test_default_report_dir(environ, upgrade_id, expected):
    assert decide.default_report_dir(environ, upgrade_id, "20260101T000000Z") == expected
