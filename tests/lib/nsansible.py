"""Run a stackhop module through ansible-playbook inside a network namespace.

The module works on the rules of the network namespace it runs in (iptables, the
interfaces in /sys/class/net). Tests must never touch the root namespace's firewall
(other work shares this machine), so the whole ansible-playbook process runs under
``ip netns exec NS``: the task is still a real Ansible task on localhost with real
argument parsing, check mode and diff, only in the test's namespace.
"""

from __future__ import annotations

from tests.lib.ansible_runner import run_module


def run_module_in_netns(netns, module, args, check=False, diff=False, timeout=600):
    """Like tests.lib.ansible_runner.run_module, with the playbook inside ``netns``."""
    return run_module(module, args, check=check, diff=diff, timeout=timeout, netns=netns)
