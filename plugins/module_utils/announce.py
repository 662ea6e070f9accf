# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Announce an address that moved to this host, so neighbours update their caches at once.

IPv4: gratuitous ARP (RFC 5227 announcement: an ARP request whose sender and target
address are both the address, plus the same as a reply, as ``arping -U`` and ``-A`` send
them) on a raw AF_PACKET socket. IPv6: an unsolicited neighbour advertisement with the
override flag and the target link-layer address option (RFC 4861 section 7.2.6) to
ff02::1; the kernel fills in the ICMPv6 checksum.

Linux updates an existing neighbour entry from such a packet unless the entry changed
less than ``locktime`` (1 s) ago, so announcements are repeated over more than a second.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import struct
import time

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6


def mac_bytes(mac):
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError("%r is not a MAC address" % mac)
    return bytes(bytearray(int(p, 16) for p in parts))


def interface_mac(interface):
    with open("/sys/class/net/%s/address" % interface) as handle:
        return handle.read().strip()


def arp_frames(mac, address):
    """The two gratuitous ARP frames (request, reply) for ``address`` from ``mac``."""
    src = mac_bytes(mac)
    ip = socket.inet_aton(address)
    frames = []
    for oper, target_mac in ((1, b"\x00" * 6), (2, src)):
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, oper, src, ip, target_mac, ip)
        frame = BROADCAST + src + struct.pack("!H", ETH_P_ARP) + arp
        frames.append(frame + b"\x00" * (60 - len(frame)))   # minimum Ethernet frame
    return frames


def neighbour_advert(mac, address):
    """ICMPv6 unsolicited neighbour advertisement (checksum 0: the kernel computes it)."""
    flags = 0x20000000   # override; not router, not solicited
    target = socket.inet_pton(socket.AF_INET6, address)
    option = struct.pack("!BB6s", 2, 1, mac_bytes(mac))   # target link-layer address
    return struct.pack("!BBHI16s", 136, 0, 0, flags, target) + option


def announce(interface, address, count=3, interval=0.5, mac=None):
    """Send ``count`` announcements of ``address`` on ``interface``; return packets sent."""
    mac = mac or interface_mac(interface)
    sent = 0
    if ":" in address:
        index = socket.if_nametoindex(interface)
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        try:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
            sock.bind((address, 0, 0, index))
            packet = neighbour_advert(mac, address)
            for round_ in range(count):
                if round_:
                    time.sleep(interval)
                sock.sendto(packet, ("ff02::1", 0, 0, index))
                sent += 1
        finally:
            sock.close()
        return sent
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    try:
        sock.bind((interface, 0))
        frames = arp_frames(mac, address)
        for round_ in range(count):
            if round_:
                time.sleep(interval)
            for frame in frames:
                sock.send(frame)
                sent += 1
    finally:
        sock.close()
    return sent
