"""stackhop.upgrade.service_discovery on the lab region's real hosts (systemd in each,
services in stackhop's venvs, set process titles, uwsgi run by a venv's Python), before
its upgrade: every component found where the inventory puts it, at 2024.1, with the
config files its processes read. The rest of discovery (Debian's packages and their
wrappers, other venvs, mixed and unknown states) is tests/discovery on host trees."""

from __future__ import annotations

import pytest

from tests.lab.conftest import ansible_play

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400)]

VENV = "/opt/stackhop/venvs/2024.1"


def test_discovery_finds_what_the_region_runs(lab_region):
    rc, results = ansible_play(lab_region, [{"name": "discover", "stackhop.upgrade.service_discovery": {}}],
                               hosts="ctl-old:cmp1:cmp2:ctl-new")
    assert rc == 0, results
    found = {host: res[0] for host, res in results.items()}
    assert all(r["changed"] is False and r["problems"] == [] for r in found.values()), found

    ctl = found["ctl-old"]["components"]
    for component in ("keystone", "glance", "placement", "nova", "neutron", "cinder"):
        assert ctl[component]["state"] == "ok", (component, ctl[component])
        assert (ctl[component]["release"], ctl[component]["install_method"], ctl[component]["managed_by"],
                ctl[component]["python_env"]) == ("2024.1", "venv", "stackhop", VENV), component
    assert ctl["ironic"]["state"] == "absent"
    assert set(ctl["neutron"]["running"]) == {"neutron-server.service", "neutron-dhcp-agent.service",
                                              "neutron-openvswitch-agent.service"}
    services = {s["unit"]: s for s in found["ctl-old"]["services"] if s["state"] != "absent"}
    # uwsgi under the venv's Python: nova's WSGI app reads its directory from the unit
    assert services["nova-api.service"]["config_files"][-1] == "/etc/nova/nova.conf"
    # neutron's agents set their process title; the command line is still read from it
    assert services["neutron-dhcp-agent.service"]["config_files"] == [
        "/etc/neutron/neutron.conf", "/etc/neutron/dhcp_agent.ini"]
    assert services["neutron-dhcp-agent.service"]["config_source"] == "command line"
    assert services["nova-conductor.service"]["log_path"] == "/var/log/nova/nova-conductor.log"

    for cmp in ("cmp1", "cmp2"):
        comps = found[cmp]["components"]
        assert comps["nova"]["running"] == ["nova-compute.service"], comps["nova"]
        assert comps["neutron"]["running"] == ["neutron-openvswitch-agent.service"], comps["neutron"]
        assert comps["nova"]["release"] == comps["neutron"]["release"] == "2024.1"
        assert {c["state"] for n, c in comps.items() if n not in ("nova", "neutron")} == {"absent"}
    # the blue-green target is empty before the upgrade
    assert {c["state"] for c in found["ctl-new"]["components"].values()} == {"absent"}
