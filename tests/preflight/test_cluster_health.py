"""The Galera and RabbitMQ fitness checks (plugins/module_utils/cluster_health.py), read by
the modules galera_status and rabbitmq_status and the preflight check ``clusters``. The
single-server records are the lab region's (MariaDB 10.11 without a provider, RabbitMQ 3.10.8
of Debian 12); the cluster records have the shape those versions print."""

from __future__ import annotations

from ansible_collections.stackhop.upgrade.plugins.module_utils import cluster_health as ch

# the lab region's MariaDB: no Galera provider loaded
LAB_STATUS = {"wsrep": "0", "wsrep_cluster_size": "0", "wsrep_cluster_status": "Disconnected",
              "wsrep_connected": "OFF", "wsrep_ready": "OFF"}
LAB_VARIABLES = {"wsrep_on": "OFF"}


def galera_node(size=3, component="Primary", local="Synced", ready="ON", paused="0.000000"):
    status = {"wsrep_cluster_size": str(size), "wsrep_cluster_status": component, "wsrep_connected": "ON",
              "wsrep_ready": ready, "wsrep_local_state_comment": local, "wsrep_flow_control_paused": paused,
              "wsrep_cluster_state_uuid": "b1f2c3d4-0000-11ef-8000-000000000001",
              "wsrep_incoming_addresses": "10.20.0.11:3306,10.20.0.12:3306,10.20.0.13:3306",
              "wsrep_provider_version": "26.4.14(r06a0c285)"}
    return ch.galera_state(status, {"wsrep_on": "ON", "wsrep_cluster_name": "openstack"})


def test_a_synced_three_node_cluster_is_fit():
    state = galera_node()
    assert state["galera"] and state["cluster_size"] == 3 and state["ready"]
    assert state["incoming_addresses"] == ["10.20.0.11:3306", "10.20.0.12:3306", "10.20.0.13:3306"]
    assert ch.galera_problems("ctl1", state, 3) == []


def test_a_single_server_is_not_a_cluster_and_that_is_fine_alone():
    state = ch.galera_state(LAB_STATUS, LAB_VARIABLES)
    assert not state["galera"] and state["cluster_size"] == 0
    assert ch.galera_problems("ctl-old", state, 0) == []
    assert ch.galera_problems("ctl-old", state, 1) == []
    [problem] = ch.galera_problems("ctl-old", state, 3)
    assert "not a Galera node" in problem and "stackhop_db" in problem


def test_a_node_that_lost_quorum_or_is_a_donor_is_named_with_the_fix():
    [problem] = ch.galera_problems("ctl2", galera_node(size=1, component="non-Primary"), 0)
    assert problem.startswith("Galera node ctl2 is in a non-Primary component") and "pc.bootstrap" in problem
    [problem] = ch.galera_problems("ctl3", galera_node(local="Donor/Desynced"), 3)
    assert "ctl3 is Donor/Desynced, not Synced" in problem
    [problem] = ch.galera_problems("ctl1", galera_node(size=2), 3)
    assert "sees a cluster of 2 nodes, the inventory lists 3" in problem
    problems = ch.galera_problems("ctl1", galera_node(ready="OFF"), 3)
    assert any("wsrep_ready OFF" in p for p in problems)


def test_flow_control_over_a_tenth_of_the_time_is_a_problem():
    assert ch.galera_problems("ctl1", galera_node(paused="0.05"), 3) == []
    [problem] = ch.galera_problems("ctl1", galera_node(paused="0.42"), 3)
    assert "flow control 42%" in problem


# rabbitmqctl cluster_status --formatter json of the lab region (feature flags cut)
LAB_RABBITMQ = {
    "alarms": [], "cluster_name": "rabbit@ctl-old", "disk_nodes": ["rabbit@ctl-old"],
    "listeners": {"rabbit@ctl-old": []}, "maintenance_status": {"rabbit@ctl-old": "not under maintenance"},
    "partitions": {}, "ram_nodes": [], "running_nodes": ["rabbit@ctl-old"],
    "versions": {"rabbit@ctl-old": {"erlang_version": "25.2.3", "rabbitmq_name": "RabbitMQ",
                                    "rabbitmq_version": "3.10.8"}}}
NODES = ["rabbit@ctl1", "rabbit@ctl2", "rabbit@ctl3"]


def rabbit_cluster(running=None, partitions=None, alarms=None, maintenance=None, versions=None):
    return ch.rabbitmq_state({
        "alarms": alarms or [], "cluster_name": "rabbit@ctl1", "disk_nodes": NODES, "ram_nodes": [],
        "running_nodes": NODES if running is None else running, "partitions": partitions or {},
        "maintenance_status": dict((n, "not under maintenance") for n in NODES) if maintenance is None else maintenance,
        "versions": dict((n, {"rabbitmq_version": (versions or {}).get(n, "3.10.8")}) for n in NODES)})


def test_the_lab_regions_single_rabbitmq_is_fit():
    state = ch.rabbitmq_state(LAB_RABBITMQ)
    assert state["nodes"] == ["rabbit@ctl-old"] == state["running_nodes"]
    assert ch.rabbitmq_problems(state, 1) == []
    assert ch.rabbitmq_problems(rabbit_cluster(), 3) == []


def test_a_node_down_a_partition_an_alarm_and_maintenance_are_each_one_sentence():
    [problem] = ch.rabbitmq_problems(rabbit_cluster(running=NODES[:2]), 3)
    assert problem.startswith("RabbitMQ node rabbit@ctl3 of cluster rabbit@ctl1 is not running")
    problems = ch.rabbitmq_problems(rabbit_cluster(partitions={"rabbit@ctl1": ["rabbit@ctl3"], "rabbit@ctl2": []}), 3)
    assert problems == ["RabbitMQ is partitioned: rabbit@ctl1 does not see rabbit@ctl3, so queues are split between "
                        "them: restart the minority's nodes to heal the partition before the upgrade."]
    [problem] = ch.rabbitmq_problems(rabbit_cluster(alarms=[
        {"node": "rabbit@ctl2", "resource": "memory", "type": "resource_alarm"}]), 3)
    assert "(memory on rabbit@ctl2)" in problem
    maintenance = dict((n, "not under maintenance") for n in NODES)
    maintenance["rabbit@ctl2"] = "under maintenance"
    [problem] = ch.rabbitmq_problems(rabbit_cluster(maintenance=maintenance), 3)
    assert "rabbit@ctl2 is in maintenance mode" in problem and "rabbitmq-upgrade revive" in problem


def test_mixed_versions_and_a_missing_member():
    [problem] = ch.rabbitmq_problems(rabbit_cluster(versions={"rabbit@ctl3": "3.11.2"}), 3)
    assert "different versions (ctl1 3.10.8, ctl2 3.10.8, ctl3 3.11.2)" in problem
    [problem] = ch.rabbitmq_problems(ch.rabbitmq_state(LAB_RABBITMQ), 3)
    assert "has 1 node (rabbit@ctl-old), the inventory lists 3" in problem
