"""Network namespaces, veth pairs and Linux bridges for data-plane tests (real kernel objects)."""

from __future__ import annotations

import subprocess


def sh(*argv, check=True, netns=None, capture=True, input=None):
    """Run argv (optionally inside ``netns``); return stdout text."""
    full = (["ip", "netns", "exec", netns] if netns else []) + [str(a) for a in argv]
    proc = subprocess.run(full, capture_output=capture, text=True, check=False, input=input)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s"
                           % (" ".join(full), proc.returncode, (proc.stderr or "").strip()))
    return proc.stdout


class Netns:
    """A named network namespace with loopback up; deleted on ``delete()``."""

    def __init__(self, name):
        self.name = name
        sh("ip", "netns", "del", name, check=False)
        sh("ip", "netns", "add", name)
        self.run("ip", "link", "set", "lo", "up")

    def run(self, *argv, check=True, input=None):
        return sh(*argv, netns=self.name, check=check, input=input)

    def popen(self, argv, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.name] + [str(a) for a in argv], **kw)

    def delete(self):
        sh("ip", "netns", "del", self.name, check=False)


def veth(name_a, ns_a, name_b, ns_b):
    """A veth pair with one end in each namespace (None = root namespace), both up."""
    argv = ["ip", "link", "add", name_a]
    if ns_a:
        argv += ["netns", ns_a]
    argv += ["type", "veth", "peer", "name", name_b]
    if ns_b:
        argv += ["netns", ns_b]
    sh(*argv)
    sh("ip", "link", "set", name_a, "up", netns=ns_a)
    sh("ip", "link", "set", name_b, "up", netns=ns_b)
