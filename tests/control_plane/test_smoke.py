"""plugins/module_utils/smoke.py and openstack_cloud.py: which endpoint each override
reaches, how the connection options map onto openstacksdk's, the one failure sentence."""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import openstack_cloud as oc
from ansible_collections.stackhop.upgrade.plugins.module_utils import smoke


def test_component_names_and_bare_urls_become_versioned_overrides():
    got = smoke.normalize_overrides({"nova": "http://10.20.0.12:8774", "keystone": "http://10.20.0.12:5000/",
                                     "image": "https://glance.example:9292", "cinder": "http://n:8776",
                                     "compute": "http://n:8774/v2.1"})
    assert got == {"compute": "http://n:8774/v2.1", "identity": "http://10.20.0.12:5000/v3",
                   "image": "https://glance.example:9292", "block-storage": "http://n:8776/v3/%(project_id)s"}
    with pytest.raises(ValueError, match="nova-api"):
        smoke.normalize_overrides({"nova-api": "http://x"})


def test_every_component_has_a_service_type_a_path_and_check_ids():
    assert set(smoke.SERVICE_TYPES) == set(smoke.CHECK_IDS) == set(smoke.COMPONENTS)
    assert set(smoke.SERVICE_TYPES.values()) == set(smoke.API_PATHS)
    ids = [i for ids in smoke.CHECK_IDS.values() for i in ids]
    assert len(ids) == len(set(ids))


def test_connect_kwargs_map_the_options_and_an_identity_override_issues_the_token():
    params = {"cloud": "region1", "auth": {"password": "x"}, "auth_type": None, "region_name": "dc1",
              "interface": "internal", "validate_certs": True, "ca_cert": "/etc/ca.pem",
              "client_cert": None, "client_key": None, "api_timeout": 30}
    overrides = {"identity": "http://n:5000/v3", "block-storage": "http://n:8776/v3/%(project_id)s"}
    first = oc.connect_kwargs(params, overrides)
    assert first == {"cloud": "region1", "auth": {"password": "x", "auth_url": "http://n:5000/v3"},
                     "region_name": "dc1", "interface": "internal", "verify": True, "cacert": "/etc/ca.pem",
                     "api_timeout": 30, "identity_endpoint_override": "http://n:5000/v3"}
    second = oc.connect_kwargs(params, overrides, project_id="p1")
    assert second["block_storage_endpoint_override"] == "http://n:8776/v3/p1"
    assert params["auth"] == {"password": "x"}, "the caller's auth was changed"
    assert oc.connect_kwargs({"cloud": ""}) == {"cloud": None}
    assert oc.describe({"cloud": "r1"}, {"compute": "http://n:8774/v2.1"}) == "cloud r1 with compute at http://n:8774/v2.1"


def test_failure_sentence_names_the_first_failed_check():
    failed = [{"component": "nova", "check": "server list", "detail": "HttpException: 500"},
              {"component": "nova", "check": "flavor list", "detail": "HttpException: 500"}]
    msg = smoke.failure_sentence(failed, 1, "cloud r1 with compute at http://n:8774/v2.1")
    assert msg == ("smoke test of nova failed on cloud r1 with compute at http://n:8774/v2.1: server list: "
                   "HttpException: 500 (and 1 more failed check); 1 check passed; fix the service (its log "
                   "names the cause) and run again.")


class _Conn:
    """Only what the read-only keystone checks touch; check mode must not reach the rest."""

    auth_token = "t" * 180

    def authorize(self):
        return self.auth_token


def test_check_mode_and_skip_record_without_calling():
    runner = smoke.Smoke(_Conn(), check_mode=True, skip=["keystone_users"])
    runner.check("glance", "glance_round_trip", "image upload, download, delete", lambda: 1 / 0, writes=True)
    runner.keystone()
    assert [(c["id"], c["status"]) for c in runner.checks] == [
        ("glance_round_trip", "skipped"), ("keystone_token", "ok"), ("keystone_users", "skipped")]
    assert runner.checks[0]["detail"] == smoke.CHECK_MODE_SKIP
    assert runner.cleanup(["glance"]) == []


def test_write_checks_split_the_reads_from_the_writes():
    reads = smoke.Smoke(_Conn(), writes="skip", skip=["keystone_users"])
    reads.check("cinder", "cinder_volume_create", "volume create and delete", lambda: 1 / 0, writes=True)
    reads.keystone()
    assert [(c["id"], c["status"]) for c in reads.checks] == [
        ("cinder_volume_create", "skipped"), ("keystone_token", "ok"), ("keystone_users", "skipped")]
    # no leftovers to look for when nothing writes: the listing would cost the window
    assert reads.cleanup(["cinder", "glance"]) == []

    writes = smoke.Smoke(_Conn(), writes="only")
    writes.check("cinder", "cinder_volume_create", "volume create and delete", lambda: "made", writes=True)
    writes.keystone()
    assert [(c["id"], c["status"]) for c in writes.checks] == [
        ("cinder_volume_create", "ok"), ("keystone_token", "skipped"), ("keystone_users", "skipped")]
    with pytest.raises(ValueError):
        smoke.Smoke(_Conn(), writes="some")


class _Svc:
    def __init__(self, binary, host, state="up", status="enabled"):
        self.binary, self.host, self.state, self.status = binary, host, state, status


class _Agent:
    def __init__(self, binary, host, alive=True, admin_up=True):
        self.binary, self.host, self.is_alive, self.is_admin_state_up = binary, host, alive, admin_up


class _Heartbeats:
    """A service list as the API answers while heartbeats arrive: the next answer per call,
    the last one for ever after."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return list(self.answers.pop(0) if len(self.answers) > 1 else self.answers[0])


class _HeartbeatConn:
    def __init__(self, cinder=None, agents=None):
        self.block_storage = type("BlockStorage", (), {"services": staticmethod(cinder)})()
        self.network = type("Network", (), {"agents": staticmethod(agents)})()


def test_heartbeat_checks_wait_for_a_restarted_service_to_report():
    """Right after a rollback restarts cinder-scheduler and restores its row from a dump, it
    shows down until its first report: the check polls for up to ``settle`` seconds instead
    of failing at once (the verify-rollback rehearsal failed on exactly this)."""
    sleeps = []
    restarted = _Heartbeats([_Svc("cinder-scheduler", "ctl-old", "down")], [_Svc("cinder-scheduler", "ctl-old", "down")],
                            [_Svc("cinder-scheduler", "ctl-old")])
    runner = smoke.Smoke(_HeartbeatConn(cinder=restarted), settle=60, sleep=sleeps.append,
                         skip=["cinder_volumes", "cinder_volume_create"])
    runner.cinder()
    assert [(c["id"], c["status"]) for c in runner.checks] == [
        ("cinder_services", "ok"), ("cinder_volumes", "skipped"), ("cinder_volume_create", "skipped")]
    assert restarted.calls == 3 and sleeps == [5, 5]

    # an agent that never reports fails once settle has passed; one on a left node is not counted
    agents = _Heartbeats([_Agent("neutron-dhcp-agent", "ctl-old", alive=False),
                          _Agent("neutron-openvswitch-agent", "ctl-gone", alive=False),
                          _Agent("neutron-openvswitch-agent", "cmp1")])
    runner = smoke.Smoke(_HeartbeatConn(agents=agents), settle=0, ignore_agent_hosts=["ctl-gone"],
                         sleep=sleeps.append, skip=["neutron_networks"])
    runner.neutron()
    assert runner.checks[-1]["status"] == "failed"
    assert runner.checks[-1]["detail"] == "RuntimeError: agents not alive: neutron-dhcp-agent@ctl-old"
    assert agents.calls == 1


class _Row:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class _Baremetal:
    def __init__(self, conductors, nodes):
        self._conductors, self._nodes = conductors, nodes

    def conductors(self, details=False):
        assert details
        return list(self._conductors)

    def nodes(self, details=False):
        assert details
        return list(self._nodes)


class _IronicConn:
    def __init__(self, conductors, nodes):
        self.baremetal = _Baremetal(conductors, nodes)


def _node(name, state, instance=None, error=None):
    return _Row(name=name, id="id-" + name, provision_state=state, instance_id=instance, last_error=error)


def test_ironic_checks_need_a_live_conductor_and_no_failed_node():
    conn = _IronicConn([_Row(hostname="ctl-new", alive=True), _Row(hostname="ctl-old", alive=False)],
                       [_node("bm1", "active", "i1"), _node("bm2", "available")])
    checks = smoke.Smoke(conn, settle=0, sleep=lambda s: None).run(["ironic"])
    assert [(c["id"], c["status"], c["detail"]) for c in checks] == [
        ("ironic_conductors", "ok", "conductors alive: ctl-new"),
        ("ironic_nodes", "ok", "2 nodes: 1 active, 1 available; 1 with an instance")]
    bad = _IronicConn([_Row(hostname="ctl-old", alive=False)],
                      [_node("bm1", "deploy failed", "i1", "Timeout reached\nmore")])
    checks = smoke.Smoke(bad, settle=0, sleep=lambda s: None).run(["ironic"])
    assert [c["status"] for c in checks] == ["failed", "failed"]
    assert checks[0]["detail"] == "RuntimeError: no ironic-conductor is alive (1 registered)"
    assert checks[1]["detail"] == "RuntimeError: nodes in a failed state: bm1 (deploy failed: Timeout reached)"
    assert smoke.ironic_nodes_summary([]) == "0 nodes: none; 0 with an instance"


class _Forbidden(Exception):
    status_code = 403


def test_a_project_scoped_token_skips_the_conductor_list():
    class Denied(_Baremetal):
        def conductors(self, details=False):
            raise _Forbidden("Access was denied to the following resource: baremetal:conductor:get")
    conn = _IronicConn([], [_node("bm1", "active", "i1")])
    conn.baremetal = Denied([], [_node("bm1", "active", "i1")])
    checks = smoke.Smoke(conn, settle=0, sleep=lambda s: None).run(["ironic"])
    assert [(c["id"], c["status"]) for c in checks] == [("ironic_conductors", "skipped"), ("ironic_nodes", "ok")]
    assert "system-scoped" in checks[0]["detail"]
