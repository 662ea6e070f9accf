"""The Debian lab region: OpenStack zed from Debian 12's own packages on three lab hosts,
installed with apt and configured the operator's way by lab/playbooks/deploy_debian.yml
(no stackhop component role touches them), two VMs pinging through their security
groups (lab/playbooks/vms.yml). The first proof of issue 17: stackhop finds this cloud
as it is.

Brought up by ``scripts/lab-up.sh --topology debian`` on a lab of its own
(STACKHOP_DEBIAN_REGION_LAB, default ``debregion``) under the argv sampler. 25-40 minutes
on two busy cores, most of it apt: the rehearsal ``debian-region`` (scripts/rehearse.sh
debian-region). STACKHOP_DEBIAN_REGION_KEEP=1 keeps the region afterwards and reuses a
kept one whose hosts are up."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from lab.labctl import Lab
from tests.lab.conftest import ansible_play, argv_report_path
from tests.lib.ansible_runner import REPO, VENV, ansible_env
from tests.lib.argv_sampler import ArgvSampler, load_lab_secrets

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400),
              pytest.mark.rehearsal("debian-region")]

LAB = os.environ.get("STACKHOP_DEBIAN_REGION_LAB", "debregion")
KEEP = os.environ.get("STACKHOP_DEBIAN_REGION_KEEP") == "1"
UP_TIMEOUT = 4800

# Each host's Debian packages and the upstream version of zed they must carry
# (dpkg's version without epoch and Debian revision starts with it).
ZED = {"keystone": "22.", "glance-api": "25.", "placement-api": "8.", "nova-api": "26.",
       "nova-conductor": "26.", "nova-scheduler": "26.", "neutron-api": "21.",
       "neutron-rpc-server": "21.", "neutron-dhcp-agent": "21.", "neutron-openvswitch-agent": "21.",
       "cinder-api": "21.", "cinder-scheduler": "21.", "nova-compute": "26."}
# unit -> the package's user it runs as
CONTROLLER_UNITS = {"keystone": "keystone", "glance-api": "glance", "placement-api": "placement",
                    "nova-api": "nova", "nova-conductor": "nova", "nova-scheduler": "nova",
                    "neutron-api": "neutron", "neutron-rpc-server": "neutron",
                    "neutron-dhcp-agent": "neutron", "neutron-openvswitch-agent": "neutron",
                    "cinder-api": "cinder", "cinder-scheduler": "cinder"}
COMPUTE_UNITS = {"nova-compute": "nova", "neutron-openvswitch-agent": "neutron"}
HOSTS = {"ctl": CONTROLLER_UNITS, "cmp1": COMPUTE_UNITS, "cmp2": COMPUTE_UNITS}
COMPONENTS = {"ctl": ["keystone", "glance", "placement", "nova", "neutron", "cinder"],
              "cmp1": ["nova", "neutron"], "cmp2": ["nova", "neutron"]}
APIS = {"keystone": 5000, "glance": 9292, "placement": 8778, "nova": 8774, "neutron": 9696,
        "cinder": 8776}


@pytest.fixture(scope="module")
def debian_region(lab_base):
    lab = Lab(LAB)
    inventory = REPO / "build" / "lab" / LAB / "hosts.yml"
    if KEEP and inventory.exists() and lab.state():
        status = subprocess.run([str(VENV / "bin" / "python"), str(REPO / "lab/labctl.py"),
                                 "status", "--lab", LAB], capture_output=True, check=False)
        if status.returncode == 0:
            yield lab
            return
    log = REPO / "build" / "reports" / ("lab-up-%s.log" % LAB)
    log.parent.mkdir(parents=True, exist_ok=True)
    argv_report = argv_report_path(LAB, "deploy")
    argv_report.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(log, "w") as out, ArgvSampler(load_lab_secrets(), lab=LAB) as sampler:
        proc = subprocess.run([str(REPO / "scripts" / "lab-up.sh"), "--topology", "debian",
                               "--lab", LAB], cwd=str(REPO), env=ansible_env({"STACKHOP_VENV": str(VENV)}),
                              stdout=out, stderr=subprocess.STDOUT, timeout=UP_TIMEOUT, check=False)
    sampler.write(argv_report)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        if not KEEP:
            lab.destroy()
        pytest.fail("scripts/lab-up.sh --topology debian --lab %s: rc %s after %.0f s; log %s\n%s" % (
            LAB, proc.returncode, took, log, log.read_text(errors="replace")[-4000:]))
    print("\nDebian region %s up in %.0f s (log %s)" % (LAB, took, log))
    yield lab
    if not KEEP:
        lab.destroy()


def host_sh(lab, host, script, timeout=120):
    proc = subprocess.run(lab.exec_argv(host, ["/bin/sh", "-ec", script]), capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, "%s: %s\n%s" % (host, script, proc.stderr)
    return proc.stdout.strip()


def test_every_package_is_debians_zed(debian_region):
    for host, units in HOSTS.items():
        names = sorted(units)
        out = host_sh(debian_region, host, "dpkg-query -W -f '${Package} ${Version} ${db:Status-Status}\\n' "
                      + " ".join(names))
        found = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
        for name in names:
            version, status = found[name]
            upstream = version.split(":", 1)[-1]
            assert status == "installed" and upstream.startswith(ZED[name]), (host, name, version, status)


def test_every_unit_runs_as_its_packages_user(debian_region):
    for host, units in HOSTS.items():
        for unit, user in units.items():
            out = host_sh(debian_region, host, "systemctl show -p ActiveState -p SubState -p MainPID "
                          "-p FragmentPath %s" % unit)
            props = dict(line.split("=", 1) for line in out.splitlines())
            assert (props["ActiveState"], props["SubState"]) == ("active", "running"), (host, unit, props)
            # the packages' own units, not units of stackhop's
            assert props["FragmentPath"] == "/lib/systemd/system/%s.service" % unit, (host, unit, props)
            # the main process and its children (uwsgi's workers, glance's...) run as the
            # package's user; the agents' root helpers start through sudo (rootwrap, privsep)
            procs = [line.split() for line in host_sh(debian_region, host, "ps -o user:32=,comm= --ppid %s -p %s" % (
                props["MainPID"], props["MainPID"])).splitlines()]
            assert procs and all(who == user or comm == "sudo" for who, comm in procs), (host, unit, procs)


def test_every_api_answers(debian_region):
    tasks = [{"name": "GET %s" % name,
              "ansible.builtin.uri": {"url": "http://10.20.0.11:%d/" % port, "status_code": [200, 300, 401]}}
             for name, port in APIS.items()]
    rc, results = ansible_play(debian_region.inventory, tasks, hosts="ctl")
    assert rc == 0, results
    statuses = dict(zip(APIS, [r["status"] for r in results["ctl"]]))
    print("\nAPI status codes: %s" % statuses)


def test_discovery_finds_every_component_ok_zed_apt(debian_region):
    rc, results = ansible_play(debian_region.inventory, [
        {"name": "discover", "stackhop.upgrade.service_discovery": {}}])
    assert rc == 0, results
    for host, wanted in COMPONENTS.items():
        result = results[host][0]
        assert result["changed"] is False
        for name in wanted:
            component = result["components"][name]
            assert (component["state"], component["release"], component["install_method"]) == (
                "ok", "2022.2", "apt"), (host, name, component, result["problems"])
            assert component["managed_by"] == "package" and component["python_env"] == "system", (host, name, component)
        assert result["problems"] == [], (host, result["problems"])
        print("\n%s: %s" % (host, {n: (result["components"][n]["user"], sorted(result["components"][n]["running"]))
                                   for n in wanted}))


def test_vm1_pings_vm2_through_their_security_groups(debian_region):
    where = {}
    for host in ("cmp1", "cmp2"):
        for netns in json.loads(host_sh(debian_region, host, "ip -j netns list") or "[]"):
            if netns["name"] in ("vm-vm1", "vm-vm2"):
                where[netns["name"]] = host
    assert set(where) == {"vm-vm1", "vm-vm2"} and where["vm-vm1"] != where["vm-vm2"], where
    addrs = json.loads(host_sh(debian_region, where["vm-vm2"], "ip -n vm-vm2 -j -4 addr show dev eth0"))
    vm2_ip = addrs[0]["addr_info"][0]["local"]
    out = host_sh(debian_region, where["vm-vm1"], "ip netns exec vm-vm1 ping -c 5 -i 0.2 -W 2 %s" % vm2_ip)
    assert " 0% packet loss" in out, out


def test_the_deploy_put_no_secret_on_any_argv(debian_region):
    path = argv_report_path(LAB, "deploy")
    if not path.exists():
        pytest.skip("the region was reused and its deploy was not sampled")
    report = json.loads(path.read_text())
    assert not report["hits"], report["hits"]
