# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Plug a fake-driver server's port the way os-vif's hybrid plug does, on a lab compute.

    vif_plug.py PORT_ID MAC IP/PREFIX GATEWAY VM_UUID NETNS [MTU]

The "VM" is a network namespace NETNS inside the compute host with an eth0 carrying the
port's MAC and fixed IP. Its peer tap<id> sits on a Linux bridge qbr<id>; a veth pair
qvb<id>/qvo<id> joins qbr<id> to br-int, and qvo<id> carries the external_ids the OVS
agent looks for (iface-id, iface-status, attached-mac, vm-uuid), so the real agent wires
it and the iptables_hybrid firewall filters on qbr<id>. Idempotent; prints one JSON line.
"""

import json
import shutil
import subprocess
import sys


def run(*argv, check=True):
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        msg = "%s failed: %s" % (" ".join(argv), proc.stderr.strip())
        print(json.dumps({"failed": True, "msg": msg}))
        sys.exit(1)
    return proc


def links(ns=None):
    argv = ["ip"] + (["-n", ns] if ns else []) + ["-j", "link", "show"]
    return {link["ifname"]: link for link in json.loads(run(*argv).stdout or "[]")}


def main():
    port, mac, cidr, gateway, vm_uuid, netns = sys.argv[1:7]
    mtu = sys.argv[7] if len(sys.argv) > 7 else "1500"
    short = port[:11]
    tap, qbr, qvb, qvo = ("%s%s" % (p, short) for p in ("tap", "qbr", "qvb", "qvo"))
    changed = []
    namespaces = [n["name"] for n in json.loads(run("ip", "-j", "netns", "list").stdout or "[]")]
    if netns not in namespaces:
        run("ip", "netns", "add", netns)
        run("ip", "-n", netns, "link", "set", "lo", "up")
        changed.append("netns")
    have = links()
    if qbr not in have:
        run("ip", "link", "add", qbr, "type", "bridge", "forward_delay", "0", "stp_state", "0")
        changed.append(qbr)
    if qvb not in have:
        run("ip", "link", "add", qvb, "mtu", mtu, "type", "veth", "peer", "name", qvo, "mtu", mtu)
        changed.append(qvb)
    if tap not in have:
        run("ip", "link", "add", tap, "mtu", mtu, "type", "veth", "peer", "name", "eth0",
            "netns", netns, "mtu", mtu)
        changed.append(tap)
    for dev in (qvb, tap):
        run("ip", "link", "set", dev, "master", qbr, "up")
    for dev in (qbr, qvo):
        run("ip", "link", "set", dev, "up")
    vm = links(netns)
    if vm.get("eth0", {}).get("address") != mac.lower():
        run("ip", "-n", netns, "link", "set", "eth0", "address", mac)
        changed.append("mac")
    run("ip", "-n", netns, "link", "set", "eth0", "up")
    # The userspace datapath reads frames with AF_PACKET and forwards them as they are:
    # let the "guest" compute its own checksums, as a real guest's virtio NIC would.
    # Without it every TCP segment arrives with a bad checksum (TcpInCsumErrors) and the
    # probe's TCP stream never connects, while ICMP passes: ethtool is required.
    if shutil.which("ethtool") is None:
        print(json.dumps({"failed": True, "msg": "ethtool is not installed on this compute; install it "
                                                 "(the VMs' TCP checksums need tx offload off)"}))
        sys.exit(1)
    run("ip", "netns", "exec", netns, "ethtool", "-K", "eth0", "tx", "off")
    addrs = json.loads(run("ip", "-n", netns, "-j", "addr", "show", "dev", "eth0").stdout)
    have_ips = ["%s/%s" % (a["local"], a["prefixlen"]) for a in addrs[0].get("addr_info", [])
                if a.get("family") == "inet"]
    if cidr not in have_ips:
        run("ip", "-n", netns, "addr", "add", cidr, "dev", "eth0")
        changed.append("ip")
    routes = json.loads(run("ip", "-n", netns, "-j", "route", "show", "default").stdout or "[]")
    if not any(r.get("gateway") == gateway for r in routes):
        run("ip", "-n", netns, "route", "replace", "default", "via", gateway)
        changed.append("route")
    ext = {"iface-id": port, "iface-status": "active", "attached-mac": mac.lower(),
           "vm-uuid": vm_uuid}
    cur = run("ovs-vsctl", "--format=json", "--columns=external_ids", "find", "Interface",
              "name=%s" % qvo)
    rows = json.loads(cur.stdout)["data"]
    current = dict(rows[0][0][1]) if rows else None
    if current is None or any(current.get(k) != v for k, v in ext.items()):
        argv = ["ovs-vsctl", "--", "--may-exist", "add-port", "br-int", qvo, "--", "set",
                "Interface", qvo] + ['external_ids:%s="%s"' % kv for kv in ext.items()]
        run(*argv)
        changed.append(qvo)
    print(json.dumps({"changed": bool(changed), "created": changed, "netns": netns,
                      "devices": [tap, qbr, qvb, qvo]}))


if __name__ == "__main__":
    main()
