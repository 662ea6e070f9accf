"""The apt install method's modules, stackhop.upgrade.apt_source and apt_upgrade, with real
apt and dpkg on a lab host (its own overlay root), taking DeNA's compute sequence from one
release's packages to the next: switch the source (the old list kept aside), hold
nova-compute, Open vSwitch and the neutron agent and upgrade the rest, release and upgrade
nova-compute, then Open vSwitch, then the neutron agent; a site's own hold kept throughout;
check mode first at every step; a second run changes nothing; the source restored.

The packages are fixtures built here with dpkg-deb (names prefixed ``fx-``), shaped as
Debian's OpenStack packages are: nova-compute depends on nova-common of exactly its
version, which depends on python3-nova of exactly its version, nova-common ships
/etc/fx-nova/nova.conf as a conffile. Debian has one OpenStack release per suite (zed in
bookworm), so two releases of real packages cannot be installed from apt here; what is
real is apt, dpkg, holds, conffile handling and the repositories, served from the host's
file system as an offline site's mirror is. About a minute."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pytest

from lab.labctl import Lab
from tests.lab.conftest import ansible_play, write_inventory

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(900)]

LAB = "aptm"
MIRROR = "/srv/mirror"
HELD_BY_DENA = ["fx-nova-compute", "fx-openvswitch-switch", "fx-neutron-openvswitch-agent"]

# release -> package -> (version, depends, conffile content or None)
RELEASES = {
    "zed": {
        "fx-python3-nova": ("2:26.0.0-1", "fx-python3-oldlib", None),
        "fx-nova-common": ("2:26.0.0-1", "fx-python3-nova (= 2:26.0.0-1)", "[DEFAULT]\nstate_path = /var/lib/nova\n"),
        "fx-nova-compute": ("2:26.0.0-1", "fx-nova-common (= 2:26.0.0-1)", None),
        "fx-python3-oldlib": ("1.0-1", "", None),
        "fx-python3-oslo.config": ("1:9.0.0-1", "", None),
        "fx-openvswitch-switch": ("3.1.0-1", "", None),
        "fx-neutron-openvswitch-agent": ("2:21.0.0-1", "fx-python3-oslo.config", None),
        "fx-site-tool": ("1.0-1", "", None),
    },
    "2023.1": {
        "fx-python3-nova": ("2:27.0.0-1", "fx-python3-newlib", None),
        "fx-nova-common": ("2:27.0.0-1", "fx-python3-nova (= 2:27.0.0-1)",
                           "[DEFAULT]\nstate_path = /var/lib/nova\n# new in 2023.1\n"),
        "fx-nova-compute": ("2:27.0.0-1", "fx-nova-common (= 2:27.0.0-1)", None),
        "fx-python3-newlib": ("2.0-1", "", None),
        "fx-python3-oslo.config": ("1:9.1.0-1", "", None),
        "fx-openvswitch-switch": ("3.1.0-2", "", None),
        "fx-neutron-openvswitch-agent": ("2:22.0.0-1", "fx-python3-oslo.config (>= 1:9.1.0-1)", None),
        "fx-site-tool": ("1.1-1", "", None),
    },
}
# 2023.1's nova-common conflicts with the library the old release needed: a removal.
CONFLICTS = {("2023.1", "fx-nova-common"): "fx-python3-oldlib"}


def build_repository(root: Path, release: str) -> None:
    """dists/bookworm/main/binary-amd64/Packages + a Release with its hashes, as apt reads them
    (written here: dpkg-scanpackages is in dpkg-dev, which the machine need not have)."""
    pool = root / release / "pool"
    pool.mkdir(parents=True)
    stanzas = []
    for name, (version, depends, conffile) in RELEASES[release].items():
        tree = root / "build" / release / name
        (tree / "DEBIAN").mkdir(parents=True)
        control = ["Package: %s" % name, "Version: %s" % version, "Architecture: all",
                   "Maintainer: stackhop tests <tests@stackhop.invalid>",
                   "Description: stackhop apt method test fixture (%s)" % release]
        if depends:
            control.append("Depends: %s" % depends)
        if (release, name) in CONFLICTS:
            control.append("Conflicts: %s" % CONFLICTS[(release, name)])
        (tree / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
        if conffile:
            (tree / "etc" / "fx-nova").mkdir(parents=True)
            (tree / "etc" / "fx-nova" / "nova.conf").write_text(conffile)
            (tree / "DEBIAN" / "conffiles").write_text("/etc/fx-nova/nova.conf\n")
        deb = pool / ("%s_%s_all.deb" % (name, version.split(":")[-1]))
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)],
                       check=True, capture_output=True)
        data = deb.read_bytes()
        stanzas.append("\n".join(control[:4] + control[5:] + [
            "Filename: pool/%s" % deb.name, "Size: %d" % len(data),
            "SHA256: %s" % hashlib.sha256(data).hexdigest(), control[4]]) + "\n")
    binary = root / release / "dists" / "bookworm" / "main" / "binary-amd64"
    binary.mkdir(parents=True)
    (binary / "Packages").write_text("\n".join(stanzas))
    lines = []
    for path in sorted(binary.iterdir()):
        data = path.read_bytes()
        lines.append(" %s %d main/binary-amd64/%s" % (hashlib.sha256(data).hexdigest(), len(data), path.name))
    (root / release / "dists" / "bookworm" / "Release").write_text(textwrap.dedent("""\
        Origin: stackhop-tests
        Label: openstack-%s
        Suite: bookworm
        Codename: bookworm
        Date: Fri, 04 Dec 2026 00:00:00 UTC
        Architectures: amd64
        Components: main
        SHA256:
        """ % release) + "\n".join(lines) + "\n")


def line(release):
    return "deb [trusted=yes] file:%s/openstack-%s bookworm main" % (MIRROR, release)


@pytest.fixture(scope="module")
def host(tmp_path_factory, lab_base):
    work = tmp_path_factory.mktemp("aptm")
    inv = write_inventory(work / "hosts.yml", {"stackhop_computes": {"apt1": {"ansible_host": "10.31.0.41"}}})
    mirror = work / "mirror"
    for release in RELEASES:
        build_repository(mirror, release)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for release in RELEASES:
            tar.add(mirror / release, arcname="openstack-%s" % release)
    lab = Lab(LAB)
    lab.destroy()
    lab.create(inv)
    sh(lab, "mkdir -p %s" % MIRROR)
    proc = subprocess.run(lab.exec_argv("apt1", ["tar", "-x", "-C", MIRROR]), input=archive.getvalue(),
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    # an offline site: the zed mirror is the only source
    sh(lab, "mkdir -p /root/apt-disabled; mv /etc/apt/sources.list /root/apt-disabled/; "
            "echo '%s' > /etc/apt/sources.list.d/openstack-zed.list; "
            "export DEBIAN_FRONTEND=noninteractive; apt-get -q update; "
            "apt-get install -y -q fx-nova-compute fx-neutron-openvswitch-agent fx-openvswitch-switch fx-site-tool; "
            "apt-mark hold fx-site-tool; "
            "printf '[DEFAULT]\\nstate_path = /var/lib/nova\\ncpu_allocation_ratio = 4.0\\n' > /etc/fx-nova/nova.conf"
            % line("zed"), timeout=600)
    yield lab
    lab.destroy()


def sh(lab, script, timeout=120):
    proc = subprocess.run(lab.exec_argv("apt1", ["/bin/sh", "-ec", script]), capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def versions(lab):
    out = sh(lab, "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' 'fx-*'")
    return {f[0]: (f[1], "held" if f[2].startswith("h") else "") for f in (ln.split() for ln in out.splitlines())
            if len(f) == 3 and f[2][1] == "i"}


def step(lab, module, args, check=False):
    task = {"name": module, "stackhop.upgrade.%s" % module: args, "diff": True}
    if check:
        task["check_mode"] = True
    rc, results = ansible_play(lab.inventory, [task])
    return rc, results["apt1"][0]


def test_denas_compute_sequence_with_real_apt(host):
    lab = host
    before = versions(lab)
    assert before["fx-nova-compute"] == ("2:26.0.0-1", "")
    assert before["fx-site-tool"] == ("1.0-1", "held")

    # 1. the package source: check mode writes nothing, then the switch
    rc, res = step(lab, "apt_source", {"line": line("2023.1"),
                                       "replaces": ["/etc/apt/sources.list.d/openstack-zed.list"]}, check=True)
    assert rc == 0 and res["changed"] and res["moved"] == ["/etc/apt/sources.list.d/openstack-zed.list"]
    assert "openstack-2023.1" in res["diff"]["after"]
    sh(lab, "test -f /etc/apt/sources.list.d/openstack-zed.list; ! test -e /etc/apt/sources.list.d/stackhop-openstack.list")
    rc, res = step(lab, "apt_source", {"line": line("2023.1"),
                                       "replaces": ["/etc/apt/sources.list.d/openstack-zed.list"]})
    assert rc == 0 and res["changed"], res
    assert sh(lab, "ls /etc/apt/sources.list.d").split() == ["stackhop-openstack.list"]

    # 2. hold nova-compute, Open vSwitch and the neutron agent; upgrade the rest
    first = {"held": HELD_BY_DENA}
    rc, res = step(lab, "apt_upgrade", first, check=True)
    assert rc == 0 and res["changed"], res
    assert res["upgraded"] == {"fx-python3-oslo.config": {"before": "1:9.0.0-1", "after": "1:9.1.0-1"}}
    assert {"fx-nova-compute", "fx-nova-common", "fx-site-tool"} <= set(res["kept_back"])
    assert versions(lab) == before, "check mode changed packages"
    rc, res = step(lab, "apt_upgrade", first)
    assert rc == 0 and res["changed"] and res["held"] == sorted(HELD_BY_DENA), res
    assert res["site_held"] == ["fx-site-tool"]
    now = versions(lab)
    assert now["fx-python3-oslo.config"][0] == "1:9.1.0-1"
    assert now["fx-nova-compute"] == ("2:26.0.0-1", "held") and now["fx-python3-nova"][0] == "2:26.0.0-1"

    # 3. nova-compute released and upgraded: its new release removes a library (refused
    #    until allowed), installs another, and keeps the site's nova.conf
    second = {"held": ["fx-openvswitch-switch", "fx-neutron-openvswitch-agent"], "packages": ["fx-nova-compute"]}
    rc, res = step(lab, "apt_upgrade", second)
    assert rc != 0 and res["msg"].startswith("the upgrade would remove fx-python3-oldlib on apt1; add them "
                                             "to allow_remove"), res
    assert versions(lab) == now, "a refused step changed packages"
    second["allow_remove"] = ["fx-python3-oldlib"]
    rc, res = step(lab, "apt_upgrade", second, check=True)
    assert rc == 0 and res["changed"] and res["diff"]["after"].count("2:27.0.0-1") == 3, res
    rc, res = step(lab, "apt_upgrade", second)
    assert rc == 0 and res["changed"], res
    assert res["upgraded"]["fx-nova-compute"] == {"before": "2:26.0.0-1", "after": "2:27.0.0-1"}
    assert res["installed"] == {"fx-python3-newlib": "2.0-1"} and res["removed"] == {"fx-python3-oldlib": "1.0-1"}
    assert res["released"] == ["fx-nova-compute"]
    assert res["new_conffiles"] == ["/etc/fx-nova/nova.conf.dpkg-dist"]
    assert "cpu_allocation_ratio = 4.0" in sh(lab, "cat /etc/fx-nova/nova.conf")
    now = versions(lab)
    assert now["fx-nova-compute"] == ("2:27.0.0-1", "") and now["fx-openvswitch-switch"] == ("3.1.0-1", "held")

    # the site's own hold is not stackhop's to release
    rc, res = step(lab, "apt_upgrade", {"held": [], "packages": ["fx-site-tool"]})
    assert rc != 0 and res["msg"].startswith("fx-site-tool is held on apt1 by the site"), res

    # 4. Open vSwitch (the openvswitch role guards its restart), then the neutron agent
    rc, res = step(lab, "apt_upgrade", {"held": ["fx-neutron-openvswitch-agent"],
                                        "packages": ["fx-openvswitch-switch"]})
    assert rc == 0 and res["upgraded"] == {"fx-openvswitch-switch": {"before": "3.1.0-1", "after": "3.1.0-2"}}, res
    rc, res = step(lab, "apt_upgrade", {"held": []})
    assert rc == 0 and list(res["upgraded"]) == ["fx-neutron-openvswitch-agent"], res
    assert res["held"] == [] and res["site_held"] == ["fx-site-tool"]
    after = versions(lab)
    assert {n: v for n, (v, dummy) in after.items()} == {
        "fx-nova-compute": "2:27.0.0-1", "fx-nova-common": "2:27.0.0-1", "fx-python3-nova": "2:27.0.0-1",
        "fx-python3-newlib": "2.0-1", "fx-python3-oslo.config": "1:9.1.0-1", "fx-openvswitch-switch": "3.1.0-2",
        "fx-neutron-openvswitch-agent": "2:22.0.0-1", "fx-site-tool": "1.0-1"}
    assert after["fx-site-tool"][1] == "held" and not any(h for n, (v, h) in after.items() if n != "fx-site-tool")

    # a second run changes nothing
    rc, res = step(lab, "apt_upgrade", {"held": []})
    assert rc == 0 and res["changed"] is False, res
    rc, res = step(lab, "apt_source", {"line": line("2023.1"),
                                       "replaces": ["/etc/apt/sources.list.d/openstack-zed.list"]})
    assert rc == 0 and res["changed"] is False, res

    # 5. rollback of the source: the zed list back, stackhop's gone
    rc, res = step(lab, "apt_source", {"state": "restored"})
    assert rc == 0 and res["changed"], res
    assert sh(lab, "ls /etc/apt/sources.list.d").split() == ["openstack-zed.list"]
    assert "openstack-zed" in sh(lab, "apt-cache policy fx-nova-compute")
    rc, res = step(lab, "apt_source", {"state": "restored"})
    assert rc == 0 and res["changed"] is False
