"""Staging runs while the VMs do: the receiving rsync of openstack_install's copy runs at the
staging nice, in a scheduler group at that nice and in the idle I/O class. The role's own vars
render the remote command; a shell in a new session (as sshd gives each connection) runs it
with rsync swapped for a reader of its own priority."""

from __future__ import annotations

import json
import os
import subprocess

from tests.lib.ansible_runner import REPO, run_playbook

ROLE = REPO / "roles" / "openstack_install"


def rendered(tmp_path, extra):
    """(rsync path, rsync options) as the role's vars render them with these variables."""
    play = tmp_path / "render.yml"
    play.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
        "tasks": [{"ansible.builtin.debug": {"msg": {
            "path": "{{ __openstack_install_rsync_path }}",
            "opts": "{{ __openstack_install_rsync_opts }}"}}}]}]))
    proc = run_playbook(play, extra_vars=dict(extra, openstack_install_release="2024.1"),
                        inventory="localhost,",
                        extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    msg = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    return msg["path"], msg["opts"]


def run_remote(path):
    """What the host's shell runs for rsync --rsync-path=PATH, with rsync replaced by a
    reader of the process's nice, I/O class and scheduler group."""
    probe = ("sh -c 'cut -d\" \" -f19 /proc/self/stat; ionice -p $$; cat /proc/self/autogroup'")
    assert path.endswith("rsync")
    remote = path[:-len("rsync")] + probe
    # at nice 0, as sshd starts a session on a host: this test itself may run niced
    # (scripts/test.sh runs it at nice 10), and nice -n N adds to the caller's nice
    out = subprocess.run(["setsid", "sh", "-c", remote], capture_output=True, text=True,
                         check=True, timeout=30,
                         preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0)).stdout.splitlines()
    return out


def test_the_copy_is_received_at_the_staging_priority(tmp_path):
    path, opts = rendered(tmp_path, {})
    nice, io_class, group = run_remote(path)
    assert nice == "19" and io_class.startswith("idle"), (nice, io_class)
    # a kernel without sched_autogroup has no such file: the shell goes on without it
    assert group == "" or group.endswith("nice 19"), group
    assert not [o for o in opts if o.startswith("--bwlimit")]


def test_normal_priority_and_a_rate_cap_as_the_inventory_says_in_strings(tmp_path):
    # -e key=value gives strings
    path, opts = rendered(tmp_path, {"openstack_install_staging_nice": "0",
                                     "openstack_install_staging_bwlimit_kbps": "20000"})
    assert path == "rsync"
    assert "--bwlimit=20000" in opts
    path, _opts = rendered(tmp_path, {"ansible_become": "true"})
    assert path.endswith("nice -n 19 ionice -c 3 sudo rsync")


def test_a_middle_nice_is_the_process_and_its_group(tmp_path):
    path, _opts = rendered(tmp_path, {"openstack_install_staging_nice": 7})
    got, _io, group = run_remote(path)
    assert got == "7" and (group == "" or group.endswith("nice 7")), (got, group)
