"""Role stackhop.upgrade.openvswitch on a lab host with Debian's real openvswitch-switch.

One systemd lab host (``cmovs``) runs Debian's Open vSwitch 3.1 units. Two "VMs" (network
namespaces inside the host) sit on a userspace-datapath bridge of that OVS, and the lab
probe (lab/roles/lab_probe/files/probe.py) sends ICMP at 250/s and a TCP stream between them
while the packages change. Proven here:

* the role's apt path (a policy-rc.d that refuses every action on the OVS units while apt
  runs) reinstalls the packages and upgrades them to a newer version from an apt
  repository while ovs-vswitchd keeps its PID and the VMs lose nothing;
* the naive ``apt-get install --reinstall`` restarts ovs-vswitchd and the VMs lose traffic;
* ``openvswitch_restart: reload`` (systemd restarts both daemons, flows saved and put back)
  is measured, and ovs-vswitchd runs under its unit afterwards;
* the dnf path, against recording stand-ins for ``dnf`` and ``rpm`` (a mock: there is no
  dnf on this Debian machine), runs the download, ``rpm -U --nopostun --notriggerun``
  with ``SYSTEMD_OFFLINE=1`` and the version locks, and leaves ovs-vswitchd alone.

The newer version is Debian's own packages rebuilt with a higher version number
(``+stackhop1``): identical files, but dpkg runs the real upgrade path of every
maintainer script (preinst ``upgrade``: stop ovsdb-server and ovs-vswitchd; postinst
``configure OLD``: restart openvswitch-switch), which is what matters here.

Set ``STACKHOP_CM_OVS_LAB=LAB:HOST`` to use a host of a lab that is already up (it must
run Debian's OVS units) instead of creating the lab ``cmovs``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from tests.lab.conftest import ansible_play, write_inventory
from lab.labctl import Lab
from tests.lib.ansible_runner import REPO

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(3600),
              pytest.mark.rehearsal("host-packages")]

PROBE = REPO / "lab" / "roles" / "lab_probe" / "files" / "probe.py"
BRIDGE = "br-cmo"
VMS = {"a": ("cmo-a", "10.62.0.1"), "b": ("cmo-b", "10.62.0.2")}
STATE = "/run/cm-ovs-probe.json"
PACKAGES = ["openvswitch-switch", "openvswitch-common", "python3-openvswitch"]
BUMP = "+stackhop1"
REPO_DIR = "/srv/cm-ovs-repo"


class Host:
    """One lab host: run commands, run the role through ansible-playbook."""

    def __init__(self, lab, name):
        self.lab, self.name = lab, name

    def sh(self, script, check=True):
        return self.lab.exec(self.name, ["/bin/sh", "-c", script], check=check)

    def out(self, script):
        return self.sh(script).stdout.strip()

    def write(self, path, data, mode="0644"):
        """Write bytes to a file on the host."""
        argv = self.lab.exec_argv(self.name, [
            "/bin/sh", "-c", 'mkdir -p "$(dirname %s)" && cat > %s && chmod %s %s'
            % (path, path, mode, path)])
        subprocess.run(argv, input=data, check=True, capture_output=True)

    def pid(self):
        return int(self.out("cat /var/run/openvswitch/ovs-vswitchd.pid"))

    def role(self, entry, **role_vars):
        """Run the role's entry point; return (rc, results of the include, the result var)."""
        tasks = [
            {"name": "role", "ansible.builtin.include_role": {
                "name": "stackhop.upgrade.openvswitch", "tasks_from": entry},
             "vars": role_vars},
            {"name": "result", "ansible.builtin.debug": {"var": "openvswitch_result | default({})"}},
            {"name": "state", "ansible.builtin.debug": {"var": "openvswitch_state | default({})"}},
        ]
        rc, res = ansible_play(self.lab.inventory, tasks, hosts=self.name, timeout=900)
        host = res.get(self.name, [])
        result = host[-2].get("openvswitch_result | default({})", {}) if len(host) >= 2 else {}
        state = host[-1].get("openvswitch_state | default({})", {}) if host else {}
        return rc, host, result, state


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    reuse = os.environ.get("STACKHOP_CM_OVS_LAB")
    if reuse:
        lab_name, host_name = reuse.split(":")
        lab = Lab(lab_name)
        yield Host(lab, host_name)
        return
    inv = write_inventory(tmp_path_factory.mktemp("cmovs") / "hosts.yml", {
        "ovs": {"h1": {"ansible_host": "10.61.0.11", "lab_systemd": True, "lab_ovs": True}}})
    lab = Lab("cmovs")
    lab.destroy()
    lab.create(inv)
    try:
        yield Host(lab, "h1")
    finally:
        lab.destroy()


@pytest.fixture(scope="module")
def vms(host):
    """Two VMs on a netdev bridge of the host's OVS, and the probe between them."""
    h = host
    h.sh("DEBIAN_FRONTEND=noninteractive apt-get update -qq && "
         "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ethtool >/dev/null")
    h.sh("ovs-vsctl --may-exist add-br %s -- set Bridge %s datapath_type=netdev"
         % (BRIDGE, BRIDGE))
    for side, (ns, ip) in VMS.items():
        h.sh("ip netns del {ns} 2>/dev/null; ip link del cmo{side} 2>/dev/null; "
             "ip netns add {ns} && ip -n {ns} link set lo up && "
             "ip link add cmo{side} type veth peer name eth0 netns {ns} && "
             "ip link set cmo{side} up && ip -n {ns} addr add {ip}/24 dev eth0 && "
             "ip -n {ns} link set eth0 up && ip netns exec {ns} ethtool -K eth0 tx off >/dev/null && "
             "ovs-vsctl --may-exist add-port {br} cmo{side}".format(
                 ns=ns, side=side, ip=ip, br=BRIDGE))
    h.write("/usr/local/lib/cm/probe.py", PROBE.read_bytes(), "0755")
    h.sh("systemctl stop cm-ovs-probe cm-ovs-sink 2>/dev/null; rm -f %s; "
         "systemd-run --unit=cm-ovs-sink --property=NetworkNamespacePath=/run/netns/%s "
         "/usr/bin/python3 /usr/local/lib/cm/probe.py sink --port 5071 && "
         "systemd-run --unit=cm-ovs-probe --property=NetworkNamespacePath=/run/netns/%s "
         "/usr/bin/python3 /usr/local/lib/cm/probe.py run --target %s --port 5071 --pps 250 "
         "--state %s" % (STATE, VMS["b"][0], VMS["a"][0], VMS["b"][1], STATE))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fig = probe(h, "report") if h.sh("test -s %s" % STATE, check=False).returncode == 0 else None
        if fig and fig["icmp"]["replied"] > 100 and fig["tcp"]["records_echoed"] > 50:
            break
        time.sleep(1)
    else:
        pytest.fail("the probe between the VMs never got replies: %s" % fig)
    yield h
    h.sh("systemctl stop cm-ovs-probe cm-ovs-sink 2>/dev/null; ovs-vsctl --timeout=10 --if-exists del-br %s; "
         "ip netns del cmo-a; ip netns del cmo-b" % BRIDGE, check=False)


def probe(h, action):
    return json.loads(h.out("/usr/bin/python3 /usr/local/lib/cm/probe.py %s --state %s"
                            % (action, STATE)))


def measured(h, action):
    """Reset the probe, run ``action()``, let 2 s pass, return (its value, figures)."""
    probe(h, "reset")
    time.sleep(1.0)
    value = action()
    time.sleep(2.0)
    return value, probe(h, "report")


def figures_line(fig):
    return ("ICMP sent %d lost %d longest gap %.0f ms; TCP echoed %d longest gap %.0f ms "
            "resets %d reconnects %d" % (
                fig["icmp"]["sent"], fig["icmp"]["lost"], fig["icmp"]["longest_gap_ms"],
                fig["tcp"]["records_echoed"], fig["tcp"]["longest_gap_ms"],
                fig["tcp"]["resets"], fig["tcp"]["reconnects"]))


def selections(h):
    out = h.out("dpkg-query --showformat='${Package} ${Status}\\n' --show %s" % " ".join(PACKAGES))
    return {line.split()[0]: line.split()[1] for line in out.splitlines()}


def installed_version(h):
    return h.out("dpkg-query --showformat='${Version}' --show openvswitch-switch")


@pytest.fixture(scope="module")
def newer_repo(host, tmp_path_factory):
    """Debian's OVS packages rebuilt with version +stackhop1, as an apt repository on the host."""
    work = tmp_path_factory.mktemp("cmrepo")
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=work, check=True,
                   capture_output=True)
    out = work / "repo"
    out.mkdir()
    for deb in sorted(work.glob("*.deb")):
        tree = work / ("x-" + deb.stem)
        subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
        control = tree / "DEBIAN" / "control"
        text = control.read_text()
        old = re.search(r"^Version: (\S+)$", text, re.M).group(1)
        new = old + BUMP
        text = text.replace("Version: %s\n" % old, "Version: %s\n" % new)
        text = text.replace("openvswitch-common (= %s)" % old, "openvswitch-common (= %s)" % new)
        control.write_text(text)
        subprocess.run(["dpkg-deb", "-b", str(tree), str(out)], check=True,
                       capture_output=True)
    packages = subprocess.run(["dpkg-scanpackages", "."], cwd=out, check=True,
                              capture_output=True).stdout
    (out / "Packages").write_bytes(packages)
    for f in out.iterdir():
        host.write("%s/%s" % (REPO_DIR, f.name), f.read_bytes())
    host.write("/etc/apt/sources.list.d/cm-ovs.list",
               b"deb [trusted=yes] file:%s ./\n" % REPO_DIR.encode())
    yield new
    host.sh("rm -rf %s /etc/apt/sources.list.d/cm-ovs.list" % REPO_DIR, check=False)
    shutil.rmtree(work, ignore_errors=True)


def test_main_reads_the_running_ovs(vms):
    h = vms
    rc, res, _result, state = h.role("main", openvswitch_method="auto")
    assert rc == 0, res
    assert state["method"] == "apt" and state["alive"] is True
    assert int(state["pid"]) == h.pid()
    assert state["bridges"][BRIDGE] == "netdev"
    assert state["kernel_datapath"] is False
    assert state["installed_version"] == installed_version(h)
    assert state["binary_replaced"] is False


def test_apt_reinstall_keeps_ovs_vswitchd_and_every_packet(vms):
    h = vms
    pid = h.pid()
    # A site policy-rc.d (the Debian base image's "refuse everything") must come back intact.
    site = b"#!/bin/sh\n# site policy\nexit 101\n"
    h.write("/usr/sbin/policy-rc.d", site, "0755")
    h.sh("rm -f /var/lib/stackhop/openvswitch/policy-rc.d.log")
    t0 = time.monotonic()
    (rc, res, result, _state), fig = measured(h, lambda: h.role(
        "upgrade", openvswitch_method="apt", openvswitch_reinstall=True))
    took = time.monotonic() - t0 - 3.0
    assert rc == 0, res
    print("\nopenvswitch reinstall (role, apt): %.1f s, PID %s -> %s; %s"
          % (took, result["pid_before"], result["pid_after"], figures_line(fig)))
    assert int(result["pid_before"]) == int(result["pid_after"]) == pid == h.pid()
    assert result["restart"] == "none"
    # The maintainer scripts did try: preinst stops, postinst restarts.
    log = h.out("cat /var/lib/stackhop/openvswitch/policy-rc.d.log")
    assert re.search(r"refused: ovs-vswitchd\.service stop", log), log
    assert re.search(r"refused: openvswitch-switch\.service .*restart", log), log
    assert h.out("cat /usr/sbin/policy-rc.d").encode() + b"\n" == site
    assert set(selections(h).values()) == {"hold"}
    assert fig["icmp"]["lost"] == 0, fig
    assert fig["tcp"]["resets"] == 0 and fig["tcp"]["reconnects"] == 0, fig
    h.sh("rm -f /usr/sbin/policy-rc.d")


def test_apt_upgrade_to_a_newer_version_keeps_ovs_vswitchd_and_every_packet(vms, newer_repo):
    h = vms
    pid = h.pid()
    before = installed_version(h)
    assert not before.endswith(BUMP)
    (rc, res, result, _state), fig = measured(h, lambda: h.role(
        "upgrade", openvswitch_method="apt", openvswitch_apt_cache_valid_time=0))
    assert rc == 0, res
    print("\nopenvswitch upgrade %s -> %s (role, apt): PID %s -> %s, restart pending %s; %s"
          % (result["version_before"], result["version_after"], result["pid_before"],
             result["pid_after"], result["restart_pending"], figures_line(fig)))
    assert result["version_before"] == before
    assert result["version_after"] == newer_repo == installed_version(h)
    assert int(result["pid_after"]) == pid == h.pid()
    # The daemon still runs the replaced binary: the new code waits for a planned restart.
    assert result["restart_pending"] is True
    assert h.out("readlink /proc/%d/exe" % pid).endswith(" (deleted)")
    assert set(selections(h).values()) == {"hold"}
    assert h.sh("test -e /usr/sbin/policy-rc.d", check=False).returncode != 0
    assert fig["icmp"]["lost"] == 0, fig
    assert fig["tcp"]["resets"] == 0 and fig["tcp"]["reconnects"] == 0, fig
    # A second run changes nothing.
    rc, res, again, _state = h.role("upgrade", openvswitch_method="apt")
    assert rc == 0 and again["version_after"] == newer_repo
    assert int(again["pid_after"]) == pid


def test_reload_runs_the_new_code_with_flows_restored(vms):
    """openvswitch_restart=reload: the umbrella unit's reload (ovs-systemd-reload: flows saved,
    daemons restarted by systemd, flows put back under flow-restore-wait). Measured, not
    asserted lossless: a planned restart. ``systemctl reload ovs-vswitchd`` would leave no
    daemon: its ovs-ctl restart ends the unit's main PID and systemd stops the unit."""
    h = vms
    pid = h.pid()
    (rc, res, result, _state), fig = measured(h, lambda: h.role(
        "upgrade", openvswitch_method="apt", openvswitch_restart="reload"))
    assert rc == 0, res
    print("\nopenvswitch reload (systemd, flows restored): PID %s -> %s, restart pending %s; %s"
          % (pid, result["pid_after"], result["restart_pending"], figures_line(fig)))
    assert int(result["pid_after"]) != pid
    assert result["restart_pending"] is False
    time.sleep(3)  # a unit systemd stops after the reload would be gone by now
    assert h.out("systemctl is-active ovs-vswitchd") == "active"
    assert h.pid() == int(result["pid_after"])
    # systemd runs the new daemon: it is in the unit's control group. MainPID is not asserted:
    # under load systemd may read the forking unit's PID file late and show 0 for a while.
    cgroup = h.out("cat /proc/%d/cgroup" % h.pid())
    assert cgroup.endswith("/ovs-vswitchd.service"), cgroup
    # the VMs talk again through the restarted daemon
    _value, after = measured(h, lambda: None)
    assert after["icmp"]["replied"] > 0 and after["icmp"]["lost"] == 0, after


def test_naive_apt_reinstall_restarts_ovs_vswitchd_and_loses_traffic(vms):
    """The path the role avoids: apt-get install --reinstall without the guard."""
    h = vms
    h.sh("apt-mark unhold %s >/dev/null" % " ".join(PACKAGES))
    pid = h.pid()
    _value, fig = measured(h, lambda: h.sh(
        "DEBIAN_FRONTEND=noninteractive apt-get install --reinstall -y -qq %s >/dev/null"
        % " ".join(PACKAGES)))
    after = h.pid()
    print("\nnaive apt-get install --reinstall: PID %d -> %d; %s" % (pid, after, figures_line(fig)))
    assert after != pid
    assert fig["icmp"]["lost"] > 0 or fig["icmp"]["longest_gap_ms"] > 500, fig


FAKE_DNF = r"""#!/bin/sh
# Recording stand-in for dnf (tests/lab/test_openvswitch_role.py): no dnf on Debian.
echo "dnf $*" >> /var/tmp/cm-fake-pm.log
for a in "$@"; do
  case "$a" in
    --downloaddir=*) d=${a#--downloaddir=}
      for p in openvswitch3.1 python3-openvswitch3.1; do : > "$d/$p-3.1.1-1.el9.x86_64.rpm"; done ;;
  esac
done
exit 0
"""

FAKE_RPM = r"""#!/bin/sh
# Recording stand-in for rpm: versions from /var/tmp/cm-fake-rpm-version.
echo "rpm $* SYSTEMD_OFFLINE=${SYSTEMD_OFFLINE:-}" >> /var/tmp/cm-fake-pm.log
case "$1" in
  -q) printf '(none):%s' "$(cat /var/tmp/cm-fake-rpm-version)" ;;
  -U) echo 3.1.1-1.el9 > /var/tmp/cm-fake-rpm-version ;;
esac
exit 0
"""


def test_dnf_path_with_recording_stand_ins(vms):
    """MOCK: dnf and rpm are shell stand-ins that record their arguments (there is no dnf
    on this machine). The real OVS keeps running; the role must not touch it."""
    h = vms
    h.write("/usr/local/sbin/dnf", FAKE_DNF.encode(), "0755")
    h.write("/usr/local/sbin/rpm", FAKE_RPM.encode(), "0755")
    h.sh("rm -f /var/tmp/cm-fake-pm.log /etc/dnf/plugins/versionlock.list; "
         "echo 3.1.0-1.el9 > /var/tmp/cm-fake-rpm-version")
    pkgs = ["openvswitch3.1", "python3-openvswitch3.1"]
    try:
        rc, res, _r, _s = h.role("hold", openvswitch_method="dnf", openvswitch_packages_dnf=pkgs)
        assert rc == 0, res
        assert h.out("cat /etc/dnf/plugins/versionlock.list").splitlines() == [
            "openvswitch3.1-0:3.1.0-1.el9.*", "python3-openvswitch3.1-0:3.1.0-1.el9.*"]
        pid = h.pid()
        rc, res, result, _s = h.role("upgrade", openvswitch_method="dnf",
                                     openvswitch_packages_dnf=pkgs)
        assert rc == 0, res
        log = h.out("cat /var/tmp/cm-fake-pm.log").splitlines()
        download = [ln for ln in log if ln.startswith("dnf ")]
        assert len(download) == 1 and download[0].startswith(
            "dnf -y upgrade --downloadonly --downloaddir=/tmp/stackhop-ovs-rpms."), download
        assert download[0].endswith(" openvswitch3.1 python3-openvswitch3.1")
        install = [ln for ln in log if ln.startswith("rpm -U")]
        assert len(install) == 1, log
        assert re.fullmatch(
            r"rpm -U --replacepkgs --nopostun --notriggerun \S+/openvswitch3\.1-3\.1\.1-1\.el9"
            r"\.x86_64\.rpm \S+/python3-openvswitch3\.1-3\.1\.1-1\.el9\.x86_64\.rpm "
            r"SYSTEMD_OFFLINE=1", install[0]), install[0]
        assert result["version_before"] == "0:3.1.0-1.el9"
        assert result["version_after"] == "0:3.1.1-1.el9"
        assert int(result["pid_after"]) == pid == h.pid()
        assert h.out("cat /etc/dnf/plugins/versionlock.list").splitlines() == [
            "openvswitch3.1-0:3.1.1-1.el9.*", "python3-openvswitch3.1-0:3.1.1-1.el9.*"]
        assert h.sh("ls -d /tmp/stackhop-ovs-rpms.* 2>/dev/null", check=False).returncode != 0
        rc, res, _r, _s = h.role("unhold", openvswitch_method="dnf", openvswitch_packages_dnf=pkgs)
        assert rc == 0 and h.out("cat /etc/dnf/plugins/versionlock.list") == ""
    finally:
        h.sh("rm -f /usr/local/sbin/dnf /usr/local/sbin/rpm /var/tmp/cm-fake-*", check=False)


def test_running_method_changes_nothing(vms):
    h = vms
    pid = h.pid()
    version = installed_version(h)
    rc, res, result, _s = h.role("upgrade", openvswitch_method="running")
    assert rc == 0, res
    assert [r for r in res if r.get("changed")] == []
    assert int(result["pid_after"]) == pid and installed_version(h) == version


def test_bad_method_is_refused_before_anything_changes(vms):
    h = vms
    rc, res, _r, _s = h.role("upgrade", openvswitch_method="zypper")
    assert rc != 0
    failed = [r for r in res if r.get("failed")]
    assert failed and "zypper" in failed[0]["msg"]
