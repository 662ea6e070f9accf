"""Benchmark (b) of issue 2: packets lost while a bridge goes to fail_mode secure.

Per trial, the same bridge (userspace datapath, private OVS in its own namespace)
carries 500 ICMP echo requests/s (each with a sequence number) between two
namespaces, through non-trivial flows (three tables, priorities, cookies, resubmits,
NORMAL at the end), while it is switched from standalone to secure by:

  baseline  DeNA's sequence:  ovs-ofctl --no-stats dump-flows BR > FILE;
            ovs-vsctl set-fail-mode BR secure; ovs-ofctl add-flows BR FILE
  module    stackhop.upgrade.fail_mode_secure, run through ansible-playbook as an
            operator runs it (process start-up only delays the switch, it is outside
            the loss window)

Baseline and module trials alternate, in the same run, on the same bridge. Prints
per trial and in total: requests sent, lost (never answered), the longest gap between
two answers, and for the module how many packets it held and replayed. It asserts
nothing; the exit status is 0 when every module trial lost nothing, else 1.

    python -m bench.bench_fail_mode_secure --trials 20
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
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.lib.ansible_runner import run_module  # noqa: E402
from tests.lib.bridge_traffic import VmPair  # noqa: E402
from tests.lib.private_ovs import PrivateOvs  # noqa: E402

BRIDGE = "fmbench"
VERSIONS = "OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15"


def flows_for(pa, pb):
    return [
        "table=0,priority=400,cookie=0x41,in_port=%d,ip,actions=resubmit(,10)" % pa,
        "table=0,priority=400,cookie=0x42,in_port=%d,ip,actions=resubmit(,10)" % pb,
        "table=0,priority=300,cookie=0x11,arp,actions=NORMAL",
        "table=0,priority=100,cookie=0x13,dl_type=0x86dd,actions=drop",
        "table=0,priority=0,cookie=0x14,actions=resubmit(,20)",
        "table=10,priority=100,cookie=0x21,icmp,actions=resubmit(,20)",
        "table=10,priority=50,cookie=0x22,ip,actions=resubmit(,20)",
        "table=20,priority=10,cookie=0x31,actions=NORMAL",
    ]


class Bench:
    def __init__(self, workdir, rate, trials):
        self.workdir = Path(workdir)
        self.interval = 1.0 / rate
        self.trials = trials
        self.ovs = PrivateOvs(self.workdir / "ovs", "fmb-ovs")
        self.pair = None
        self.flow_file = self.workdir / "flows.txt"

    def ofctl(self, *args):
        return self.ovs.ofctl("-O", VERSIONS, *args)

    def setup(self):
        self.ovs.start()
        self.ovs.add_bridge(BRIDGE)
        self.pair = VmPair(self.ovs, BRIDGE, "fmb").create()
        flows = flows_for(self.pair.ofport("a"), self.pair.ofport("b"))
        self.flow_file.write_text("\n".join(flows) + "\n")

    def reset(self):
        """Back to standalone with the benchmark's flows, traffic flowing."""
        if self.ovs.vsctl("get-fail-mode", BRIDGE).strip() != "standalone":
            self.ovs.vsctl("set-fail-mode", BRIDGE, "standalone")
        self.ofctl("--bundle", "replace-flows", self.ovs.mgmt(BRIDGE), self.flow_file)
        for _attempt in range(20):
            if self.pair.ping_once(timeout=1):
                return
        raise RuntimeError("no traffic across %s after reset" % BRIDGE)

    def _measure(self, switch):
        """Traffic from 1 s before the switch until 1 s after it."""
        probe = self.pair.start_probe(duration=120, interval=self.interval)
        time.sleep(1.0)
        t0 = time.monotonic()
        try:
            extra = switch()
        finally:
            t1 = time.monotonic()
            took = t1 - t0
            time.sleep(1.0)
            figures = self.pair.finish_probe(probe, stop=True)
        # Where the losses were: while the switch command ran, or outside it (the
        # machine itself dropping packets, e.g. CPU starvation).
        sent_at = [figures["start_monotonic"] + s * figures["interval"]
                   for s in figures.pop("lost_seqs")]
        # The module reports when the flows were missing (fail-mode change to end of
        # replay); losses elsewhere in its run are the machine, not the flush.
        w0, w1 = figures.get("window") or (t0, t1)
        figures["lost_outside"] = sum(1 for t in sent_at if not w0 - 0.05 <= t <= w1 + 0.05)
        figures["switch_s"] = round(took, 3)
        figures.update(extra or {})
        return figures

    def baseline(self):
        def switch():
            dump = self.workdir / "dena.flows"
            out = self.ofctl("--no-stats", "dump-flows", self.ovs.mgmt(BRIDGE))
            dump.write_text(out)
            self.ovs.vsctl("set-fail-mode", BRIDGE, "secure")
            self.ofctl("add-flows", self.ovs.mgmt(BRIDGE), dump)
            return {}
        return self._measure(switch)

    def module(self):
        def switch():
            res = run_module("fail_mode_secure", {
                "ovs_rundir": str(self.ovs.rundir), "bridges": [BRIDGE],
                "backup_dir": str(self.workdir / "backup")})
            if res.failed:
                raise RuntimeError("module failed: %s" % res.get("msg"))
            relay = res["bridges"][BRIDGE].get("relay", {})
            return {"held": relay.get("packets_held", 0),
                    "window": relay.get("monotonic_window")}
        return self._measure(switch)

    def check_flows(self):
        want = sorted(line.strip() for line in self.flow_file.read_text().splitlines() if line)
        diff = subprocess.run(["ovs-ofctl", "-O", VERSIONS, "diff-flows", self.ovs.mgmt(BRIDGE),
                               str(self.flow_file)], capture_output=True, text=True,
                              check=False)
        return diff.returncode == 0, len(want)

    def teardown(self):
        if self.pair is not None:
            self.pair.delete()
        self.ovs.stop()


def line(label, f):
    return "%-8s sent %4d  lost %3d%s  longest gap %7.2f ms  switch %6.3f s%s" % (
        label, f["sent"], f["lost"],
        (" (%d outside the flush window)" % f["lost_outside"]) if f["lost_outside"] else "",
        f["longest_gap_ms"], f["switch_s"],
        ("  held+replayed %d in a %.0f ms window" % (
            f["held"], 1000 * (f["window"][1] - f["window"][0]))) if f.get("window") else "")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--rate", type=int, default=500, help="echo requests per second")
    ap.add_argument("--json", help="also write all figures to this file")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (namespaces, Open vSwitch, raw ICMP socket)", file=sys.stderr)
        return 2

    results = {"baseline": [], "module": []}
    with tempfile.TemporaryDirectory(prefix="fm-bench-") as tmp:
        bench = Bench(tmp, args.rate, args.trials)
        try:
            bench.setup()
            print("fail_mode standalone -> secure on a netdev bridge with %d flows, "
                  "%d ICMP echo requests/s across it, %d trials each" % (
                      len(bench.flow_file.read_text().splitlines()), args.rate, args.trials))
            for i in range(1, args.trials + 1):
                for kind in ("baseline", "module"):
                    bench.reset()
                    figures = getattr(bench, kind)()
                    same, n = bench.check_flows()
                    figures["flows_kept"] = same
                    results[kind].append(figures)
                    print("trial %2d %s%s" % (i, line(kind, figures),
                                              "" if same else "  FLOWS DIFFER"), flush=True)
        finally:
            bench.teardown()

    print()
    for kind in ("baseline", "module"):
        rs = results[kind]
        sent = sum(r["sent"] for r in rs)
        lost = sum(r["lost"] for r in rs)
        outside = sum(r["lost_outside"] for r in rs)
        print("%-8s total sent %6d  lost %4d  (%.3f %%; %d of them outside the flush window)  "
              "trials with loss %2d/%d  worst trial %d  longest gap %.1f ms  flows kept in %d/%d" % (
                  kind, sent, lost, 100.0 * lost / max(sent, 1), outside,
                  sum(1 for r in rs if r["lost"]), len(rs),
                  max([r["lost"] for r in rs] or [0]),
                  max([r["longest_gap_ms"] for r in rs] or [0]),
                  sum(1 for r in rs if r["flows_kept"]), len(rs)))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    ok = all(r["lost"] == 0 and r["flows_kept"] for r in results["module"])
    base_lost = sum(r["lost"] for r in results["baseline"])
    print("target (0 lost in every module trial while the baseline loses packets): %s" % (
        "MET" if ok and base_lost > 0 else "NOT MET"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
