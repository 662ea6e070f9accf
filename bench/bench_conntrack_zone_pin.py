"""Benchmark: pinning 2,000 VM taps to conntrack zone 0.

Baseline (DeNA's procedure): one ``iptables -t raw -A neutron-openvswi-PREROUTING -m
physdev --physdev-in $dev -j CT --zone 0`` per device, in a shell loop.
Candidate: ``stackhop.upgrade.conntrack_zone_pin`` (IPv4 only, no wrapper, the same
rules plus the stackhop comment), which reads the raw table once and writes every rule
in one ``iptables-restore --noflush``.

Everything runs in one throw-away network namespace (``ctbench<pid>``) holding a Linux
bridge and N real tap devices (``ip tuntap``), with kilo's raw chain; the root
namespace is not touched. Both are measured in the same run, on the same namespace,
with the chain emptied in between. Three module figures are printed:
- module process: the module run on the host the way Ansible runs it (one Python
  process fed its arguments as JSON), which is what a compute node pays; split into
  the Python/Ansible start-up (the same process stopped by bad input before any
  iptables call) and the reading and pinning itself;
- ansible-playbook: a whole one-task playbook inside the namespace, controller start-up
  included (dominated by a fixed ~2 s of Ansible start-up, whatever N is);
- second run: the same playbook again (nothing to do, changed=false).

Usage: sudo python3 bench/bench_conntrack_zone_pin.py [--devices 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
VENV = Path(os.environ.get("STACKHOP_VENV", REPO / ".venv"))
os.environ.setdefault("STACKHOP_VENV", str(VENV))

from tests.lib.nsansible import run_module_in_netns  # noqa: E402

CHAIN = "neutron-openvswi-PREROUTING"
MODULE = REPO / "plugins" / "modules" / "conntrack_zone_pin.py"


def ns_run(ns, argv, **kw):
    return subprocess.run(["ip", "netns", "exec", ns] + argv, check=True,
                          capture_output=True, text=True, **kw)


def count_rules(ns):
    out = ns_run(ns, ["/usr/sbin/iptables-save", "-t", "raw"]).stdout
    return sum(1 for ln in out.splitlines() if ln.startswith("-A %s " % CHAIN))


def flush(ns):
    ns_run(ns, ["iptables", "-t", "raw", "-F", CHAIN])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--backend", choices=("nft", "legacy"), default="nft",
                    help="iptables backend for both sides: this machine's default (nft), or "
                         "the legacy x_tables one of kilo-era hosts such as DeNA's, where "
                         "every iptables -A rewrites the whole table")
    opts = ap.parse_args()
    n = opts.devices
    if opts.backend == "legacy" and os.environ.get("STACKHOP_BENCH_BACKEND") != "legacy":
        # A private mount namespace in which every iptables* tool is the legacy one:
        # the multi-call binary picks its mode from argv[0], so binding the legacy
        # binary over the nft one switches iptables, -save and -restore together.
        os.environ["STACKHOP_BENCH_BACKEND"] = "legacy"
        script = ("mount --make-rprivate / && mount --bind /usr/sbin/xtables-legacy-multi "
                  "/usr/sbin/xtables-nft-multi && exec \"$@\"")
        os.execvp("unshare", ["unshare", "--mount", "sh", "-c", script, "sh", sys.executable,
                              "-m", "bench.bench_conntrack_zone_pin", "--devices", str(n),
                              "--backend", "legacy"])
    ns = "ctbench%d" % (os.getpid() % 10000)
    devs = ["tapct%05d-00" % i for i in range(n)]
    subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        with tempfile.NamedTemporaryFile("w", prefix="ct-bench-", suffix=".batch") as batch:
            batch.write("link add ctbenchbr type bridge\n")
            batch.writelines("tuntap add %s mode tap\n" % d for d in devs)
            batch.flush()
            ns_run(ns, ["ip", "-batch", batch.name])
        ns_run(ns, ["iptables", "-t", "raw", "-N", CHAIN])
        ns_run(ns, ["iptables", "-t", "raw", "-A", "PREROUTING", "-j", CHAIN])

        # Baseline: DeNA's loop, one iptables process per device.
        loop = ('for dev in %s; do iptables -t raw -A %s -m physdev --physdev-in "$dev" '
                '-j CT --zone 0 || exit 1; done' % (" ".join(devs), CHAIN))
        t0 = time.monotonic()
        ns_run(ns, ["sh", "-c", loop])
        baseline = time.monotonic() - t0
        assert count_rules(ns) == n
        flush(ns)

        # The module as one process on the host (how Ansible runs it there); best of 3
        # (the machine's CPU is shared). Its floor is the same process stopped by bad
        # input before any iptables call: Python plus Ansible's module start-up.
        params = {"ip_versions": [4], "save_wrapper": False, "rootwrap_conf": ""}
        module_proc, floor = [], []
        for _attempt in range(3):
            t0 = time.monotonic()
            res = run_process(ns, params)
            module_proc.append(time.monotonic() - t0)
            assert res.get("changed") and len(res["added"]) == n, res
            assert count_rules(ns) == n
            commands = res["executed_commands"]
            flush(ns)
            t0 = time.monotonic()
            res = run_process(ns, dict(params, zone=70000))
            floor.append(time.monotonic() - t0)
            assert res.get("failed"), res
        module_proc, floor = min(module_proc), min(floor)
        work = module_proc - floor

        # The same through ansible-playbook (controller start-up included).
        t0 = time.monotonic()
        res = run_module_in_netns(ns, "conntrack_zone_pin", params)
        playbook = time.monotonic() - t0
        assert not res.failed and len(res["added"]) == n, res
        t0 = time.monotonic()
        res = run_module_in_netns(ns, "conntrack_zone_pin", params)
        second = time.monotonic() - t0
        assert res["changed"] is False and len(res["present"]) == n, res
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)

    print("conntrack_zone_pin benchmark: %d tap devices, iptables %s" % (
        n, subprocess.run(["iptables", "--version"], capture_output=True, text=True,
                          check=False).stdout.strip()))
    print("  baseline, one iptables -A per device : %7.2f s  (%d processes)" % (baseline, n))
    print("  module process on the host           : %7.2f s  (%d processes: %s)  ratio %5.1fx"
          % (module_proc, len(commands), "; ".join(commands), baseline / module_proc))
    print("    of which Python+Ansible start-up   : %7.2f s  (same process, stopped by bad input)" % floor)
    print("    of which reading and pinning       : %7.2f s  ratio %5.1fx" % (work, baseline / work))
    print("  ansible-playbook, one task           : %7.2f s  ratio %5.1fx  (controller start-up included)"
          % (playbook, baseline / playbook))
    print("  ansible-playbook, second run (no-op) : %7.2f s  changed=false" % second)


def run_process(ns, params):
    env = dict(os.environ, PYTHONPATH=str(REPO / "build" / "collections"))
    proc = subprocess.run(["ip", "netns", "exec", ns, str(VENV / "bin" / "python"), str(MODULE)],
                          input=json.dumps({"ANSIBLE_MODULE_ARGS": params}),
                          capture_output=True, text=True, env=env, check=False)
    return json.loads(proc.stdout)


if __name__ == "__main__":
    main()
