"""stackhop.upgrade.venv_dropin on a lab host that runs keystone from Debian 12's own
package (zed: Debian's unit, its init-script wrapper, uwsgi_python311 with Debian's ini,
as the keystone user): the 2024.1 venv staged by stackhop.upgrade.openstack_install, the
unit moved onto it with a drop-in (check mode first), keystone answering from the venv
as the same user with the same config files, a second run changing nothing, then the
drop-in removed and the package's code running again (rollback). About 5 minutes, most of
it apt and the venv's build and copy."""

from __future__ import annotations

import json
import subprocess

import pytest

from lab.labctl import Lab
from tests.lab.conftest import ansible_play, write_inventory

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(2400)]

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
