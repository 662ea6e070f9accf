# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Two RabbitMQ brokers bridged while OpenStack's services move from one to the other
(NHN's upgrade: a new broker on the new side, each service moved as it is upgraded), the
decisions only (no Ansible, no rabbitmqctl).

What carries oslo.messaging's traffic across, each piece found necessary on RabbitMQ 3.10
with oslo.messaging 14.7 and 18.3 (docs/rabbitmq-move.md has the measurements):

* queue federation both ways, on every queue but the per-consumer fanout queues: a call's
  request reaches its server's queue on the other broker, and its reply (published to the
  default exchange with the reply queue's name as routing key) the caller's reply queue;
* exchange federation both ways (max-hops 1) on the ``<topic>_fanout`` exchanges only: a
  fanout cast reaches every consumer once; federating the topic exchanges instead would
  hand a call to a server on each broker;
* the bindings of the topic exchanges (``nova``, ``neutron``, ``openstack``...) copied to
  the other broker: oslo.messaging publishes casts and calls without ``mandatory``, so a
  broker where no queue is bound drops them, and a federation link declares the queue
  but never binds it.

Reads are ``rabbitmqctl export_definitions`` documents (JSON: exchanges, queues,
bindings, policies, parameters), ``list_consumers`` and ``list_connections``; the
change is one ``import_definitions`` document.
"""

from __future__ import annotations

import json
import re

try:
    from urllib.parse import quote, unquote, urlsplit
except ImportError:  # pragma: no cover - Python 2
    from urllib import quote, unquote  # noqa: F401
    from urlparse import urlsplit  # noqa: F401

# Queues the bridge federates: every queue but RabbitMQ's own and the fanout queues
# (one per consumer; exchange federation carries their messages). Erlang's re, like Python's.
QUEUE_PATTERN = r"^(?!amq\.)(?!federation: )(?!.*_fanout)"
FANOUT_PATTERN = r"_fanout$"
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# queues a service creates for itself on the broker it uses: never copied
PRIVATE_QUEUE = re.compile(r"^(reply_|federation: |amq\.)|_fanout(_|$)")


class BridgeError(ValueError):
    """A state the bridge cannot be built on, as one sentence with the fix."""


def upstream_value(peer_uri, max_hops=1):
    """The ``federation-upstream`` parameter's value that reaches the peer broker; several
    URIs (a cluster's nodes): RabbitMQ tries them in turn."""
    uris = [peer_uri] if isinstance(peer_uri, str) else list(peer_uri)
    return {"uri": uris[0] if len(uris) == 1 else uris, "max-hops": max_hops, "ack-mode": "on-confirm",
            "trust-user-id": False}


def federation_uris(transport_url):
    """The AMQP URIs of the RabbitMQ nodes an oslo.messaging ``transport_url`` names
    (``rabbit://user:pw@host1:5672,user:pw@host2:5672/vhost?ssl=1``): one per node,
    ``amqps`` with ``ssl``, the vhost percent-encoded as RabbitMQ's URI spec wants."""
    url = (transport_url or "").strip()
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("rabbit", "amqp"):
        raise BridgeError("The transport URL %s is not a rabbit:// URL: give the RabbitMQ URL the services use."
                          % _hide(url))
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
    netlocs, _slash, vhost = rest.partition("/")
    tls = any(part.split("=")[0] == "ssl" and part.split("=", 1)[-1].lower() in ("1", "true", "yes")
              for part in query.split("&") if part)
    vhost = quote(unquote(vhost) or "/", safe="")
    uris = []
    for netloc in netlocs.split(","):
        parsed = urlsplit("amqp://" + netloc)
        if not parsed.hostname:
            raise BridgeError("The transport URL %s names a node without a host: fix it." % _hide(url))
        uris.append("%s://%s/%s" % ("amqps" if tls else "amqp", netloc, vhost))
    return uris


def nodes(transport_url):
    """The (host, port) of each RabbitMQ node a ``transport_url`` names."""
    rest = (transport_url or "").partition("://")[2].split("?", 1)[0]
    found = set()
    for netloc in rest.partition("/")[0].split(","):
        parsed = urlsplit("amqp://" + netloc)
        if parsed.hostname:
            found.add((parsed.hostname, parsed.port or 5672))
    return found


def _hide(url):
    return re.sub(r"(://|,)([^:@/,]*):[^@/,]*@", r"\1\2:***@", url or "")


def broker_move(strategy, old_hosts, new_hosts, old_url, new_url="", adopted=None, notification_url="",
                notification_url_new=""):
    """Whether this run moves the services to a new RabbitMQ (NHN), and how.

    ``old_hosts``/``new_hosts``: the ``stackhop_rabbitmq`` / ``stackhop_rabbitmq_new`` hosts
    in the run's scope; ``old_url``/``new_url``: the transport URLs the services use
    (``stackhop_transport_url``, ``stackhop_transport_url_new``); ``adopted``: components
    the operator installed (their config keeps its own transport_url);
    ``notification_url``/``notification_url_new``: the notifications' transport of their own
    (NHN split RPC and notifications: audit and billing read them), before and after the
    move; empty, notifications share the RPC transport. The moved services send theirs to
    ``notification_url_new``, else they keep ``notification_url``, which must then not be
    on the broker they leave.

    Returns {"moves", "old": {host, url, notification_url}, "new": the same or None,
    "upstreams": {"old": the new broker's URIs (the old broker's upstream), "new": the old
    broker's}}."""
    old = {"host": (list(old_hosts or []) or [""])[0], "url": old_url or "", "notification_url": notification_url or ""}
    if not new_hosts:
        return {"moves": False, "old": old, "new": None, "upstreams": {}}
    new = {"host": list(new_hosts)[0], "url": new_url or "", "notification_url": notification_url_new or old["notification_url"]}
    if strategy != "blue_green":
        raise BridgeError("stackhop_rabbitmq_new names %s but the control plane is upgraded %s; the services move to "
                          "a new RabbitMQ only in a blue_green upgrade: remove stackhop_rabbitmq_new or use blue_green."
                          % (new["host"], strategy))
    if not new["url"]:
        raise BridgeError("stackhop_rabbitmq_new names %s but stackhop_transport_url_new is not set: set it to the "
                          "transport URL the moved services use." % new["host"])
    if new["host"] in list(old_hosts or []) or new["url"] == old["url"]:
        raise BridgeError("stackhop_rabbitmq_new names %s, a broker the services use already: name another broker "
                          "or remove stackhop_rabbitmq_new." % new["host"])
    if adopted:
        raise BridgeError("%s %s installed by the operator (adopted), whose config keeps its own transport_url, so it "
                          "cannot move to the new RabbitMQ: remove stackhop_rabbitmq_new, or upgrade %s first."
                          % (", ".join(adopted), "is" if len(adopted) == 1 else "are", ", ".join(adopted)))
    if new["notification_url"] and nodes(new["notification_url"]) & nodes(old["url"]):
        raise BridgeError("The notification transport %s is on the RabbitMQ the services leave, so they would keep "
                          "using it: set stackhop_notification_transport_url_new to a transport on a broker that stays."
                          % _hide(new["notification_url"]))
    return {"moves": True, "old": old, "new": new,
            "upstreams": {"old": federation_uris(new["url"]), "new": federation_uris(old["url"])}}


def _policies(definitions, vhost):
    return [p for p in definitions.get("policies") or [] if p.get("vhost", "/") == vhost]


def _matches(pattern, names):
    try:
        regex = re.compile(pattern)
    except re.error:
        return []
    return [n for n in names if regex.search(n)]


def wanted_policies(name, definitions, vhost="/", extra_definition=None):
    """The two policies of the bridge ``name`` on a broker whose export is ``definitions``.

    RabbitMQ applies one policy to a queue or exchange, the one of highest priority. So the
    bridge's policies take a priority above every other policy of the vhost, and carry the
    keys of the operator's policies that apply today to the queues and exchanges they cover
    (queue length limits, TTLs, ...), so those settings stay. Two such policies that
    disagree on a key are refused: ``extra_definition`` says which value the bridge's
    policies carry."""
    extra = dict(extra_definition or {})
    if "federation-upstream" in extra or "federation-upstream-set" in extra:
        raise BridgeError("extra_definition sets the federation upstream of the bridge %s: leave that key out, "
                          "the bridge sets it." % name)
    others = [p for p in _policies(definitions, vhost) if not p["name"].startswith(name + "-")]
    priority = max([int(p.get("priority", 0)) for p in others] or [0]) + 1
    queues = [q["name"] for q in definitions.get("queues") or [] if q.get("vhost", "/") == vhost]
    exchanges = [e["name"] for e in definitions.get("exchanges") or [] if e.get("vhost", "/") == vhost]
    wanted = []
    for suffix, apply_to, pattern, names in (("queues", "queues", QUEUE_PATTERN, queues),
                                             ("fanout", "exchanges", FANOUT_PATTERN, exchanges)):
        covered = _matches(pattern, names)
        keys = {}
        origin = {}
        for policy in sorted(others, key=lambda p: (-int(p.get("priority", 0)), p["name"])):
            if policy.get("apply-to", "all") not in (apply_to, "all") or not _matches(policy["pattern"], covered):
                continue
            for key, value in (policy.get("definition") or {}).items():
                if key.startswith("federation-") or key in extra:
                    continue
                if key in keys and keys[key] != value:
                    raise BridgeError(
                        "The policies %s and %s of vhost %s both apply to %s the bridge %s federates and set %s "
                        "differently: give the value the bridge's policy must carry in extra_definition."
                        % (origin[key], policy["name"], vhost, apply_to, name, key))
                keys.setdefault(key, value)
                origin.setdefault(key, policy["name"])
        definition = dict(keys, **extra)
        definition["federation-upstream"] = name
        wanted.append({"vhost": vhost, "name": "%s-%s" % (name, suffix), "pattern": pattern,
                       "apply-to": apply_to, "priority": priority, "definition": definition})
    return wanted


def topology(definitions, vhost="/"):
    """What the peer broker must declare so a publisher there reaches this broker's
    servers: the topic exchanges (not RabbitMQ's own), the queues bound to them that a
    service declared as a server (``<topic>``, ``<topic>.<host>``), and those bindings.
    Contains no secret."""
    exchanges = {e["name"]: e for e in definitions.get("exchanges") or []
                 if e.get("vhost", "/") == vhost and e.get("type") == "topic"
                 and e["name"] and not e["name"].startswith("amq.") and not e.get("internal")}
    queues = {q["name"]: q for q in definitions.get("queues") or [] if q.get("vhost", "/") == vhost}
    bindings = []
    wanted_queues = {}
    for b in definitions.get("bindings") or []:
        if (b.get("vhost", "/") != vhost or b.get("source") not in exchanges
                or b.get("destination_type") != "queue" or PRIVATE_QUEUE.search(b["destination"])
                or b["destination"] not in queues):
            continue
        bindings.append({"source": b["source"], "destination": b["destination"], "destination_type": "queue",
                         "routing_key": b["routing_key"], "arguments": b.get("arguments") or {}})
        wanted_queues[b["destination"]] = queues[b["destination"]]
    used = sorted({b["source"] for b in bindings})

    def _entity(item, fields, flags):
        # export_definitions leaves out what is false (RabbitMQ 3.10 never prints an exchange's
        # "internal"); imported as null, the flag stays nil and every service's declare of the
        # exchange fails with PRECONDITION_FAILED, so each flag is written as a boolean
        entity = {k: item.get(k) for k in fields}
        entity.update({k: bool(item.get(k)) for k in flags})
        return dict(entity, arguments=item.get("arguments") or {})

    return {
        "vhost": vhost,
        "exchanges": [_entity(exchanges[n], ("name", "type"), ("durable", "auto_delete", "internal"))
                      for n in used],
        "queues": [_entity(wanted_queues[n], ("name",), ("durable", "auto_delete"))
                   for n in sorted(wanted_queues)],
        "bindings": sorted(bindings, key=lambda b: (b["source"], b["destination"], b["routing_key"])),
    }


def _key(binding):
    # arguments may hold lists (a federation link's bindings carry x-bound-from)
    return (binding["source"], binding["destination"], binding["routing_key"],
            json.dumps(binding.get("arguments") or {}, sort_keys=True))


def missing_topology(peer, definitions):
    """The exchanges, queues and bindings of the peer's ``topology`` this broker lacks,
    as lists of definitions (with ``vhost``). A queue this broker has with other
    arguments is refused: a service would fail to declare it (PRECONDITION_FAILED)."""
    vhost = peer.get("vhost", "/")
    have_x = {e["name"] for e in definitions.get("exchanges") or [] if e.get("vhost", "/") == vhost}
    have_q = {q["name"]: q for q in definitions.get("queues") or [] if q.get("vhost", "/") == vhost}
    have_b = {_key(b) for b in definitions.get("bindings") or [] if b.get("vhost", "/") == vhost}
    exchanges = [dict(e, vhost=vhost) for e in peer.get("exchanges") or [] if e["name"] not in have_x]
    queues = []
    for queue in peer.get("queues") or []:
        mine = have_q.get(queue["name"])
        if mine is None:
            queues.append(dict(queue, vhost=vhost))
            continue
        theirs = (bool(queue.get("durable")), bool(queue.get("auto_delete")), queue.get("arguments") or {})
        here = (bool(mine.get("durable")), bool(mine.get("auto_delete")), mine.get("arguments") or {})
        if theirs != here:
            raise BridgeError(
                "Queue %s is declared differently on the two brokers (durable, auto_delete, arguments: %s here, %s "
                "on the peer): give both brokers the same oslo.messaging queue settings (rabbit_quorum_queue, "
                "amqp_durable_queues) before the move." % (queue["name"], list(here), list(theirs)))
    bindings = [dict(b, vhost=vhost) for b in peer.get("bindings") or [] if _key(b) not in have_b]
    return {"exchanges": exchanges, "queues": queues, "bindings": bindings}


def changes(definitions, name, peer_uri, vhost="/", peer_topology=None, extra_definition=None, max_hops=1):
    """The ``import_definitions`` document that brings a broker to the bridge ``name``
    (empty sections left out; ``{}`` when nothing is to change), and the names of what it
    sets, for the result and the diff."""
    doc = {}
    changed = []
    have_params = {(p.get("vhost", "/"), p.get("component"), p.get("name")): p.get("value")
                   for p in definitions.get("parameters") or []}
    value = upstream_value(peer_uri, max_hops)
    if have_params.get((vhost, "federation-upstream", name)) != value:
        doc["parameters"] = [{"vhost": vhost, "component": "federation-upstream", "name": name, "value": value}]
        changed.append("upstream %s" % name)
    have_policies = {p["name"]: p for p in _policies(definitions, vhost)}
    for policy in wanted_policies(name, definitions, vhost, extra_definition):
        have = have_policies.get(policy["name"])
        if have is None or any(have.get(k) != policy[k] for k in ("pattern", "apply-to", "priority", "definition")):
            doc.setdefault("policies", []).append(policy)
            changed.append("policy %s" % policy["name"])
    if peer_topology:
        missing = missing_topology(peer_topology, definitions)
        for section in ("exchanges", "queues", "bindings"):
            if missing[section]:
                doc[section] = missing[section]
                changed.append("%d %s" % (len(missing[section]), section[:-1] + "(s)" if len(missing[section]) > 1
                                          else section[:-1]))
    return doc, changed


def bridge_names(definitions, name, vhost="/"):
    """The policies and the upstream of the bridge ``name`` that a broker has: what
    ``state: absent`` clears."""
    policies = sorted(p["name"] for p in _policies(definitions, vhost)
                      if p["name"] in ("%s-queues" % name, "%s-fanout" % name))
    upstream = [p["name"] for p in definitions.get("parameters") or []
                if p.get("vhost", "/") == vhost and p.get("component") == "federation-upstream" and p["name"] == name]
    return policies, upstream


def _property(properties, key):
    """A client property from ``list_connections ... client_properties --formatter json``:
    a list of ``[key, type, value]`` triples (or a dict)."""
    if isinstance(properties, dict):
        return properties.get(key)
    for item in properties or []:
        if item and item[0] == key:
            return item[-1]
    return None


def clients(connections, consumers):
    """The broker's clients that are not federation links: ``(connections, consumers)``.
    ``connections``: dicts with ``service`` (oslo.messaging's connection name,
    ``<program>:<pid>:<uuid>``, cut to ``<program>:<pid>``, or the client product) and
    ``peer``; ``consumers``: ``{queue: count}``. A link is a connection whose client is
    RabbitMQ itself, consuming with a ``federation-link-`` tag or from a ``federation:``
    queue; ``list_queues``' consumer counts include those, so they cannot say whether a
    service still uses the broker."""
    found = []
    for conn in connections or []:
        props = conn.get("client_properties")
        if _property(props, "product") == "RabbitMQ":
            continue
        name = _property(props, "connection_name") or _property(props, "product") or "unknown client"
        peer = conn.get("peer_host")
        if isinstance(peer, list):
            peer = ".".join(str(octet) for octet in peer) if len(peer) == 4 else ":".join("%x" % o for o in peer)
        found.append({"service": ":".join(str(name).split(":")[:2]), "peer": peer or ""})
    counts = {}
    for consumer in consumers or []:
        if str(consumer.get("consumer_tag", "")).startswith("federation-link-") \
                or consumer.get("queue_name", "").startswith("federation: "):
            continue
        counts[consumer["queue_name"]] = counts.get(consumer["queue_name"], 0) + 1
    return sorted(found, key=lambda c: (c["service"], c["peer"])), counts


def messages_left(queues):
    """``{queue: messages}`` of the queues that still hold messages (``list_queues name
    messages --formatter json``), RabbitMQ's own and the federation links' left out."""
    return {q["name"]: int(q.get("messages") or 0) for q in queues or []
            if int(q.get("messages") or 0) > 0 and not q["name"].startswith(("amq.", "federation: "))}


def check_name(name):
    if not NAME.match(name or ""):
        raise BridgeError("The bridge name %r is not a RabbitMQ parameter name stackhop accepts: use letters, digits, "
                          "'.', '_' and '-', at most 64." % (name,))
    return name
