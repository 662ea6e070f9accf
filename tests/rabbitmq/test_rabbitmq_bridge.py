"""The bridge's decisions (plugins/module_utils/rabbitmq_bridge.py) on export documents of
the shape RabbitMQ 3.10.8 prints (``rabbitmqctl export_definitions -``), cut from the lab
region's broker: nova's topic exchange, a conductor and two computes, their fanout
queues, a reply queue, and the connections and consumers ``list_connections`` and
``list_consumers`` print in JSON."""

from __future__ import annotations

import copy
import re

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import rabbitmq_bridge as rb

URI = "amqp://stackhop-move:s3cret@10.20.0.12:5672/%2F"


def q(name, **kw):
    return dict({"name": name, "vhost": "/", "durable": False, "auto_delete": False, "type": "classic",
                 "arguments": {}}, **kw)


def bind(source, queue, key=None):
    return {"source": source, "vhost": "/", "destination": queue, "destination_type": "queue",
            "routing_key": key or queue, "arguments": {}}


EXPIRES = {"x-expires": 1800000}
LAB = {
    "exchanges": [
        # 3.10.8 prints no "internal" for an exchange
        {"name": "nova", "vhost": "/", "type": "topic", "durable": False, "auto_delete": False, "arguments": {}},
        {"name": "conductor_fanout", "vhost": "/", "type": "fanout", "durable": False, "auto_delete": True,
         "arguments": {}},
        {"name": "amq.topic", "vhost": "/", "type": "topic", "durable": True, "auto_delete": False,
         "arguments": {}},
    ],
    "queues": [q("conductor"), q("conductor.ctl-old"), q("compute"), q("compute.cmp1"), q("compute.cmp2"),
               q("conductor_fanout_66dbf88d07c94e1d9ac8e71692865fd9", arguments=EXPIRES),
               q("reply_0f1e2d3c4b5a69788796a5b4c3d2e1f0", arguments=EXPIRES)],
    "bindings": [bind("nova", "conductor"), bind("nova", "conductor.ctl-old"), bind("nova", "compute"),
                 bind("nova", "compute.cmp1"), bind("nova", "compute.cmp2"),
                 bind("conductor_fanout", "conductor_fanout_66dbf88d07c94e1d9ac8e71692865fd9", "conductor"),
                 bind("", "reply_0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
                 bind("amq.topic", "compute")],
    "policies": [],
    "parameters": [],
}


def applied(definitions, doc):
    """What the broker holds after importing ``doc`` (import adds and overwrites)."""
    out = copy.deepcopy(definitions)
    for section, key in (("exchanges", "name"), ("queues", "name"), ("policies", "name"), ("parameters", "name")):
        for item in doc.get(section, []):
            out[section] = [x for x in out.get(section, []) if x[key] != item[key]] + [item]
    out["bindings"] = out.get("bindings", []) + doc.get("bindings", [])
    return out


def test_the_queue_policy_covers_server_and_reply_queues_and_not_fanout_or_rabbitmqs_own():
    regex = re.compile(rb.QUEUE_PATTERN)
    for name in ("conductor", "compute.cmp1", "reply_0f1e", "q-reports-plugin", "notifications.info",
                 "cinder-volume.ctl-old@fake"):
        assert regex.search(name), name
    for name in ("conductor_fanout_66db", "amq.gen-JzTY20BRgKO", "federation: conductor_fanout -> rabbit@ctl-new",
                 "neutron-vo-Network-1.1_fanout_5938d243"):
        assert not regex.search(name), name
    assert re.search(rb.FANOUT_PATTERN, "q-agent-notifier-port-update_fanout")
    assert not re.search(rb.FANOUT_PATTERN, "nova")


def test_a_fresh_broker_gets_the_upstream_and_two_policies_in_one_document():
    doc, what = rb.changes(LAB, "stackhop-move", URI)
    assert what == ["upstream stackhop-move", "policy stackhop-move-queues", "policy stackhop-move-fanout"]
    [upstream] = doc["parameters"]
    assert upstream == {"vhost": "/", "component": "federation-upstream", "name": "stackhop-move",
                        "value": {"uri": URI, "max-hops": 1, "ack-mode": "on-confirm", "trust-user-id": False}}
    queues, fanout = doc["policies"]
    assert queues == {"vhost": "/", "name": "stackhop-move-queues", "pattern": rb.QUEUE_PATTERN,
                      "apply-to": "queues", "priority": 1, "definition": {"federation-upstream": "stackhop-move"}}
    assert fanout["apply-to"] == "exchanges" and fanout["pattern"] == "_fanout$"
    # a second run changes nothing
    assert rb.changes(applied(LAB, doc), "stackhop-move", URI) == ({}, [])
    # a new peer address is a change of the upstream only
    doc2, what2 = rb.changes(applied(LAB, doc), "stackhop-move", URI.replace(".12", ".13"))
    assert what2 == ["upstream stackhop-move"] and list(doc2) == ["parameters"]


def test_the_operators_policies_keep_applying_through_the_bridges():
    have = dict(LAB, policies=[
        {"vhost": "/", "name": "ttl", "pattern": "^(?!amq\\.).*", "apply-to": "queues", "priority": 0,
         "definition": {"message-ttl": 600000}},
        {"vhost": "/", "name": "limits", "pattern": "^compute", "apply-to": "all", "priority": 5,
         "definition": {"max-length": 10000}},
        {"vhost": "/", "name": "unrelated", "pattern": "^notifications", "apply-to": "queues", "priority": 9,
         "definition": {"max-length": 5}},
    ])
    queues, fanout = rb.wanted_policies("stackhop-move", have)
    assert queues["priority"] == 10     # above every policy of the vhost
    assert queues["definition"] == {"message-ttl": 600000, "max-length": 10000, "federation-upstream": "stackhop-move"}
    assert fanout["definition"] == {"federation-upstream": "stackhop-move"}      # no operator policy on fanouts


def test_two_operator_policies_that_disagree_are_refused_unless_the_bridge_is_told():
    have = dict(LAB, policies=[
        {"vhost": "/", "name": "a", "pattern": "^conductor", "apply-to": "queues", "priority": 1,
         "definition": {"max-length": 100}},
        {"vhost": "/", "name": "b", "pattern": "^compute", "apply-to": "queues", "priority": 2,
         "definition": {"max-length": 200}},
    ])
    with pytest.raises(rb.BridgeError) as exc:
        rb.wanted_policies("stackhop-move", have)
    assert str(exc.value).startswith("The policies b and a of vhost / both apply to queues")
    assert "extra_definition" in str(exc.value)
    queues, _fanout = rb.wanted_policies("stackhop-move", have, extra_definition={"max-length": 300})
    assert queues["definition"] == {"max-length": 300, "federation-upstream": "stackhop-move"}
    with pytest.raises(rb.BridgeError):
        rb.wanted_policies("stackhop-move", LAB, extra_definition={"federation-upstream": "x"})


def test_the_topology_is_the_topic_exchanges_server_queues_and_their_bindings():
    topo = rb.topology(LAB)
    assert [e["name"] for e in topo["exchanges"]] == ["nova"]
    assert [x["name"] for x in topo["queues"]] == ["compute", "compute.cmp1", "compute.cmp2", "conductor",
                                                   "conductor.ctl-old"]
    assert all(b["source"] == "nova" and b["routing_key"] == b["destination"] for b in topo["bindings"])
    assert len(topo["bindings"]) == 5


def test_every_flag_of_a_declared_exchange_or_queue_is_a_boolean():
    # an exchange imported with "internal": null stays nil, and every service's declare of it
    # fails with PRECONDITION_FAILED (inequivalent arg 'internal'): seen on the lab's broker
    topo = rb.topology(LAB)
    assert topo["exchanges"] == [{"name": "nova", "type": "topic", "durable": False, "auto_delete": False,
                                  "internal": False, "arguments": {}}]
    assert all(x["durable"] is False and x["auto_delete"] is False for x in topo["queues"])


def test_the_peers_topology_is_declared_where_it_is_missing_and_only_there():
    new = {"exchanges": [], "queues": [q("conductor")], "bindings": [], "policies": [], "parameters": []}
    doc, what = rb.changes(new, "stackhop-move", URI, peer_topology=rb.topology(LAB))
    assert [e["name"] for e in doc["exchanges"]] == ["nova"]
    assert [x["name"] for x in doc["queues"]] == ["compute", "compute.cmp1", "compute.cmp2", "conductor.ctl-old"]
    assert len(doc["bindings"]) == 5 and "1 exchange" in what and "4 queue(s)" in what and "5 binding(s)" in what
    assert rb.changes(applied(new, doc), "stackhop-move", URI, peer_topology=rb.topology(LAB)) == ({}, [])


def test_a_federation_links_bindings_with_list_arguments_are_read():
    # once the peer's link runs, this broker holds bindings whose arguments are lists
    # (x-bound-from), as the lab's ctl-new did: they must not break the comparison
    linked = {"exchanges": [], "queues": [q("conductor")], "policies": [], "parameters": [], "bindings": [
        {"source": "conductor_fanout", "vhost": "/", "destination": "federation: conductor_fanout -> rabbit@ctl-old",
         "destination_type": "exchange", "routing_key": "conductor",
         "arguments": {"x-bound-from": [{"cluster-name": "rabbit@ctl-old", "hops": 1, "vhost": "/"}]}}]}
    doc, _what = rb.changes(linked, "stackhop-move", URI, peer_topology=rb.topology(LAB))
    assert len(doc["bindings"]) == 5


def test_a_queue_declared_differently_on_the_two_brokers_is_refused_with_the_fix():
    quorum = {"exchanges": [], "queues": [q("compute", durable=True, arguments={"x-queue-type": "quorum"})],
              "bindings": []}
    with pytest.raises(rb.BridgeError) as exc:
        rb.missing_topology(rb.topology(LAB), quorum)
    assert str(exc.value).startswith("Queue compute is declared differently on the two brokers")
    assert "rabbit_quorum_queue" in str(exc.value)


CONNECTIONS = [
    {"vhost": "/", "peer_host": [10, 20, 0, 21], "client_properties": [
        ["product", "longstr", "py-amqp"], ["connection_name", "longstr", "nova-compute:2417:4922cc2f-2c86"]]},
    {"vhost": "/", "peer_host": [10, 20, 0, 12], "client_properties": [
        ["product", "longstr", "RabbitMQ"], ["connection_name", "longstr", "Federation link (upstream)"]]},
    {"vhost": "/", "peer_host": [10, 20, 0, 21], "client_properties": [["product", "longstr", "py-amqp"]]},
]
CONSUMERS = [
    {"queue_name": "compute.cmp1", "consumer_tag": "2"},
    {"queue_name": "conductor", "consumer_tag": "federation-link-stackhop-move"},
    {"queue_name": "federation: conductor_fanout -> rabbit@ctl-new", "consumer_tag": "1"},
]


def test_federation_links_are_not_clients_a_service_is_named_by_its_program_and_pid():
    clients, consumers = rb.clients(CONNECTIONS, CONSUMERS)
    assert clients == [{"service": "nova-compute:2417", "peer": "10.20.0.21"},
                       {"service": "py-amqp", "peer": "10.20.0.21"}]
    assert consumers == {"compute.cmp1": 1}
    assert rb.clients(CONNECTIONS[1:2], CONSUMERS[1:]) == ([], {})


def test_messages_left_skip_empty_and_internal_queues():
    assert rb.messages_left([{"name": "compute.cmp1", "messages": 3}, {"name": "conductor", "messages": 0},
                             {"name": "federation: x -> y", "messages": 7}]) == {"compute.cmp1": 3}


def test_bridge_names_and_a_bad_name():
    doc, _what = rb.changes(LAB, "stackhop-move", URI)
    assert rb.bridge_names(applied(LAB, doc), "stackhop-move") == (
        ["stackhop-move-fanout", "stackhop-move-queues"], ["stackhop-move"])
    assert rb.bridge_names(LAB, "stackhop-move") == ([], [])
    with pytest.raises(rb.BridgeError):
        rb.check_name("two words")


def test_the_federation_uris_of_a_transport_url_one_per_node_with_tls_and_the_vhost():
    assert rb.federation_uris("rabbit://openstack:p%40ss@10.20.0.11:5672,openstack:p%40ss@10.20.0.12:5672/?ssl=1") == [
        "amqps://openstack:p%40ss@10.20.0.11:5672/%2F", "amqps://openstack:p%40ss@10.20.0.12:5672/%2F"]
    assert rb.federation_uris("rabbit://openstack:pw@10.20.0.11:5672/nova") == ["amqp://openstack:pw@10.20.0.11:5672/nova"]
    with pytest.raises(rb.BridgeError) as exc:
        rb.federation_uris("kafka://u:secret@h:9092/")
    assert "secret" not in str(exc.value) and "u:***@h" in str(exc.value)
    value = rb.upstream_value(["amqp://a", "amqp://b"])
    assert value["uri"] == ["amqp://a", "amqp://b"] and rb.upstream_value(["amqp://a"])["uri"] == "amqp://a"


OLD_URL = "rabbit://openstack:pw@10.20.0.11:5672/"
NEW_URL = "rabbit://openstack:pw@10.20.0.12:5672/"


def test_the_broker_moves_only_in_a_blue_green_upgrade_with_a_new_broker_and_its_url():
    assert rb.broker_move("blue_green", ["ctl-old"], [], OLD_URL)["moves"] is False
    move = rb.broker_move("blue_green", ["ctl-old"], ["ctl-new"], OLD_URL, NEW_URL)
    assert move["moves"] and move["new"] == {"host": "ctl-new", "url": NEW_URL, "notification_url": ""}
    assert move["upstreams"] == {"old": ["amqp://openstack:pw@10.20.0.12:5672/%2F"],
                                 "new": ["amqp://openstack:pw@10.20.0.11:5672/%2F"]}
    for args, words in ((("in_place", ["ctl-old"], ["ctl-new"], OLD_URL, NEW_URL), "only in a blue_green upgrade"),
                        (("blue_green", ["ctl-old"], ["ctl-new"], OLD_URL, ""), "stackhop_transport_url_new is not set"),
                        (("blue_green", ["ctl-old"], ["ctl-old"], OLD_URL, NEW_URL), "a broker the services use"),
                        (("blue_green", ["ctl-old"], ["ctl-new"], OLD_URL, OLD_URL), "a broker the services use")):
        with pytest.raises(rb.BridgeError) as exc:
            rb.broker_move(*args)
        assert words in str(exc.value), str(exc.value)
    with pytest.raises(rb.BridgeError) as exc:
        rb.broker_move("blue_green", ["ctl-old"], ["ctl-new"], OLD_URL, NEW_URL, adopted=["neutron"])
    assert str(exc.value).startswith("neutron is installed by the operator")


def test_the_moved_services_notify_on_their_own_transport_never_on_the_broker_they_leave():
    notify_new = "rabbit://openstack:pw@10.20.0.12:5672/notifications"
    notify_kept = "rabbit://audit:pw@10.20.0.30:5672,audit:pw@10.20.0.31/billing"
    move = rb.broker_move("blue_green", ["ctl-old"], ["ctl-new"], OLD_URL, NEW_URL, notification_url_new=notify_new)
    assert move["new"]["notification_url"] == notify_new and move["old"]["notification_url"] == ""
    # a transport of their own on a broker that stays: kept by the moved services
    move = rb.broker_move("blue_green", ["ctl-old"], ["ctl-new"], OLD_URL, NEW_URL, notification_url=notify_kept)
    assert move["new"]["notification_url"] == notify_kept
    assert rb.nodes(notify_kept) == {("10.20.0.30", 5672), ("10.20.0.31", 5672)}
    # on the broker they leave, in another vhost: refused, with the variable that fixes it
    with pytest.raises(rb.BridgeError) as exc:
        rb.broker_move("blue_green", ["ctl-old"], ["ctl-new"], OLD_URL, NEW_URL,
                       notification_url="rabbit://openstack:secret@10.20.0.11:5672/notifications")
    assert "set stackhop_notification_transport_url_new" in str(exc.value) and "secret" not in str(exc.value)


def test_the_filter_turns_a_refusal_into_one_filter_error():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.stackhop.upgrade.plugins.filter.rabbitmq_move import rabbitmq_move
    assert rabbitmq_move("blue_green", ["ctl-old"], ["ctl-new"], OLD_URL, NEW_URL)["moves"]
    with pytest.raises(AnsibleFilterError):
        rabbitmq_move("rolling", ["ctl1"], ["ctl4"], OLD_URL, NEW_URL)
