"""Benchmark of issue 21 part 2: the compute phase's cost against the number of computes.

On a lab region with N computes (scripts/lab-up.sh --lab fleet --computes N, the control
plane at the target release as in the rehearsal compute-upgrade; lab/README.md, "A
fleet"), it runs playbooks/upgrade_computes.yml 2024.1 -> 2025.1 once per setting and
rolls the computes back (playbooks/rollback_computes.yml, not measured) before the next:

  batch sizes       stackhop_compute_batch_percent 1 (one host a batch), 25, 100, with the
                    project's Ansible settings (ansible.cfg: pipelining, ControlPersist 60 s,
                    forks 10, linear strategy): the baseline
  Ansible settings  at 25 %: pipelining off, ControlPersist off (ControlMaster=no), forks
                    = N, and `strategy: free` (ANSIBLE_STRATEGY; every play of the playbook)

Per run: wall seconds; batches; the controller's own CPU seconds (ansible-playbook and every
process it waited for: workers, ssh clients) and that per host and task, with the host-tasks
counted from the report (plugins/callback/upgrade_report.py, report.json); ssh commands
Ansible ran (an ssh wrapper) and SSH connections opened (the lab's ProxyCommand, wrapped:
one per TCP connection to a host; every run starts with no ControlPersist master); each
compute's own span and the (phase, component) spans that took longest per host (the
services' waits: agent alive, nova's heartbeat). Ratios are against the baseline at 25 %
measured in the same run. Rows go to build/results/bench-fleet-<N>.json; the memory of each
compute (PSS of its processes) is printed first.

    sudo python -m bench.bench_fleet --inventory build/lab/fleet/hosts.yml [--batch-percents 1,25,100]
        [--variants no-pipelining,no-controlpersist,forks,free] [--stage]
    python -m bench.bench_fleet --fit build/results/bench-fleet-*.json   # the cost model of all N

``--fit`` fits seconds = fixed + per batch x batches + per host x hosts (the plan's model,
plugins/module_utils/compute_cost.py) to the baseline rows, and the same model to the
controller's CPU seconds: that part is Ansible's, the rest of the wall time the services'
(and waiting on them). It asserts nothing (a benchmark); each upgrade takes about a
minute and a half per batch.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "build" / "collections"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from ansible_collections.stackhop.upgrade.plugins.module_utils import compute_cost  # noqa: E402

VENV = Path(os.environ.get("STACKHOP_VENV", REPO / ".venv"))
CURRENT, TARGET = "2024.1", "2025.1"
BASELINE = "baseline"
# Ansible settings beside the baseline, at the variant batch size: how each is applied
VARIANTS = ("no-pipelining", "no-controlpersist", "forks", "free")
PROBE_STATE = "/run/stackhop-probe.json"


class FleetLab:
    """A lab region made by scripts/lab-up.sh --computes: its inventory, hosts and runs."""

    def __init__(self, inventory):
        import yaml
        from lab.labctl import Lab, load_inventory_data
        self.inventory = Path(inventory).resolve()
        data = yaml.safe_load(self.inventory.read_text())
        self.name = data["all"]["vars"]["lab_name"]
        self.lab = Lab(self.name)
        hosts = load_inventory_data(data)[0]
        self.computes = sorted((h for h, v in hosts.items() if v.get("stackhop_az")),
                               key=lambda h: (len(h), h))
        self.controller = "ctl-old"

    def exec(self, host, script, check=True):
        return self.lab.exec(host, ["/bin/sh", "-c", script], check=check)

    def env(self, extra=None):
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0",
                   PATH="%s:%s" % (VENV / "bin", os.environ.get("PATH", "")))
        env.update(extra or {})
        return env

    def playbook(self, path, extra_vars=None, env=None, log=None):
        """Run a playbook; (rc, wall seconds, the controller's CPU seconds)."""
        argv = [str(VENV / "bin" / "ansible-playbook"), "-i", str(self.inventory), str(path)]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        with open(log or os.devnull, "w") as out:
            rc = subprocess.run(argv, env=self.env(env), cwd=str(REPO), stdout=out,
                                stderr=subprocess.STDOUT, check=False).returncode
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return rc, wall, cpu

    def host_pss_mib(self, host):
        """PSS of every process of the host (they all live in its network namespace)."""
        from lab.labctl import netns_pids, pss_kib
        return sum(pss_kib(pid) for pid in netns_pids("%s-%s" % (self.name, host))) / 1024.0

    def probe(self, action="report"):
        out = self.exec("cmp1", "python3 /usr/local/lib/stackhop/probe.py %s --state %s"
                        % (action, PROBE_STATE), check=False).stdout
        return json.loads(out) if out.strip().startswith("{") else {}


def counting_tools(directory, switch):
    """An ssh wrapper counting Ansible's ssh commands and a ProxyCommand counting the TCP
    connections to the hosts; (ssh executable, ProxyCommand, logs)."""
    d = Path(directory)
    logs = {"ssh": d / "ssh.log", "connections": d / "connections.log"}
    ssh = d / "ssh"
    ssh.write_text('#!/bin/sh\necho "$$" >>%s\nexec ssh "$@"\n' % logs["ssh"])
    proxy = d / "proxy"
    proxy.write_text('#!/bin/sh\necho "$1" >>%s\nexec ip netns exec %s socat STDIO "TCP:$1:$2"\n'
                     % (logs["connections"], switch))
    for script in (ssh, proxy):
        script.chmod(0o755)
    return str(ssh), "%s %%h %%p" % proxy, logs


def connection_vars(lab, ssh, proxy, control_dir, control_persist=True):
    """Extra vars that reach the lab through the counting tools, with a fresh ControlPath
    (no master left from an earlier run)."""
    return {
        "ansible_ssh_executable": ssh,
        "ansible_ssh_common_args": (
            '-o ProxyCommand="%s" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null '
            "-o IdentitiesOnly=yes -o ControlPath=%s/%%C" % (proxy, control_dir)),
        "ansible_ssh_args": ("-o ControlMaster=auto -o ControlPersist=60s" if control_persist
                             else "-o ControlMaster=no"),
        "ansible_ssh_private_key_file": str(lab.key),
    }


def variant_settings(variant, computes):
    """(extra env, whether ControlPersist stays on) of an Ansible variant."""
    if variant == BASELINE:
        return {}, True
    if variant == "no-pipelining":
        return {"ANSIBLE_PIPELINING": "False"}, True
    if variant == "no-controlpersist":
        return {}, False
    if variant == "forks":
        return {"ANSIBLE_FORKS": str(max(10, computes))}, True
    if variant == "free":
        return {"ANSIBLE_STRATEGY": "free"}, True
    raise ValueError("unknown variant %r: use %s" % (variant, ", ".join(VARIANTS)))


def count_lines(path):
    try:
        return len(Path(path).read_text().splitlines())
    except OSError:
        return 0


def report_timings(report, computes):
    """From a run's report.json: host-tasks recorded, each compute's span (first phase start
    to last phase end, seconds) and the mean seconds per host of each (phase, component) on
    the computes, longest first."""
    from ansible_collections.stackhop.upgrade.plugins.plugin_utils.upgrade_report import parse_time
    phases = report.get("phases") or []
    spans, parts = {}, {}
    for phase in phases:
        if phase.get("host") not in computes:
            continue
        start, end = parse_time(phase["start"]), parse_time(phase["end"])
        lo, hi = spans.get(phase["host"], (start, end))
        spans[phase["host"]] = (min(lo, start), max(hi, end))
        key = "%s %s" % (phase.get("phase"), phase.get("component"))
        parts.setdefault(key, {}).setdefault(phase["host"], 0.0)
        parts[key][phase["host"]] += float(phase.get("duration_s") or 0.0)
    per_part = sorted(((k, sum(v.values()) / len(v)) for k, v in parts.items()),
                      key=lambda kv: -kv[1])
    return {"host_tasks": sum(int(p.get("tasks") or 0) for p in phases),
            "compute_span_s": {h: round(b - a, 1) for h, (a, b) in sorted(spans.items())},
            "per_host_parts_s": [(k, round(s, 1)) for k, s in per_part]}


def batch_count(lab, percent, az=None, canary_only=False):
    """(batches, hosts) upgrade_computes.yml runs at ``percent``, in one AZ or all, every
    batch or each AZ's canary only (the plan's own functions)."""
    import yaml
    from ansible_collections.stackhop.upgrade.plugins.filter.compute_batches import compute_batches
    from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm
    from lab.labctl import load_inventory_data
    hosts = load_inventory_data(yaml.safe_load(lab.inventory.read_text()))[0]
    zones = rm.compute_batches([{"name": h, "az": hosts[h]["stackhop_az"],
                                 "aggregate": hosts[h].get("stackhop_aggregate")}
                                for h in lab.computes if az in (None, hosts[h]["stackhop_az"])],
                               canary_size=1, batch_percent=percent)
    batches = compute_batches(zones, "canary" if canary_only else "")
    return len(batches), sum(len(b["hosts"]) for b in batches)


def measure(lab, tools_dir, percent, variant, index, log_dir, az=None, canary_only=False,
            rollback=True):
    """One upgrade (measured) of the region, or of one AZ, or of each AZ's canary, and its
    rollback (not measured; ``rollback=False`` leaves the computes upgraded): the row."""
    env, persist = variant_settings(variant, len(lab.computes))
    upgrade_id = "bench-fleet-%s-%d" % (lab.name, index)
    report_dir = REPO / "build" / "reports" / upgrade_id
    # a socket path has at most 107 bytes: pytest's tmp_path plus %C's 40 and ssh's 17 of
    # suffix were longer ("unix_listener: path ... too long for Unix domain socket")
    control_dir = Path(tempfile.mkdtemp(prefix="shcp%d-" % index, dir="/tmp"))
    ssh, proxy, logs = counting_tools(tools_dir, lab.lab.switch)
    for log in logs.values():
        log.write_text("")
    extra = dict(connection_vars(lab.lab, ssh, proxy, control_dir, persist),
                 stackhop_approval="auto", stackhop_upgrade_id=upgrade_id,
                 stackhop_compute_batch_percent=percent, stackhop_compute_canary_size=1)
    scope = {}
    if az:
        scope["stackhop_select_az"] = az
    if canary_only:
        scope["stackhop_compute_stop_after"] = "canary"
    extra.update(scope)
    env = dict(env, STACKHOP_REPORT_DIR=str(report_dir), STACKHOP_REPORT_SUMMARY="false")
    rc, wall, cpu = lab.playbook(REPO / "playbooks" / "upgrade_computes.yml", extra, env,
                                 log_dir / ("%s-upgrade.log" % upgrade_id))
    batches, hosts = batch_count(lab, percent, az, canary_only)
    row = {"computes": len(lab.computes), "batch_percent": percent, "variant": variant,
           "scope": az or ("canaries" if canary_only else "region"),
           "batches": batches, "hosts": hosts, "rc": rc,
           "seconds": round(wall, 1), "controller_cpu_s": round(cpu, 1),
           "ssh_commands": count_lines(logs["ssh"]), "ssh_connections": count_lines(logs["connections"])}
    try:
        report = json.loads((report_dir / "report.json").read_text())
    except (OSError, ValueError):
        report = {}
    row.update(report_timings(report, set(lab.computes)))
    row["controller_ms_per_host_task"] = (round(1000.0 * cpu / row["host_tasks"], 1)
                                          if row["host_tasks"] else None)
    if not rollback:
        return row
    back_rc, back_wall, _cpu = lab.playbook(
        REPO / "playbooks" / "rollback_computes.yml",
        dict(scope, stackhop_approval="auto", stackhop_upgrade_id=upgrade_id),
        {"STACKHOP_REPORT_DIR": str(report_dir) + "-rollback", "STACKHOP_REPORT_SUMMARY": "false"},
        log_dir / ("%s-rollback.log" % upgrade_id))
    row.update(rollback_rc=back_rc, rollback_s=round(back_wall, 1))
    return row


def with_ratios(rows):
    """Each row's seconds, CPU and connections as ratios of the baseline with as many hosts
    and the same batch size (measured in the same run); None without one."""
    base = {(r["hosts"], r["batch_percent"]): r for r in rows if r["variant"] == BASELINE}
    out = []
    for row in rows:
        ref = base.get((row["hosts"], row["batch_percent"]))
        ratio = {}
        for key in ("seconds", "controller_cpu_s", "ssh_connections"):
            ratio[key] = round(row[key] / ref[key], 2) if ref and ref.get(key) else None
        out.append(dict(row, ratio=ratio))
    return out


def table(rows):
    """The printed table, one line a run."""
    head = ("%-6s %-6s %-18s %7s %8s %8s %8s %10s %9s %9s %8s %9s" % (
        "hosts", "batch", "Ansible", "batches", "wall s", "x base", "ctl CPU", "ms/h-task",
        "ssh cmds", "ssh conn", "x conn", "host s"))
    lines = [head, "-" * len(head)]
    for r in with_ratios(rows):
        spans = list((r.get("compute_span_s") or {}).values())
        lines.append("%-6d %-6s %-18s %7d %8.1f %8s %8.1f %10s %9d %9d %8s %9s" % (
            r["hosts"], "%d%%" % r["batch_percent"], r["variant"], r["batches"], r["seconds"],
            _fmt(r["ratio"]["seconds"]), r["controller_cpu_s"], _fmt(r.get("controller_ms_per_host_task")),
            r["ssh_commands"], r["ssh_connections"], _fmt(r["ratio"]["ssh_connections"]),
            _fmt(round(statistics.median(spans), 1) if spans else None)))
    return "\n".join(lines)


def _fmt(value):
    return "-" if value is None else str(value)


def fitted(rows):
    """The cost model of the baseline rows (wall seconds) and its Ansible part (the
    controller's CPU seconds on the same model); text lines."""
    base = [r for r in rows if r["variant"] == BASELINE and r.get("rc") == 0]
    wall = compute_cost.fit(base)
    cpu = compute_cost.fit([dict(r, seconds=r["controller_cpu_s"]) for r in base])
    lines = ["cost model (wall, %d runs, largest error %s %%): %.1f s + %.1f s per batch + %.1f s per host"
             % (len(base), wall["max_error_pct"], wall["fixed_s"], wall["per_batch_s"], wall["per_host_s"]),
             "Ansible's part (the controller's CPU): %.1f s + %.1f s per batch + %.1f s per host"
             % (cpu["fixed_s"], cpu["per_batch_s"], cpu["per_host_s"]),
             "the services' part (and waiting on them): %.1f s + %.1f s per batch + %.1f s per host"
             % (wall["fixed_s"] - cpu["fixed_s"], wall["per_batch_s"] - cpu["per_batch_s"],
                wall["per_host_s"] - cpu["per_host_s"])]
    for r in wall["rows"]:
        lines.append("  %3d hosts, batch %3d%% (%2d batches): measured %7.1f s, model %7.1f s (%+.1f %%)" % (
            r["hosts"], r["batch_percent"], r["batches"], r["seconds"], r["predicted_s"], r["error_pct"]))
    lines.append("stackhop_compute_cost_model: %s" % json.dumps(
        {k: wall[k] for k in compute_cost.COEFFICIENTS}))
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inventory", help="the fleet lab's inventory (build/lab/NAME/hosts.yml)")
    ap.add_argument("--batch-percents", default="1,25,100")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--variant-batch-percent", type=int, default=25)
    ap.add_argument("--stage", action="store_true", help="stage 2025.1's code on every host first")
    ap.add_argument("--fit", nargs="+", metavar="ROWS_JSON", help="only fit the model to saved rows")
    args = ap.parse_args()
    if args.fit:
        rows = [row for path in args.fit for row in json.loads(Path(path).read_text())]
        print(table(rows))
        print("\n".join(fitted(rows)))
        return 0
    if not args.inventory:
        ap.error("--inventory is required (or --fit)")
    lab = FleetLab(args.inventory)
    out = REPO / "build" / "results"
    out.mkdir(parents=True, exist_ok=True)
    print("lab %s: %d computes; PSS per compute %s MiB, controller %.0f MiB" % (
        lab.name, len(lab.computes), ", ".join("%.0f" % lab.host_pss_mib(h) for h in lab.computes),
        lab.host_pss_mib(lab.controller)))
    if args.stage:
        rc, wall, _cpu = lab.playbook(REPO / "playbooks" / "stage_release.yml",
                                      {"stackhop_target_release": TARGET}, log=out / "bench-fleet-stage.log")
        print("staged %s's code: rc %d in %.0f s" % (TARGET, rc, wall))
    plan = [(int(p), BASELINE) for p in args.batch_percents.split(",") if p]
    plan += [(args.variant_batch_percent, v) for v in args.variants.split(",") if v]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bf-", dir="/tmp") as tools:
        for index, (percent, variant) in enumerate(plan, 1):
            row = measure(lab, tools, percent, variant, index, out)
            rows.append(row)
            print("run %d/%d: %s at %d %%: rc %d, %.0f s (rollback rc %d, %.0f s)" % (
                index, len(plan), variant, percent, row["rc"], row["seconds"], row["rollback_rc"],
                row["rollback_s"]), flush=True)
            (out / ("bench-fleet-%d.json" % len(lab.computes))).write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows))
    worst = rows[0].get("per_host_parts_s") or []
    print("longest parts per host (%s at %d %%): %s" % (
        rows[0]["variant"], rows[0]["batch_percent"], ", ".join("%s %.1f s" % kv for kv in worst[:6])))
    try:
        print("\n".join(fitted(rows)))
    except compute_cost.CostModelError as exc:
        print("no model from this N alone (%s); fit every N's rows with --fit" % exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
