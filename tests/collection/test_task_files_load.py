"""Every task file of every role loads: ansible-playbook --syntax-check on a playbook that imports
each one statically. Files reached only through include_role are parsed at run time, so a keyword a
task cannot take (throttle on include_role) otherwise shows first in the middle of an upgrade."""

from __future__ import annotations

import subprocess

import yaml

from tests.lib.ansible_runner import REPO, VENV, ansible_env


def task_files():
    for path in sorted((REPO / "roles").glob("*/tasks/*.yml")):
        yield path.parent.parent.name, path.stem


def test_every_task_file_of_every_role_loads(tmp_path):
    plays = [{
        "name": "%s %s" % (role, tasks),
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "Import %s/%s" % (role, tasks),
                   "ansible.builtin.import_role": {"name": "stackhop.upgrade." + role, "tasks_from": tasks}}],
    } for role, tasks in task_files()]
    playbook = tmp_path / "all_task_files.yml"
    playbook.write_text(yaml.safe_dump(plays))
    proc = subprocess.run([str(VENV / "bin" / "ansible-playbook"), "--syntax-check", "-i", "localhost,", str(playbook)],
                          env=ansible_env(), cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
