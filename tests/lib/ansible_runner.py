"""Run stackhop modules and playbooks through ansible-playbook, as operators do."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("STACKHOP_VENV", REPO / ".venv"))


def ansible_env(extra=None):
    """Environment for ansible-* commands: this checkout's config and collections."""
    env = dict(os.environ)
    env["PATH"] = "%s:%s" % (VENV / "bin", env.get("PATH", ""))
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / "build" / "collections")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_DEPRECATION_WARNINGS"] = "0"
    env["ANSIBLE_LOCALHOST_WARNING"] = "0"
    env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "0"
    env.update(extra or {})
    return env


class ModuleResult(dict):
    """The module's result dict, plus the raw process output for assertions on secrets."""

    stdout = ""
    stderr = ""

    @property
    def failed(self):
        return bool(self.get("failed"))


def run_module(module, args, check=False, diff=False, extra_env=None, timeout=600, netns=None):
    """Run one task of ``module`` on localhost; return its result (never raises on failure).

    The task runs in a real ansible-playbook process with the json callback, so
    argument parsing, check mode, diff and no_log behave exactly as for users. With
    ``netns``, the whole ansible-playbook process runs under ``ip netns exec NETNS``.
    """
    name = module if "." in module else "stackhop.upgrade." + module
    with tempfile.TemporaryDirectory() as tmp:
        play = [{
            "hosts": "localhost", "gather_facts": False, "connection": "local",
            "tasks": [{"name": "under test", name: args, "register": "r",
                       "ignore_errors": True}],
        }]
        pb = Path(tmp, "play.json")
        pb.write_text(json.dumps(play))
        argv = [str(VENV / "bin" / "ansible-playbook"), "-i", "localhost,", str(pb)]
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        env = ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                           "ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python")})
        env.update(extra_env or {})
        proc = subprocess.run(argv, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    try:
        out = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError("ansible-playbook printed no JSON (rc=%d):\n%s\n%s"
                             % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])) from exc
    task = out["plays"][0]["tasks"][0]
    res = ModuleResult(task["hosts"]["localhost"])
    res.stdout, res.stderr = proc.stdout, proc.stderr
    return res


def run_playbook(playbook, extra_vars=None, inventory=None, check=False, diff=False,
                 extra_env=None, timeout=1800, tags=None):
    """Run a playbook file; return the CompletedProcess (text output)."""
    argv = [str(VENV / "bin" / "ansible-playbook"), str(playbook)]
    if inventory:
        argv += ["-i", str(inventory)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if tags:
        argv += ["--tags", ",".join(tags)]
    env = ansible_env(extra_env)
    return subprocess.run(argv, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=str(REPO))
