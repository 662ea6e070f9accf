"""Benchmark (a) of issue 2: ovs_other_config vs DeNA's one `ovs-vsctl set Port` per port.

Both run in the same process against the same private Open vSwitch with N ports on
br-int (dummy interfaces: no kernel devices, so 2,000 ports are cheap). Prints the
figures and the ratio; it is not a test and asserts nothing.

    python -m bench.bench_ovs_other_config --ports 2000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lib.ansible_runner import run_module  # noqa: E402
from tests.lib.private_ovs import PrivateOvs  # noqa: E402


def make_ports(ovs, n):
    """n ports qvoNNNN, each with an iface-id and a local VLAN tag, in one ovs-vsctl call."""
    nets = [str(uuid.UUID(int=i + 1)) for i in range(16)]
    args, specs = [], []
    for i in range(n):
        name = "qvo%05d" % i
        iface_id = str(uuid.UUID(int=(1 << 64) + i))
        tag = 1 + i % 16
        args += ["--", "add-port", "br-int", name, "tag=%d" % tag,
                 "--", "set", "Interface", name, "external_ids:iface-id=%s" % iface_id]
        specs.append({"name": name, "net_uuid": nets[tag - 1], "network_type": "vlan",
                      "physical_network": "physnet1", "segmentation_id": 100 + tag, "tag": tag})
    ovs.vsctl(*args)
    return specs


def clear(ovs, specs):
    args = []
    for s in specs:
        args += ["--", "clear", "Port", s["name"], "other_config"]
    ovs.vsctl(*args)


def dena_baseline(ovs, specs, no_wait=False):
    """DeNA: one ovs-vsctl per port (ovs-vsctl waits for vswitchd unless --no-wait)."""
    start = time.monotonic()
    for s in specs:
        argv = ["ovs-vsctl", "--db=%s" % ovs.db] + (["--no-wait"] if no_wait else []) + [
            "set", "Port", s["name"],
            "other_config:net_uuid=%s" % s["net_uuid"],
            "other_config:network_type=%s" % s["network_type"],
            "other_config:physical_network=%s" % s["physical_network"],
            "other_config:segmentation_id=%s" % s["segmentation_id"],
            "other_config:tag=%s" % s["tag"]]
        subprocess.run(argv, check=True, env=ovs.env, capture_output=True)
    return time.monotonic() - start


def module_run(ovs, specs):
    ports = [{k: v for k, v in s.items() if k != "tag"} for s in specs]
    start = time.monotonic()
    res = run_module("ovs_other_config", {"ovs_rundir": str(ovs.rundir), "bridge": "br-int",
                                          "ports": ports})
    elapsed = time.monotonic() - start
    if res.failed or len(res["updated"]) != len(specs):
        raise SystemExit("module run failed: %s" % json.dumps(dict(res))[:2000])
    return elapsed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ports", type=int, default=2000)
    ap.add_argument("--baseline-ports", type=int, default=0,
                    help="time DeNA's loop on this many of the ports and scale to all of "
                         "them (each call costs about the same: one vswitchd reconfigure "
                         "over the whole bridge); 0 = all ports (about 35 min for 2,000)")
    opts = ap.parse_args(argv)
    sample = opts.baseline_ports or opts.ports
    with tempfile.TemporaryDirectory(prefix="bench-ovsoc-") as tmp:
        ovs = PrivateOvs(Path(tmp) / "ovs", "bench-ovsoc", dummy=True).start()
        try:
            ovs.add_bridge("br-int")
            specs = make_ports(ovs, opts.ports)
            t_module = module_run(ovs, specs)
            clear(ovs, specs)
            scale = opts.ports / float(sample)
            t_dena = dena_baseline(ovs, specs[:sample]) * scale
            clear(ovs, specs)
            t_dena_nowait = dena_baseline(ovs, specs[:sample], no_wait=True) * scale
        finally:
            ovs.stop()
    print("ovs_other_config benchmark, %d ports on br-int (private OVS 3.1, same run)" % opts.ports)
    if sample != opts.ports:
        print("  (DeNA's loop timed on %d of the %d ports and scaled by %.1f)"
              % (sample, opts.ports, opts.ports / float(sample)))
    print("  module (ansible-playbook, one OVSDB transaction) : %8.2f s" % t_module)
    print("  DeNA: one ovs-vsctl set Port per port            : %8.2f s  (%.1fx slower)"
          % (t_dena, t_dena / t_module))
    print("  DeNA with --no-wait (not what they ran)          : %8.2f s  (%.1fx slower)"
          % (t_dena_nowait, t_dena_nowait / t_module))
    print("RESULT ovs_other_config speedup=%.1fx target>=50x %s"
          % (t_dena / t_module, "MET" if t_dena / t_module >= 50 else "NOT MET"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
