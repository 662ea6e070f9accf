"""Benchmark of issue 21 part 3: neutron-server and its database while N OVS agents restart,
all at once (NHN's rollback) and throttled (neutron_compute_restart_throttle).

On a fleet lab (scripts/lab-up.sh --lab fleet --computes N; its neutron-server logs each RPC
reply's handling time, lab/labctl.py FLEET_NEUTRON_LOG_LEVELS) with the data-plane probe
running between vm1 and vm2, in one run:

  idle          nothing restarted, --window seconds: the baseline of every figure
  throttle T    every compute's agent restarted by one play with `throttle: T` (forks N, so
                the throttle is the only limit), as neutron_compute's start step does; T from
                N (all at once) down to 1; sampling goes on --settle seconds after the play

Per run: neutron-server's RPC replies (calls, p50/p95/max handling seconds, per server
process), the oldest agent heartbeat and the agents past agent_down_time, MariaDB's
Threads_connected/Threads_running maxima and Questions per second (SHOW GLOBAL STATUS every
second), the VM packets lost beyond the idle rate; then each figure as a ratio of the idle
one and the bounds it breaks (bench/neutron_load.py BOUNDS), and the largest throttle that
keeps them all: the default neutron_compute_restart_throttle should be it.

    sudo python -m bench.bench_agent_restarts --inventory build/lab/fleet/hosts.yml \
        [--throttles 32,16,8,4,2,1] [--window 60] [--settle 60]

It asserts nothing (a benchmark). Rows go to build/results/bench-agent-restarts-<N>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import neutron_load as nl  # noqa: E402
from bench.bench_fleet import FleetLab  # noqa: E402

SERVER_LOG = "/var/log/neutron/neutron-server.log"


def mysql(lab, query):
    """A query as root through MariaDB's unix socket on the controller (no password)."""
    return lab.exec(lab.controller, "mysql -N -B -e \"%s\"" % query.replace('"', '\\"'),
                    check=False).stdout


class Sampler(threading.Thread):
    """SHOW GLOBAL STATUS and the agents' heartbeats every second until stopped."""

    def __init__(self, lab):
        super().__init__(daemon=True)
        self.lab = lab
        self.status, self.heartbeats = [], []
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            t = time.time()
            self.status.append((t, nl.parse_global_status(mysql(self.lab, nl.STATUS_QUERY))))
            self.heartbeats.append(nl.parse_heartbeats(mysql(self.lab, "USE neutron; " + nl.HEARTBEAT_QUERY)))
            self._done.wait(max(0.0, 1.0 - (time.time() - t)))

    def stop(self):
        self._done.set()
        self.join()


def restart_play(path, throttle):
    """A play restarting every compute's OVS agent, ``throttle`` at a time."""
    path.write_text(json.dumps([{
        "name": "Restart the OVS agents, %d at a time" % throttle,
        "hosts": "stackhop_computes", "gather_facts": False,
        "tasks": [{"name": "Restart the OVS agent", "throttle": throttle,
                   "ansible.builtin.systemd_service": {
                       "name": "neutron-openvswitch-agent", "state": "restarted"}}]}]))
    return path


def process_titles(lab):
    out = lab.exec(lab.controller, "ps -eo pid=,args=", check=False).stdout
    return {int(line.split(None, 1)[0]): line.split(None, 1)[1]
            for line in out.splitlines() if "neutron-server" in line}


def window(lab, seconds_after, action=None):
    """Sample while ``action`` runs and ``seconds_after`` more; the figures of the window."""
    offset = int(lab.exec(lab.controller, "stat -c %%s %s" % SERVER_LOG).stdout.strip() or 0)
    lab.probe("reset")
    sampler = Sampler(lab)
    sampler.start()
    t0 = time.monotonic()
    rc = action() if action else 0
    play_s = time.monotonic() - t0
    time.sleep(seconds_after)
    sampler.stop()
    log = lab.exec(lab.controller, "tail -c +%d %s" % (offset + 1, SERVER_LOG), check=False).stdout
    rpc = nl.rpc_summary(nl.rpc_replies(log), process_titles(lab))
    row = {"rc": rc, "play_s": round(play_s, 1), "seconds": round(time.monotonic() - t0, 1),
           "rpc_calls": rpc["calls"], "rpc_p50_s": rpc["p50_s"], "rpc_p95_s": rpc["p95_s"],
           "rpc_max_s": rpc["max_s"], "rpc_per_process": rpc["per_process"],
           # why no call was read, when none is: how much log the window had, how much at DEBUG
           "server_log_lines": len(log.splitlines()), "server_log_debug_lines": log.count(" DEBUG "),
           "probe": lab.probe()}
    row.update(nl.db_load(sampler.status))
    row.update(nl.heartbeat_load(sampler.heartbeats))
    return row


def table(idle, rows):
    head = "%-9s %6s %7s %8s %8s %9s %7s %8s %8s %6s  %s" % (
        "throttle", "play s", "calls", "p95 s", "x idle", "hb age s", "down", "threads", "q/s max",
        "lost+", "bounds broken")
    lines = [head, "-" * len(head)]
    for r in [dict(idle, throttle="idle")] + rows:
        ratio = (round(r["rpc_p95_s"] / idle["rpc_p95_s"], 1)
                 if r.get("rpc_p95_s") is not None and idle.get("rpc_p95_s") else None)
        lines.append("%-9s %6s %7s %8s %8s %9s %7d %8s %8s %6s  %s" % (
            r["throttle"], r["play_s"], r["rpc_calls"], r["rpc_p95_s"], "-" if ratio is None else ratio,
            r["heartbeat_age_max_s"], len(r["agents_down"]), r["threads_connected_max"],
            r["queries_per_s_max"], r.get("vm_lost_excess", "-"),
            "; ".join(nl.broken_bounds(r)) or "none"))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inventory", required=True)
    ap.add_argument("--throttles", help="default: N, then halving down to 1")
    ap.add_argument("--window", type=int, default=60, help="seconds of the idle baseline")
    ap.add_argument("--settle", type=int, default=60, help="seconds sampled after each restart play")
    args = ap.parse_args()
    lab = FleetLab(args.inventory)
    n = len(lab.computes)
    throttles = ([int(t) for t in args.throttles.split(",")] if args.throttles
                 else sorted({n} | {t for t in (16, 8, 4, 2, 1) if t < n}, reverse=True))
    out = REPO / "build" / "results"
    out.mkdir(parents=True, exist_ok=True)
    idle = window(lab, args.window)
    idle_rate = idle["probe"]["icmp"]["lost"] / max(1.0, idle["probe"].get("seconds") or 1.0)
    idle["vm_lost_excess"] = 0
    print("idle %d s: RPC p95 %s s, heartbeat age max %s s, %s threads, ICMP lost %d/s" % (
        args.window, idle["rpc_p95_s"], idle["heartbeat_age_max_s"], idle["threads_connected_max"],
        idle_rate), flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bar-") as tmp:
        for throttle in throttles:
            play = restart_play(Path(tmp) / ("restart-%d.json" % throttle), throttle)
            row = window(lab, args.settle, lambda play=play: lab.playbook(
                play, env={"ANSIBLE_FORKS": str(max(10, n))}, log=out / ("bench-agent-restarts-%d.log" % throttle))[0])
            row["throttle"] = throttle
            row["vm_lost_excess"] = nl.vm_lost_excess(row["probe"], idle_rate)
            rows.append(row)
            print("throttle %d: %s" % (throttle, "; ".join(nl.broken_bounds(row)) or "every bound kept"), flush=True)
            (out / ("bench-agent-restarts-%d.json" % n)).write_text(
                json.dumps({"idle": idle, "rows": rows}, indent=1) + "\n")
            time.sleep(args.settle)   # the agents' resync over before the next run
    print(table(idle, rows))
    best = nl.choose_throttle(rows)
    print("bounds: %s" % json.dumps(nl.BOUNDS))
    print("the largest throttle keeping every bound with %d agents: %s (neutron_compute_restart_throttle "
          "defaults to 4)" % (n, best if best is not None else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
