"""roles/service_unit, entry point ``directories`` (also run by its ``main``): the
directories a service writes become its own with what root left in them, while files of
other accounts stay theirs, so a second run changes nothing. The fast-forward rehearsal's
"again" run found the recursive chown it replaces handing dnsmasq's pid file (owned by
nobody) in /var/lib/neutron to neutron on every run. Runs on this machine, as root."""

from __future__ import annotations

import json
import os
import pwd
import sys

import pytest

from tests.lib.ansible_runner import run_playbook

pytestmark = pytest.mark.needs_root  # changes owners

PLAY = """
- name: Give a service its directories
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The service_unit role's directories
      ansible.builtin.include_role:
        name: stackhop.upgrade.service_unit
        tasks_from: directories
      vars:
        service_unit_user: daemon
        service_unit_dirs: {dirs}
"""


def run(tmp_path, dirs, check=False):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(dirs=json.dumps([d if isinstance(d, dict) else str(d) for d in dirs])))
    proc = run_playbook(playbook, inventory="localhost,", check=check,
                        extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                                   "ANSIBLE_PYTHON_INTERPRETER": sys.executable}, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout)["stats"]["localhost"]


def owner(path):
    return pwd.getpwuid(os.lstat(path).st_uid).pw_name


def test_root_leftovers_are_handed_over_other_accounts_files_kept_and_a_second_run_changes_nothing(tmp_path):
    state, log = tmp_path / "lib-neutron", tmp_path / "log-cinder"
    (state / "dhcp" / "net1").mkdir(parents=True)
    log.mkdir()
    (state / "dhcp" / "net1" / "leases").write_text("")           # root's: a root-run step made it
    (log / "cinder-manage.log").write_text("")                     # root's
    pid = state / "dhcp" / "net1" / "pid"
    pid.write_text("1\n")
    nobody = pwd.getpwnam("nobody")
    os.chown(pid, nobody.pw_uid, nobody.pw_gid)                     # dnsmasq's, as it runs
    (log / "link").symlink_to("/etc/hostname")                      # a link: not its target

    # /var/lib/neutron's entry: 0755, so dnsmasq (nobody) reaches its files below it
    dirs = [{"path": str(state), "mode": "0755"}, log]
    assert run(tmp_path, dirs, check=True)["changed"] > 0
    assert owner(state / "dhcp" / "net1" / "leases") == "root"       # check mode changed nothing

    assert run(tmp_path, dirs)["changed"] > 0
    for path in (state, state / "dhcp", state / "dhcp" / "net1" / "leases", log / "cinder-manage.log",
                 log / "link"):
        assert owner(path) == "daemon", path
    assert owner(pid) == "nobody"
    assert owner("/etc/hostname") == "root"
    assert oct(os.stat(state).st_mode & 0o777) == "0o755"
    assert oct(os.stat(log).st_mode & 0o777) == "0o750"

    assert run(tmp_path, dirs)["changed"] == 0
