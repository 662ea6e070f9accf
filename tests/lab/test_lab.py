"""The lab's host tooling against the real kernel: namespaces, overlayfs, sshd, OVS, Ansible.

Every lab here is named ``lab*`` (never the default ``stackhop``) so tests never touch a
lab someone brought up by hand.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.lab.conftest import FOUR_HOSTS, ansible_play, leftovers, write_inventory
from lab.labctl import Lab, LabError, plan

pytestmark = [pytest.mark.needs_root]


def sh(lab, host, script, check=True):
    return lab.exec(host, ["/bin/sh", "-c", script], check=check)


def test_create_four_hosts_within_60s(lab4, lab_base):
    st = lab4.status()
    assert st["healthy"], st
    assert sorted(st["hosts"]) == ["cmp1", "cmp2", "ctl1", "net1"]
    assert lab4.create_seconds <= 60, "4-host lab took %.1f s" % lab4.create_seconds
    print("\nlab: base %.1f s (cached when ~0), 4-host create %.2f s, %d processes, RSS %.1f MiB"
          % (lab_base["seconds"], lab4.create_seconds, st["processes"], st["rss_kib"] / 1024))


def test_create_again_is_a_noop(lab4):
    pids = dict(lab4.state()["pids"])
    lab4.create(lab4.source_inventory)
    assert lab4.state()["pids"] == pids


def test_state_and_host_dirs_are_root_only(lab4):
    """The state dir and every host dir are 0700 (others cannot read the hosts' MariaDB
    files or Erlang cookie); an existing 0755 one is made 0700 again by create; inside a
    host, / stays traversable and a non-root user still works."""
    def modes():
        return {str(d): oct(os.stat(d).st_mode & 0o777) for d in lab4.private_dirs()}
    dirs = modes()
    assert len(dirs) == 2 + 4, dirs   # the lab, hosts/, ctl1 net1 cmp1 cmp2
    assert set(dirs.values()) == {"0o700"}, dirs
    os.chmod(lab4.dir, 0o755)
    os.chmod(lab4.host_dir("cmp1"), 0o755)
    lab4.create(lab4.source_inventory)    # healthy: a no-op that still fixes the modes
    assert set(modes().values()) == {"0o700"}, modes()
    assert sh(lab4, "ctl1", "stat -c %a /").stdout.strip() == "755"
    assert sh(lab4, "ctl1", "setpriv --reuid=65534 --regid=65534 --clear-groups "
              "cat /etc/hostname").stdout == "ctl1\n"
    proc = subprocess.run(["ssh", "-F", str(lab4.ssh_config), "cmp1", "hostname"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.stdout.strip() == "cmp1", proc.stderr   # sshd still serves


def test_ansible_reaches_every_host_through_the_inventory(lab4):
    rc, res = ansible_play(lab4.inventory, [
        {"name": "ping", "ansible.builtin.ping": {}},
        {"name": "facts", "ansible.builtin.setup": {"gather_subset": ["min"]}},
    ])
    assert rc == 0, res
    assert sorted(res) == ["cmp1", "cmp2", "ctl1", "net1"]
    for host, (ping, facts) in res.items():
        assert ping["ping"] == "pong"
        assert facts["ansible_facts"]["ansible_hostname"] == host
        assert facts["ansible_facts"]["ansible_distribution_release"] == "bookworm"


def test_plain_ssh_config_works(lab4):
    proc = subprocess.run(["ssh", "-F", str(lab4.ssh_config), "cmp2", "hostname"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, "cmp2"), proc.stderr


def test_filesystems_are_isolated(lab4):
    rc, res = ansible_play(lab4.inventory, [{
        "name": "marker", "ansible.builtin.copy": {"dest": "/root/only-here",
                                                   "content": "ctl1\n"}}], hosts="ctl1")
    assert rc == 0, res
    assert sh(lab4, "ctl1", "cat /root/only-here").stdout == "ctl1\n"
    assert sh(lab4, "net1", "test -e /root/only-here", check=False).returncode == 1
    base = lab4.state()["base"]
    assert not os.path.exists(os.path.join(base, "root/only-here"))
    assert (lab4.host_dir("ctl1") / "upper/root/only-here").exists()
    # Own PID and UTS namespaces: a host sees only its own processes and name.
    assert "ovs-vswitchd" not in sh(lab4, "ctl1", "ps -eo comm").stdout
    assert "ovs-vswitchd" in sh(lab4, "cmp1", "ps -eo comm").stdout
    assert sh(lab4, "net1", "hostname").stdout.strip() == "net1"


def test_networks_are_isolated(lab4):
    links = sh(lab4, "ctl1", "ls /sys/class/net").stdout.split()
    assert sorted(links) == ["eth0", "lo"]
    assert {"eth0", "eth1", "lo"} <= set(sh(lab4, "cmp1", "ls /sys/class/net").stdout.split())
    # loopback is per host: a listener on net1's 127.0.0.1 is not on cmp1's.
    listener = lab4.exec_argv("net1", ["python3", "-c", (
        "import socket,time;s=socket.socket();"
        "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
        "s.bind(('127.0.0.1',5555));s.listen();time.sleep(20)")])
    proc = subprocess.Popen(listener)
    try:
        probe = ("import socket,sys,time\n"
                 "for _ in range(50):\n"
                 "    try:\n"
                 "        socket.create_connection(('127.0.0.1',5555),1); sys.exit(0)\n"
                 "    except OSError: time.sleep(0.1)\n"
                 "sys.exit(1)\n")
        assert lab4.exec("net1", ["python3", "-c", probe], check=False).returncode == 0
        assert lab4.exec("cmp1", ["python3", "-c", probe.replace("50", "3")],
                         check=False).returncode == 1
    finally:
        proc.kill()
        proc.wait()
    # The management network joins the hosts; nothing beyond it is routed.
    assert sh(lab4, "cmp1", "ping -c1 -W2 10.31.0.21", check=False).returncode == 0
    assert sh(lab4, "cmp1", "ping -c1 -W1 10.255.255.1", check=False).returncode != 0
    assert sh(lab4, "cmp1", "getent hosts pypi.org", check=False).returncode != 0


def test_apt_works_through_the_relay(lab4):
    t0 = time.monotonic()
    proc = sh(lab4, "ctl1", "apt-get update -q && apt-get install -y -q socat && socat -V",
              check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "socat version" in proc.stdout
    assert sh(lab4, "net1", "command -v socat", check=False).returncode != 0
    print("\nlab: apt-get update + install socat in a host: %.1f s" % (time.monotonic() - t0))


def test_open_vswitch_per_host_over_the_vlan_trunk(lab4):
    ids = set()
    for i, host in enumerate(("cmp1", "cmp2"), start=1):
        sh(lab4, host, (
            "ovs-vsctl --may-exist add-br br-phy -- set Bridge br-phy datapath_type=netdev"
            " && ovs-vsctl --may-exist add-port br-phy eth1"
            " && ovs-vsctl --may-exist add-port br-phy vl100 tag=100"
            " -- set Interface vl100 type=internal"
            " && ip addr replace 172.16.100.%d/24 dev vl100 && ip link set vl100 up") % i)
        ids.add(sh(lab4, host, "ovs-vsctl get Open_vSwitch . external_ids:system-id").stdout)
    assert len(ids) == 2  # two separate OVS databases
    ping = sh(lab4, "cmp1", "ping -c3 -i0.2 -W2 172.16.100.2", check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    # The frames crossed the provider fabric tagged with VLAN 100.
    assert "vl100" not in sh(lab4, "net1", "ls /sys/class/net").stdout


def test_ovs_start_is_idempotent(lab4):
    before = sh(lab4, "net1", "cat /var/run/openvswitch/ovs-vswitchd.pid").stdout
    lab4.ovs_start("net1")
    after = sh(lab4, "net1", "cat /var/run/openvswitch/ovs-vswitchd.pid").stdout
    assert before == after


def test_bad_inventory_fails_before_anything_changes(tmp_path):
    inv = write_inventory(tmp_path / "bad.yml", {"g": {
        "a1": {"ansible_host": "10.1.0.5"}, "a2": {"ansible_host": "10.2.0.5"}}})
    with pytest.raises(LabError, match="one network"):
        plan("labbad", inv)
    for entry in ("srv/rel", "/srv/a:b", "/srv/../etc", "/"):
        inv = write_inventory(tmp_path / "shared.yml", {"g": {
            "a1": {"ansible_host": "10.1.0.5", "lab_shared_dirs": [entry]}}})
        with pytest.raises(LabError, match="lab_shared_dirs entry"):
            plan("labbad", inv)
    with pytest.raises(LabError, match="lab name"):
        Lab("lab-bad")
    assert not Lab("labbad").dir.exists()


def test_destroy_leaves_nothing(tmp_path, lab_base):
    inv = write_inventory(tmp_path / "hosts.yml", {"g": {
        "d1": {"ansible_host": "10.32.0.11", "lab_provider": True, "lab_ovs": True,
               "lab_shared_dirs": ["/srv/shared"]},
        "d2": {"ansible_host": "10.32.0.12", "lab_systemd": True, "lab_provider": True,
               "lab_shared_dirs": ["/srv/shared"]}}})
    lab = Lab("labd")
    lab.create(inv)
    assert lab.status()["healthy"]
    # lab_shared_dirs: what the sshd host writes there, the systemd host reads, and back
    sh(lab, "d1", "echo from-d1 > /srv/shared/f1")
    assert sh(lab, "d2", "cat /srv/shared/f1").stdout == "from-d1\n"
    sh(lab, "d2", "echo from-d2 > /srv/shared/f2")
    assert sh(lab, "d1", "cat /srv/shared/f2").stdout == "from-d2\n"
    assert leftovers(lab)  # sanity: the check sees a live lab
    # A user of the lab (say ansible-playbook -i <lab>/inventory.yml) is not the lab.
    user = subprocess.Popen(["/bin/sh", "-c", "sleep 30", str(lab.inventory)])
    t0 = time.monotonic()
    lab.destroy()
    took = time.monotonic() - t0
    try:
        assert user.poll() is None
    finally:
        user.kill()
        user.wait()
    assert leftovers(lab) == {}
    print("\nlab: 2-host destroy %.2f s" % took)


def test_systemd_host(tmp_path, lab_base):
    inv = write_inventory(tmp_path / "hosts.yml", {"g": {
        "sd1": {"ansible_host": "10.33.0.11", "lab_systemd": True, "lab_ovs": True},
        "sd2": {"ansible_host": "10.33.0.12", "lab_systemd": True}}})
    lab = Lab("labsd")
    try:
        lab.create(inv)
        rc, res = ansible_play(lab.inventory, [
            {"name": "wait", "ansible.builtin.command": "systemctl is-system-running --wait",
             "register": "r", "changed_when": False, "failed_when": False},
            {"name": "ovs", "ansible.builtin.command": "systemctl is-active ovs-vswitchd",
             "changed_when": False, "failed_when": False}])
        assert rc == 0, res
        assert res["sd1"][0]["stdout"] in ("running", "degraded"), res["sd1"][0]
        assert res["sd1"][1]["stdout"] == "active"  # lab_ovs: started by systemd
        assert res["sd2"][1]["stdout"] != "active"  # no lab_ovs: masked
        assert sh(lab, "sd1", "ovs-vsctl get Open_vSwitch . external_ids:system-id"
                  ).stdout.strip().strip('"') == "sd1"
        # Each host's units in a cgroup of its own: with one shared tree, a unit stopped on
        # one host cleaned the cgroup of the same unit on another (lab/region.md).
        journald = {h: sh(lab, h, "cat /proc/$(systemctl show -P MainPID systemd-journald)/cgroup"
                          ).stdout for h in ("sd1", "sd2")}
        paths = {h: {line.split(":", 2)[2] for line in text.splitlines()
                     if line.split(":")[1] in ("name=systemd", "")} for h, text in journald.items()}
        assert paths["sd1"] and not paths["sd1"] & paths["sd2"], journald
    finally:
        lab.destroy()
    assert leftovers(lab) == {}


def test_failed_create_cleans_up(tmp_path, lab_base):
    inv = write_inventory(tmp_path / "hosts.yml", {"g": {"f1": {"ansible_host": "10.35.0.11"}}})
    lab = Lab("labf")
    with pytest.raises(LabError, match="did not answer"):
        lab.create(inv, timeout=0)
    assert leftovers(lab) == {}


def test_create_over_a_half_destroyed_lab(tmp_path, lab_base):
    inv = write_inventory(tmp_path / "hosts.yml", {"g": {
        "h1": {"ansible_host": "10.34.0.11", "lab_ovs": True},
        "h2": {"ansible_host": "10.34.0.12", "lab_provider": True}}})
    lab = Lab("labh")
    lab.create(inv)
    # Break it the ways a crash would: one host killed, the names of one host's and the
    # switch's namespaces gone while their processes still run, a stray mount under the
    # lab's directory in the root mount namespace, the state file lost.
    st = lab.state()
    os.kill(st["pids"]["h1"], signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", "labh-h2"], check=True)
    subprocess.run(["ip", "netns", "del", "labh-sw"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "stray", str(lab.host_dir("h1") / "root")],
                   check=True)
    lab.state_file.unlink()
    assert not lab.status()["healthy"]
    lab.create(inv)
    assert lab.status()["healthy"]
    rc, res = ansible_play(lab.inventory, [{"name": "ping", "ansible.builtin.ping": {}}])
    assert rc == 0, res
    lab.destroy()
    assert leftovers(lab) == {}


def test_two_labs_side_by_side_with_the_same_addresses(lab4, tmp_path):
    inv = write_inventory(tmp_path / "hosts.yml", FOUR_HOSTS)
    other = Lab("labt4b")
    try:
        other.create(inv)
        rc, res = ansible_play(other.inventory, [{
            "name": "marker", "ansible.builtin.copy": {"dest": "/root/lab", "content": "b"}}],
            hosts="cmp1")
        assert rc == 0, res
        rc, res = ansible_play(lab4.inventory, [
            {"name": "look", "ansible.builtin.stat": {"path": "/root/lab"}}], hosts="cmp1")
        assert rc == 0, res
        assert res["cmp1"][0]["stat"]["exists"] is False
        assert lab4.status()["healthy"] and other.status()["healthy"]
    finally:
        other.destroy()
    assert leftovers(other) == {}
    assert lab4.status()["healthy"]
