# Copyright (c) stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Action of stackhop.upgrade.async_progress: follows a job started with ``async`` and
``poll: 0`` and prints each new progress line the job writes (documented in the module)."""

from __future__ import annotations

import base64
import json
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

display = Display()

# async_status's bookkeeping, not the job's result
_BOOKKEEPING = ("started", "finished", "results_file", "ansible_job_id", "invocation")


def progress_line(content_b64):
    """The ``line`` of a progress file read by slurp, or None when it is not (yet) valid."""
    try:
        data = json.loads(base64.b64decode(content_b64).decode("utf-8"))
    except (ValueError, TypeError):
        return None
    line = data.get("line") if isinstance(data, dict) else None
    return line or None


class ActionModule(ActionBase):
    """Poll async_status and the job's progress file until the job ends."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("jid", "progress_file", "poll", "timeout", "label"))

    def _status(self, jid, task_vars, mode="status"):
        async_dir = self._remote_expand_user(
            self.get_shell_option("async_dir", default="~/.ansible_async"))
        return self._execute_module(
            module_name="ansible.legacy.async_status", task_vars=task_vars,
            module_args={"jid": jid, "mode": mode, "_async_dir": async_dir})

    def _line(self, path, task_vars):
        read = self._execute_module(module_name="ansible.legacy.slurp", task_vars=task_vars,
                                    module_args={"src": path})
        return None if read.get("failed") else progress_line(read.get("content", ""))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec={
            "jid": {"type": "str", "required": True},
            "progress_file": {"type": "str"},
            "poll": {"type": "int", "default": 10},
            "timeout": {"type": "int", "default": 86400},
            "label": {"type": "str", "default": "the job"},
        })
        host = task_vars.get("inventory_hostname", "?")
        if args["poll"] < 1 or args["timeout"] < 1:
            return dict(result, failed=True, msg="async_progress for %s has poll %d and timeout %d; "
                        "set both to 1 second or more" % (args["label"], args["poll"], args["timeout"]))
        deadline = time.monotonic() + args["timeout"]
        lines = []
        wait = 1  # short jobs end within the first looks; long ones are looked at every poll
        while True:
            status = self._status(args["jid"], task_vars)
            # async_status's own words when the job file is not there
            if status.get("failed") and status.get("msg") == "could not find job":
                # no job file: a wrong jid, or the job's host was rebooted
                return dict(result, failed=True, msg="async_progress cannot read the job %s of "
                            "%s on %s (%s); start it again" % (
                                args["jid"], args["label"], host, status.get("msg", "no status")))
            if args["progress_file"]:
                line = self._line(args["progress_file"], task_vars)
                if line and (not lines or line != lines[-1]):
                    lines.append(line)
                    # on stderr: a machine-readable stdout (the json callback) stays valid
                    display.display("%s | %s" % (host, line), stderr=True)
            if status.get("finished"):
                break
            if time.monotonic() >= deadline:
                return dict(result, failed=True, progress_lines=lines, msg=(
                    "%s on %s still runs after %d s; it goes on on the host: follow it with "
                    "ansible.builtin.async_status jid=%s, or raise the timeout and run again"
                    % (args["label"], host, args["timeout"], args["jid"])))
            time.sleep(wait)
            wait = min(wait * 2, args["poll"])
        self._status(args["jid"], task_vars, mode="cleanup")
        for key in _BOOKKEEPING:
            status.pop(key, None)
        result = merge_hash(result, status)
        result["progress_lines"] = lines
        return result
