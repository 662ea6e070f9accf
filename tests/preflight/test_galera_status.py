"""galera_status against a real MariaDB Galera cluster of three private servers on loopback
(tests/lib/private_mariadb.PrivateGaleraCluster: galera-4 from Debian, state transfers by
rsync): a synced cluster is fit; a desynced node, a node down and a node left without quorum
are each named with the fix; a server that is no Galera node is one only for an inventory of
several database servers; check mode reads the same."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time

import pytest

from tests.lib.private_mariadb import PrivateGaleraCluster

pytestmark = pytest.mark.needs_root


@pytest.fixture(scope="module")
def cluster():
    base = tempfile.mkdtemp(prefix="sh-galera-")
    os.chmod(base, 0o755)  # the servers run as mysql
    galera = PrivateGaleraCluster(base)
    t0 = time.monotonic()
    try:
        galera.start()
        print("\nGalera cluster of 3 up and synced in %.1f s" % (time.monotonic() - t0))
        yield galera
    finally:
        galera.stop()
        shutil.rmtree(base, ignore_errors=True)


def read(ansible_module, node, expected=3, check=False):
    return ansible_module("galera_status", {"login_user": "root", "login_unix_socket": str(node.socket),
                                            "expected_size": expected}, check=check)


def test_every_node_of_a_synced_cluster_is_fit(ansible_module, cluster):
    for node in cluster.nodes:
        res = read(ansible_module, node)
        assert not res.failed, res
        assert res["status"] == "ok" and res["problems"] == [], res
        assert res["galera"] and res["cluster_size"] == 3 and res["cluster_status"] == "Primary"
        assert res["local_state"] == "Synced" and res["ready"] and res["connected"]
        assert res["cluster_name"] == "stackhop-test" and res["changed"] is False
        assert res["executed_commands"] == ["SHOW GLOBAL STATUS LIKE 'wsrep%'", "SHOW GLOBAL VARIABLES LIKE 'wsrep%'"]
    uuids = set(read(ansible_module, node)["cluster_state_uuid"] for node in cluster.nodes)
    assert len(uuids) == 1, uuids
    assert read(ansible_module, cluster.nodes[0], check=True)["status"] == "ok"


def test_a_desynced_node_is_not_fit_until_it_is_synced_again(ansible_module, cluster):
    node = cluster.nodes[1]
    node.sql("SET GLOBAL wsrep_desync = ON")
    try:
        res = read(ansible_module, node)
        assert res["status"] == "failure" and res["local_state"] == "Donor/Desynced", res
        assert any("is Donor/Desynced, not Synced" in p for p in res["problems"]), res["problems"]
    finally:
        node.sql("SET GLOBAL wsrep_desync = OFF")
    cluster.wait_synced(node)
    assert read(ansible_module, node)["status"] == "ok"


def test_a_node_down_shrinks_the_cluster_below_the_inventory(ansible_module, cluster):
    third = cluster.nodes[2]
    third.stop()
    try:
        res = read(ansible_module, cluster.nodes[0])
        assert res["status"] == "failure" and res["cluster_size"] == 2, res
        assert res["problems"] == [p for p in res["problems"] if "sees a cluster of 2 nodes, the inventory lists 3" in p]
        # the inventory's own size is the judge: 2 servers listed, 2 seen, fit
        assert read(ansible_module, cluster.nodes[0], expected=2)["status"] == "ok"
    finally:
        third.start(fresh=False)
        cluster.wait_synced(third)
    assert read(ansible_module, third)["cluster_size"] == 3


def test_a_node_without_quorum_takes_no_writes(ansible_module, cluster):
    first, others = cluster.nodes[0], cluster.nodes[1:]
    for node in others:  # killed, not stopped: the survivor cannot tell a partition from a crash
        os.kill(node.proc.pid, signal.SIGKILL)
        node.proc.wait(30)
        node.proc = None
    deadline = time.monotonic() + 60
    while cluster.status(first).get("wsrep_cluster_status") == "Primary" and time.monotonic() < deadline:
        time.sleep(0.5)
    res = read(ansible_module, first)
    assert res["status"] == "failure" and res["cluster_status"] == "non-Primary", res
    assert any("non-Primary component" in p and "pc.bootstrap" in p for p in res["problems"]), res["problems"]
    # the fix the sentence names, then the others rejoin
    first.sql("SET GLOBAL wsrep_provider_options = 'pc.bootstrap=YES'")
    cluster.wait_synced(first)
    for node in others:
        node.start(fresh=False)
        cluster.wait_synced(node)
    assert [read(ansible_module, node)["status"] for node in cluster.nodes] == ["ok", "ok", "ok"]


def test_a_server_that_is_no_galera_node(ansible_module, mariadb):
    res = ansible_module("galera_status", {"login_user": "root", "login_unix_socket": mariadb.socket})
    assert not res.failed and res["galera"] is False and res["status"] == "ok", res
    res = ansible_module("galera_status", {"login_user": "root", "login_unix_socket": mariadb.socket,
                                           "expected_size": 3})
    assert res["status"] == "failure" and "not a Galera node (wsrep_on is OFF)" in res["problems"][0]


def test_no_server_is_one_sentence(ansible_module, tmp_path):
    res = ansible_module("galera_status", {"login_user": "root", "login_unix_socket": str(tmp_path / "none.sock")})
    assert res.failed and res["msg"].startswith("Cannot connect to the database server %s as root" % (
        tmp_path / "none.sock")), res["msg"]


def test_a_negative_expected_size_is_one_sentence_and_reads_nothing(ansible_module, mariadb):
    res = ansible_module("galera_status", {"login_user": "root", "login_unix_socket": mariadb.socket,
                                           "expected_size": -1})
    assert res.failed and res["msg"] == ("expected_size is -1: give the number of database servers, "
                                         "or 0 not to check it."), res["msg"]
    assert res["executed_commands"] == []


def test_rabbitmq_status_bad_input_is_one_sentence(ansible_module, tmp_path):
    """The module's refusals (its reads are the lab's: the check clusters in CI's region chain)."""
    res = ansible_module("rabbitmq_status", {"rabbitmqctl": str(tmp_path / "rabbitmqctl")})
    assert res.failed and res["msg"].startswith("rabbitmqctl was not found at %s" % (tmp_path / "rabbitmqctl"))
    assert "run the check on a RabbitMQ node" in res["msg"]
    res = ansible_module("rabbitmq_status", {"expected_size": -2}, check=True)
    assert res.failed and res["msg"].startswith("expected_size is -2"), res["msg"]
    # a rabbitmqctl that cannot reach its node: the node is named with the fix
    ctl = tmp_path / "down-rabbitmqctl"
    ctl.write_text("#!/bin/sh\necho 'Error: unable to perform an operation on node rabbit@nowhere' >&2\nexit 69\n")
    ctl.chmod(0o755)
    res = ansible_module("rabbitmq_status", {"rabbitmqctl": str(ctl), "node": "rabbit@nowhere"})
    assert res.failed and res["msg"] == (
        "RabbitMQ rabbit@nowhere does not answer rabbitmqctl cluster_status (Error: unable to perform an operation "
        "on node rabbit@nowhere): start rabbitmq-server there, or run the check as root on a node of the cluster."), \
        res["msg"]
    assert res["executed_commands"] == [
        "%s -n rabbit@nowhere --timeout 30 cluster_status --formatter json" % ctl]
