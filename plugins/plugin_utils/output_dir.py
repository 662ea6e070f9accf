# Copyright (c) stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Where a stackhop run writes its files on the controller (no Ansible imports).

Plans, the compute summary, verify and rollback records and the report of one run go to
one directory, decided here (filter ``stackhop.upgrade.output_dir``, and the report
callback's default):

1. ``stackhop_output_dir`` when set (an inventory or extra var);
2. else ``STACKHOP_REPORT_DIR``: the report directory the ``upgrade_report`` callback
   exports for the run (or that the operator set), so the plan and the report of a run
   stay together;
3. else, under ansible-runner (AWX, Automation Platform, ansible-navigator),
   ``<artifact dir>/stackhop-output``: ansible-runner puts its artifact directory
   ``<private_data_dir>/artifacts/<ident>`` (``/runner/artifacts/<ident>`` in an execution
   environment) into ``AWX_ISOLATED_DATA_DIR`` of every ansible-playbook it starts
   (ansible_runner/config/_base.py), and sends that directory back to the controller node;
4. else ``stackhop-output/`` in the current directory.

A relative path is taken from the current directory; the result is absolute.
"""

from __future__ import annotations

import os

OUTPUT_NAME = "stackhop-output"
REPORT_VARIABLE = "STACKHOP_REPORT_DIR"
RUNNER_ARTIFACT_VARIABLE = "AWX_ISOLATED_DATA_DIR"


def _text(value):
    if value is None:
        return ""
    return str(value).strip()


def runner_artifact_dir(environ):
    """ansible-runner's artifact directory of this job from ``environ``, or None."""
    return _text(environ.get(RUNNER_ARTIFACT_VARIABLE)) or None


def resolve(explicit, environ, cwd):
    """(absolute directory, what chose it) for the value of ``stackhop_output_dir``."""
    if _text(explicit):
        path, source = _text(explicit), "stackhop_output_dir"
    elif _text(environ.get(REPORT_VARIABLE)):
        path, source = _text(environ.get(REPORT_VARIABLE)), REPORT_VARIABLE
    elif runner_artifact_dir(environ):
        path, source = os.path.join(runner_artifact_dir(environ), OUTPUT_NAME), "ansible-runner"
    else:
        path, source = OUTPUT_NAME, "current directory"
    path = os.path.expanduser(path)
    return os.path.normpath(os.path.join(cwd, path)), source


def default_report_dir(environ, upgrade_id, stamp):
    """The report callback's directory when none is configured.

    Under ansible-runner the job's artifact directory (the same directory as the run's
    other files); else ``build/reports/<upgrade id or UTC stamp>`` (relative).
    """
    artifacts = runner_artifact_dir(environ)
    if artifacts:
        return os.path.join(artifacts, OUTPUT_NAME)
    return os.path.join("build", "reports", upgrade_id or stamp)
