# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""DHCP renewal probe in a lab VM: the VM's lease renewed again and again, as a client does.

    dhcp_probe.py run --iface eth0 --every 5 --state FILE   # in the VM's netns
    dhcp_probe.py report --state FILE                       # JSON figures, any time
    dhcp_probe.py reset --state FILE                        # start counting afresh

The lab's VMs hold their port's address statically; this probe asks neutron's dnsmasq for
it anyway. First DISCOVER, OFFER, REQUEST, ACK, as a client starts, learns the server and
the lease time; then, every ``--every`` seconds, a renewal: a DHCPREQUEST
unicast to the server with ``ciaddr`` set (RENEWING, RFC 2131 4.3.2), retransmitted after
1, 2, 4, 8, 8... s. A client renews at T1, half its lease, and keeps its address only if an
ACK comes before the lease ends, so a renewal FAILS when no ACK arrives within half the
lease (``--give-up`` overrides). A NAK or an ACK for another address is a failure too.
The events use the data-plane probe's kinds, so the upgrade report draws them the same
way: ``loss`` for a failed renewal, ``gap`` for one that waited over 2 s for its ACK.

Figures (the state file, rewritten every second and on exit): attempts, acked, failed,
naks, the longest time an attempt waited for its ACK, the addresses and servers seen, the
lease, and ``events`` in UTC epoch seconds, as probe.py's.
"""

import argparse
import fcntl
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time

# report and reset are the data-plane probe's (probe.py sits beside this file on the host):
# the same state file protocol, a reset flag the running probe picks up
from probe import cmd_report, cmd_reset

MAGIC = 0x63825363
SIOCGIFADDR = 0x8915
SIOCGIFHWADDR = 0x8927
DISCOVER, OFFER, REQUEST, ACK, NAK = 1, 2, 3, 5, 6
SLOW_S = 2.0
MAX_EVENTS = 200


def iface_info(iface):
    """(IPv4 address, MAC bytes) of an interface of this netns."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        packed = struct.pack("256s", iface.encode()[:15])
        addr = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, packed)[20:24])
        mac = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, packed)[18:24]
    finally:
        sock.close()
    return addr, mac


def message(kind, xid, mac, ciaddr=None, requested=None, server=None):
    """A DHCPDISCOVER or DHCPREQUEST: RENEWING (ciaddr, unicast) or SELECTING (options 50
    and 54, broadcast)."""
    head = struct.pack("!BBBBIHH4s4s4s4s16s64s128sI", 1, 1, 6, 0, xid, 0,
                       0 if ciaddr else 0x8000,
                       socket.inet_aton(ciaddr or "0.0.0.0"), b"\0" * 4, b"\0" * 4, b"\0" * 4,
                       mac + b"\0" * 10, b"", b"", MAGIC)
    opts = bytes([53, 1, kind, 61, 7, 1]) + mac
    if requested:
        opts += bytes([50, 4]) + socket.inet_aton(requested)
    if server:
        opts += bytes([54, 4]) + socket.inet_aton(server)
    opts += bytes([55, 3, 1, 51, 54, 255])
    return head + opts


def parse(data):
    """(xid, message type, yiaddr, server id, lease seconds) of a BOOTREPLY, or None."""
    if len(data) < 240 or data[0] != 2:
        return None
    xid = struct.unpack("!I", data[4:8])[0]
    yiaddr = socket.inet_ntoa(data[16:20])
    if struct.unpack("!I", data[236:240])[0] != MAGIC:
        return None
    kind, server, lease = None, None, None
    i = 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        code, length = data[i], data[i + 1]
        value = data[i + 2:i + 2 + length]
        if code == 53:
            kind = value[0]
        elif code == 54 and length == 4:
            server = socket.inet_ntoa(value)
        elif code == 51 and length == 4:
            lease = struct.unpack("!I", value)[0]
        i += 2 + length
    return xid, kind, yiaddr, server, lease


COUNTERS = {"attempts": 0, "acked": 0, "failed": 0, "naks": 0, "longest_s": 0.0,
            "events": [], "events_dropped": 0}


class Figures:
    def __init__(self, state):
        self.state = state
        self.lock = threading.Lock()
        self.data = {"started": time.time(), "addresses": [], "servers": [], "lease_s": None,
                     "give_up_s": None, "error": ""}
        self.reset()

    def reset(self):
        """Counting afresh (``reset`` asks through a flag file, as probe.py's does)."""
        with self.lock:
            self.data.update(json.loads(json.dumps(COUNTERS)), started=time.time())

    def write(self):
        flag = self.state + ".reset"
        if os.path.exists(flag):
            os.unlink(flag)
            self.reset()
        with self.lock:
            self.data["at"] = time.time()
            text = json.dumps(self.data)
        tmp = self.state + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.state)

    def event(self, kind, start, end, **extra):
        with self.lock:
            if len(self.data["events"]) < MAX_EVENTS:
                self.data["events"].append(dict(kind=kind, start=round(start, 3), end=round(end, 3),
                                                ms=round((end - start) * 1000, 1), **extra))
            else:
                self.data["events_dropped"] += 1


def exchange(sock, packet, dest, xid, give_up, stop):
    """Send, retransmit after 1, 2, 4, 8, 8... s; the reply to xid, or None at give_up."""
    start = time.monotonic()
    wait = 1.0
    next_send = start
    while not stop.is_set():
        now = time.monotonic()
        if now - start >= give_up:
            return None
        if now >= next_send:
            try:
                sock.sendto(packet, dest)
            except OSError:
                pass   # no route or ARP yet: the next retransmission tries again
            next_send = now + wait
            wait = min(wait * 2, 8.0)
        timeout = max(0.0, min(next_send, start + give_up) - time.monotonic())
        ready, _w, _x = select.select([sock], [], [], timeout)
        if ready:
            data, _addr = sock.recvfrom(4096)
            reply = parse(data)
            if reply and reply[0] == xid and reply[1] in (OFFER, ACK, NAK):
                return reply
    return None


def cmd_run(args):
    figures = Figures(args.state)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    signal.signal(signal.SIGINT, lambda *_a: stop.set())
    address, mac = iface_info(args.iface)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, args.iface.encode())
    sock.bind(("0.0.0.0", 68))

    def writer():
        while not stop.wait(1.0):
            figures.write()
    threading.Thread(target=writer, daemon=True).start()

    # the server and the lease, as a client starts: DISCOVER, OFFER, REQUEST, ACK (a server
    # that is not authoritative ignores a client it has no lease of that asks for its
    # address without one, as neutron's dnsmasq does)
    server, lease = None, None
    while server is None and not stop.is_set():
        xid = random.getrandbits(32)
        offer = exchange(sock, message(DISCOVER, xid, mac), ("255.255.255.255", 67), xid, 30, stop)
        if not offer or offer[1] != OFFER:
            continue
        if offer[2] != address:
            figures.data["error"] = "offered %s by %s, not the VM's %s" % (offer[2], offer[3], address)
        reply = exchange(sock, message(REQUEST, xid, mac, requested=offer[2], server=offer[3]),
                         ("255.255.255.255", 67), xid, 30, stop)
        if reply and reply[1] == ACK:
            server, lease = reply[3], reply[4] or 86400
        elif reply:
            figures.data["error"] = "NAK for %s from %s at the start" % (offer[2], reply[3])
    give_up = args.give_up or (lease or 86400) / 2.0
    with figures.lock:
        figures.data.update(lease_s=lease, give_up_s=give_up,
                            servers=sorted(set(figures.data["servers"]) | {server} - {None}))
    while not stop.is_set():
        started, t0 = time.time(), time.monotonic()
        xid = random.getrandbits(32)
        reply = exchange(sock, message(REQUEST, xid, mac, ciaddr=address), (server, 67), xid, give_up, stop)
        if stop.is_set():
            break
        took = time.monotonic() - t0
        with figures.lock:
            d = figures.data
            d["attempts"] += 1
            d["longest_s"] = max(d["longest_s"], round(took, 3))
            if reply:
                d["addresses"] = sorted(set(d["addresses"]) | {reply[2]})
                d["servers"] = sorted(set(d["servers"]) | ({reply[3]} if reply[3] else set()))
        if reply and reply[1] == ACK and reply[2] == address:
            with figures.lock:
                figures.data["acked"] += 1
            if took > SLOW_S:
                figures.event("gap", started, started + took)
        else:
            with figures.lock:
                figures.data["failed"] += 1
                if reply and reply[1] == NAK:
                    figures.data["naks"] += 1
            figures.event("loss", started, started + took,
                          reason="no ACK" if not reply else ("NAK" if reply[1] == NAK else "ACK for " + reply[2]))
        stop.wait(max(0.0, args.every - took))
    figures.write()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("run")
    sp.add_argument("--iface", default="eth0")
    sp.add_argument("--every", type=float, default=5.0)
    sp.add_argument("--give-up", type=float, default=0.0, help="seconds; default half the lease")
    sp.add_argument("--state", required=True)
    for name in ("report", "reset"):
        sp = sub.add_parser(name)
        sp.add_argument("--state", required=True)
    args = ap.parse_args()
    return {"run": cmd_run, "report": cmd_report, "reset": cmd_reset}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
