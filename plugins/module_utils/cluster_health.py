# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Whether the clusters a control plane stands on are fit to be upgraded under: a MariaDB
Galera node (its ``wsrep_%`` status) and a RabbitMQ cluster (``rabbitmqctl cluster_status
--formatter json``). Pure functions of what the servers print, read by the modules
galera_status and rabbitmq_status (unit tests: tests/preflight/test_cluster_health.py).

Each problem is one sentence that names the node and the fix: an upgrade that restarts
services one node at a time needs every node of both clusters up, in one partition, and
synced, or a node's restart takes the cluster's quorum (or the services' queues) with it.
"""

from __future__ import annotations

# wsrep_local_state_comment of a node that serves reads and writes
GALERA_SYNCED = "Synced"
# the share of time replication was paused by flow control above which writes stall
GALERA_FLOW_CONTROL_LIMIT = 0.1


def galera_state(status, variables):
    """The node's Galera state from ``SHOW GLOBAL STATUS LIKE 'wsrep%'`` and ``SHOW GLOBAL
    VARIABLES LIKE 'wsrep%'`` (each {name: value}, names in any case)."""
    status = dict((str(k).lower(), "" if v is None else str(v)) for k, v in (status or {}).items())
    variables = dict((str(k).lower(), "" if v is None else str(v)) for k, v in (variables or {}).items())
    galera = variables.get("wsrep_on", "OFF").upper() == "ON"
    addresses = [a.strip() for a in status.get("wsrep_incoming_addresses", "").split(",") if a.strip()]
    try:
        paused = float(status.get("wsrep_flow_control_paused") or 0)
    except ValueError:
        paused = 0.0
    return {
        "galera": galera,
        "cluster_name": variables.get("wsrep_cluster_name", ""),
        "cluster_size": int(status.get("wsrep_cluster_size") or 0) if galera else 0,
        "cluster_status": status.get("wsrep_cluster_status", ""),
        "cluster_state_uuid": status.get("wsrep_cluster_state_uuid", ""),
        "connected": status.get("wsrep_connected", "OFF").upper() == "ON",
        "ready": status.get("wsrep_ready", "OFF").upper() == "ON",
        "local_state": status.get("wsrep_local_state_comment", ""),
        "incoming_addresses": addresses,
        "flow_control_paused": paused,
        "provider_version": status.get("wsrep_provider_version", ""),
    }


def galera_problems(node, state, expected_size=0):
    """One sentence per reason the Galera node ``node`` (its galera_state) is not fit;
    ``expected_size``: the nodes the inventory lists (0: not checked)."""
    if not state["galera"]:
        if expected_size > 1:
            return ["MariaDB on %s is not a Galera node (wsrep_on is OFF) although the inventory lists %d database "
                    "servers: list only the server the services use in stackhop_db, or join it to the cluster."
                    % (node, expected_size)]
        return []
    problems = []
    if state["cluster_status"] != "Primary":
        problems.append(
            "Galera node %s is in a %s component, so it takes no writes (the cluster lost its quorum): bring the "
            "other nodes back, or bootstrap the most advanced node (pc.bootstrap=YES), before the upgrade."
            % (node, state["cluster_status"] or "disconnected"))
    if not state["connected"] or not state["ready"]:
        problems.append(
            "Galera node %s is not ready (wsrep_connected %s, wsrep_ready %s): check its wsrep_cluster_address "
            "and its error log, and start the upgrade when it is ready."
            % (node, "ON" if state["connected"] else "OFF", "ON" if state["ready"] else "OFF"))
    if state["local_state"] != GALERA_SYNCED:
        problems.append(
            "Galera node %s is %s, not %s (a state transfer or a backup holds it): wait until it is %s; a node "
            "that restarts now may take the donor out too." % (
                node, state["local_state"] or "in no state", GALERA_SYNCED, GALERA_SYNCED))
    if expected_size and state["cluster_size"] != expected_size:
        problems.append(
            "Galera node %s sees a cluster of %d node%s, the inventory lists %d: bring the missing nodes back and "
            "wait until they are %s, or correct stackhop_db." % (
                node, state["cluster_size"], "" if state["cluster_size"] == 1 else "s", expected_size,
                GALERA_SYNCED))
    if state["flow_control_paused"] > GALERA_FLOW_CONTROL_LIMIT:
        problems.append(
            "Galera node %s had replication paused by flow control %.0f%% of the time since its status was last "
            "reset (a slow node holds every write back): find the node whose wsrep_local_recv_queue grows and "
            "fix it first." % (node, state["flow_control_paused"] * 100))
    return problems


def _node_host(name):
    """The host part of an Erlang node name: rabbit@ctl1 -> ctl1."""
    return str(name).rpartition("@")[2]


def rabbitmq_state(cluster_status):
    """The cluster's state from ``rabbitmqctl cluster_status --formatter json`` (parsed)."""
    data = cluster_status or {}
    disk = sorted(data.get("disk_nodes") or [])
    ram = sorted(data.get("ram_nodes") or [])
    running = sorted(data.get("running_nodes") or [])
    partitions = dict((str(k), sorted(v or [])) for k, v in (data.get("partitions") or {}).items() if v)
    maintenance = sorted(n for n, s in (data.get("maintenance_status") or {}).items()
                         if str(s) != "not under maintenance")
    versions = dict((n, (v or {}).get("rabbitmq_version", "")) for n, v in (data.get("versions") or {}).items())
    alarms = []
    for alarm in data.get("alarms") or []:
        if isinstance(alarm, dict):
            # {type: resource_alarm, resource: memory|disk_limit, node} or {type: file_descriptor_limit, node}
            alarms.append("%s on %s" % (alarm.get("resource") or alarm.get("type") or "alarm",
                                        alarm.get("node") or "?"))
        else:
            alarms.append(str(alarm))
    return {
        "cluster_name": data.get("cluster_name", ""),
        "nodes": sorted(set(disk + ram)),
        "disk_nodes": disk,
        "ram_nodes": ram,
        "running_nodes": running,
        "partitions": partitions,
        "alarms": alarms,
        "under_maintenance": maintenance,
        "versions": versions,
    }


def rabbitmq_problems(state, expected_size=0):
    """One sentence per reason the RabbitMQ cluster (its rabbitmq_state) is not fit;
    ``expected_size``: the nodes the inventory lists (0: not checked)."""
    problems = []
    down = sorted(set(state["nodes"]) - set(state["running_nodes"]))
    if down:
        problems.append(
            "RabbitMQ node%s %s of cluster %s %s not running: start rabbitmq-server there (or forget_cluster_node a "
            "node that is gone) before the upgrade." % (
                "s" if len(down) > 1 else "", ", ".join(down), state["cluster_name"],
                "are" if len(down) > 1 else "is"))
    for node, unseen in sorted(state["partitions"].items()):
        problems.append(
            "RabbitMQ is partitioned: %s does not see %s, so queues are split between them: restart the "
            "minority's nodes to heal the partition before the upgrade." % (node, ", ".join(unseen)))
    for alarm in state["alarms"]:
        problems.append(
            "RabbitMQ has an alarm (%s), which blocks every publisher: free memory or disk on that node "
            "first." % alarm)
    if state["under_maintenance"]:
        problems.append(
            "RabbitMQ node%s %s %s in maintenance mode (it serves no client): run rabbitmq-upgrade revive "
            "there, or finish that node's work, first." % (
                "s" if len(state["under_maintenance"]) > 1 else "", ", ".join(state["under_maintenance"]),
                "are" if len(state["under_maintenance"]) > 1 else "is"))
    versions = sorted(set(v for v in state["versions"].values() if v))
    if len(versions) > 1:
        problems.append(
            "RabbitMQ's nodes run different versions (%s): finish the RabbitMQ upgrade before the OpenStack one."
            % ", ".join("%s %s" % (_node_host(n), v) for n, v in sorted(state["versions"].items())))
    if expected_size and len(state["nodes"]) != expected_size:
        problems.append(
            "RabbitMQ cluster %s has %d node%s (%s), the inventory lists %d: join the missing nodes "
            "(rabbitmqctl join_cluster), or correct stackhop_rabbitmq." % (
                state["cluster_name"], len(state["nodes"]), "" if len(state["nodes"]) == 1 else "s",
                ", ".join(state["nodes"]) or "none", expected_size))
    return problems
