"""The approval gate's decisions (plugins/plugin_utils/approval.py): who can answer, what to do first."""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.plugin_utils import approval


@pytest.mark.parametrize("environ", [
    {"AWX_ISOLATED_DATA_DIR": "/runner/artifacts/42"},
    {"RUNNER_OMIT_EVENTS": "False"},
    {"RUNNER_ONLY_FAILED_EVENTS": "False"},
    {"ANSIBLE_STDOUT_CALLBACK": "awx_display"},
])
def test_ansible_runner_is_unattended(environ):
    assert "ansible-runner" in approval.unattended_reason(dict(environ, HOME="/root"))


@pytest.mark.parametrize("environ", [
    {},
    {"HOME": "/root", "TERM": "xterm", "ANSIBLE_STDOUT_CALLBACK": "default"},
    {"AWX_ISOLATED_DATA_DIR": ""},
])
def test_an_ordinary_shell_is_not(environ):
    assert approval.unattended_reason(environ) is None


@pytest.mark.parametrize("mode, approved, found, unattended, step", [
    ("auto", [], None, "awx", "approve"),
    ("auto", [], "rejected", None, "approve"),
    ("prompt", ["az1-canary"], None, "awx", "approve"),
    ("file", ["other", "az1-canary"], "rejected", None, "approve"),
    ("prompt", [], "approved", "awx", "answer"),
    ("prompt", [], "rejected", None, "answer"),
    ("file", [], None, None, "wait"),
    ("file", [], None, "awx", "wait"),            # the operator chose a file: wait for it
    ("prompt", [], None, None, "prompt"),
    ("prompt", ["other"], None, "awx", "fail"),   # nobody can answer: fail at once
    ("prompt", None, None, approval.NO_TTY, "fail"),
])
def test_decide(mode, approved, found, unattended, step):
    assert approval.decide(mode, "az1-canary", approved, found, unattended) == step


def test_message_is_one_sentence_naming_the_gate_and_every_way_to_approve():
    files = {"approved": "/r/approvals/az1.approved", "rejected": "/r/approvals/az1.rejected"}
    msg = approval.no_terminal_message("az1", files, approval.NO_TTY)
    assert msg.startswith("approval gate az1 cannot ask anyone because stdin is not a terminal")
    for way in ("-e stackhop_approval=auto", "\"stackhop_approved_gates\": [\"az1\"]",
                "-e stackhop_approval=file", files["approved"], files["rejected"]):
        assert way in msg
    assert "\n" not in msg and msg.count(". ") == 0
