"""Real oslo.messaging traffic between RabbitMQ brokers, for tests/rabbitmq: run with the
Python of a venv that has oslo.messaging (tests.lib.openstack_venv.OSLO_MESSAGING_2024_1).

One process, one scenario: RPC servers (topic ``stackhop-test``, exchange ``nova`` or ``--exchange``) on the
brokers ``--server NAME=URL`` names, then a client on ``--client URL`` that makes ``-n``
calls, casts to one server, or fanout casts; it waits for what the servers handle and
prints one JSON line: answered calls, timeouts, what each server handled, duplicates,
call latencies. ``--hold SECONDS`` keeps the servers running after (a broker's clients).
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import oslo_messaging
from oslo_config import cfg

TOPIC = "stackhop-test"


class Endpoint:
    def __init__(self, name, handled, lock):
        self.name, self.handled, self.lock = name, handled, lock

    def _record(self, kind, n):
        with self.lock:
            self.handled.setdefault(self.name, {}).setdefault(kind, []).append(n)

    def echo(self, ctxt, n):
        self._record("call", n)
        return {"n": n, "by": self.name}

    def note(self, ctxt, n):
        self._record("cast", n)

    def fan(self, ctxt, n):
        self._record("fanout", n)


def transport(url):
    # the global configuration, as a service has (the library registers its options there)
    return oslo_messaging.get_rpc_transport(cfg.CONF, url=url)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", action="append", default=[], help="NAME=URL: an RPC server on that broker")
    parser.add_argument("--client", required=True, help="the client's broker URL")
    parser.add_argument("--mode", choices=["call", "cast", "fanout"], default="call")
    parser.add_argument("--to", help="cast or call this server by name (default: the topic)")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait for casts to be handled")
    parser.add_argument("--hold", type=float, default=0.0)
    parser.add_argument("--exchange", default="nova", help="the control exchange (nova's by default)")
    args = parser.parse_args()

    oslo_messaging.set_transport_defaults(args.exchange)
    cfg.CONF([], project="stackhop-test")
    handled, lock, servers = {}, threading.Lock(), []
    for spec in args.server:
        name, url = spec.split("=", 1)
        target = oslo_messaging.Target(topic=TOPIC, server=name)
        server = oslo_messaging.get_rpc_server(transport(url), target, [Endpoint(name, handled, lock)],
                                               executor="threading")
        server.start()
        servers.append(server)
    time.sleep(1.0)     # the servers' queues declared and consumed

    client = oslo_messaging.get_rpc_client(transport(args.client), oslo_messaging.Target(topic=TOPIC),
                                           timeout=args.timeout)
    if args.to:
        client = client.prepare(server=args.to)
    if args.mode == "fanout":
        client = client.prepare(fanout=True)
    answered, timeouts, latencies, answered_by = 0, 0, [], {}
    for n in range(args.n):
        if args.mode == "call":
            t0 = time.monotonic()
            try:
                reply = client.call({}, "echo", n=n)
            except oslo_messaging.MessagingTimeout:
                timeouts += 1
                continue
            latencies.append(time.monotonic() - t0)
            answered += 1
            answered_by[reply["by"]] = answered_by.get(reply["by"], 0) + 1
        else:
            client.cast({}, "note" if args.mode == "cast" else "fan", n=n)
    if args.mode != "call":
        deadline = time.monotonic() + args.settle
        while time.monotonic() < deadline:
            with lock:
                got = [len(v.get(args.mode, [])) for v in handled.values()]
            if args.mode == "cast" and sum(got) >= args.n:
                break
            if args.mode == "fanout" and got and len(got) == len(servers) and min(got) >= args.n:
                break
            time.sleep(0.1)
    time.sleep(args.hold)
    for server in servers:
        server.stop()
        server.wait()
    with lock:
        kinds = {name: {kind: len(ns) for kind, ns in v.items()} for name, v in handled.items()}
        duplicates = {name: sum(len(ns) - len(set(ns)) for ns in v.values()) for name, v in handled.items()}
    latencies.sort()
    print(json.dumps({"mode": args.mode, "sent": args.n, "answered": answered, "timeouts": timeouts,
                      "answered_by": answered_by, "handled": kinds, "duplicates": duplicates,
                      "median_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
                      "max_ms": round(latencies[-1] * 1000, 2) if latencies else None}))


if __name__ == "__main__":
    main()
