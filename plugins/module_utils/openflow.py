# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""A minimal OpenFlow 1.0 client, just enough to relay table-miss packets.

Why it exists: changing a bridge's ``fail_mode`` while it has no primary
controller makes ovs-vswitchd flush every OpenFlow flow (ofproto/connmgr.c,
``connmgr_set_fail_mode``). Until the flows are put back, every packet misses.
ovs-vswitchd sends a packet-in on a table miss as soon as one connection with
controller_id 0 speaks OpenFlow < 1.3 (``update_want_packet_in_on_miss``), and a
*service* connection such as ``<bridge>.mgmt`` receives asynchronous messages
only after it sets a non-zero ``miss_send_len`` (``ofconn_receives_async_msg``).
So this client connects to the management socket, asks for whole packets on
miss, keeps every packet-in it receives, and later sends each one back to
table 0 with a packet-out, once the flows are there again. Nothing is lost;
packets are only delayed by the few milliseconds the flows are missing.

Only the messages needed are implemented (struct-packed, OpenFlow 1.0 wire
format): HELLO, ERROR, ECHO_REQUEST/REPLY, SET_CONFIG, PACKET_IN, PACKET_OUT,
BARRIER_REQUEST/REPLY. A background thread reads the socket so that packet-ins
are drained as fast as ovs-vswitchd writes them (its per-connection queue is
bounded: ``other_config:controller-queue-size``, 100 by default).
"""

from __future__ import absolute_import, division, print_function

import hashlib
import socket
import struct
import threading
import time

from ansible_collections.stackhop.upgrade.plugins.module_utils.unix_socket import connect_unix

__metaclass__ = type

OFP10_VERSION = 0x01

OFPT_HELLO = 0
OFPT_ERROR = 1
OFPT_ECHO_REQUEST = 2
OFPT_ECHO_REPLY = 3
OFPT_SET_CONFIG = 9
OFPT_PACKET_IN = 10
OFPT_PACKET_OUT = 13
OFPT_BARRIER_REQUEST = 18
OFPT_BARRIER_REPLY = 19

OFPP_TABLE = 0xfff9          # packet-out: run the packet through the flow table
OFPAT_OUTPUT = 0
NO_BUFFER = 0xffffffff       # packet-out carries the packet itself
MISS_SEND_LEN_ALL = 0xffff   # ask for the whole packet in every packet-in

HEADER = struct.Struct("!BBHI")             # version, type, length, xid
PACKET_IN = struct.Struct("!IHHBx")         # buffer_id, total_len, in_port, reason
PACKET_OUT = struct.Struct("!IHH")          # buffer_id, in_port, actions_len
ACTION_OUTPUT = struct.Struct("!HHHH")      # type, len, port, max_len
SET_CONFIG = struct.Struct("!HH")           # flags, miss_send_len


class OpenFlowError(Exception):
    """The switch refused us or went away; the message says which socket and why."""


class PacketIn:
    """One packet the switch handed to us: where it came in and its bytes."""

    __slots__ = ("in_port", "data", "total_len", "reason", "received")

    def __init__(self, in_port, data, total_len, reason, received):
        self.in_port = in_port
        self.data = data
        self.total_len = total_len
        self.reason = reason
        self.received = received

    @property
    def complete(self):
        return self.total_len == len(self.data)

    def key(self):
        """Identity used to re-inject a packet at most once (see MissRelay.reinject)."""
        return (self.in_port, hashlib.sha1(self.data).digest())


class OpenFlow10Connection:
    """An OpenFlow 1.0 connection to a unix socket such as ``<rundir>/<bridge>.mgmt``."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout
        self._sock = None
        self._xid = 0
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self._packet_ins = []        # PacketIn in arrival order, guarded by _cond
        self._barriers = set()       # xids of barrier replies received
        self._error = None           # first OFPT_ERROR or socket failure
        self._reader = None
        self._closing = False

    # -- connection -----------------------------------------------------------
    def connect(self):
        sock = connect_unix(
            self.path, self.timeout, OpenFlowError,
            "No OpenFlow management socket at %s; check that ovs-vswitchd runs and "
            "that ovs_rundir is the directory holding <bridge>.mgmt." % self.path,
            "Cannot connect to " + self.path.replace("%", "%%") + ": %s.")
        self._sock = sock
        self._send(OFPT_HELLO, b"")
        # The switch answers HELLO with the highest version it allows; when the bridge's
        # protocols column excludes OpenFlow10 it then sends an error and hangs up.
        version, msg_type, body = self._recv_message()
        if msg_type != OFPT_HELLO or version < OFP10_VERSION:
            raise OpenFlowError("%s did not answer HELLO (type %d)." % (self.path, msg_type))
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, name="of10-reader")
        self._reader.daemon = True
        self._reader.start()
        # A barrier proves the switch accepted OpenFlow 1.0 (it closes the connection
        # otherwise) before anyone relies on this connection.
        self.barrier()

    def close(self):
        self._closing = True
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        if self._reader is not None:
            self._reader.join(2)
        self._sock = None

    # -- wire -----------------------------------------------------------------
    def _send(self, msg_type, body, xid=None):
        with self._send_lock:
            if xid is None:
                self._xid += 1
                xid = self._xid
            msg = HEADER.pack(OFP10_VERSION, msg_type, HEADER.size + len(body), xid) + body
            try:
                self._sock.sendall(msg)
            except OSError as exc:
                raise OpenFlowError("Lost the OpenFlow connection to %s: %s." % (self.path, exc))
            return xid

    def _recv_exact(self, size):
        buf = b""
        while len(buf) < size:
            chunk = self._sock.recv(size - len(buf))
            if not chunk:
                raise OpenFlowError("%s closed the OpenFlow connection." % self.path)
            buf += chunk
        return buf

    def _recv_message(self):
        version, msg_type, length, xid = HEADER.unpack(self._recv_exact(HEADER.size))
        body = self._recv_exact(length - HEADER.size) if length > HEADER.size else b""
        if msg_type == OFPT_ERROR:
            err_type, err_code = struct.unpack("!HH", body[:4]) if len(body) >= 4 else (0, 0)
            raise OpenFlowError("%s sent OpenFlow error type %d code %d (version %d)." % (
                self.path, err_type, err_code, version))
        return version, msg_type, (xid, body)

    def _read_loop(self):
        try:
            while True:
                version, msg_type, (xid, body) = self._recv_message()
                if msg_type == OFPT_ECHO_REQUEST:
                    self._send(OFPT_ECHO_REPLY, body, xid)
                elif msg_type == OFPT_PACKET_IN and len(body) >= PACKET_IN.size:
                    _buffer_id, total_len, in_port, reason = PACKET_IN.unpack(
                        body[:PACKET_IN.size])
                    pin = PacketIn(in_port, body[PACKET_IN.size:], total_len, reason,
                                   time.monotonic())
                    with self._cond:
                        self._packet_ins.append(pin)
                        self._cond.notify_all()
                elif msg_type == OFPT_BARRIER_REPLY:
                    with self._cond:
                        self._barriers.add(xid)
                        self._cond.notify_all()
        except (OpenFlowError, OSError) as exc:
            with self._cond:
                if not self._closing:
                    self._error = exc if isinstance(exc, OpenFlowError) else OpenFlowError(
                        "Lost the OpenFlow connection to %s: %s." % (self.path, exc))
                self._cond.notify_all()

    def _check(self):
        if self._error is not None:
            raise self._error

    # -- requests -------------------------------------------------------------
    def set_miss_send_len(self, miss_send_len=MISS_SEND_LEN_ALL):
        """OFPT_SET_CONFIG: normal fragment handling, whole packets in packet-ins."""
        self._send(OFPT_SET_CONFIG, SET_CONFIG.pack(0, miss_send_len))

    def barrier(self):
        """Send a barrier and wait for its reply: everything before it has been handled,
        and every packet-in the switch queued before the reply has been received."""
        xid = self._send(OFPT_BARRIER_REQUEST, b"")
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while xid not in self._barriers:
                self._check()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise OpenFlowError("%s did not answer a barrier within %d s." % (
                        self.path, self.timeout))
                self._cond.wait(left)
            self._barriers.discard(xid)

    def packet_out_to_table(self, in_port, data):
        """Run ``data`` through the flow table as if it had just arrived on ``in_port``."""
        action = ACTION_OUTPUT.pack(OFPAT_OUTPUT, ACTION_OUTPUT.size, OFPP_TABLE, 0)
        body = PACKET_OUT.pack(NO_BUFFER, in_port, len(action)) + action + data
        self._send(OFPT_PACKET_OUT, body)

    def take_packet_ins(self, wait=0.0):
        """Packet-ins received so far (removed from the queue), waiting up to ``wait`` s
        for the first one if none is queued."""
        with self._cond:
            self._check()
            if not self._packet_ins and wait > 0:
                self._cond.wait(wait)
                self._check()
            pins, self._packet_ins = self._packet_ins, []
        return pins


class MissRelay:
    """Hold table-miss packets while a bridge's flows are missing, then replay them.

    Use: ``start()`` before the change that flushes the flows, ``replay()`` once the
    flows are back, ``close()`` at the end. Packets are replayed in arrival order.
    """

    def __init__(self, path, quiet=0.05, max_drain=2.0, timeout=10.0):
        self.conn = OpenFlow10Connection(path, timeout=timeout)
        self.quiet = quiet            # drain ends after this long without a packet-in
        self.max_drain = max_drain    # ... or after this long in total
        self.received = 0
        self.reinjected = 0
        self.truncated = 0
        self.dropped_repeats = 0
        self._seen = set()

    def start(self):
        self.conn.connect()
        self.conn.set_miss_send_len()
        # Once the barrier is answered, the switch counts us as wanting table misses.
        self.conn.barrier()

    def _reinject(self, pins):
        for pin in pins:
            self.received += 1
            if not pin.complete:
                self.truncated += 1     # cannot happen with miss_send_len 0xffff
                continue
            key = pin.key()
            if key in self._seen:
                # Re-injected once already and missed again under the restored flows:
                # the original flows drop it too (a table miss), so do not loop.
                self.dropped_repeats += 1
                continue
            self._seen.add(key)
            self.conn.packet_out_to_table(pin.in_port, pin.data)
            self.reinjected += 1

    def replay(self):
        """Call once the flows are back: replay the held packets, then keep relaying the
        stragglers until none arrives for ``quiet`` seconds."""
        # The barrier flushes out every packet-in the switch generated before it.
        self.conn.barrier()
        self._reinject(self.conn.take_packet_ins())
        deadline = time.monotonic() + self.max_drain
        while time.monotonic() < deadline:
            pins = self.conn.take_packet_ins(wait=self.quiet)
            if not pins:
                break
            self._reinject(pins)
        self.conn.barrier()

    def close(self):
        self.conn.close()

    def stats(self):
        return {"packets_held": self.received, "packets_replayed": self.reinjected,
                "packets_truncated": self.truncated, "repeat_misses": self.dropped_repeats}
