"""Benchmark of issue 21 item 6: how much of a data-plane gap is CPU starvation, not the upgrade.

The lab's computes forward the VMs' traffic with Open vSwitch's userspace datapath
(datapath_type=netdev): ovs-vswitchd's own threads move every packet, so when the
machine is busy they wait on the run queue and the probe sees loss and gaps although
nothing was upgraded. This benchmark measures that floor: the lab's own probe
(lab/roles/lab_probe/files/probe.py: ICMP at 250/s and a TCP echo stream, events over 50 ms)
runs between two namespaces through a private OVS with a netdev bridge (the same helpers
as the tests: tests/lib/private_ovs.py, tests/lib/bridge_traffic.py), nothing being
upgraded, in one run:

  idle            nothing added (whatever else the machine runs goes on: its load is printed)
  loaded          N busy-loop processes at the probe's and ovs-vswitchd's priority (nice 0)
  loaded, ovs -10 the same load, every ovs-vswitchd thread at nice -10
  loaded, probe -10 the same load, the probe at nice -10 (ovs-vswitchd at 0)

Per run it prints ICMP sent/lost, gaps over 50 ms, the longest gap, the TCP stream's
longest stall, and how long ovs-vswitchd's and the probe's threads waited on the run
queue per second (/proc/PID/task/*/schedstat), then the loaded figures as ratios of the
idle ones (measured in the same run). A gap of the upgrade shorter than the loaded run's longest gap, on a machine
that loaded, cannot be told from starvation; if renicing ovs-vswitchd removes the loaded
gaps, they were ovs-vswitchd's starvation, if renicing the probe does, the probe's own.
It asserts nothing (a benchmark); about 2.5 minutes with the defaults.

    python -m bench.bench_probe_starvation [--rounds 3] [--seconds 10] [--load 4]
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

from tests.lib.bridge_traffic import VmPair  # noqa: E402
from tests.lib.private_ovs import PrivateOvs  # noqa: E402

PROBE = REPO / "lab" / "roles" / "lab_probe" / "files" / "probe.py"
BRIDGE = "stvbr"
PREFIX = "stv"        # namespaces stv-a, stv-b and stv-ovs
PORT = 5077
BUSY = "while True:\n    pass\n"


# In the "VMs": turn off TX checksum offload of eth0, as lab/roles/lab_vm's vif_plug.py does
# with `ethtool -K eth0 tx off` (no ethtool here: its ioctl, ETHTOOL_STXCSUM). Else TCP
# segments cross the userspace datapath with their checksum left to offload and the
# receiver drops them (tests/lib/bridge_traffic.py says the same of UDP).
TX_OFF = """
import array, fcntl, socket, struct
value = array.array("I", [0x17, 0])            # struct ethtool_value {ETHTOOL_STXCSUM, 0}
ifreq = struct.pack("16sP", b"eth0", value.buffer_info()[0])
fcntl.ioctl(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), 0x8946, ifreq)   # SIOCETHTOOL
"""


def schedstat(pid):
    """(ns on the CPU, ns waiting on the run queue) summed over the threads of ``pid``."""
    run = wait = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0, 0
    for tid in tids:
        try:
            fields = Path("/proc/%d/task/%s/schedstat" % (pid, tid)).read_text().split()
        except OSError:
            continue
        run += int(fields[0])
        wait += int(fields[1])
    return run, wait


def autogroup_enabled():
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def renice(pid, nice):
    """Nice every thread of ``pid`` (Linux: nice is per thread) and, when the kernel groups
    tasks by session (sched_autogroup) and ``pid`` leads its own session, its autogroup too:
    otherwise a nice value only weighs against the same session's tasks."""
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            os.setpriority(os.PRIO_PROCESS, int(tid), nice)
        except OSError:
            pass
    if autogroup_enabled() and os.getsid(pid) == pid:
        try:
            Path("/proc/%d/autogroup" % pid).write_text("%d\n" % nice)
        except OSError:
            pass


class Bench:
    def __init__(self, workdir, pps):
        self.workdir = Path(workdir)
        self.pps = pps
        self.ovs = PrivateOvs(self.workdir / "ovs", PREFIX + "-ovs")
        self.pair = None
        self.sink = None

    def setup(self):
        self.ovs.start()
        self.ovs.add_bridge(BRIDGE)
        self.pair = VmPair(self.ovs, BRIDGE, PREFIX).create()
        for ns in self.pair.ns.values():
            ns.run(sys.executable, "-c", TX_OFF)
        if not self.pair.ping_once():
            raise RuntimeError("no ping across the private bridge %s" % BRIDGE)
        # every process in its own session, as services are (systemd units, ovs --detach)
        self.sink = self.pair.ns["b"].popen([sys.executable, PROBE, "sink", "--port", PORT],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True)
        self.vswitchd = int((self.ovs.rundir / "ovs-vswitchd.pid").read_text().strip())

    def teardown(self):
        if self.sink:
            self.sink.kill()
            self.sink.wait(10)
        if self.pair:
            self.pair.delete()
        self.ovs.stop()

    def run(self, label, seconds, load=0, ovs_nice=0, probe_nice=0):
        state = str(self.workdir / ("probe-%s.json" % label.replace(" ", "_")))
        busy = [subprocess.Popen([sys.executable, "-c", BUSY], start_new_session=True)
                for dummy in range(load)]
        probe = None
        try:
            renice(self.vswitchd, ovs_nice)
            probe = self.pair.ns["a"].popen(
                [sys.executable, PROBE, "run", "--target", self.pair.ips["b"], "--port", PORT,
                 "--pps", self.pps, "--state", state],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            renice(probe.pid, probe_nice)
            deadline = time.monotonic() + 10
            while not os.path.exists(state) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.5)                  # warm up (connection, neighbours), then count
            subprocess.run([sys.executable, PROBE, "reset", "--state", state],
                           capture_output=True, check=True)
            ovs0, probe0, load0, t0 = (schedstat(self.vswitchd), schedstat(probe.pid),
                                       os.getloadavg()[0], time.monotonic())
            time.sleep(seconds)
            ovs1, probe1, t1 = schedstat(self.vswitchd), schedstat(probe.pid), time.monotonic()
            load1 = os.getloadavg()[0]
        finally:
            if probe:
                probe.terminate()
                probe.wait(10)
            for proc in busy:
                proc.kill()
            for proc in busy:
                proc.wait(10)
            renice(self.vswitchd, 0)
        fig = json.loads(Path(state).read_text())
        span = t1 - t0
        icmp, tcp = fig["icmp"], fig["tcp"]
        gaps = [e["ms"] for e in icmp["events"] if e["kind"] == "gap"]
        stalls = [e["ms"] for e in tcp["events"] if e["kind"] == "gap"]
        return {
            "label": label, "load": load, "ovs_nice": ovs_nice, "probe_nice": probe_nice,
            "seconds": round(span, 1), "loadavg": [round(load0, 2), round(load1, 2)],
            "sent": icmp["sent"], "lost": icmp["lost"], "gaps": len(gaps),
            "gaps_dropped": icmp["events_dropped"].get("gap", 0),
            "gaps_over_100ms": sum(1 for g in gaps if g > 100),
            "longest_gap_ms": icmp["longest_gap_ms"],
            "tcp_stalls": len(stalls), "tcp_longest_ms": tcp["longest_gap_ms"],
            "tcp_resets": tcp["resets"],
            "ovs_cpu_pct": round(100 * (ovs1[0] - ovs0[0]) / 1e9 / span, 1),
            "ovs_wait_ms_per_s": round((ovs1[1] - ovs0[1]) / 1e6 / span, 1),
            "probe_wait_ms_per_s": round((probe1[1] - probe0[1]) / 1e6 / span, 1),
            "events": icmp["events"][:20],
        }


def ratio(value, base):
    if not base:
        return "    -" if not value else "  new"
    return "%5.1fx" % (value / base)


def total(trials):
    """One condition's trials added up (longest: the worst trial; waits: the mean)."""
    n = len(trials)
    return {
        "label": trials[0]["label"], "load": trials[0]["load"], "trials": n,
        "seconds": round(sum(t["seconds"] for t in trials), 1),
        "loadavg": round(sum(sum(t["loadavg"]) / 2 for t in trials) / n, 2),
        "sent": sum(t["sent"] for t in trials), "lost": sum(t["lost"] for t in trials),
        "gaps": sum(t["gaps"] for t in trials),
        "gaps_over_100ms": sum(t["gaps_over_100ms"] for t in trials),
        "longest_gap_ms": max(t["longest_gap_ms"] for t in trials),
        "tcp_stalls": sum(t["tcp_stalls"] for t in trials),
        "tcp_longest_ms": max(t["tcp_longest_ms"] for t in trials),
        "tcp_resets": sum(t["tcp_resets"] for t in trials),
        "ovs_cpu_pct": round(sum(t["ovs_cpu_pct"] for t in trials) / n, 1),
        "ovs_wait_ms_per_s": round(sum(t["ovs_wait_ms_per_s"] for t in trials) / n, 1),
        "probe_wait_ms_per_s": round(sum(t["probe_wait_ms_per_s"] for t in trials) / n, 1),
    }


LINE = ("  %-18s load %d  loadavg %5.2f  sent %6d  lost %4d  gaps>50ms %4d (>100ms %3d)  "
        "longest %6.1f ms  TCP stalls %3d longest %6.1f ms resets %d  ovs-vswitchd cpu %4.1f %% "
        "run-queue wait %5.1f ms/s  probe wait %5.1f ms/s")


def line(r, loadavg):
    return LINE % (r["label"], r["load"], loadavg, r["sent"], r["lost"], r["gaps"],
                   r["gaps_over_100ms"], r["longest_gap_ms"], r["tcp_stalls"], r["tcp_longest_ms"],
                   r["tcp_resets"], r["ovs_cpu_pct"], r["ovs_wait_ms_per_s"],
                   r["probe_wait_ms_per_s"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per trial")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds; each runs every condition once, so a change of the machine's "
                         "other load falls on all of them alike")
    ap.add_argument("--load", type=int, default=2 * (os.cpu_count() or 1),
                    help="busy-loop processes of the loaded conditions (default: 2 per core)")
    ap.add_argument("--pps", type=int, default=250, help="ICMP echo requests per second")
    ap.add_argument("--json", help="also write all figures to this file")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (namespaces, Open vSwitch, raw ICMP socket, nice < 0)", file=sys.stderr)
        return 2

    plan = [("idle", 0, 0, 0), ("loaded", args.load, 0, 0),
            ("loaded, ovs -10", args.load, -10, 0), ("loaded, probe -10", args.load, 0, -10)]
    trials = {label: [] for label, *dummy in plan}
    with tempfile.TemporaryDirectory(prefix="starve-bench-") as tmp:
        bench = Bench(tmp, args.pps)
        try:
            bench.setup()
            print("probe.py (ICMP %d/s + TCP stream) through a private OVS netdev bridge, %d cores; "
                  "%d rounds of %d s per condition; load = %d busy-loop processes at nice 0, each "
                  "in its own session (sched_autogroup %s); the machine's load average before: %.2f"
                  % (args.pps, os.cpu_count(), args.rounds, args.seconds, args.load,
                     "on" if autogroup_enabled() else "off", os.getloadavg()[0]), flush=True)
            for rnd in range(1, args.rounds + 1):
                print("round %d" % rnd)
                for label, load, ovs_nice, probe_nice in plan:
                    r = bench.run(label, args.seconds, load, ovs_nice, probe_nice)
                    trials[label].append(r)
                    print(line(r, sum(r["loadavg"]) / 2), flush=True)
        finally:
            bench.teardown()

    results = [total(trials[label]) for label, *dummy in plan]
    base = results[0]
    print()
    print("all rounds (%d x %d s each)" % (args.rounds, args.seconds))
    for r in results:
        print(line(r, r["loadavg"]))
    print()
    print("against idle (same run)      lost   gaps  longest gap  TCP longest  ovs wait  probe wait")
    for r in results[1:]:
        print("  %-24s %s %s       %s       %s    %s      %s" % (
            r["label"], ratio(r["lost"], base["lost"]), ratio(r["gaps"], base["gaps"]),
            ratio(r["longest_gap_ms"], base["longest_gap_ms"]),
            ratio(r["tcp_longest_ms"], base["tcp_longest_ms"]),
            ratio(r["ovs_wait_ms_per_s"], base["ovs_wait_ms_per_s"]),
            ratio(r["probe_wait_ms_per_s"], base["probe_wait_ms_per_s"])))
    loaded, ovs, own = results[1], results[2], results[3]
    floor = max(r["longest_gap_ms"] for r in results)
    print()
    print("starvation floor on this machine, nothing upgraded: up to %d lost, %d gaps over 50 ms "
          "in %d s, longest %.0f ms (idle %.0f ms at load average %.1f; +%d busy: %.0f ms at %.1f); "
          "an upgrade gap shorter than this on a machine this loaded cannot be told from starvation."
          % (max(r["lost"] for r in results), max(r["gaps"] for r in results), loaded["seconds"],
             floor, base["longest_gap_ms"], base["loadavg"], loaded["load"],
             loaded["longest_gap_ms"], loaded["loadavg"]))
    print("share of ovs-vswitchd: at nice -10 (its autogroup too) its run-queue wait goes %.0f -> "
          "%.0f ms/s and the loaded gaps %d -> %d (longest %.0f ms); the probe at nice -10 instead: "
          "%d gaps (longest %.0f ms)." % (
              loaded["ovs_wait_ms_per_s"], ovs["ovs_wait_ms_per_s"], loaded["gaps"], ovs["gaps"],
              ovs["longest_gap_ms"], own["gaps"], own["longest_gap_ms"]))
    if args.json:
        Path(args.json).write_text(json.dumps({"trials": trials, "totals": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
