"""Lab create/destroy times and memory, measured with lab/labctl.py.

Baseline measured in the same run: a 1-host lab (sshd only). Figures: median of
--rounds creates and destroys of the 1-host and the 4-host lab (3 hosts with Open vSwitch,
like lab/inventory/hosts.yml), RSS of every process of the lab, and one systemd host.
Run as root: ``python -m bench.bench_lab [--rounds 3]``. Labs are named ``labbench*``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.labctl import Lab, ensure_base  # noqa: E402


def inventory(tmp, name, hosts):
    path = Path(tmp) / ("%s.json" % name)
    path.write_text(json.dumps({"all": {"hosts": hosts}}))
    return path


def measure(lab, inv, rounds):
    creates, destroys, status = [], [], None
    for _round in range(rounds):
        t0 = time.monotonic()
        lab.create(inv, log=open("/dev/null", "w"))
        creates.append(time.monotonic() - t0)
        time.sleep(1)  # let daemons settle before reading RSS
        status = lab.status()
        t0 = time.monotonic()
        lab.destroy()
        destroys.append(time.monotonic() - t0)
    return statistics.median(creates), statistics.median(destroys), status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    t0 = time.monotonic()
    base = ensure_base()
    print("base %s ready in %.1f s (0 when cached)" % (base, time.monotonic() - t0))
    with tempfile.TemporaryDirectory(prefix="labbench-") as tmp:
        one = inventory(tmp, "one", {"h1": {"ansible_host": "10.51.0.11"}})
        four = inventory(tmp, "four", {
            "ctl1": {"ansible_host": "10.51.0.11"},
            "net1": {"ansible_host": "10.51.0.21", "lab_provider": True, "lab_ovs": True},
            "cmp1": {"ansible_host": "10.51.0.31", "lab_provider": True, "lab_ovs": True},
            "cmp2": {"ansible_host": "10.51.0.32", "lab_provider": True, "lab_ovs": True}})
        sysd = inventory(tmp, "sysd", {"sd1": {"ansible_host": "10.51.0.11",
                                               "lab_systemd": True}})
        rows = [("1 host (baseline)", measure(Lab("labbench1"), one, args.rounds)),
                ("4 hosts, 3 with OVS", measure(Lab("labbench4"), four, args.rounds)),
                ("1 systemd-nspawn host", measure(Lab("labbenchs"), sysd, args.rounds))]
    base_c, base_d = rows[0][1][0], rows[0][1][1]
    print("%-24s %9s %9s %9s %6s %8s %8s %8s" % (
        "lab", "create s", "destroy s", "create x", "procs", "RSS MiB", "PSS MiB", "PSS/host"))
    for name, (c, d, st) in rows:
        n = len(st["hosts"])
        print("%-24s %9.2f %9.2f %9.2f %6d %8.1f %8.1f %8.1f" % (
            name, c, d, c / base_c, st["processes"], st["rss_kib"] / 1024,
            st["pss_kib"] / 1024, st["pss_kib"] / 1024 / n))
    print("destroy x vs baseline: 4 hosts %.2f" % (rows[1][1][1] / base_d))


if __name__ == "__main__":
    main()
