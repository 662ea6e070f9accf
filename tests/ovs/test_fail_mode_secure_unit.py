"""Pure-Python parts of fail_mode_secure and its OpenFlow 1.0 relay.

The relay's wire format is checked here against a scripted peer on a unix socket (a
stand-in for ovs-vswitchd, so the exact bytes can be asserted); the integration tests
run it against a real ovs-vswitchd.
"""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import openflow as of
from ansible_collections.stackhop.upgrade.plugins.modules import fail_mode_secure as m


def test_flow_lines_keep_only_flows():
    dump = " cookie=0x1, priority=5,ip actions=NORMAL\n table=3, actions=drop\n\n"
    assert m.flow_lines(dump) == ["cookie=0x1, priority=5,ip actions=NORMAL",
                                  "table=3, actions=drop"]


def test_restore_order_is_highest_table_then_highest_priority_first():
    lines = [
        "priority=0 actions=NORMAL",
        "cookie=0x12, priority=100,ip actions=resubmit(,1)",
        "table=1, actions=NORMAL",                        # default priority 32768
        "table=1, idle_timeout=30, priority=10 actions=drop",
        "table=20, priority=1,nw_tos=4 actions=NORMAL",
        "actions=learn(table=99,priority=7,NXM_OF_ETH_DST[]),NORMAL",
    ]
    assert m.restore_order(lines) == [
        "table=20, priority=1,nw_tos=4 actions=NORMAL",
        "table=1, actions=NORMAL",
        "table=1, idle_timeout=30, priority=10 actions=drop",
        "actions=learn(table=99,priority=7,NXM_OF_ETH_DST[]),NORMAL",
        "cookie=0x12, priority=100,ip actions=resubmit(,1)",
        "priority=0 actions=NORMAL",
    ]


def test_as_list_normalises_ovsdb_sets():
    assert m.as_list("OpenFlow13") == ["OpenFlow13"]
    assert m.as_list(["OpenFlow10", "OpenFlow13"]) == ["OpenFlow10", "OpenFlow13"]
    assert m.as_list([]) == [] and m.as_list(None) == []


def test_missing_socket_is_a_clear_error(tmp_path):
    conn = of.OpenFlow10Connection(str(tmp_path / "br-x.mgmt"))
    with pytest.raises(of.OpenFlowError, match="No OpenFlow management socket"):
        conn.connect()


def _recv(sock):
    hdr = sock.recv(8, socket.MSG_WAITALL)
    version, msg_type, length, xid = of.HEADER.unpack(hdr)
    body = sock.recv(length - 8, socket.MSG_WAITALL) if length > 8 else b""
    return version, msg_type, xid, body


def test_relay_holds_packet_ins_and_replays_them_once_in_order(tmp_path):
    path = str(tmp_path / "br.mgmt")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    seen = []

    def switch():
        conn, _addr = server.accept()
        conn.sendall(of.HEADER.pack(4, of.OFPT_HELLO, 8, 1))   # offers up to 1.3
        while True:
            version, msg_type, xid, body = _recv(conn)
            seen.append((version, msg_type, body))
            if msg_type == of.OFPT_BARRIER_REQUEST:
                if sum(1 for s in seen if s[1] == of.OFPT_BARRIER_REQUEST) == 3:
                    # Packets held while the flows were missing, then the replay barrier.
                    for port, data in ((1, b"one"), (2, b"two"), (1, b"one")):
                        body = of.PACKET_IN.pack(of.NO_BUFFER, len(data), port, 0) + data
                        conn.sendall(of.HEADER.pack(1, of.OFPT_PACKET_IN, 8 + len(body), 0)
                                     + body)
                conn.sendall(of.HEADER.pack(1, of.OFPT_BARRIER_REPLY, 8, xid))
            if msg_type == of.OFPT_BARRIER_REQUEST and \
                    sum(1 for s in seen if s[1] == of.OFPT_BARRIER_REQUEST) == 4:
                conn.close()
                return

    t = threading.Thread(target=switch)
    t.start()
    relay = of.MissRelay(path, quiet=0.05, timeout=5)
    relay.start()
    relay.replay()
    relay.close()
    t.join(5)
    server.close()

    assert seen[0][:2] == (1, of.OFPT_HELLO)
    assert (1, of.OFPT_SET_CONFIG, struct.pack("!HH", 0, 0xffff)) in seen
    outs = [body for _v, msg_type, body in seen if msg_type == of.OFPT_PACKET_OUT]
    # The identical third packet is a repeat and is not sent back a second time.
    action = struct.pack("!HHHH", 0, 8, 0xfff9, 0)
    assert outs == [struct.pack("!IHH", 0xffffffff, 1, 8) + action + b"one",
                    struct.pack("!IHH", 0xffffffff, 2, 8) + action + b"two"]
    assert relay.stats() == {"packets_held": 3, "packets_replayed": 2,
                             "packets_truncated": 0, "repeat_misses": 1}
