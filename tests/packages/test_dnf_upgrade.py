"""The dnf install method's modules, stackhop.upgrade.dnf_source and dnf_upgrade, with real
dnf, rpm and createrepo_c (Debian 12 packages them), taking DeNA's compute sequence from one
release's RPMs to the next on a system in an install root: switch the repository (the
site's file kept aside, restored at the end), hold nova-compute, Open vSwitch and the
neutron agent and upgrade the rest, release and upgrade nova-compute (its new release
removes a library: refused until allowed), then the rest; the site's own exclude kept
throughout and a step that asks for that package refused; check mode first; a second run
changes nothing.

The packages are fixtures built here with rpmbuild (names prefixed ``fx-``), shaped as
RDO's: nova-compute requires nova-common of exactly its version, nova-common ships
/etc/fx-nova/nova.conf as ``%config(noreplace)``. The repositories are ``file:`` paths, as
an offline site's mirror is. What is real: dnf's resolver and transaction, rpm, the
repositories. The system in the install root is not a booted host (no services run from
it); the role that calls the module on a real host is issue 17's. About 20 seconds."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.lib.ansible_runner import VENV, ansible_env

pytestmark = [pytest.mark.needs_root, pytest.mark.timeout(600)]

HELD_BY_DENA = ["fx-nova-compute", "fx-openvswitch", "fx-neutron-openvswitch-agent"]
# release -> package -> (version, requires, conflicts, config file content or None)
RELEASES = {
    "2024.1": {
        "fx-python3-nova": ("29.0.0", "fx-python3-oldlib", "", None),
        "fx-nova-common": ("29.0.0", "fx-python3-nova = 29.0.0-1", "", "[DEFAULT]\nstate_path = /var/lib/nova\n"),
        "fx-nova-compute": ("29.0.0", "fx-nova-common = 29.0.0-1", "", None),
        "fx-python3-oldlib": ("1.0", "", "", None),
        "fx-python3-oslo-config": ("9.4.0", "", "", None),
        "fx-openvswitch": ("3.3.0", "", "", None),
        "fx-neutron-openvswitch-agent": ("24.0.0", "fx-python3-oslo-config", "", None),
        "fx-site-tool": ("1.0", "", "", None),
    },
    "2025.1": {
        "fx-python3-nova": ("31.0.0", "fx-python3-newlib", "fx-python3-oldlib", None),
        "fx-nova-common": ("31.0.0", "fx-python3-nova = 31.0.0-1", "",
                           "[DEFAULT]\nstate_path = /var/lib/nova\n# new in 2025.1\n"),
        "fx-nova-compute": ("31.0.0", "fx-nova-common = 31.0.0-1", "", None),
        "fx-python3-newlib": ("2.0", "", "", None),
        "fx-python3-oslo-config": ("9.7.0", "", "", None),
        "fx-openvswitch": ("3.5.0", "", "", None),
        "fx-neutron-openvswitch-agent": ("26.0.0", "fx-python3-oslo-config >= 9.7.0", "", None),
        "fx-site-tool": ("1.1", "", "", None),
    },
}

SPEC = """\
Name: {name}
Version: {version}
Release: 1
Summary: stackhop test fixture
License: Apache-2.0
BuildArch: noarch
{requires}{conflicts}
%description
A fixture package of stackhop's dnf tests.
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo {version} > %{{buildroot}}/usr/share/{name}/version
{install_conf}
%files
/usr/share/{name}
{files_conf}
"""


def build_repo(base, release):
    repo = base / ("repo-" + release)
    repo.mkdir()
    for name, (version, requires, conflicts, conf) in RELEASES[release].items():
        spec = base / ("%s-%s.spec" % (name, version))
        spec.write_text(SPEC.format(
            name=name, version=version,
            requires="Requires: %s\n" % requires if requires else "",
            conflicts="Conflicts: %s\n" % conflicts if conflicts else "",
            install_conf=("mkdir -p %%{buildroot}/etc/fx-nova\nprintf '%s' > %%{buildroot}/etc/fx-nova/nova.conf"
                          % conf.replace("\n", "\\n")) if conf else "",
            files_conf="%config(noreplace) /etc/fx-nova/nova.conf" if conf else ""))
        subprocess.run(["rpmbuild", "-bb", "--define", "_topdir %s" % (base / "rpmbuild"),
                        "--define", "_build_id_links none", "--define", "_rpmdir %s" % repo, str(spec)],
                       check=True, capture_output=True)
    subprocess.run(["createrepo_c", "-q", str(repo)], check=True)
    return repo


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """An install root with 2024.1's fixtures installed from its repository, the site's
    exclude of fx-site-tool and its edit of nova.conf; then the source switched to 2025.1."""
    base = tmp_path_factory.mktemp("dnf")
    repos = {r: build_repo(base, r) for r in RELEASES}
    root = base / "root"
    (root / "etc/yum.repos.d").mkdir(parents=True)
    (root / "etc/dnf").mkdir(parents=True)
    (root / "etc/dnf/dnf.conf").write_text("[main]\ngpgcheck=0\n# the site's own pin\nexcludepkgs=fx-site-tool\n")
    repo_file = root / "etc/yum.repos.d/openstack.repo"
    repo_file.write_text("[openstack]\nname=openstack 2024.1\nbaseurl=file://%s\ngpgcheck=0\n" % repos["2024.1"])
    subprocess.run(["dnf", "-y", "-q", "--installroot", str(root), "--releasever", "9", "--noplugins",
                    "--disableexcludes=all", "install"] + sorted(RELEASES["2024.1"]), check=True, capture_output=True)
    (root / "etc/fx-nova/nova.conf").write_text("[DEFAULT]\nstate_path = /var/lib/nova\ndebug = true\n")
    return root, repos


def installed(root):
    out = subprocess.run(["rpm", "--root", str(root), "-qa", "--qf", "%{NAME} %{VERSION}\n"], check=True,
                         capture_output=True, text=True).stdout
    return dict(line.split() for line in out.splitlines())


def step(root, check=False, module="dnf_upgrade", **args):
    """A module (dnf_upgrade, dnf_source) through real ansible-playbook on this machine: (rc, result)."""
    defaults = {"installroot": str(root), "releasever": "9"}
    if module == "dnf_upgrade":
        defaults["state_file"] = str(root / "var/lib/stackhop/holds.json")
    else:
        defaults["keep_dir"] = str(root / "var/lib/stackhop/dnf-sources")
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "step", "stackhop.upgrade." + module: dict(defaults, **args), "diff": True, "check_mode": check}]}]
    playbook = root.parent / "play.json"
    playbook.write_text(json.dumps(play))
    proc = subprocess.run(
        [str(VENV / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=/usr/bin/python3", str(playbook)],
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}), capture_output=True, text=True,
        timeout=300, check=False)
    out = json.loads(proc.stdout)
    return proc.returncode, out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_denas_compute_sequence_with_real_dnf(system):
    root, repos = system
    before = installed(root)
    assert before["fx-nova-compute"] == "29.0.0"
    repos_dir = root / "etc/yum.repos.d"

    # 0. the package source: the next release's repository, the site's file kept aside
    old_repo = str(repos_dir / "openstack.repo")
    switch = {"module": "dnf_source", "baseurl": "file://%s" % repos["2025.1"], "replaces": [old_repo]}
    rc, res = step(root, check=True, **switch)
    assert rc == 0 and res["changed"] and sorted(p.name for p in repos_dir.iterdir()) == ["openstack.repo"], res
    rc, res = step(root, **switch)
    assert rc == 0 and res["changed"] and res["moved"] == [old_repo], res
    assert sorted(p.name for p in repos_dir.iterdir()) == ["stackhop-openstack.repo"]
    rc, res = step(root, **switch)
    assert rc == 0 and res["changed"] is False, res
    # a repository dnf cannot read is said before any step runs
    rc, res = step(root, module="dnf_source", name="broken", baseurl="file:///nonexistent/repo")
    assert rc != 0 and res["msg"].startswith("dnf cannot read a repository on "), res
    (repos_dir / "broken.repo").unlink()
    (root / "var/lib/stackhop/dnf-sources/broken.json").unlink()

    # 1. hold nova-compute, Open vSwitch and the agent; the rest upgrades. nova-common (its
    # exact version pinned by nova-compute) stays, and says so.
    rc, res = step(root, check=True, held=HELD_BY_DENA)
    assert rc == 0, res
    assert res["changed"] and res["upgraded"] == {"fx-python3-oslo-config": {"before": "9.4.0-1", "after": "9.7.0-1"}}
    assert installed(root) == before     # check mode changed nothing
    assert "fx-openvswitch 3.3.0-1\n" in res["diff"]["before"] and "fx-openvswitch 3.3.0-1 (held)" in res["diff"]["after"]
    rc, res = step(root, held=HELD_BY_DENA)
    assert rc == 0 and res["changed"], res
    assert installed(root)["fx-python3-oslo-config"] == "9.7.0"
    assert "fx-nova-common" in res["kept_back"] and res["site_held"] == ["fx-site-tool"]
    conf = (root / "etc/dnf/dnf.conf").read_text()
    assert "# the site's own pin" in conf and "excludepkgs=fx-site-tool," in conf, conf

    # 2. release nova-compute and upgrade it: its release replaces a library (refused until allowed)
    held = ["fx-openvswitch", "fx-neutron-openvswitch-agent"]
    rc, res = step(root, held=held, packages=["fx-nova-compute"])
    assert rc != 0 and res["msg"].startswith("the upgrade would remove fx-python3-oldlib on "), res
    rc, res = step(root, held=held, packages=["fx-nova-compute"], allow_remove=["fx-python3-oldlib"])
    assert rc == 0 and res["changed"], res
    now = installed(root)
    assert (now["fx-nova-compute"], now["fx-nova-common"], now["fx-python3-newlib"]) == ("31.0.0", "31.0.0", "2.0")
    assert "fx-python3-oldlib" not in now and now["fx-openvswitch"] == "3.3.0"
    # the site's edit kept; the package's new file beside it
    assert "debug = true" in (root / "etc/fx-nova/nova.conf").read_text()
    assert res["new_conffiles"] == [str(root / "etc/fx-nova/nova.conf.rpmnew")]

    # 3. a step that asks for the site's excluded package is refused, naming it
    rc, res = step(root, held=[], packages=["fx-site-tool"])
    assert rc != 0 and res["msg"].startswith("fx-site-tool is held on "), res
    assert "excludepkgs in dnf.conf" in res["msg"]

    # 4. release the rest and upgrade it; the site's exclude stays
    rc, res = step(root, held=[])
    assert rc == 0 and res["changed"] and res["released"] == sorted(held), res
    now = installed(root)
    assert (now["fx-openvswitch"], now["fx-neutron-openvswitch-agent"], now["fx-site-tool"]) == ("3.5.0", "26.0.0", "1.0")
    conf = (root / "etc/dnf/dnf.conf").read_text()
    assert conf.splitlines()[-1] == "excludepkgs=fx-site-tool", conf

    # a second run changes nothing
    rc, res = step(root, held=[])
    assert rc == 0 and res["changed"] is False, res

    # the repositories as they were before the switch (a rollback's first step)
    rc, res = step(root, module="dnf_source", state="restored")
    assert rc == 0 and res["changed"], res
    assert sorted(p.name for p in repos_dir.iterdir()) == ["openstack.repo"]
    assert "2024.1" in (repos_dir / "openstack.repo").read_text()


def test_names_and_a_step_that_holds_what_it_upgrades_are_refused(system):
    root, dummy = system
    rc, res = step(root, check=True, packages=["-y"])
    assert rc != 0 and res["msg"] == ("package '-y' is not an RPM package name; use the name rpm -q --qf "
                                      "'%{NAME}' prints"), res
    rc, res = step(root, check=True, packages=["fx-openvswitch"], held=["fx-openvswitch"])
    assert rc != 0 and res["msg"].startswith("fx-openvswitch cannot be upgraded and held in the same step"), res
