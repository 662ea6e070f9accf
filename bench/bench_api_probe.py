"""Accuracy of the API downtime probe (roles/api_probe/files/api_probe.py).

A local version document is taken down --outages times for a random 0.5-3 s each
(alternately refused connections and HTTP 503) while the real probe polls it at --hz;
the baseline is the outage as the bench itself timed it. Prints, per rate, the mean and
worst error of the measured window against the baseline, as seconds and as a ratio of the
poll interval (the probe's designed bound is one interval per edge), and windows missed or
invented. Not a test; asserts nothing.

    python -m bench.bench_api_probe --outages 8 --hz 2 4 10
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lib.version_api import VersionApi  # noqa: E402

PROBE = REPO / "roles" / "api_probe" / "files" / "api_probe.py"


def _epoch(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def measure(hz, outages, seed):
    rnd = random.Random(seed)
    api = VersionApi()
    truth = []
    with tempfile.TemporaryDirectory(prefix="vr-bench-probe-") as tmp:
        proc = subprocess.Popen([sys.executable, str(PROBE), "run", "--hz", str(hz), "--timeout", "0.5",
                                 "--out-dir", tmp, "--target", "svc=" + api.url])
        time.sleep(1.5)
        for i in range(outages):
            length = rnd.uniform(0.5, 3.0)
            start = time.time()
            if i % 2:
                api.mode = "503"
                time.sleep(length)
                api.mode = "up"
            else:
                api.stop()
                time.sleep(length)
                api.start()
            truth.append((start, time.time()))
            time.sleep(rnd.uniform(1.0, 2.0))
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        rec = json.loads((Path(tmp) / "api-svc.json").read_text())
    api.stop()
    windows = [(_epoch(w["start"]), _epoch(w["end"])) for w in rec["down"]]
    errors, matched = [], 0
    for start, end in truth:
        hits = [w for w in windows if w[0] < end + 1 and w[1] > start - 1]
        if hits:
            matched += 1
            got = sum(w[1] - w[0] for w in hits)
            errors.append(abs(got - (end - start)))
    return {"hz": hz, "interval_s": 1.0 / hz, "outages": outages, "windows": len(windows),
            "missed": outages - matched, "invented": max(0, len(windows) - matched),
            "mean_error_s": sum(errors) / len(errors) if errors else None,
            "max_error_s": max(errors) if errors else None, "polls_per_s": rec["polls_per_s"],
            "true_down_s": sum(e - s for s, e in truth), "measured_down_s": rec["down_s"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--outages", type=int, default=8)
    parser.add_argument("--hz", type=float, nargs="+", default=[2, 4, 10])
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    print("| Hz | polls/s | outages | windows | missed | invented | true down | measured | "
          "mean error | worst error | worst / interval |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for hz in args.hz:
        r = measure(hz, args.outages, args.seed)
        print("| %g | %.1f | %d | %d | %d | %d | %.2fs | %.2fs | %.3fs | %.3fs | %.2f |" % (
            hz, r["polls_per_s"], r["outages"], r["windows"], r["missed"], r["invented"],
            r["true_down_s"], r["measured_down_s"], r["mean_error_s"] or 0, r["max_error_s"] or 0,
            (r["max_error_s"] or 0) / r["interval_s"]))


if __name__ == "__main__":
    main()
