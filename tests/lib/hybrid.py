"""The iptables hybrid firewall path of a kilo compute node, in network namespaces.

    VM ns                host ns (the compute node)                      peer ns
  vmeth0 10.99.0.10 --- tapPORT --[ qbrPORT bridge ]-- qvbPORT ===== qvoPORT 10.99.0.20

``tapPORT`` stands for the VM's tap device (here the host end of a veth whose other end
is the VM's NIC); ``qbr``, ``qvb`` and ``qvo`` are named as nova/neutron name them. The
``qvo`` end, which would sit on br-int, is the peer's NIC: the peer stands for
everything beyond br-int. Bridged packets on qbr go through iptables (br_netfilter),
so ``-m physdev`` rules see them, exactly as on a compute node.

The filter table holds neutron's stateful per-port chains (RELATED,ESTABLISHED
accepted, INVALID dropped, unmatched dropped in sg-fallback); the port's security group
allows egress TCP to the peer's port only, so NEW is accepted only in the direction
that opens the connection (VM to peer). The raw table is kilo's: an empty
``neutron-openvswi-PREROUTING`` jumped to from PREROUTING, no zone rules (everything is
in zone 0), and nothing in IPv6's raw table.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
from pathlib import Path

from tests.lib.netns import Netns, sh

HERE = Path(__file__).resolve().parent
PORT_ID = "c7a1b2c3-d4e5-4f60-8a9b-0c1d2e3f4a5b"
SHORT = PORT_ID[:11]
TAP, QBR, QVB, QVO = ("%s%s" % (p, SHORT) for p in ("tap", "qbr", "qvb", "qvo"))
VM_IP, PEER_IP, TCP_PORT = "10.99.0.10", "10.99.0.20", 5001
W = "neutron-openvswi"

FILTER = """*filter
:{w}-FORWARD - [0:0]
:{w}-INPUT - [0:0]
:{w}-local - [0:0]
:{w}-sg-chain - [0:0]
:{w}-sg-fallback - [0:0]
:{w}-i{p} - [0:0]
:{w}-o{p} - [0:0]
:neutron-filter-top - [0:0]
-A FORWARD -j neutron-filter-top
-A FORWARD -j {w}-FORWARD
-A INPUT -j {w}-INPUT
-A neutron-filter-top -j {w}-local
-A {w}-FORWARD -m physdev --physdev-out {tap} --physdev-is-bridged -j {w}-sg-chain
-A {w}-FORWARD -m physdev --physdev-in {tap} --physdev-is-bridged -j {w}-sg-chain
-A {w}-sg-chain -m physdev --physdev-out {tap} --physdev-is-bridged -j {w}-i{p}
-A {w}-sg-chain -m physdev --physdev-in {tap} --physdev-is-bridged -j {w}-o{p}
-A {w}-sg-chain -j ACCEPT
-A {w}-i{p} -m state --state RELATED,ESTABLISHED -j RETURN
-A {w}-i{p} -m state --state INVALID -j DROP
-A {w}-i{p} -j {w}-sg-fallback
-A {w}-o{p} -m state --state RELATED,ESTABLISHED -j RETURN
-A {w}-o{p} -p tcp -m tcp --dport {port} -j RETURN
-A {w}-o{p} -m state --state INVALID -j DROP
-A {w}-o{p} -j {w}-sg-fallback
-A {w}-sg-fallback -j DROP
COMMIT
*raw
:{w}-PREROUTING - [0:0]
-A PREROUTING -j {w}-PREROUTING
COMMIT
"""


class HybridNode:
    """A compute node (host ns) with one VM port, the VM and a peer, all with prefix ``tag``."""

    def __init__(self, tag, tmp):
        self.tag = tag
        self.tmp = Path(tmp)
        self.host = Netns(tag + "-host")
        self.vm = Netns(tag + "-vm")
        self.peer = Netns(tag + "-peer")
        self.procs = []
        h = self.host.name
        sh("ip", "link", "add", TAP, "type", "veth", "peer", "name", "vmeth0",
           "netns", self.vm.name, netns=h)
        sh("ip", "link", "add", QVB, "type", "veth", "peer", "name", QVO,
           "netns", self.peer.name, netns=h)
        sh("ip", "link", "add", QBR, "type", "bridge", netns=h)
        for dev in (TAP, QVB):
            sh("ip", "link", "set", dev, "master", QBR, netns=h)
        for dev in (QBR, TAP, QVB):
            sh("ip", "link", "set", dev, "up", netns=h)
        # br_netfilter: bridged IPv4/IPv6 go through iptables in this namespace.
        sh("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1",
           "net.bridge.bridge-nf-call-ip6tables=1", netns=h)
        self.vm.run("ip", "addr", "add", VM_IP + "/24", "dev", "vmeth0")
        self.vm.run("ip", "link", "set", "vmeth0", "up")
        self.peer.run("ip", "addr", "add", PEER_IP + "/24", "dev", QVO)
        self.peer.run("ip", "link", "set", QVO, "up")
        self.host.run("iptables-restore", "--noflush",
                      input=FILTER.format(w=W, p=SHORT[:10], tap=TAP, port=TCP_PORT))
        self.rootwrap = self.tmp / "rootwrap.conf"
        self.rootwrap.write_text(
            "[DEFAULT]\nfilters_path=/etc/neutron/rootwrap.d\n"
            "exec_dirs=/sbin,/usr/sbin,/bin,/usr/bin,/usr/local/bin\nuse_syslog=False\n")
        self.wrapper_dir = self.tmp / "sbin"
        self.wrapper_dir.mkdir()

    # -- the liberty agent ---------------------------------------------------
    def restart_agent(self):
        """Run the liberty agent double once in the host namespace; its JSON summary."""
        out = self.host.run(sys.executable, str(HERE / "liberty_agent.py"),
                            str(self.rootwrap), PORT_ID)
        return json.loads(out)

    # -- reading state -------------------------------------------------------
    def save(self, table, version=4):
        tool = "/usr/sbin/iptables-save" if version == 4 else "/usr/sbin/ip6tables-save"
        return self.host.run(tool, "-c", "-t", table)

    def fallback_drops(self):
        """Packets dropped by sg-fallback (unmatched, e.g. NEW from the wrong side)."""
        for line in self.save("filter").splitlines():
            if line.endswith("-A %s-sg-fallback -j DROP" % W):
                return int(line[1:].split(":", 1)[0])
        raise AssertionError("no sg-fallback rule")

    def conntrack_zones(self):
        """Zones of the host's conntrack entries for the stream (conntrack -L, XML)."""
        out = self.host.run("conntrack", "-L", "-p", "tcp", "--dport", str(TCP_PORT),
                            "-o", "xml", check=False)
        zones = []
        for chunk in out.split("<flow>")[1:]:
            if "<zone>" in chunk:
                zones.append(int(chunk.split("<zone>", 1)[1].split("<", 1)[0]))
            else:
                zones.append(0)
        return zones

    # -- the stream ----------------------------------------------------------
    def start_stream(self, interval=0.5, size=1024):
        server = self.peer.popen([sys.executable, "-u", str(HERE / "stream.py"), "server",
                                  PEER_IP, TCP_PORT, interval, size],
                                 stdout=-1, text=True)
        self.procs.append(server)
        assert json.loads(server.stdout.readline())["event"] == "listening"
        client = self.vm.popen([sys.executable, "-u", str(HERE / "stream.py"), "client",
                                PEER_IP, TCP_PORT], stdout=-1, text=True)
        self.procs.append(client)
        return StreamWatch(client)

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for ns in (self.vm, self.peer, self.host):
            ns.delete()


class StreamWatch:
    """Reads the client's JSON lines in a thread; answers questions about the stream."""

    def __init__(self, proc):
        self.proc = proc
        self.events = []
        self.samples = []
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            rec = json.loads(line)
            if "event" in rec:
                self.events.append(rec)
            else:
                self.samples.append((rec["t"], rec["bytes"]))
            self.lines.put(rec)

    def wait_message(self, timeout=10):
        """Block until the next data read; return its monotonic time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                rec = self.lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if "bytes" in rec and "event" not in rec:
                return rec["t"]
        raise AssertionError("no data from the stream within %ss; events %s" % (timeout, self.events))

    def total(self):
        return self.samples[-1][1] if self.samples else 0

    def bytes_after(self, t):
        return self.total() - max([b for (ts, b) in self.samples if ts <= t] or [0])

    def longest_gap_after(self, t, until):
        """Longest time without data between t and until (seconds)."""
        times = [t] + [ts for ts, _b in self.samples if t < ts <= until] + [until]
        return max(b - a for a, b in zip(times, times[1:]))

    def resets(self):
        return [e for e in self.events if e["event"] in ("reset", "eof", "error")]


def make_node(request_tag, tmp_path):
    tag = "ct%s%d" % (request_tag, os.getpid() % 1000)
    return HybridNode(tag, tmp_path)
