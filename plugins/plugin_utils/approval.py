# Copyright (c) stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Decisions of the ``stackhop.upgrade.approval_gate`` action (no Ansible imports).

Under AWX, Automation Platform or ansible-runner there is nobody at a terminal: ansible-runner
even gives ansible-playbook a pseudo-terminal, so Ansible's own prompt would wait for the whole
timeout. A gate in ``prompt`` mode that finds no answer there fails at once and says how to
approve it, instead of waiting two hours for a file nobody can reach.
"""

from __future__ import annotations

# Variables that ansible-runner (AWX, Automation Platform, ansible-navigator) puts in the
# environment of every ansible-playbook it starts, and the stdout callback it forces.
RUNNER_VARIABLES = ("AWX_ISOLATED_DATA_DIR", "RUNNER_OMIT_EVENTS", "RUNNER_ONLY_FAILED_EVENTS")
RUNNER_CALLBACK = "awx_display"
# The reason given when Ansible's prompt finds no interactive stdin.
NO_TTY = "stdin is not a terminal (cron, nohup, a CI job)"


def unattended_reason(environ):
    """Why this run has nobody at a terminal according to ``environ``, or None.

    ``environ`` is a mapping such as ``os.environ``. A terminal that ansible-runner allocated
    does not count: nobody types into it.
    """
    for name in RUNNER_VARIABLES:
        if environ.get(name):
            return "it runs under ansible-runner (AWX or Automation Platform: %s is set)" % name
    if environ.get("ANSIBLE_STDOUT_CALLBACK") == RUNNER_CALLBACK:
        return "it runs under ansible-runner (AWX or Automation Platform: ANSIBLE_STDOUT_CALLBACK=%s)" % RUNNER_CALLBACK
    return None


def decide(mode, name, approved, found, unattended):
    """What the gate does first: ``approve``, ``answer`` (a file was found), ``prompt``, ``wait`` or ``fail``.

    ``mode`` is prompt, auto or file; ``approved`` the gates approved in advance; ``found``
    ``approved``/``rejected``/None from the approval files; ``unattended`` a reason from
    :func:`unattended_reason` (or from the prompt finding no interactive stdin), or None.
    ``fail`` means: nobody can answer, stop now. ``file`` mode always waits: the operator
    chose a file as the way to answer.
    """
    if mode == "auto" or name in (approved or []):
        return "approve"
    if found:
        return "answer"
    if mode == "file":
        return "wait"
    if unattended:
        return "fail"
    return "prompt"


def no_terminal_message(name, files, reason):
    """The one sentence a gate that nobody can answer fails with."""
    return ("approval gate %s cannot ask anyone because %s, and no approval was given; approve it "
            "with -e stackhop_approval=auto, or with -e '{\"stackhop_approved_gates\": [\"%s\"]}' "
            "(an AWX workflow approval node before this job), or run with -e stackhop_approval=file "
            "and create %s (reject: %s)" % (name, reason, name, files["approved"], files["rejected"]))
