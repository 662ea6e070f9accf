#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upgrade_check
short_description: Run a service's upgrade check from the target release's code and read its exit code
version_added: 0.1.0
description:
  - Runs O(command), normally C(<service>-status upgrade check) from the B(target)
    release's installation, against the current deployment (oslo.upgradecheck checks
    are written to run on N-1 data, before services restart).
  - Reads the result by oslo.upgradecheck's exit codes only, never by the printed
    table - V(0) success, V(1) warning, V(2) failure, V(255) the check itself crashed;
    any other code is reported as an error.
  - With O(json_output=true) appends C(--json) (oslo.upgradecheck 0.3.0 and later, for
    services that use its command line), returns each check's result in RV(checks) and
    names the checks that warned or failed, with their details, in RV(message).
  - Never fails on a bad result, but reports RV(status) and one sentence in RV(message),
    so the preflight role can print one summary. Fails only when the command cannot be
    started. Runs in check mode too, as it changes nothing.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  command:
    description: The command and its arguments, for example V([/opt/venv/bin/nova-status, upgrade, check]).
    type: list
    elements: str
    required: true
  service:
    description: Service name used in the messages; default the command's base name.
    type: str
  json_output:
    description: Append C(--json) and parse the per-check results.
    type: bool
    default: false
  environment:
    description:
      - Extra environment variables (for example C(OS_NOVA_CONFIG_DIR)), given to the
        command directly (never on a command line). Not masked in the output; meant for config
        directories, not secrets; a name that looks like a secret (C(*PASS*), C(*SECRET*),
        C(*TOKEN*), C(*_KEY)) is refused.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    details: Runs the check command in check mode too, as the command only reads; the task is
      never changed.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Run 2025.1's nova-status against the 2024.1 deployment
  stackhop.upgrade.upgrade_check:
    command: [/opt/stackhop/venvs/2025.1/bin/nova-status, --config-dir, /etc/nova, upgrade, check]
    service: nova
  register: nova_check
"""

RETURN = r"""
exit_code:
  description: The exit code (not named C(rc), which Ansible would turn into a task failure).
  returned: always
  type: int
status:
  description: V(ok), V(warning), V(failure) or V(error).
  returned: always
  type: str
message:
  description: One sentence saying what the result means and what to do.
  returned: always
  type: str
checks:
  description: Per-check results (C(check), C(result), C(details)), when O(json_output=true) and the output was JSON.
  returned: always
  type: list
  elements: dict
stdout_lines:
  description: The command's output, for the operator to read.
  returned: always
  type: list
  elements: str
executed_commands:
  description: The command run.
  returned: always
  type: list
  elements: str
"""

import json
import os
import re

from ansible_collections.stackhop.upgrade.plugins.module_utils.secrets import secret_environment_problem
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

CODES = {0: "ok", 1: "warning", 2: "failure", 255: "error"}
RESULT_NAMES = {0: "success", 1: "warning", 2: "failure"}


# A crash of a check that read the database through the target release's models before
# the target's migrations ran: a column the current schema does not have yet (ironic
# 2025.1's hardware interface check reads nodes.disable_power_off, added by 2025.1's own
# migration, on every node of a 2024.1 database).
_SCHEMA_BEHIND = re.compile(r"Unknown column '([^']+)'|no such column: ([\w.]+)")


def schema_behind(text):
    """The column a crashed check missed in the current schema, or ''."""
    match = _SCHEMA_BEHIND.search(text or "")
    return (match.group(1) or match.group(2)) if match else ""


def interpret(service, rc, which="", crash="", behind=""):
    """(status, message) for an oslo.upgradecheck exit code; ``which`` names the checks
    behind a warning or failure (from the JSON output), as " from: A (details); B";
    ``crash`` is the last line of a crashed check's output (its exception); ``behind`` the
    column a crashed check missed in the current schema (schema_behind): the check needs
    its release's migrations, which the pre-flight does not run, so it is a warning."""
    status = CODES.get(rc, "error")
    if rc == 255 and behind:
        return "warning", (
            "%s upgrade check of the target release could not run on this database (exit 255): "
            "it reads column %s, which only the target's own migrations add (the backup's "
            "test-upgrade runs them on copies); acknowledge with preflight_acknowledge: "
            "[upgrade_check_%s] to go on without it." % (service, behind, service))
    if rc == 0:
        msg = "%s upgrade check passed (exit 0)." % service
    elif rc == 1:
        msg = ("%s upgrade check reports warnings (exit 1)%s: read them, fix them, or "
               "acknowledge them with preflight_acknowledge: [upgrade_check_%s]."
               % (service, which, service))
    elif rc == 2:
        msg = ("%s upgrade check failed (exit 2)%s: the target release would not work with "
               "this deployment; fix what the failed checks name, then re-run the "
               "pre-flight." % (service, which))
    elif rc == 255:
        msg = ("%s upgrade check crashed (exit 255)%s: the target release's code could not "
               "run its checks; fix its configuration file or database connection shown "
               "in the output." % (service, " with %s" % crash if crash else ""))
    else:
        msg = ("%s upgrade check exited with %d, which is not an oslo.upgradecheck code: "
               "check that the command really is the service's 'upgrade check'."
               % (service, rc))
    return status, msg


def not_passed(checks, limit=160):
    """' from: NAME (details); ...' for the checks that did not succeed, or ''."""
    parts = []
    for check in checks:
        if check.get("result") in ("warning", "failure"):
            details = " ".join(str(check.get("details") or "").split())
            if len(details) > limit:
                details = details[:limit - 3] + "..."
            parts.append("%s%s" % (check.get("check"), " (%s)" % details if details else ""))
    return (" from: " + "; ".join(parts)) if parts else ""


def last_line(text, limit=200):
    """The last non-empty line of ``text`` (a traceback ends with its exception), shortened."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if len(lines[-1]) <= limit else lines[-1][:limit - 3] + "..."


class UpgradeCheck(StackhopModule):
    argument_spec = dict(
        command=dict(type="list", elements="str", required=True),
        service=dict(type="str"),
        json_output=dict(type="bool", default=False),
        environment=dict(type="dict", default={}),
    )

    def run(self):
        p = self.params
        problem = secret_environment_problem(p["environment"], "upgrade_check")
        if problem:
            raise StackhopError(problem)
        argv = list(p["command"])
        if not argv:
            raise StackhopError("command is empty: give the upgrade check command as a list.")
        service = p["service"] or os.path.basename(argv[0]).replace("-status", "")
        exe = argv[0]
        if os.sep not in exe:
            exe = self.get_bin_path(exe, "install the target release or give the full path")
        elif not os.access(exe, os.X_OK):
            raise StackhopError(
                "%s is not an executable file on %s: install the target release's %s "
                "first, or fix the path." % (exe, self._host(), service))
        argv[0] = exe
        if p["json_output"]:
            argv.append("--json")
        rc, out, err = self.run_command(
            argv, check_rc=False,
            environ_update=dict((k, str(v)) for k, v in p["environment"].items()))
        status, message = interpret(service, rc, crash=last_line(err or out),
                                    behind=schema_behind(out + "\n" + (err or "")) if rc == 255 else "")
        checks = []
        if p["json_output"] and rc in (0, 1, 2):
            try:
                data = json.loads(out)
                checks = [{"check": c.get("check"),
                           "result": RESULT_NAMES.get(c.get("result"), c.get("result")),
                           "details": c.get("details")} for c in data.get("checks", [])]
            except (ValueError, AttributeError):
                status = "error"
                message = ("%s upgrade check printed no JSON although json_output is on "
                           "(exit %d): turn json_output off for this service." % (service, rc))
            else:
                status, message = interpret(service, rc, not_passed(checks))
        lines = (out + ("\n" + err if err else "")).splitlines()
        return {"exit_code": rc, "status": status, "message": message, "checks": checks,
                "stdout_lines": lines[-200:]}


def main():
    UpgradeCheck()()


if __name__ == "__main__":
    main()
