"""Run a stackhop module through ansible-playbook inside a network namespace.

The module works on the rules of the network namespace it runs in (iptables, the
interfaces in /sys/class/net). Tests must never touch the root namespace's firewall
(other work shares this machine), so the whole ansible-playbook process runs under
``ip netns exec NS``: the task is still a real Ansible task on localhost with real
argument parsing, check mode and diff, only in the test's namespace.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from tests.lib.ansible_runner import VENV, ModuleResult, ansible_env


def run_module_in_netns(netns, module, args, check=False, diff=False, timeout=600):
    """Like tests.lib.ansible_runner.run_module, with the playbook inside ``netns``."""
    name = module if "." in module else "stackhop.upgrade." + module
    with tempfile.TemporaryDirectory(prefix="ct-play-") as tmp:
        play = [{
            "hosts": "localhost", "gather_facts": False, "connection": "local",
            "tasks": [{"name": "under test", name: args, "register": "r",
                       "ignore_errors": True}],
        }]
        pb = Path(tmp, "play.json")
        pb.write_text(json.dumps(play))
        argv = ["ip", "netns", "exec", netns,
                str(VENV / "bin" / "ansible-playbook"), "-i", "localhost,", str(pb)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        env = ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                           "ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python")})
        proc = subprocess.run(argv, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    try:
        out = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError("ansible-playbook printed no JSON (rc=%d):\n%s\n%s"
                             % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])) from exc
    res = ModuleResult(out["plays"][0]["tasks"][0]["hosts"]["localhost"])
    res.stdout, res.stderr = proc.stdout, proc.stderr
    return res
