"""What the upgrade does with a component, from what discovery found on the host
(plugins/module_utils/adoption.py, filters in plugins/filter/adoption.py). The records are
shaped as stackhop.upgrade.service_discovery returns them on the lab's Debian region
(lab/inventory-debian) and on the venv region. On a lab: tests/lab/test_debian_region.py."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.filter import adoption as filters
from ansible_collections.stackhop.upgrade.plugins.module_utils import adoption

VENVS = "/opt/stackhop/venvs"


def service(unit, component, state="running", release="2022.2", method="apt", env="system",
            managed="package", config_files=(), drop_ins=()):
    return {"unit": unit + ".service", "component": component, "state": state, "release": release,
            "install_method": method, "python_env": env, "managed_by": managed,
            "config_files": list(config_files), "drop_ins": list(drop_ins)}


def stackhop(unit, component, release="2024.1", state="running", config_files=()):
    return service(unit, component, state, release, "venv", "%s/%s" % (VENVS, release), "stackhop", config_files)


def absent(unit, component):
    return {"unit": unit + ".service", "component": component, "state": "absent"}


DEBIAN_NOVA = {"services": [
    service("nova-api", "nova", config_files=["/etc/nova/nova.conf", "/etc/nova/api-paste.ini",
                                              "/etc/nova/nova-api-uwsgi.ini"]),
    service("nova-conductor", "nova", config_files=["/etc/nova/nova.conf"]),
    service("nova-scheduler", "nova", state="stopped", config_files=["/etc/nova/nova.conf"]),
    absent("nova-compute", "nova"),
    service("keystone", "keystone", config_files=["/etc/keystone/keystone.conf"]),
]}


def test_how_each_component_is_installed():
    venv_host = {"services": [stackhop("keystone", "keystone"), absent("glance-api", "glance")]}
    assert adoption.component_modes(venv_host, ["keystone", "glance"]) == {"keystone": "stackhop", "glance": "absent"}
    assert adoption.component_modes(DEBIAN_NOVA, ["nova", "keystone", "cinder"]) == {
        "nova": "adopted", "keystone": "adopted", "cinder": "absent"}
    # after the move the unit runs stackhop's venv, through the drop-in: still the operator's files
    moved = stackhop("keystone", "keystone")
    moved["drop_ins"] = ["/etc/systemd/system/keystone.service.d/stackhop-venv.conf"]
    assert adoption.component_mode({"services": [moved]}, "keystone") == "adopted"
    # another deployer's venv is not stackhop's either
    osa = service("nova-api", "nova", release="2024.1", method="venv", env="/openstack/venvs/nova-29.0.0",
                  managed="other")
    assert adoption.component_mode({"services": [osa]}, "nova") == "adopted"


def test_unit_releases_of_any_installation():
    host = {"services": DEBIAN_NOVA["services"] + [dict(stackhop("glance-api", "glance"), release=None)]}
    assert adoption.unit_releases(host) == {"nova-api": "2022.2", "nova-conductor": "2022.2",
                                            "nova-scheduler": "2022.2", "keystone": "2022.2", "glance-api": ""}


def test_config_jobs_chain_every_release_from_the_code_that_runs():
    jobs = adoption.config_jobs(DEBIAN_NOVA, "nova", "nova_controller", ["2022.2", "2023.1", "2023.2", "2024.1"], VENVS)
    # paste and uwsgi files are not oslo.config's; nova.conf once for all three units
    assert [j["path"] for j in jobs] == ["/etc/nova/nova.conf"]
    assert jobs[0]["overrides_var"] == "nova_controller_nova_conf_overrides"
    assert jobs[0]["releases"] == [
        {"name": "2022.2", "python": "/usr/bin/python3"},
        {"name": "2023.1", "python": VENVS + "/2023.1/bin/python"},
        {"name": "2023.2", "python": VENVS + "/2023.2/bin/python"},
        {"name": "2024.1", "python": VENVS + "/2024.1/bin/python"}]


def test_config_jobs_of_a_host_part_of_the_way_start_where_it_is():
    moved = {"services": [service("keystone", "keystone", release="2024.1", method="venv", env=VENVS + "/2024.1",
                                  managed="stackhop", config_files=["/etc/keystone/keystone.conf"],
                                  drop_ins=["/etc/systemd/system/keystone.service.d/stackhop-venv.conf"])]}
    (job,) = adoption.config_jobs(moved, "keystone", "keystone", ["2022.2", "2023.1", "2023.2", "2024.1"], VENVS)
    assert job["releases"] == [{"name": "2024.1", "python": VENVS + "/2024.1/bin/python"}]
    # a release the path does not name is read first, with the code that runs it
    (job,) = adoption.config_jobs({"services": [service("keystone", "keystone", release="2021.2",
                                                        config_files=["/etc/keystone/keystone.conf"])]},
                                  "keystone", "keystone", ["2022.2", "2023.1"], VENVS)
    assert [r["name"] for r in job["releases"]] == ["2021.2", "2022.2", "2023.1"]
    assert job["releases"][0]["python"] == "/usr/bin/python3"


@pytest.mark.parametrize("role, path, var", [
    ("glance", "/etc/glance/glance-api.conf", "glance_glance_api_conf_overrides"),
    ("neutron_controller", "/etc/neutron/plugins/ml2/ml2_conf.ini", "neutron_controller_ml2_conf_ini_overrides"),
    ("nova_compute", "/etc/nova/nova-compute.conf", "nova_compute_nova_compute_conf_overrides"),
])
def test_override_variables_are_the_roles(role, path, var):
    assert adoption.overrides_var(role, path) == var


def test_units_recorded_while_running_then_moved_once_stopped():
    units = ["nova-api", "nova-conductor", "nova-scheduler"]
    venv = VENVS + "/2024.1"
    before = adoption.unit_jobs("ctl", DEBIAN_NOVA, "nova", units, venv)
    assert before == {"move": [{"unit": "nova-api", "venv": venv}, {"unit": "nova-conductor", "venv": venv}],
                      "left": []}
    # the upgrade stopped them; the recorded ones move, the one the operator had stopped stays
    stopped = {"services": [dict(s, state="stopped") for s in DEBIAN_NOVA["services"]]}
    after = adoption.unit_jobs("ctl", stopped, "nova", units, venv, recorded=["nova-api", "nova-conductor"])
    assert [j["unit"] for j in after["move"]] == ["nova-api", "nova-conductor"]
    assert after["left"] == ["On ctl, nova-scheduler was stopped before the upgrade and stays on its package's "
                             "code; start it and run the upgrade again to move it."]


def test_another_deployers_venv_is_refused_in_one_sentence():
    osa = {"services": [service("nova-api", "nova", release="2024.1", method="venv",
                                env="/openstack/venvs/nova-29.0.0", managed="other")]}
    with pytest.raises(AnsibleFilterError) as exc:
        filters.adopted_unit_jobs(osa, "ctl1", "nova", ["nova-api"], VENVS + "/2025.1")
    assert str(exc.value) == ("On ctl1, nova-api runs from /openstack/venvs/nova-29.0.0, a virtualenv stackhop "
                              "did not build; upgrade it with the tool that built it, or move it to a "
                              "distribution package first.")


def test_settings_the_upgrade_needs():
    assert adoption.upgrade_settings("keystone") == {}
    assert adoption.upgrade_settings("nova", computes_too_old=True) == {
        "upgrade_levels": {"compute": "auto"}, "workarounds": {"disable_compute_service_check_for_ffu": True}}
    # once the computes moved, the workaround goes (a null deletes it)
    assert adoption.upgrade_settings("nova")["workarounds"] == {"disable_compute_service_check_for_ffu": None}


def test_filters_refuse_what_is_not_a_discovery_result():
    with pytest.raises(AnsibleFilterError, match="adoption_modes expects a service_discovery result"):
        filters.adoption_modes(None, ["nova"])


DEBIAN_ROOTWRAP = """# Configuration for neutron-rootwrap
[DEFAULT]
# List of directories to load filter definitions from (separated by ',').
filters_path=/etc/neutron/rootwrap.d
exec_dirs=/sbin,/usr/sbin,/bin,/usr/bin,/usr/local/bin,/usr/local/sbin,/etc/neutron/kill_scripts
use_syslog=False

[xenapi]
exec_dirs=/nowhere
"""


def test_rootwrap_runs_the_privsep_helper_of_the_venv():
    old, new = adoption.rootwrap_exec_dirs(DEBIAN_ROOTWRAP, VENVS + "/2023.1", VENVS)
    assert old == "/sbin,/usr/sbin,/bin,/usr/bin,/usr/local/bin,/usr/local/sbin,/etc/neutron/kill_scripts"
    assert new == VENVS + "/2023.1/bin," + old
    # the next hop replaces the venv; a rollback to the package's code takes it out
    moved = DEBIAN_ROOTWRAP.replace("exec_dirs=/sbin", "exec_dirs=%s/2023.1/bin,/sbin" % VENVS, 1)
    assert adoption.rootwrap_exec_dirs(moved, VENVS + "/2024.1", VENVS)[1] == VENVS + "/2024.1/bin," + old
    assert adoption.rootwrap_exec_dirs(moved, None, VENVS)[1] == old
    # unset: oslo.rootwrap searches sudo's PATH; the venv goes before it
    assert adoption.rootwrap_exec_dirs("[DEFAULT]\n", VENVS + "/2024.1", VENVS) == (
        None, VENVS + "/2024.1/bin,/usr/local/sbin,/usr/local/bin,/usr/sbin,/usr/bin,/sbin,/bin")


def test_rootwrap_allows_what_the_venvs_release_runs_as_root():
    """Debian's zed neutron ships only the privsep filter; 2024.1's DHCP agent runs dnsmasq
    through rootwrap: the venv's own filters go first in filters_path (seen on the Debian
    region: "Unauthorized command: ip netns exec ... dnsmasq ... (no filter matched)")."""
    old, new = adoption.rootwrap_filters_path(DEBIAN_ROOTWRAP, VENVS + "/2023.1", VENVS, "neutron")
    assert old == "/etc/neutron/rootwrap.d"
    assert new == VENVS + "/2023.1/etc/neutron/rootwrap.d,/etc/neutron/rootwrap.d"
    # the next hop replaces the venv's; a rollback to the package's code takes it out
    moved = DEBIAN_ROOTWRAP.replace("filters_path=", "filters_path=%s," % new.split(",", maxsplit=1)[0], 1)
    assert adoption.rootwrap_filters_path(moved, VENVS + "/2024.1", VENVS, "neutron")[1] == (
        VENVS + "/2024.1/etc/neutron/rootwrap.d,/etc/neutron/rootwrap.d")
    assert adoption.rootwrap_filters_path(moved, None, VENVS, "neutron")[1] == "/etc/neutron/rootwrap.d"
    # the [xenapi] section's options are not the default's
    assert "/nowhere" not in adoption.rootwrap_filters_path(DEBIAN_ROOTWRAP, None, VENVS, "neutron")[1]


def test_the_running_code_says_how_to_read_its_versions():
    configured = ("venv", VENVS + "/2024.1/bin/python")
    debian = {"components": {"nova": {"state": "ok", "running": ["nova-api.service"], "install_method": "apt",
                                      "python_env": "system", "managed_by": "package"}}}
    assert adoption.current_code(debian, *configured) == {"method": "apt", "python": VENVS + "/2024.1/bin/python"}
    osa = {"components": {"nova": {"state": "ok", "running": ["nova-api.service"], "install_method": "venv",
                                   "python_env": "/openstack/venvs/nova-29.0.0", "managed_by": "other"}}}
    assert adoption.current_code(osa, *configured) == {
        "method": "venv", "python": "/openstack/venvs/nova-29.0.0/bin/python"}
    # stackhop's own: the configured venv (a half-upgraded region keeps it on every host)
    ours = {"components": {"nova": {"state": "ok", "running": ["nova-api.service"], "install_method": "venv",
                                    "python_env": VENVS + "/2025.1", "managed_by": "stackhop"}}}
    assert adoption.current_code(ours, *configured) == {"method": "venv", "python": VENVS + "/2024.1/bin/python"}
    # nothing runs, or discovery did not run: as configured
    assert adoption.current_code({"components": {"nova": {"state": "absent", "running": []}}}, *configured) == {
        "method": "venv", "python": VENVS + "/2024.1/bin/python"}
    assert filters.discovered_current_code("", *configured)["method"] == "venv"


def test_a_half_upgraded_packaged_host_reads_the_packages_that_still_run_the_current_release():
    configured = ("venv", VENVS + "/2022.2/bin/python")
    moved = {"state": "ok", "running": ["keystone.service"], "install_method": "venv", "release": "2024.1",
             "python_env": VENVS + "/2024.1", "managed_by": "stackhop"}
    packaged = {"state": "ok", "running": ["cinder-api.service"], "install_method": "apt", "release": "2022.2",
                "python_env": "system", "managed_by": "package"}
    services = [{"component": "keystone", "unit": "keystone.service", "state": "running",
                 "drop_ins": ["/etc/systemd/system/keystone.service.d/stackhop-venv.conf"]}]
    half = {"components": {"keystone": moved, "cinder": packaged}, "services": services}
    assert adoption.current_code(half, *configured, current="zed")["method"] == "apt"
    # every package moved (the second run): the packages, still installed, from the package database
    done = {"components": {"keystone": moved}, "services": services}
    assert adoption.current_code(done, *configured, current="2022.2") == {"method": "package", "python": configured[1]}
    # stackhop's own venvs, all on the target: the configured venv as before
    ours = {"components": {"keystone": moved}, "services": [dict(services[0], drop_ins=[])]}
    assert adoption.current_code(ours, *configured, current="2022.2") == {"method": "venv", "python": configured[1]}


# -- nova's fast-forward workaround: on while nova finds computes too old, off after ----------
def test_the_workaround_as_settings():
    assert adoption.nova_workaround(True) == {"workarounds": {"disable_compute_service_check_for_ffu": True}}
    assert filters.nova_workaround(False) == {"workarounds": {"disable_compute_service_check_for_ffu": None}}


@pytest.mark.parametrize("read,expected", [
    # what nova's code read wins over the release model, either way
    ({"changed": False, "too_old": False, "minimum_version": 66}, False),
    ({"changed": False, "too_old": True, "minimum_version": 64}, True),
    # no reading (check mode before the target is staged, a failed read): the release model
    ({"failed": True, "msg": "nova's code under ... could not read the compute services"}, True),
    ({"skipped": True}, True),
    (None, True),
])
def test_computes_too_old_from_what_nova_read(read, expected):
    # zed's computes are older than 2024.1's nova accepts (2023.1)
    assert filters.nova_computes_too_old(read, "2022.2", "2024.1") is expected


def test_computes_too_old_without_reading_follows_the_release_model():
    assert adoption.nova_computes_too_old(None, "2024.1", "2025.1") is False
    assert adoption.nova_computes_too_old({"failed": True}, "2023.1", "2024.1") is False
    with pytest.raises(AnsibleFilterError, match="Unknown OpenStack release 'ocelot'"):
        filters.nova_computes_too_old(None, "ocelot", "2024.1")


def test_config_files_of_a_component_each_once():
    assert adoption.config_files(DEBIAN_NOVA, "nova") == ["/etc/nova/nova.conf"]
    compute = {"services": [service("nova-compute", "nova", config_files=[
        "/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"])]}
    assert filters.discovered_config_files(compute, "nova") == ["/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"]
    assert filters.discovered_config_files(compute, "neutron") == []


def test_the_python_of_a_release():
    assert filters.release_python("2024.1", "venv", VENVS + "/") == VENVS + "/2024.1/bin/python"
    assert filters.release_python("2024.1", None, VENVS) == VENVS + "/2024.1/bin/python"
    assert adoption.release_python("2024.1", "apt", VENVS) == "/usr/bin/python3"
    assert adoption.release_python("2024.1", "dnf", VENVS) == "/usr/bin/python3"


# -- a rollback of an adopted host: the moved units and the files kept before the edits -------
def test_the_units_moved_by_a_drop_in():
    moved = service("nova-api", "nova", method="venv", env=VENVS + "/2024.1", release="2024.1",
                    drop_ins=["/etc/systemd/system/nova-api.service.d/stackhop-venv.conf"])
    host = {"services": [moved, service("nova-conductor", "nova"), absent("nova-compute", "nova"),
                         dict(moved, unit="neutron-api.service", component="neutron")]}
    assert filters.dropin_units(host, ["nova"]) == ["nova-api"]
    assert adoption.dropin_units(host, ["nova", "neutron", "cinder"]) == ["nova-api", "neutron-api"]
    assert adoption.dropin_units(DEBIAN_NOVA, ["nova"]) == []


def test_the_directories_kept_before_the_edits():
    host = {"services": [service("neutron-openvswitch-agent", "neutron", config_files=[
        "/etc/neutron/neutron.conf", "/etc/neutron/plugins/ml2/openvswitch_agent.ini"]),
        service("neutron-dhcp-agent", "neutron", config_files=["/srv/neutron/dhcp_agent.ini"])]}
    assert filters.adopted_kept_paths(host, "neutron", "/etc/neutron/rootwrap.conf") == ["/etc/neutron", "/srv/neutron"]
    assert adoption.kept_paths(DEBIAN_NOVA, "nova") == ["/etc/nova"]
    assert adoption.kept_paths(DEBIAN_NOVA, "cinder") == []


def test_a_compute_is_at_the_release_when_both_units_run_its_code_however_installed():
    units = ["nova-compute", "neutron-openvswitch-agent.service"]
    # the package's units moved onto the venv by drop-ins (the Debian region after its upgrade)
    moved = {"services": [dict(stackhop("nova-compute", "nova"), drop_ins=["x.conf"], managed_by="package"),
                          stackhop("neutron-openvswitch-agent", "neutron")]}
    assert adoption.units_at_release(moved, units, "2024.1")
    assert filters.discovered_units_at_release(moved, units, "2024.1")
    assert not adoption.units_at_release(moved, units, "2025.1")
    # one still on the package's code, one stopped, one absent
    assert not adoption.units_at_release({"services": [stackhop("nova-compute", "nova"),
                                                       service("neutron-openvswitch-agent", "neutron")]},
                                         units, "2024.1")
    assert not adoption.units_at_release({"services": [stackhop("nova-compute", "nova", state="stopped"),
                                                       stackhop("neutron-openvswitch-agent", "neutron")]},
                                         units, "2024.1")
    assert not adoption.units_at_release({"services": [stackhop("nova-compute", "nova"),
                                                       absent("neutron-openvswitch-agent", "neutron")]},
                                         units, "2024.1")
    assert not adoption.units_at_release({"services": []}, [], "2024.1")


# -- where nova's records are read from in a compute upgrade or rollback ------------------

def test_nova_reader_is_the_controller_whose_conductor_runs_the_release():
    readings = {"ctl-new": {"services": [stackhop("nova-conductor", "nova", "2025.1")]},
                "ctl-old": {"services": [stackhop("nova-conductor", "nova", "2024.1", state="inactive")]}}
    assert adoption.nova_reader(readings, ["ctl-new", "ctl-old"], "2025.1") == {
        "host": "ctl-new", "python": VENVS + "/2025.1/bin/python"}


def test_nova_reader_passes_over_an_empty_new_controller():
    # the fleet lab: the control plane at the target on ctl-old, ctl-new in the inventory only
    readings = {"ctl-new": {"services": [absent("nova-conductor", "nova")]},
                "ctl-old": {"services": [stackhop("nova-api", "nova", "2025.1"),
                                         stackhop("nova-conductor", "nova", "2025.1")]}}
    assert adoption.nova_reader(readings, ["ctl-new", "ctl-old"], "2025.1")["host"] == "ctl-old"


def test_nova_reader_takes_the_python_an_adopted_conductor_runs():
    moved = service("nova-conductor", "nova", release="2024.1", method="venv", env=VENVS + "/2024.1",
                    drop_ins=["/etc/systemd/system/nova-conductor.service.d/stackhop-venv.conf"])
    assert adoption.nova_reader({"ctl": {"services": [moved]}}, ["ctl"], "2024.1") == {
        "host": "ctl", "python": VENVS + "/2024.1/bin/python"}
    package = service("nova-conductor", "nova", release="2022.2")
    assert adoption.nova_reader({"ctl": {"services": [package]}}, ["ctl"], "2022.2")["python"] == "/usr/bin/python3"


def test_nova_reader_without_a_running_conductor_falls_back_to_the_first_candidate():
    # another release than asked: still where nova runs; none at all: the first, python unknown
    readings = {"a": {}, "b": {"services": [stackhop("nova-scheduler", "nova", "2024.1")]}}
    assert adoption.nova_reader(readings, ["a", "b"], "2025.1")["host"] == "b"
    assert adoption.nova_reader({}, ["a", "b"], "2025.1") == {"host": "a", "python": ""}
    assert adoption.nova_reader({}, [], "2025.1") == {}


def test_nova_reader_filter_reads_each_candidates_discovery_from_hostvars():
    hostvars = {"ctl-new": {}, "ctl-old": {"stackhop_nova_units": {"services": [
        stackhop("nova-conductor", "nova", "2025.1")]}}}
    assert filters.nova_reader(hostvars, ["ctl-new", "ctl-old"], "2025.1")["host"] == "ctl-old"
