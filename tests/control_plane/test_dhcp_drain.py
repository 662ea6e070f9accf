"""module_utils/dhcp_drain.py: the decisions of DeNA's DHCP agent drain (roles/neutron_controller
dhcp_drain.yml and dhcp_bound.yml). The drain itself runs on the lab's network node in the
region chain (tests/lab/test_upgrade_region.py, with the VMs' DHCP renewal probe)."""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import dhcp_drain

NET1 = "5b1c7e1a-3f0e-4d7a-9a43-1d2b9c0e8f11"
NET2 = "e0f5d2c4-8a6b-4c1e-b0a9-77c3d1f2a6b0"


def dnsmasq(net, state_path="/var/lib/neutron"):
    d = "%s/dhcp/%s" % (state_path, net)
    return ("dnsmasq --no-hosts --no-resolv --pid-file=%s/pid --dhcp-hostsfile=%s/host "
            "--addn-hosts=%s/addn_hosts --dhcp-optsfile=%s/opts --dhcp-leasefile=%s/leases "
            "--bind-interfaces --interface=tap3f2a1b0c-9d --dhcp-range=set:subnet-1,10.30.0.0,static,"
            "255.255.255.0,120s --dhcp-lease-max=256 --conf-file=/dev/null --domain=openstacklocal"
            % (d, d, d, d, d))


def test_served_networks_are_neutrons_dnsmasq_only_each_once_sorted():
    out = "\n".join(["4242 " + dnsmasq(NET2), "4243 " + dnsmasq(NET1),
                     "999 /usr/sbin/dnsmasq --conf-file=/var/lib/libvirt/dnsmasq/default.conf",
                     "4244 " + dnsmasq(NET1)])
    assert dhcp_drain.served_networks(out) == [NET1, NET2]
    assert dhcp_drain.served_networks("") == []
    assert dhcp_drain.served_networks(None) == []


def test_served_networks_follow_the_state_path():
    out = "17 " + dnsmasq(NET1, "/srv/neutron")
    assert dhcp_drain.served_networks(out) == []
    assert dhcp_drain.served_networks(out, "/srv/neutron/") == [NET1]


def discovered(state, release):
    return {"services": [{"unit": "neutron-openvswitch-agent.service", "state": "running", "release": "2025.1"},
                         {"unit": "neutron-dhcp-agent.service", "state": state, "release": release}]}


@pytest.mark.parametrize("found,release,wanted", [
    (discovered("running", "2024.1"), "2025.1", True),     # restarts on other code: drained
    (discovered("running", "2025.1"), "2025.1", False),    # already there: a second run drains nothing
    (discovered("stopped", "2024.1"), "2025.1", False),    # nothing serves: nothing to drain
    ({"services": []}, "2025.1", False),                   # a fresh node
    (None, "2025.1", False),
])
def test_drain_only_an_agent_that_runs_another_releases_code(found, release, wanted):
    assert dhcp_drain.drain_wanted(found, release) is wanted


def test_the_new_agent_is_the_one_started_since_the_drain():
    assert dhcp_drain.started_since("2026-12-06 02:41:07", "2026-12-06 02:40:57")
    assert dhcp_drain.started_since("2026-12-06T02:41:07.000000", "2026-12-06 02:41:07")
    assert not dhcp_drain.started_since("2026-12-06 01:02:03", "2026-12-06 02:40:57")
    assert dhcp_drain.started_since("", "")


def test_agent_summary_from_an_sdk_object_or_a_dict():
    class Agent:  # the attributes of openstacksdk's network Agent
        id, host, is_alive, is_admin_state_up, started_at = "a1", "ctl-old", True, False, "2026-12-06 02:41:07"
    want = {"id": "a1", "host": "ctl-old", "alive": True, "admin_state_up": False, "started_at": "2026-12-06 02:41:07"}
    assert dhcp_drain.agent_summary(Agent()) == want
    assert dhcp_drain.agent_summary({"id": "a1", "host": "ctl-old", "is_alive": True, "is_admin_state_up": False,
                                     "started_at": "2026-12-06 02:41:07"}) == want


def test_the_agents_networks_are_asked_again_then_left_out(monkeypatch):
    """neutron 2024.1 answers 500 to dhcp-networks in a uwsgi worker whose policy is not
    loaded yet (the Debian region, right after its neutron-api moved): the module asks
    again, and the drain goes on without the list when the server never says."""
    import types
    from ansible_collections.stackhop.upgrade.plugins.modules import neutron_dhcp_agent as mod

    monkeypatch.setattr(mod.time, "sleep", lambda seconds: None)
    answers = [RuntimeError("HttpException: 500"), [types.SimpleNamespace(id=NET2), types.SimpleNamespace(id=NET1)]]

    def hosting(agent):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    warnings = []
    module = types.SimpleNamespace(params={"host": "ctl"}, ansible=types.SimpleNamespace(warn=warnings.append))
    conn = types.SimpleNamespace(network=types.SimpleNamespace(dhcp_agent_hosting_networks=hosting))
    assert mod.NeutronDhcpAgent._hosted_networks(module, conn, object()) == [NET1, NET2]
    assert warnings == []

    def failing(agent):
        raise RuntimeError("HttpException: 500: Server Error")

    conn.network.dhcp_agent_hosting_networks = failing
    assert mod.NeutronDhcpAgent._hosted_networks(module, conn, object(), attempts=3) is None
    assert len(warnings) == 1 and "DHCP agent on ctl" in warnings[0] and "RuntimeError" in warnings[0]
