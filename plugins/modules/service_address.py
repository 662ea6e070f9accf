#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_address
short_description: Hold or release a service address (VIP) on an interface and announce it
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - Adds (O(state=present)) or removes (O(state=absent)) one address on one interface of the
    host, reading the interface's addresses from C(ip -j addr show) (JSON), so a second run
    changes nothing.
  - After adding, announces the address so every neighbour switches its cache entry to this
    host's MAC at once - gratuitous ARP for IPv4 (request and reply, as C(arping -U) and C(-A)
    send them) or an unsolicited neighbour advertisement with the override flag for IPv6,
    sent from a raw socket by the module itself (no C(arping) needed), or by C(arping -U)
    from iputils-arping with O(announce_tool=arping).
  - Used by the C(stackhop.upgrade.endpoint_switch) role to move an API's service address
    from the old controller to the new one.
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  address:
    description: The address, IPv4 or IPv6, without prefix length.
    type: str
    required: true
  prefix:
    description: Prefix length; default 32 for IPv4 and 128 for IPv6 (a host address that adds
      no route).
    type: int
  interface:
    description: Interface that holds the address.
    type: str
    default: eth0
  state:
    description: Whether the interface holds the address.
    type: str
    choices: [present, absent]
    default: present
  announce:
    description:
      - When to announce the address. V(changed) announces only after adding it,
        V(always) also when it was already there (refreshes neighbours after a move
        done elsewhere), V(never) does not announce.
      - Ignored with O(state=absent).
    type: str
    choices: [changed, always, never]
    default: changed
  announce_count:
    description: Announcement rounds. Linux ignores an update of a neighbour entry that changed
      less than C(locktime) (1 s) ago, so keep O(announce_count) x O(announce_interval) above 1 s.
    type: int
    default: 3
  announce_interval:
    description: Seconds between announcement rounds.
    type: float
    default: 0.5
  announce_tool:
    description: V(builtin) sends from a raw socket; V(arping) runs C(arping -U) (IPv4 only);
      V(auto) takes V(builtin).
    type: str
    choices: [auto, builtin, arping]
    default: auto
notes:
  - Needs root (C(ip addr) and raw sockets).
attributes:
  check_mode:
    support: full
    details: Reads the addresses of O(interface) and reports those it would leave; adds,
      removes and announces nothing.
  diff_mode:
    support: full
    details: The addresses of O(interface) before and after.
"""

EXAMPLES = r"""
- name: Release nova's service address on the old controller
  stackhop.upgrade.service_address:
    address: 10.20.0.104
    interface: eth0
    state: absent
  delegate_to: ctl-old

- name: Take it on the new controller and announce it
  stackhop.upgrade.service_address:
    address: 10.20.0.104
    interface: eth0
  delegate_to: ctl-new
"""

RETURN = r"""
addresses:
  description: Addresses (C(address/prefix)) of the interface after the task.
  returned: always
  type: list
  elements: str
  sample: ["10.20.0.12/24", "10.20.0.104/32"]
announced:
  description: Announcement packets sent (0 in check mode).
  returned: always
  type: int
  sample: 6
mac:
  description: MAC address of the interface (what neighbours now map the address to).
  returned: always
  type: str
  sample: "02:00:0a:14:00:0c"
executed_commands:
  description: Commands run, in order.
  returned: always
  type: list
  elements: str
"""

import ipaddress
import json

from ansible_collections.stackhop.upgrade.plugins.module_utils.announce import announce, interface_mac
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


class ServiceAddress(StackhopModule):
    argument_spec = dict(
        address=dict(type="str", required=True),
        prefix=dict(type="int"),
        interface=dict(type="str", default="eth0"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        announce=dict(type="str", choices=["changed", "always", "never"], default="changed"),
        announce_count=dict(type="int", default=3),
        announce_interval=dict(type="float", default=0.5),
        announce_tool=dict(type="str", choices=["auto", "builtin", "arping"], default="auto"),
    )

    def _addresses(self, ip_bin, interface):
        rc, out, err = self.run_command([ip_bin, "-j", "addr", "show", "dev", interface],
                                        check_rc=False, record=False)
        if rc != 0:
            raise StackhopError("interface %s does not exist on %s (%s); set interface to the "
                                "one that carries the service addresses"
                                % (interface, self._host(), err.strip()))
        try:
            links = json.loads(out)
        except ValueError:
            raise StackhopError("ip -j addr show dev %s printed no JSON; install iproute2 >= 4.14"
                                % interface)
        found = []
        for link in links:
            for info in link.get("addr_info", []):
                if info.get("family") in ("inet", "inet6") and "local" in info:
                    found.append((info["local"], int(info.get("prefixlen", 0))))
        return found

    def run(self):
        p = self.params
        try:
            addr = ipaddress.ip_address(p["address"].strip())
        except ValueError:
            raise StackhopError("address %r is not an IPv4 or IPv6 address; give the service "
                                "address without a prefix length" % p["address"])
        prefix = p["prefix"] if p["prefix"] is not None else addr.max_prefixlen
        if not 0 < prefix <= addr.max_prefixlen:
            raise StackhopError("prefix %d is out of range for %s; use 1..%d"
                                % (prefix, addr, addr.max_prefixlen))
        if p["announce_count"] < 0 or p["announce_interval"] < 0:
            raise StackhopError("announce_count and announce_interval must not be negative")
        if p["announce_tool"] == "arping" and addr.version == 6:
            raise StackhopError("arping announces IPv4 only; use announce_tool=builtin for %s" % addr)
        interface = p["interface"]
        ip_bin = self.get_bin_path("ip", "install iproute2")
        before = self._addresses(ip_bin, interface)
        mine = [(a, n) for a, n in before if ipaddress.ip_address(a) == addr]
        cidr = "%s/%d" % (addr, prefix)
        changed = False
        if p["state"] == "absent":
            changed = bool(mine)
            if changed and not self.check_mode:
                for a, n in mine:
                    self.run_command([ip_bin, "addr", "del", "%s/%d" % (a, n), "dev", interface])
        else:
            wrong = [(a, n) for a, n in mine if n != prefix]
            changed = bool(wrong) or not mine
            if changed and not self.check_mode:
                for a, n in wrong:
                    self.run_command([ip_bin, "addr", "del", "%s/%d" % (a, n), "dev", interface])
                argv = [ip_bin, "addr", "add", cidr, "dev", interface]
                if addr.version == 6:
                    argv.append("nodad")    # usable at once; the old holder released it
                self.run_command(argv)
        try:
            mac = interface_mac(interface)
        except (IOError, OSError):
            mac = ""
        announced = 0
        want_announce = p["state"] == "present" and p["announce"] != "never" and (
            changed or p["announce"] == "always") and p["announce_count"] > 0
        if want_announce and not self.check_mode:
            announced = self._announce(interface, str(addr), mac)
        after = before if self.check_mode else self._addresses(ip_bin, interface)
        if self.check_mode and changed:
            after = [x for x in before if ipaddress.ip_address(x[0]) != addr]
            if p["state"] == "present":
                after.append((str(addr), prefix))
        result = {
            "changed": changed,
            "addresses": ["%s/%d" % x for x in after],
            "announced": announced,
            "mac": mac,
        }
        if self.diff_mode:
            result["diff"] = {
                "before": "\n".join("%s/%d" % x for x in before) + "\n",
                "after": "\n".join("%s/%d" % x for x in after) + "\n",
                "before_header": "%s addresses" % interface,
                "after_header": "%s addresses" % interface,
            }
        return result

    def _announce(self, interface, address, mac):
        p = self.params
        if p["announce_tool"] == "arping":
            arping = self.get_bin_path("arping", "install iputils-arping or use announce_tool=builtin")
            # iputils arping sends one per second; it exits 1 when nobody answers (expected)
            self.run_command([arping, "-U", "-c", str(p["announce_count"]), "-I", interface, address],
                             check_rc=False)
            return p["announce_count"]
        self.executed_commands.append("announce %s on %s from %s (%d x %.2fs, raw socket)"
                                      % (address, interface, mac, p["announce_count"],
                                         p["announce_interval"]))
        try:
            return announce(interface, address, p["announce_count"], p["announce_interval"], mac)
        except (IOError, OSError) as exc:
            raise StackhopError("announcing %s on %s failed (%s); the address is held but "
                                "neighbours keep the old MAC until their cache expires: run as "
                                "root or use announce_tool=arping" % (address, interface, exc))


def main():
    ServiceAddress()()


if __name__ == "__main__":
    main()
