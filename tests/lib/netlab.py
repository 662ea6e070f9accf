"""Three hosts (old, new, peer) as network namespaces on one Linux bridge, and a Python
interpreter wrapper per namespace, so a module run through ansible-playbook on
localhost really executes inside a host's namespace."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.lib.ansible_runner import VENV


def sh(*argv, check=True):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=check)


class NetLab:
    """``vr<tag>sw`` holds bridge br0; hosts ``vr<tag>-<name>`` have eth0 on it."""

    def __init__(self, tag, tmp, hosts=("old", "new", "peer"), v4="10.250.0.%d/24",
                 v6="fd00:250::%d/64"):
        self.tag = tag
        self.tmp = Path(tmp)
        self.switch = "vr%ssw" % tag
        self.hosts = {h: "vr%s-%s" % (tag, h) for h in hosts}
        self.v4 = {h: (v4 % (i + 1)).split("/")[0] for i, h in enumerate(hosts)}
        self.v6 = {h: (v6 % (i + 1)).split("/")[0] for i, h in enumerate(hosts)}
        self.destroy()
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        for i, (host, ns) in enumerate(self.hosts.items()):
            sh("ip", "netns", "add", ns)
            port = "p%d" % i
            sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port,
               "netns", self.switch)
            sh("ip", "-n", self.switch, "link", "set", port, "master", "br0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", v4 % (i + 1), "dev", "eth0")
            sh("ip", "-n", ns, "addr", "add", v6 % (i + 1), "dev", "eth0", "nodad")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            wrapper = self.tmp / ("python-%s" % host)
            wrapper.write_text("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n"
                               % (ns, VENV / "bin" / "python"))
            wrapper.chmod(0o755)

    def python(self, host):
        return str(self.tmp / ("python-%s" % host))

    def run(self, host, *argv, check=True):
        return sh("ip", "netns", "exec", self.hosts[host], *argv, check=check)

    def mac(self, host):
        link = json.loads(self.run(host, "ip", "-j", "link", "show", "eth0").stdout)[0]
        return link["address"]

    def neighbour(self, host, address):
        """The lladdr ``host`` caches for ``address`` (None if no entry)."""
        entries = json.loads(self.run(host, "ip", "-j", "neigh", "show", address).stdout or "[]")
        for entry in entries:
            if entry.get("dst") == address:
                return entry.get("lladdr")
        return None

    def addresses(self, host):
        links = json.loads(self.run(host, "ip", "-j", "addr", "show", "dev", "eth0").stdout)
        return [i["local"] for link in links for i in link.get("addr_info", [])]

    def destroy(self):
        for ns in list(self.hosts.values()) + [self.switch]:
            sh("ip", "netns", "del", ns, check=False)
