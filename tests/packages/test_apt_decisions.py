"""module_utils/apt_packages.py: the apt install method's decisions, over apt's and dpkg's
output as Debian 12's apt 2.6 and dpkg 1.21 print it (samples taken from this machine).
The same steps on a real host with real apt: tests/packages/test_apt_on_lab_host.py."""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import apt_packages as apt
from ansible_collections.stackhop.upgrade.plugins.module_utils import package_steps as steps
from ansible_collections.stackhop.upgrade.plugins.module_utils.apt_packages import AptDecisionError

SIMULATION = """\
Reading package lists...
Building dependency tree...
Reading state information...
Calculating upgrade...
The following packages have been kept back:
  nova-compute python3-nova
  nova-common
The following packages will be upgraded:
  base-files libgcrypt20-dev
2 upgraded, 1 newly installed, 1 to remove and 3 not upgraded.
Remv python3-oldlib [1.0-1]
Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable [amd64])
Inst libgcrypt20-dev [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64]) []
Inst python3-newlib:amd64 (2.0-1 local:2023.1/bookworm [amd64])
Conf base-files (12.4+deb12u15 Debian:12.15/oldstable [amd64])
Conf libgcrypt20-dev (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])
"""

DPKG = ("nova-compute\t2:26.0.0-1\thi \n"
        "python3-nova\t2:26.0.0-1\tii \n"
        "openvswitch-switch\t3.1.0-2\thi \n"
        "base-files\t12.4+deb12u11\tii \n"
        "removed-one\t1.0\trc \n"
        "libc6:amd64\t2.36-9\tii \n")

POLICY = """\
nova-compute:
  Installed: 2:26.0.0-1
  Candidate: 2:27.0.0-1
  Version table:
     2:27.0.0-1 500
        500 file:/srv/mirror/openstack-2023.1 bookworm/main all Packages
 *** 2:26.0.0-1 100
        100 /var/lib/dpkg/status
python3-absent:
  Installed: (none)
  Candidate: 1.0
"""


def test_simulation_is_read_with_versions_origins_removals_and_kept_back():
    sim = apt.parse_simulation(SIMULATION)
    assert sim["install"]["base-files"] == {"from": "12.4+deb12u11", "to": "12.4+deb12u15",
                                            "origin": "Debian:12.15/oldstable"}
    assert sim["install"]["libgcrypt20-dev"]["origin"] == \
        "Debian:12.15/oldstable, Debian-Security:12/oldstable-security"
    assert sim["install"]["python3-newlib"] == {"from": None, "to": "2.0-1", "origin": "local:2023.1/bookworm"}
    assert sim["remove"] == {"python3-oldlib": "1.0-1"}
    assert sim["kept_back"] == ["nova-common", "nova-compute", "python3-nova"]


def test_dpkg_query_gives_installed_packages_with_their_holds():
    installed = apt.parse_dpkg_query(DPKG)
    assert installed["nova-compute"] == {"version": "2:26.0.0-1", "selection": "hold"}
    assert installed["python3-nova"]["selection"] == "install"
    assert "removed-one" not in installed            # config files only: not installed
    assert installed["libc6"]["version"] == "2.36-9"  # the architecture qualifier dropped


def test_policy_gives_installed_and_candidate():
    policy = apt.parse_policy(POLICY)
    assert policy == {"nova-compute": {"installed": "2:26.0.0-1", "candidate": "2:27.0.0-1"},
                      "python3-absent": {"installed": None, "candidate": "1.0"}}


def test_holds_are_a_wanted_set_and_the_sites_own_hold_is_never_released():
    installed = apt.parse_dpkg_query(DPKG)
    # the site held openvswitch-switch and nova-compute before stackhop came
    first = steps.hold_changes(installed, [], ["nova-compute", "python3-nova", "neutron-openvswitch-agent"])
    assert first == {"hold": ["python3-nova"], "release": [], "ours": ["python3-nova"],
                     "site": ["nova-compute", "openvswitch-switch"], "absent": ["neutron-openvswitch-agent"]}
    # later step: stackhop releases its hold; the site's stay
    installed["python3-nova"]["selection"] = "hold"
    second = steps.hold_changes(installed, ["python3-nova"], [])
    assert second["release"] == ["python3-nova"] and second["ours"] == []
    assert second["site"] == ["nova-compute", "openvswitch-switch"]


def test_a_step_cannot_upgrade_and_hold_the_same_package():
    with pytest.raises(AptDecisionError, match="nova-compute cannot be upgraded and held in the same step"):
        steps.check_step(["nova-compute"], ["nova-compute", "openvswitch-switch"])
    steps.check_step(["nova-compute"], ["openvswitch-switch"])


def test_names_that_are_not_package_names_are_refused():
    with pytest.raises(AptDecisionError, match="'-o' is not a Debian package name"):
        apt.check_names(["-o"], "package")


def test_status_file_gets_the_steps_holds_for_the_simulation():
    status = ("Package: nova-compute\nStatus: install ok installed\nVersion: 2:26.0.0-1\n\n"
              "Package: python3-nova\nStatus: hold ok installed\nVersion: 2:26.0.0-1\n\n"
              "Package: base-files\nStatus: install ok installed\n")
    out = apt.status_with_selections(status, {"nova-compute": "hold", "python3-nova": "install"})
    assert "Package: nova-compute\nStatus: hold ok installed\n" in out
    assert "Package: python3-nova\nStatus: install ok installed\n" in out
    assert out.endswith("Package: base-files\nStatus: install ok installed\n")


def plan(requested=(), allow_remove=("python3-oldlib",), site=(), policy=None):
    return steps.upgrade_plan(apt.parse_simulation(SIMULATION), apt.parse_dpkg_query(DPKG), list(requested),
                              list(allow_remove), list(site), policy or {}, "cmp1")


def test_the_plan_lists_upgrades_new_packages_and_removals():
    result = plan()
    assert result["upgraded"]["base-files"] == {"before": "12.4+deb12u11", "after": "12.4+deb12u15"}
    assert result["installed"] == {"python3-newlib": "2.0-1"}
    assert result["removed"] == {"python3-oldlib": "1.0-1"}


def test_a_removal_nobody_allowed_stops_the_step():
    with pytest.raises(AptDecisionError, match="^the upgrade would remove python3-oldlib on cmp1; add them "
                                               "to allow_remove"):
        plan(allow_remove=())


def test_a_requested_package_that_apt_keeps_back_stops_the_step():
    with pytest.raises(AptDecisionError, match="^apt keeps nova-compute back on cmp1"):
        plan(requested=["nova-compute"], policy=apt.parse_policy(POLICY))


def test_a_requested_package_the_site_holds_stops_the_step():
    with pytest.raises(AptDecisionError, match="^nova-compute is held on cmp1 by the site"):
        plan(requested=["nova-compute"], site=["nova-compute"])


def test_a_requested_package_already_at_its_candidate_is_fine():
    policy = {"nova-compute": {"installed": "2:26.0.0-1", "candidate": "2:26.0.0-1"}}
    assert plan(requested=["nova-compute"], policy=policy)["upgraded"]["base-files"]


@pytest.mark.parametrize("line", [
    "deb http://ubuntu-cloud.archive.canonical.com/ubuntu noble-updates/epoxy main",
    "deb [trusted=yes arch=amd64] file:/srv/mirror/openstack-2023.1 bookworm main",
    "deb [trusted=yes] file:/srv/flat ./",
])
def test_one_line_sources_are_accepted(line):
    assert apt.check_source_line("  " + line + " ") == line


@pytest.mark.parametrize("line,message", [
    ("http://mirror/openstack bookworm main", "is not a one-line apt source"),
    ("deb http://mirror/openstack bookworm", "names suite bookworm without a component"),
])
def test_malformed_sources_are_refused(line, message):
    with pytest.raises(AptDecisionError, match=message):
        apt.check_source_line(line)


TARGET = "/etc/apt/sources.list.d/stackhop-openstack.list"
OLD = "/etc/apt/sources.list.d/cloudarchive-dalmatian.list"
ZED = "deb [trusted=yes] file:/srv/mirror/openstack-zed bookworm main"
ANTELOPE = "deb [trusted=yes] file:/srv/mirror/openstack-2023.1 bookworm main"
BOBCAT = "deb [trusted=yes] file:/srv/mirror/openstack-2023.2 bookworm main"


def test_the_first_switch_records_the_original_and_a_later_hop_keeps_that_record():
    first = apt.source_switch(ANTELOPE, TARGET, None, {OLD: True}, None)
    assert first == {"write": ANTELOPE + "\n", "move": [OLD],
                     "manifest": {"created": True, "original": None, "moved": [OLD]}}
    second = apt.source_switch(BOBCAT, TARGET, ANTELOPE + "\n", {OLD: False}, first["manifest"])
    assert second == {"write": BOBCAT + "\n", "move": [], "manifest": first["manifest"]}
    again = apt.source_switch(BOBCAT, TARGET, BOBCAT + "\n", {OLD: False}, first["manifest"])
    assert again["write"] is None and again["move"] == []
    assert apt.source_restore(first["manifest"], TARGET) == {"remove": [TARGET], "write": None,
                                                             "put_back": [OLD]}


def test_a_target_file_that_held_the_old_release_is_written_back_on_restore():
    switch = apt.source_switch(ANTELOPE, TARGET, ZED + "\n", {}, None)
    assert switch["manifest"] == {"created": False, "original": ZED + "\n", "moved": []}
    assert apt.source_restore(switch["manifest"], TARGET) == {"remove": [], "write": ZED + "\n", "put_back": []}
    assert apt.source_restore(None, TARGET) == {"remove": [], "write": None, "put_back": []}
