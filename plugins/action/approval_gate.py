# Copyright (c) stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Action of stackhop.upgrade.approval_gate: runs on the controller (documented in the module)."""

from __future__ import annotations

import os
import re
import time

from ansible.errors import AnsiblePromptInterrupt, AnsiblePromptNoninteractive
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.stackhop.upgrade.plugins.plugin_utils import approval

display = Display()

YES = ("y", "yes", "approve", "approved", "continue")
NO = ("n", "no", "reject", "rejected", "abort")


class ActionModule(ActionBase):
    """Wait for an approval: variable, approval file or interactive answer, until a deadline."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("name", "question", "mode", "timeout", "approved", "approval_dir", "poll"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args_spec = {
            "name": {"type": "str", "required": True},
            "question": {"type": "str", "default": ""},
            "mode": {"type": "str", "default": "prompt", "choices": ["prompt", "auto", "file"]},
            "timeout": {"type": "int", "default": 7200},
            "approved": {"type": "list", "elements": "str", "default": []},
            "approval_dir": {"type": "path", "default": "build/approvals"},
            "poll": {"type": "int", "default": 5},
        }
        dummy, args = self.validate_argument_spec(argument_spec=args_spec)
        name = args["name"]
        timeout = args["timeout"]
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name or ""):
            return dict(result, failed=True,
                        msg="approval gate name %r cannot name the approval files; set "
                            "approval_gate_name to letters, digits, '.', '_' or '-' "
                            "(for example az1-canary)" % name)
        if timeout < 1:
            return dict(result, failed=True,
                        msg="approval gate %s has timeout %d; set stackhop_approval_timeout "
                            "to 1 second or more" % (name, timeout))
        base = os.path.join(os.path.abspath(os.path.expanduser(args["approval_dir"])), name)
        files = {"approved": base + ".approved", "rejected": base + ".rejected"}
        result.update({"changed": False, "gate": name, "approval_files": files,
                       "stackhop_component": name, "timeout": timeout})
        start = time.time()

        def done(how, approved=True, msg=None):
            result["approved_by"] = how
            result["waited_s"] = round(time.time() - start, 1)
            result["approved"] = approved
            if not approved:
                result["failed"] = True
                result["msg"] = msg
            else:
                result["msg"] = "approval gate %s approved by %s" % (name, how)
            return result

        how_to = ("approve it by creating %s (reject: %s), or re-run with "
                  "-e '{\"stackhop_approved_gates\": [\"%s\"]}' or -e stackhop_approval=auto"
                  % (files["approved"], files["rejected"], name))
        found = self._check_files(files)
        reason = approval.unattended_reason(os.environ)
        step = approval.decide(args["mode"], name, args["approved"], found, reason)
        if step == "approve":
            return done("stackhop_approval=auto" if args["mode"] == "auto" else "stackhop_approved_gates")
        if step == "answer":
            return done("file %s" % files[found], found == "approved",
                        "approval gate %s was rejected by %s; nothing after the gate ran"
                        % (name, files["rejected"]))

        def unattended(why):
            result["unattended"] = True
            return done("nobody", False, approval.no_terminal_message(name, files, why))

        if step == "fail":
            return unattended(reason)

        message = args["question"] or "Continue after approval gate %s?" % name
        if step == "prompt":
            while True:
                left = int(timeout - (time.time() - start))
                if left < 1:
                    break
                prompt = ("[stackhop approval] %s\nType yes to continue or no to abort "
                          "(expires in %ds; or %s):\n" % (message, left, how_to))
                try:
                    answer = display.prompt_until(prompt, seconds=left)
                except AnsiblePromptNoninteractive:
                    return unattended(approval.NO_TTY)
                except AnsiblePromptInterrupt:
                    return done("interrupt", False, "approval gate %s was aborted at the prompt; "
                                "nothing after the gate ran" % name)
                if isinstance(answer, BaseException):
                    if isinstance(answer, AnsiblePromptNoninteractive):
                        return unattended(approval.NO_TTY)
                    raise answer
                text = to_text(answer).strip().lower()
                if text in YES:
                    return done("operator at the prompt")
                if text in NO:
                    return done("operator at the prompt", False, "approval gate %s was rejected "
                                "at the prompt; nothing after the gate ran" % name)
                found = self._check_files(files)
                if found:
                    return done("file %s" % files[found], found == "approved",
                                "approval gate %s was rejected by %s; nothing after the gate ran"
                                % (name, files["rejected"]))
        else:
            display.display("[stackhop approval] %s: waiting up to %ds; %s"
                            % (name, timeout, how_to))

        while time.time() - start < timeout:
            found = self._check_files(files)
            if found:
                return done("file %s" % files[found], found == "approved",
                            "approval gate %s was rejected by %s; nothing after the gate ran"
                            % (name, files["rejected"]))
            time.sleep(min(args["poll"], max(0.1, timeout - (time.time() - start))))
        found = self._check_files(files)
        if found:
            return done("file %s" % files[found], found == "approved",
                        "approval gate %s was rejected by %s; nothing after the gate ran"
                        % (name, files["rejected"]))
        result["expired"] = True
        return done("nobody", False,
                    "approval gate %s expired after %ds without an answer; the upgrade stops "
                    "cleanly here and nothing after the gate ran; to continue, %s"
                    % (name, timeout, how_to))

    @staticmethod
    def _check_files(files):
        if os.path.exists(files["rejected"]):
            return "rejected"
        if os.path.exists(files["approved"]):
            return "approved"
        return None
