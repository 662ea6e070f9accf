"""What N OVS agents restarting at once cost neutron-server and its database (issue 21 part 3):
the measurements bench/bench_agent_restarts.py and the fleet rehearsal take, as pure functions
of the text they read (unit tests: tests/bench/test_neutron_load.py).

- neutron-server's RPC handling time: with oslo.messaging at DEBUG (the fleet lab's
  neutron.conf, lab/labctl.py FLEET_NEUTRON_LOG_LEVELS) every reply is logged as
  ``sending reply msg_id: ... time elapsed: 0.012s``: the seconds from taking the call off
  the queue to answering it, per server process (neutron's state-report worker answers
  only the agents' report_state);
- the agents' heartbeats: ``UTC_TIMESTAMP() - heartbeat_timestamp`` of every OVS agent in
  neutron's ``agents`` table; a server too slow to handle report_state lets it grow past
  ``report_interval`` (15 s) and, past ``agent_down_time`` (75 s), marks agents down (NHN);
- MariaDB: ``SHOW GLOBAL STATUS`` sampled every second: Threads_connected (the services'
  pools), Threads_running, and Questions per second (statements the clients sent);
- the VMs' loss: the lab probe's report (lab/roles/lab_probe), judged against the idle
  lab's rate measured in the same run.

Standard library only.
"""

from __future__ import annotations

import math
import re

# oslo.log's default line: "2025-06-01 12:00:01.234 812 DEBUG oslo_messaging._drivers..."
LOG_LINE = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2})\.(?P<ms>\d{3}) "
                      r"(?P<pid>\d+) (?P<level>[A-Z]+) (?P<logger>\S+) ")
REPLY = re.compile(r"sending reply msg_id: (?P<msg_id>\S+) reply queue: \S+ time elapsed: "
                   r"(?P<seconds>[0-9.]+(?:[eE]-?\d+)?)s")
STATUS_NAMES = ("Threads_connected", "Threads_running", "Questions", "Max_used_connections",
                "Aborted_connects", "Connections")
# SHOW GLOBAL STATUS of those variables, as the bench runs it (-N -B: name TAB value)
STATUS_QUERY = "SHOW GLOBAL STATUS WHERE Variable_name IN (%s)" % ", ".join(
    "'%s'" % name for name in STATUS_NAMES)
# every OVS agent's heartbeat age in seconds, as MariaDB computes it (UTC, as neutron writes)
HEARTBEAT_QUERY = ("SELECT host, TIMESTAMPDIFF(MICROSECOND, heartbeat_timestamp, UTC_TIMESTAMP(6)) "
                   "/ 1000000 FROM agents WHERE agent_type = 'Open vSwitch agent'")

# What "under a bound" means: the default bounds the throttle must keep.
BOUNDS = {
    "rpc_p95_s": 1.0,                  # neutron-server answers 95 % of the calls within 1 s
    # no agent marked down (neutron's agent_down_time): a restarting agent reports nothing
    # while it restarts, so 2 x report_interval (30 s) is broken by any restart at all
    # (45.7 s at throttle 4, 56.7 s at 8 on the 8-compute fleet); the server's own
    # slowness shows in rpc_p95_s
    "heartbeat_age_max_s": 75.0,
    "threads_connected_max": 100,      # MariaDB's max_connections is 151
    "vm_lost_excess": 0,               # no VM packet lost beyond the idle lab's rate
}


def rpc_replies(log_text):
    """[{pid, time, seconds}] of every RPC reply neutron-server logged, in log order."""
    out = []
    for line in (log_text or "").splitlines():
        reply = REPLY.search(line)
        if not reply:
            continue
        head = LOG_LINE.match(line)
        out.append({"pid": int(head.group("pid")) if head else None,
                    "time": "%s %s.%s" % (head.group("date"), head.group("time"), head.group("ms"))
                    if head else None,
                    "seconds": float(reply.group("seconds"))})
    return out


def percentile(values, pct):
    """The nearest-rank percentile (None of no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, int(math.ceil(pct / 100.0 * len(ordered))))
    return ordered[rank - 1]


def rpc_summary(replies, titles=None):
    """{calls, p50_s, p95_s, max_s, per_process: {pid: {...}}} of rpc_replies;
    ``titles``: {pid: process title} to name the processes (ps)."""
    def summary(seconds):
        return {"calls": len(seconds), "p50_s": percentile(seconds, 50), "p95_s": percentile(seconds, 95),
                "max_s": max(seconds) if seconds else None}
    out = summary([r["seconds"] for r in replies])
    per = {}
    for reply in replies:
        per.setdefault(reply["pid"], []).append(reply["seconds"])
    out["per_process"] = {pid: dict(summary(s), title=(titles or {}).get(pid))
                          for pid, s in sorted(per.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))}
    return out


def _number(text):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse_global_status(text):
    """{name: value} of ``mysql -N -B -e 'SHOW GLOBAL STATUS ...'`` (name TAB value lines)."""
    out = {}
    for line in (text or "").splitlines():
        parts = line.strip().split("\t") if "\t" in line else line.split()
        if len(parts) == 2 and parts[0]:
            out[parts[0]] = _number(parts[1].strip())
    return out


def db_load(samples):
    """Database load over a window from [(epoch, parse_global_status(...)), ...] in time order:
    the largest Threads_connected and Threads_running, and Questions per second (largest
    and mean over consecutive samples)."""
    samples = [(float(t), s) for t, s in samples if s]
    if not samples:
        return {"samples": 0, "threads_connected_max": None, "threads_running_max": None,
                "queries_per_s_max": None, "queries_per_s_mean": None}
    rates = []
    for (t0, s0), (t1, s1) in zip(samples, samples[1:]):
        if t1 > t0 and isinstance(s0.get("Questions"), int) and isinstance(s1.get("Questions"), int):
            rates.append((s1["Questions"] - s0["Questions"]) / (t1 - t0))
    span = samples[-1][0] - samples[0][0]
    first, last = samples[0][1].get("Questions"), samples[-1][1].get("Questions")
    mean = (last - first) / span if span > 0 and isinstance(first, int) and isinstance(last, int) else None
    return {"samples": len(samples),
            "threads_connected_max": max(s.get("Threads_connected", 0) for _t, s in samples),
            "threads_running_max": max(s.get("Threads_running", 0) for _t, s in samples),
            "queries_per_s_max": round(max(rates), 1) if rates else None,
            "queries_per_s_mean": round(mean, 1) if mean is not None else None}


def parse_heartbeats(text):
    """{host: age in seconds} of ``mysql -N -B -e HEARTBEAT_QUERY``; NULL (never) is None."""
    out = {}
    for line in (text or "").splitlines():
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 2:
            continue
        out[parts[0]] = None if parts[1].strip() in ("NULL", "") else float(parts[1])
    return out


def heartbeat_load(samples, agent_down_time=75.0):
    """From [parse_heartbeats(...), ...] sampled over a window: the oldest report seen
    (seconds), its agent, and the agents that went past agent_down_time (neutron marks
    them down and a revived agent does a full resync)."""
    oldest, who, down = None, None, set()
    for sample in samples:
        for host, age in sample.items():
            if age is None:
                continue
            if oldest is None or age > oldest:
                oldest, who = age, host
            if age > agent_down_time:
                down.add(host)
    return {"heartbeat_age_max_s": round(oldest, 1) if oldest is not None else None,
            "oldest_agent": who, "agents_down": sorted(down)}


def vm_lost_excess(probe, idle_rate_per_s):
    """ICMP requests the probe lost beyond what the idle lab loses in as long (3x its rate,
    as tests/lab/test_compute_upgrade.py allows)."""
    allowed = int(3 * float(idle_rate_per_s or 0) * float(probe.get("seconds") or 0) + 0.999)
    return max(0, int(probe["icmp"]["lost"]) - allowed)


def broken_bounds(row, bounds=None):
    """The bounds a measured row breaks, e.g. ['rpc_p95_s 2.3 > 1.0']; a figure not measured
    (None) breaks none."""
    out = []
    for key, limit in (bounds or BOUNDS).items():
        value = row.get(key)
        if value is not None and value > limit:
            out.append("%s %s > %s" % (key, value, limit))
    return out


def choose_throttle(rows, bounds=None):
    """The largest throttle whose row, and every smaller throttle's, keeps every bound: the
    default neutron_compute_restart_throttle should be it. None when none does.
    ``rows``: [{throttle, rpc_p95_s, heartbeat_age_max_s, threads_connected_max, vm_lost_excess}]."""
    best = None
    for row in sorted(rows, key=lambda r: r["throttle"]):
        if broken_bounds(row, bounds):
            break
        best = row["throttle"]
    return best
