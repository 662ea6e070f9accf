"""stackhop.upgrade.venv_dropin on a lab host that runs keystone from Debian 12's own
package (zed: Debian's unit, its init-script wrapper, uwsgi_python311 with Debian's ini,
as the keystone user): the 2024.1 venv staged by stackhop.upgrade.openstack_install, the
unit moved onto it with a drop-in (check mode first), keystone answering from the venv
as the same user with the same config files, a second run changing nothing, then the
drop-in removed and the package's code running again (rollback). Then role adopted_service
on the same keystone, as the control plane runs it on a component stackhop did not deploy.
About 6 minutes, most of it apt and the venv's build and copy."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from lab.labctl import Lab
from tests.lab.conftest import ansible_play, write_inventory
from tests.lib.ansible_runner import VENV as TOOLS_VENV, ansible_env

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(2400),
              pytest.mark.rehearsal("host-packages")]

LAB = "vdrop"
VENV = "/opt/stackhop/venvs/2024.1"


@pytest.fixture(scope="module")
def host(tmp_path_factory, lab_base):
    inv = write_inventory(tmp_path_factory.mktemp("vdrop") / "hosts.yml",
                          {"stackhop_controllers": {"ks1": {"ansible_host": "10.31.0.51", "lab_systemd": True}}})
    lab = Lab(LAB)
    lab.destroy()
    lab.create(inv)
    sh(lab, "export DEBIAN_FRONTEND=noninteractive; apt-get update -q; "
            "apt-get install -y -q --no-install-recommends keystone curl", timeout=1500)
    # configured as the install guide says (the package configures nothing by default), with
    # the operator's uwsgi tuning, which the move must keep
    sh(lab, "sed -i 's/^processes = .*/processes = 2/; s/^threads = .*/threads = 4/' "
            "/etc/keystone/keystone-uwsgi.ini; "
            "sed -i '/^\\[database\\]/a connection = sqlite:////var/lib/keystone/keystone.db' "
            "/etc/keystone/keystone.conf; "
            "su -s /bin/sh keystone -c 'keystone-manage db_sync' >/dev/null 2>&1; "
            "keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone; "
            "keystone-manage credential_setup --keystone-user keystone --keystone-group keystone; "
            "systemctl restart keystone", timeout=600)
    yield lab
    lab.destroy()


def sh(lab, script, timeout=120, check=True):
    proc = subprocess.run(lab.exec_argv("ks1", ["/bin/sh", "-ec", script]), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout.strip()


def answers(lab):
    """keystone's version document, fetched on the host (the API's address is the lab's)."""
    return json.loads(sh(lab, "for i in $(seq 60); do curl -sf http://127.0.0.1:5000/v3 && exit 0; sleep 1; done; "
                              "exit 1"))["version"]["id"]


def discover(lab):
    rc, results = ansible_play(lab.inventory, [{"name": "discover",
                                                "stackhop.upgrade.service_discovery": {"components": ["keystone"]}}])
    assert rc == 0, results
    return results["ks1"][0]["components"]["keystone"], results["ks1"][0]["services"]


def dropin(lab, check=False, **args):
    task = {"name": "venv_dropin", "stackhop.upgrade.venv_dropin": dict({"unit": "keystone"}, **args), "diff": True}
    if check:
        task["check_mode"] = True
    rc, results = ansible_play(lab.inventory, [task], timeout=600)
    return rc, results["ks1"][0]


def test_debian_keystone_moves_onto_the_venv_and_back(host):
    lab = host
    sh(lab, "for i in $(seq 60); do systemctl is-active -q keystone && exit 0; sleep 1; done; exit 1")
    version = answers(lab)
    before, services = discover(lab)
    assert (before["install_method"], before["release"], before["user"]) == ("apt", "2022.2", "keystone")
    config_before = [s["config_files"] for s in services if s["unit"] == "keystone.service"][0]

    rc, staged = ansible_play(lab.inventory, [{"name": "stage", "ansible.builtin.include_role": {
        "name": "stackhop.upgrade.openstack_install"},
        "vars": {"openstack_install_release": "2024.1", "openstack_install_path": VENV,
                 "openstack_install_components": ["keystone"]}}], timeout=1800)
    assert rc == 0, json.dumps(staged)[-3000:]

    rc, res = dropin(lab, check=True, venv=VENV)
    assert rc == 0 and res["changed"], res
    assert "ExecStart=%s/bin/uwsgi " % VENV in res["diff"]["after"]
    assert res["exec_start"][-2:] == ["--wsgi-file", VENV + "/bin/keystone-wsgi-public"]
    sh(lab, "! test -e /etc/systemd/system/keystone.service.d; ! test -e /var/lib/stackhop/units")
    assert "processes = 2" in sh(lab, "cat /etc/keystone/keystone-uwsgi.ini")

    rc, res = dropin(lab, venv=VENV)
    assert rc == 0 and res["changed"], res
    assert res["package_argv"][0].startswith("/usr/bin/uwsgi_python3"), res
    assert answers(lab) == version
    # the operator's uwsgi tuning kept: two workers, as the ini says
    assert sh(lab, "pgrep -u keystone -f '%s/bin/uwsgi' | wc -l" % VENV) == "3"
    after, services = discover(lab)
    assert after["install_method"] == "venv" and after["release"] == "2024.1", after
    assert after["user"] == "keystone" and after["group"] == "keystone"
    assert [s["config_files"] for s in services if s["unit"] == "keystone.service"][0] == config_before
    assert sh(lab, "systemctl show -p FragmentPath --value keystone") == "/lib/systemd/system/keystone.service"

    rc, res = dropin(lab, venv=VENV)
    assert rc == 0 and res["changed"] is False, res

    # rollback: the package's code again
    rc, res = dropin(lab, state="absent")
    assert rc == 0 and res["changed"], res
    assert answers(lab) == version
    back, dummy = discover(lab)
    assert (back["install_method"], back["release"], back["user"]) == ("apt", "2022.2", "keystone")
    rc, res = dropin(lab, state="absent")
    assert rc == 0 and res["changed"] is False
    sh(lab, "! test -e /etc/systemd/system/keystone.service.d")


def play(lab, tasks, check=False, timeout=900):
    """(rc, the host's stats, {task name: result}) of a play through real ansible-playbook."""
    play_file = Path(lab.inventory).with_name("adopt-play.json")
    play_file.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    argv = [str(TOOLS_VENV / "bin" / "ansible-playbook"), "-i", str(lab.inventory), str(play_file), "--diff"]
    proc = subprocess.run(argv + (["--check"] if check else []), capture_output=True, text=True, timeout=timeout,
                          env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}), check=False)
    out = json.loads(proc.stdout)
    named = {}
    for task in out["plays"][0]["tasks"]:
        for res in task["hosts"].values():
            named[task["task"]["name"]] = res
    return proc.returncode, out["stats"]["ks1"], named


def result(tasks, part):
    """The result of the one task whose name holds ``part`` (a role's tasks are named
    ``<role> : <task>``)."""
    found = [res for name, res in tasks.items() if part in name]
    assert len(found) == 1, (part, sorted(tasks))
    return found[0]


ADOPT = {"adopted_service_component": "keystone", "adopted_service_units": ["keystone"],
         "adopted_service_release": "2024.1", "adopted_service_releases": ["2022.2", "2024.1"],
         "adopted_service_http_check": "http://127.0.0.1:5000/v3",
         # the operator's override (issue: <role>_<file>_overrides, kept on every run)
         "keystone_keystone_conf_overrides": {"DEFAULT": {"max_project_tree_depth": 7}}}


def adopt(lab, entry="main", check=False):
    return play(lab, [{"name": "adopt", "ansible.builtin.include_role": {
        "name": "stackhop.upgrade.adopted_service", "tasks_from": entry}, "vars": ADOPT}], check=check)


def test_adopted_keystone_keeps_its_file_and_unit_and_runs_the_target_release(host):
    """Role adopted_service, as the control plane runs it on a component stackhop did not
    deploy: the package's command line recorded while it runs, the unit stopped (as for the
    schema migrations), keystone.conf migrated in place with zed's and 2024.1's own option
    metadata and the operator's override, the unit moved onto the venv and started."""
    lab = host
    sh(lab, "systemctl is-active -q keystone")    # the first test left the package's code running
    # operator settings no stackhop template knows, a comment, the packaged file's order
    sh(lab, "sed -i '/^\\[DEFAULT\\]/a # tuned by the operator in 2021\\ndebug = true\\nlog_dir = /var/log/keystone' "
            "/etc/keystone/keystone.conf; sed -i '/^\\[token\\]/a expiration = 7200' /etc/keystone/keystone.conf; "
            "chgrp keystone /etc/keystone/keystone.conf; chmod 0640 /etc/keystone/keystone.conf")
    conf_before = sh(lab, "cat /etc/keystone/keystone.conf")
    mode_before = sh(lab, "stat -c '%U:%G %a' /etc/keystone/keystone.conf")

    # check mode before anything: every diff printed, nothing changed
    rc, stats, tasks = adopt(lab, check=True)
    assert rc == 0, tasks
    planned = result(tasks, "Migrate each config file")["results"][0]
    print("\ncheck mode, keystone.conf:\n%s" % planned["unified_diff"])
    assert re.search(r"^\+max_project_tree_depth ?= ?7$", planned["unified_diff"], re.M), planned["unified_diff"]
    assert "max_project_tree_depth = 7" in planned["diff"]["after"]
    assert sh(lab, "cat /etc/keystone/keystone.conf") == conf_before

    rc, stats, tasks = adopt(lab, entry="record")
    assert rc == 0 and stats["changed"] == 0, tasks      # recorded by the first test already
    sh(lab, "systemctl stop keystone")

    rc, stats, tasks = adopt(lab)
    if rc != 0:
        print(sh(lab, "systemctl cat keystone || true; systemctl status keystone || true; "
                      "journalctl -u keystone -n 40 --no-pager || true; tail -n 30 /var/log/keystone/*.log || true",
                 check=False))
        for part in ("Read how the component runs", "Find the recorded", "Decide which units", "Run the units from",
                     "Start the units"):
            print(part, json.dumps([res for name, res in tasks.items() if part in name], default=str)[:3000])
    assert rc == 0 and stats["changed"] >= 2, {name: res.get("msg") for name, res in tasks.items() if res.get("failed")}
    assert answers(lab).startswith("v3.")
    after, dummy = discover(lab)
    assert (after["install_method"], after["release"], after["user"], after["group"]) == (
        "venv", "2024.1", "keystone", "keystone")
    conf_after = sh(lab, "cat /etc/keystone/keystone.conf")
    added = [line for line in conf_after.splitlines() if line not in conf_before.splitlines()]
    removed = [line for line in conf_before.splitlines() if line not in conf_after.splitlines()]
    edits = result(tasks, "Migrate each config file")["results"][0]["edits"]
    print("\nkeystone.conf: added %s, removed %s; edits %s" % (added, removed, [e["reason"] for e in edits]))
    # every other line kept byte for byte; each line that changed is an edit with its reason
    assert "max_project_tree_depth = 7" in added
    assert {line.split("=")[0].strip() for line in added + removed} <= {e["option"] for e in edits}
    for line in ("# tuned by the operator in 2021", "debug = true", "expiration = 7200"):
        assert line in conf_after.splitlines()
    assert sh(lab, "stat -c '%U:%G %a' /etc/keystone/keystone.conf") == mode_before

    # a second run changes nothing; the component is still the operator's
    rc, stats, tasks = adopt(lab)
    assert rc == 0 and stats["changed"] == 0, tasks
    rc, dummy, tasks = play(lab, [{"name": "modes", "stackhop.upgrade.service_discovery": {"components": ["keystone"]},
                                   "register": "found"},
                                  {"name": "mode", "ansible.builtin.debug": {
                                      "msg": "{{ found | stackhop.upgrade.adoption_modes(['keystone']) }}"}}])
    assert tasks["mode"]["msg"] == {"keystone": "adopted"}
