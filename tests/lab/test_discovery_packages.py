"""stackhop.upgrade.service_discovery on a host that runs OpenStack from Debian 12's own
packages (zed), installed with apt as an operator does: keystone's unit is Debian's
(``ExecStart=/etc/init.d/keystone systemd-start``, which becomes Debian's uwsgi running
keystone-wsgi-public as the keystone user), its code python3-keystone's ``.egg-info``.
No stackhop role touches the host. About 2 minutes, most of it apt."""

from __future__ import annotations

import subprocess

import pytest

from lab.labctl import Lab
from tests.lab.conftest import ansible_play, write_inventory

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(1800),
              pytest.mark.rehearsal("host-packages")]

LAB = "debpkg"


@pytest.fixture(scope="module")
def packaged_host(tmp_path_factory, lab_base):
    inv = write_inventory(tmp_path_factory.mktemp("debpkg") / "hosts.yml",
                          {"stackhop_controllers": {"deb1": {"ansible_host": "10.31.0.11", "lab_systemd": True}}})
    lab = Lab(LAB)
    lab.destroy()
    lab.create(inv)
    install = subprocess.run(
        lab.exec_argv("deb1", ["/bin/sh", "-ec", "export DEBIAN_FRONTEND=noninteractive; apt-get update -q; "
                               "apt-get install -y -q --no-install-recommends keystone"]),
        capture_output=True, text=True, timeout=1500, check=False)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-2000:]
    yield lab
    lab.destroy()


def host_sh(lab, script):
    proc = subprocess.run(lab.exec_argv("deb1", ["/bin/sh", "-ec", script]), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_debian_packaged_keystone_is_found_as_apt_zed_running_as_keystone(packaged_host):
    lab = packaged_host
    # what dpkg and the process table say, read directly, to compare with
    version = host_sh(lab, "dpkg-query -W -f '${Version}' keystone")
    assert version.startswith("2:22.")
    host_sh(lab, "for i in $(seq 60); do systemctl is-active -q keystone && exit 0; sleep 1; done; exit 1")

    rc, results = ansible_play(lab.inventory, [{"name": "discover",
                                                "stackhop.upgrade.service_discovery": {"components": ["keystone"]}}])
    assert rc == 0, results
    result = results["deb1"][0]
    assert result["changed"] is False and result["problems"] == []
    keystone = result["components"]["keystone"]
    assert keystone == {"state": "ok", "units": ["keystone.service"], "running": ["keystone.service"],
                        "release": "2022.2", "install_method": "apt", "python_env": "system",
                        "managed_by": "package", "user": "keystone", "group": "keystone",
                        "packages": {"keystone": version, "python3-keystone": version},
                        "releases": ["2022.2"], "problems": []}
    (service,) = [s for s in result["services"] if s["unit"] == "keystone.service"]
    assert service["unit_file"] == "/lib/systemd/system/keystone.service"
    # the init-script wrapper exec'd Debian's uwsgi, which runs as keystone
    assert service["argv"][0] == "/usr/bin/uwsgi_python311" and "/etc/keystone/keystone-uwsgi.ini" in service["argv"]
    assert service["codename"] == "zed" and service["version"] == version.split(":")[1].split("-")[0]
    assert service["distribution"].startswith("/usr/lib/python3/dist-packages/keystone-22.")
    # keystone-wsgi-public under uwsgi: oslo.config's search finds Debian's file
    assert service["config_files"] == ["/etc/keystone/keystone.conf"]
    assert service["config_source"] == "oslo.config defaults of keystone/uwsgi_python311"
    assert service["log_path"] == "/var/log/keystone/keystone.log"
