# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Data-plane probe between two lab VMs: continuous ICMP and a long-lived TCP stream.

    probe.py sink --port 5001                       # in the target VM: TCP echo server
    probe.py run --target IP --port 5001 --pps 250 --state FILE   # in the source VM
    probe.py report --state FILE                    # JSON figures, any time
    probe.py reset --state FILE                     # start counting afresh

``run`` sends ICMP echo requests with sequence numbers at ``--pps`` (default 250/s) and
streams sequence-numbered 64-byte records over one TCP connection that the sink echoes
back (every 5 ms). Every second (and on exit) it writes its counters to the state file:
ICMP sent / replied / lost (no reply after 1 s), the longest gap between two replies in
ms, TCP records and bytes echoed, the longest TCP gap, resets and reconnects. A gap
still going on counts too, so an outage shows up while it lasts.

Each protocol's figures also carry ``events``, placed in wall-clock time (UTC epoch
seconds, millisecond precision) so the upgrade report can draw them next to the phase
that was running:

    {"kind": "loss", "start": T, "end": T, "ms": 0.0, "seq": 17, "n": 4113}   # ICMP: sent at T, never answered
    {"kind": "gap", "start": T0, "end": T1, "ms": 127.0}     # no reply (ICMP) / no echo (TCP) for > --gap-ms
    {"kind": "reset", "start": T, "end": T, "ms": 0.0, "reason": "..."}        # TCP connection lost

A gap still going on when the figures are read is listed with ``"open": true``. The first
``--max-events`` events of each kind are kept; ``events_dropped`` counts the rest per kind.
"""

import argparse
import errno
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

RECORD = struct.Struct("!QQ48x")     # seq, send time in ns, padding: 64 bytes
LOSS_AFTER = 1.0                     # an echo without reply after this is lost
GAP_EVENT_MS = 50.0                  # a gap between two replies longer than this is an event
MAX_EVENTS = 500                     # events kept per protocol and kind (the first ones)


def now():
    return time.monotonic()


class Stats:
    """The probe's counters and events; every method that changes them takes the lock.

    Times are CLOCK_MONOTONIC inside; events carry wall-clock epoch seconds (the offset
    between the two clocks is taken once per reset, so a clock step does not bend gaps).
    """

    def __init__(self, max_events=MAX_EVENTS, gap_ms=GAP_EVENT_MS):
        self.lock = threading.Lock()
        self.max_events = max_events
        self.gap_ms = gap_ms
        self.reset()

    def reset(self):
        with self.lock:
            t = now()
            self.started = t
            self.wall_offset = time.time() - t
            self.icmp = {"sent": 0, "replied": 0, "lost": 0, "longest_gap_ms": 0.0,
                         "pps": 0}
            self.icmp_last = t
            self.icmp_pending = {}         # wire seq -> (send time, number sent)
            self.tcp = {"connected": False, "records_sent": 0, "records_echoed": 0,
                        "bytes_sent": 0, "bytes_echoed": 0, "longest_gap_ms": 0.0,
                        "resets": 0, "reconnects": 0, "connect_failures": 0}
            self.tcp_last = t
            self.events = {"icmp": [], "tcp": []}
            self.kept = {"icmp": {}, "tcp": {}}      # events kept per kind
            self.dropped = {"icmp": {}, "tcp": {}}   # events beyond max_events per kind

    # -- events (the caller holds the lock) -----------------------------------------
    def wall(self, t):
        return round(t + self.wall_offset, 3)

    def _event(self, proto, kind, start, end=None, **extra):
        if self.kept[proto].get(kind, 0) >= self.max_events:
            self.dropped[proto][kind] = self.dropped[proto].get(kind, 0) + 1
            return
        self.kept[proto][kind] = self.kept[proto].get(kind, 0) + 1
        end = start if end is None else end
        event = {"kind": kind, "start": self.wall(start), "end": self.wall(end),
                 "ms": round((end - start) * 1000, 1)}
        event.update(extra)
        self.events[proto].append(event)

    def _gap(self, proto, last, t):
        ms = (t - last) * 1000
        if ms > self.gap_ms:
            self._event(proto, "gap", last, t)
        return ms

    def _retire(self, t):
        """Requests unanswered for LOSS_AFTER are lost: count them, one event each."""
        late = [(k, v) for k, v in self.icmp_pending.items() if t - v[0] > LOSS_AFTER]
        for seq, (sent_at, number) in sorted(late, key=lambda kv: kv[1][0]):
            del self.icmp_pending[seq]
            self.icmp["lost"] += 1
            self._event("icmp", "loss", sent_at, seq=seq, n=number)

    # -- what the loops report ------------------------------------------------------
    def icmp_sent(self, seq, t):
        with self.lock:
            self.icmp["sent"] += 1
            old = self.icmp_pending.pop(seq, None)   # 16-bit wrap: count as lost
            if old is not None:
                self.icmp["lost"] += 1
                self._event("icmp", "loss", old[0], seq=seq, n=old[1])
            self.icmp_pending[seq] = (t, self.icmp["sent"])
            if self.icmp["sent"] % 64 == 0:
                self._retire(t)

    def icmp_reply(self, seq, t):
        with self.lock:
            if self.icmp_pending.pop(seq, None) is not None:
                self.icmp["replied"] += 1
                ms = self._gap("icmp", self.icmp_last, t)
                self.icmp["longest_gap_ms"] = max(self.icmp["longest_gap_ms"], ms)
                self.icmp_last = t

    def tcp_echoed(self, records, t):
        with self.lock:
            self.tcp["records_echoed"] += records
            self.tcp["bytes_echoed"] += records * RECORD.size
            ms = self._gap("tcp", self.tcp_last, t)
            self.tcp["longest_gap_ms"] = max(self.tcp["longest_gap_ms"], ms)
            self.tcp_last = t

    def tcp_reset(self, t, reason=""):
        with self.lock:
            self.tcp["resets"] += 1
            self.tcp["connected"] = False
            self._event("tcp", "reset", t, reason=reason)

    def snapshot(self):
        with self.lock:
            t = now()
            self._retire(t)
            icmp = dict(self.icmp)
            icmp["longest_gap_ms"] = round(max(icmp["longest_gap_ms"],
                                               (t - self.icmp_last) * 1000), 1)
            tcp = dict(self.tcp)
            tcp["longest_gap_ms"] = round(max(tcp["longest_gap_ms"],
                                              (t - self.tcp_last) * 1000), 1)
            for proto, figures, last in (("icmp", icmp, self.icmp_last),
                                         ("tcp", tcp, self.tcp_last)):
                events = sorted(self.events[proto], key=lambda e: (e["start"], e["kind"]))
                if (t - last) * 1000 > self.gap_ms:     # a gap still going on
                    events.append({"kind": "gap", "start": self.wall(last), "end": self.wall(t),
                                   "ms": round((t - last) * 1000, 1), "open": True})
                figures["events"] = events
                figures["events_dropped"] = dict(self.dropped[proto])
            return {"seconds": round(t - self.started, 1), "icmp": icmp, "tcp": tcp,
                    "at": time.time(), "gap_event_ms": self.gap_ms,
                    "max_events": self.max_events}


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def icmp_loop(stats, target, pps, stop):
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    interval = 1.0 / pps
    seq = 0
    nxt = now()
    while not stop.is_set():
        t = now()
        if t >= nxt:
            seq = (seq + 1) & 0xFFFF
            payload = struct.pack("!d", t) + b"stackhop-probe".ljust(48, b".")
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, seq) + payload
            try:
                sock.sendto(pkt, (target, 0))
            except OSError:
                pass
            stats.icmp_sent(seq, t)
            nxt += interval
            if nxt < t - 1:
                nxt = t + interval            # we were descheduled: do not burst
        wait = max(0.0, nxt - now())
        readable = select.select([sock], [], [], wait)[0]
        if readable:
            data = sock.recv(2048)
            ihl = (data[0] & 0x0F) * 4
            typ, _code, _ck, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident:
                stats.icmp_reply(rseq, now())


def tcp_loop(stats, target, port, stop, every=0.005):
    first = True
    while not stop.is_set():
        try:
            conn = socket.create_connection((target, port), timeout=2)
        except OSError:
            with stats.lock:
                stats.tcp["connect_failures"] += 1
            stop.wait(0.2)
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setblocking(False)
        with stats.lock:
            stats.tcp["connected"] = True
            if not first:
                stats.tcp["reconnects"] += 1
        first = False
        seq, buf, nxt = 0, b"", now()
        try:
            while not stop.is_set():
                t = now()
                if t >= nxt:
                    seq += 1
                    try:
                        conn.send(RECORD.pack(seq, time.monotonic_ns()))
                        with stats.lock:
                            stats.tcp["records_sent"] += 1
                            stats.tcp["bytes_sent"] += RECORD.size
                    except BlockingIOError:
                        pass
                    nxt += every
                    if nxt < t - 1:
                        nxt = t + every
                readable = select.select([conn], [], [], max(0.0, nxt - now()))[0]
                if readable:
                    data = conn.recv(65536)
                    if not data:
                        raise ConnectionResetError(errno.ECONNRESET, "closed by the sink")
                    buf += data
                    n = len(buf) // RECORD.size
                    buf = buf[n * RECORD.size:]
                    if n:
                        stats.tcp_echoed(n, now())
        except OSError as exc:
            stats.tcp_reset(now(), exc.strerror or type(exc).__name__)
        finally:
            conn.close()


def write_state(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def cmd_run(args):
    stats = Stats(max_events=args.max_events, gap_ms=args.gap_ms)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    reset_flag = args.state + ".reset"
    threads = [threading.Thread(target=icmp_loop, args=(stats, args.target, args.pps, stop),
                                daemon=True),
               threading.Thread(target=tcp_loop, args=(stats, args.target, args.port, stop),
                                daemon=True)]
    for th in threads:
        th.start()
    while not stop.wait(1.0):
        if os.path.exists(reset_flag):
            os.unlink(reset_flag)
            stats.reset()
        snap = stats.snapshot()
        snap["icmp"]["pps"] = args.pps
        snap.update(target=args.target, running=True, pid=os.getpid())
        write_state(args.state, snap)
    snap = stats.snapshot()
    snap.update(target=args.target, running=False, pid=os.getpid())
    write_state(args.state, snap)


def cmd_sink(args):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", args.port))
    srv.listen(16)

    def echo(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    conn.sendall(data)
            except OSError:
                return

    while True:
        conn, _addr = srv.accept()
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


def cmd_report(args):
    try:
        with open(args.state) as f:
            data = json.load(f)
    except OSError:
        print(json.dumps({"failed": True, "msg": "no probe state at %s; start the probe "
                          "(stackhop.lab.lab_probe)" % args.state}))
        return 1
    data["age_seconds"] = round(time.time() - data.get("at", 0), 1)
    print(json.dumps(data))
    return 0


def cmd_reset(args):
    with open(args.state + ".reset", "w"):
        pass
    deadline = time.time() + 5
    while os.path.exists(args.state + ".reset") and time.time() < deadline:
        time.sleep(0.1)
    return cmd_report(args)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("run")
    sp.add_argument("--target", required=True)
    sp.add_argument("--port", type=int, default=5001)
    sp.add_argument("--pps", type=int, default=250)
    sp.add_argument("--state", required=True)
    sp.add_argument("--gap-ms", type=float, default=GAP_EVENT_MS,
                    help="a gap between two replies longer than this is an event")
    sp.add_argument("--max-events", type=int, default=MAX_EVENTS,
                    help="events kept per protocol and kind; later ones are only counted")
    sp = sub.add_parser("sink")
    sp.add_argument("--port", type=int, default=5001)
    for name in ("report", "reset"):
        sp = sub.add_parser(name)
        sp.add_argument("--state", required=True)
    args = ap.parse_args()
    return {"run": cmd_run, "sink": cmd_sink, "report": cmd_report,
            "reset": cmd_reset}[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
