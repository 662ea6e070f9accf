"""Two "VM" namespaces wired to a bridge of a private OVS, and an ICMP probe.

The probe measures loss across the bridge exactly: it sends ICMP echo requests with a
64-bit sequence number at a fixed rate from one namespace and counts the replies of
the other namespace's kernel, so both directions cross the bridge. It reports sent,
received, lost (sequence numbers never answered) and the longest gap between two
replies. ICMP rather than UDP: the userspace datapath forwards veth packets whose
UDP checksum was left to offload, and the receiver drops them (no ethtool here).

Run inside the sending namespace (as root, raw socket):
  python -m tests.lib.bridge_traffic --to IP --interval 0.002 --duration S
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from tests.lib.netns import Netns, sh

REPO = Path(__file__).resolve().parents[2]
PROBE = struct.Struct("!Qd")   # sequence number, send time


class VmPair:
    """Namespaces ``<prefix>-a`` and ``<prefix>-b`` (10.77.0.1 and .2) on ``bridge``.

    The veth ends that are bridge ports live in the OVS namespace (``ovs.netns_name``),
    so the userspace datapath of that private OVS forwards the traffic.
    """

    def __init__(self, ovs, bridge, prefix):
        self.ovs, self.bridge, self.prefix = ovs, bridge, prefix
        self.ns = {}
        self.ports = {}
        self.ips = {"a": "10.77.0.1", "b": "10.77.0.2"}

    def create(self):
        for side in ("a", "b"):
            ns = Netns("%s-%s" % (self.prefix, side))
            self.ns[side] = ns
            port = "%s%s" % (self.prefix, side)          # bridge port, in the OVS netns
            self.ports[side] = port
            sh("ip", "-n", self.ovs.netns_name, "link", "add", port, "type", "veth",
               "peer", "name", "eth0", "netns", ns.name)
            sh("ip", "-n", self.ovs.netns_name, "link", "set", port, "up")
            ns.run("ip", "addr", "add", self.ips[side] + "/24", "dev", "eth0")
            ns.run("ip", "link", "set", "eth0", "up")
            self.ovs.vsctl("add-port", self.bridge, port)
        # Static neighbours: ARP is not what is measured.
        for side, other in (("a", "b"), ("b", "a")):
            mac = self.ns[other].run("cat", "/sys/class/net/eth0/address").strip()
            self.ns[side].run("ip", "neigh", "replace", self.ips[other], "lladdr", mac,
                              "dev", "eth0", "nud", "permanent")
        return self

    def ofport(self, side):
        return int(self.ovs.vsctl("get", "Interface", self.ports[side], "ofport").strip())

    def delete(self):
        for side, port in self.ports.items():
            self.ovs.vsctl("--if-exists", "del-port", self.bridge, port)
            sh("ip", "-n", self.ovs.netns_name, "link", "del", port, check=False)
        for ns in self.ns.values():
            ns.delete()

    def ping_once(self, timeout=2):
        out = sh("ping", "-c", "1", "-W", str(timeout), self.ips["b"], netns=self.ns["a"].name,
                 check=False)
        return " 0% packet loss" in out

    def start_probe(self, duration, interval=0.002):
        """Start the ICMP probe in namespace a towards b; ``finish_probe`` returns figures.

        It sends for ``duration`` s at most; ``finish_probe(handle, stop=True)`` ends it
        early (``ip netns exec`` execs the probe, so the signal reaches it)."""
        return self.ns["a"].popen([sys.executable, "-m", "tests.lib.bridge_traffic",
                                   "--to", self.ips["b"], "--interval", interval,
                                   "--duration", duration],
                                  cwd=str(REPO), stdout=subprocess.PIPE, text=True)

    @staticmethod
    def finish_probe(handle, stop=False):
        if stop:
            handle.send_signal(signal.SIGUSR1)
        out, _err = handle.communicate(timeout=120)
        return json.loads(out)


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def send(to, interval, duration, settle=0.5):
    """ICMP echo every ``interval`` s for ``duration`` s, wait ``settle`` s for late
    replies, print JSON. Each request carries a 64-bit sequence number in its payload;
    the other namespace's kernel answers, so both directions cross the bridge."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    # After a starved moment the loop sends the missed requests in one burst and reads
    # only afterwards: with the default buffer (~270 replies) the kernel dropped the
    # surplus replies and a starved CI machine counted them as lost on the bridge.
    # SO_RCVBUFFORCE (33 on Linux; Python does not name it) lets root pass rmem_max.
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.setblocking(False)
    ident = os.getpid() & 0xffff
    start = time.monotonic()
    next_send = start
    seq = 0
    got = set()
    last_reply = None
    longest_gap = 0.0
    stop_send = start + duration
    end = stop_send + settle
    stop_now = []
    # SIGUSR1: stop sending now (the caller's change is over), then settle.
    signal.signal(signal.SIGUSR1, lambda *_: stop_now.append(True))
    while True:
        now = time.monotonic()
        if stop_now and now < stop_send:
            stop_send, end = now, now + settle
        if now >= end:
            break
        if next_send <= now < stop_send:
            payload = PROBE.pack(seq, now) + b"x" * 40
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq & 0xffff)
            csum = _checksum(hdr + payload)
            sock.sendto(struct.pack("!BBHHH", 8, 0, csum, ident, seq & 0xffff) + payload,
                        (to, 0))
            seq += 1
            next_send += interval
            continue
        wait = max(0.0, (next_send if now < stop_send else end) - now)
        readable = select.select([sock], [], [], wait)[0]
        while readable:
            try:
                data = sock.recv(2048)
            except BlockingIOError:
                break
            ihl = (data[0] & 0x0f) * 4
            icmp = data[ihl:]
            if len(icmp) < 8 + PROBE.size or icmp[0] != 0:
                continue
            if struct.unpack("!H", icmp[4:6])[0] != ident:
                continue
            n, _sent_at = PROBE.unpack(icmp[8:8 + PROBE.size])
            t = time.monotonic()
            got.add(n)
            if last_reply is not None and t - last_reply > longest_gap and t < stop_send:
                longest_gap = t - last_reply
            last_reply = t
    lost = sorted(set(range(seq)) - got)
    print(json.dumps({"sent": seq, "received": len(got), "lost": len(lost),
                      "lost_seqs": lost, "longest_gap_ms": round(longest_gap * 1000, 2),
                      # CLOCK_MONOTONIC is system-wide: callers can place losses in time.
                      "start_monotonic": start, "interval": interval}))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", required=True)
    ap.add_argument("--interval", type=float, default=0.002)
    ap.add_argument("--duration", type=float, required=True)
    args = ap.parse_args(argv)
    send(args.to, args.interval, args.duration)


if __name__ == "__main__":
    main()
