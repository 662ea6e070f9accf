# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""The compute phase's cost model (issue 21): how long playbooks/upgrade_computes.yml takes
for an inventory's size and batch settings, and the model's least-squares fit from
measured runs (bench/bench_fleet.py).

    seconds = fixed_s + per_batch_s * batches + per_host_s * hosts + pause * (batches - 1)

``fixed_s`` is the playbook's own plays around the batches (planning, nova's versions,
the step markers); ``per_batch_s`` a batch's wall time whatever its size (the slowest
host's service waits: agent alive, nova heartbeat); ``per_host_s`` what each further host
of a batch adds (the controller's work per host and task, the throttled agent starts).
Gates wait for an operator and are not in the estimate (``stackhop_approval=auto``).
Standard library only.
"""

from __future__ import annotations

# The default coefficients, the ONE place they are written. Measured on the 2-compute lab
# (two AZs of one compute each, forks 10, pipelining and ControlPersist on), so every batch
# there held one host:
# - one-host batches took 73 and 70 s (upgrade_region.yml blue-green, idle machine;
#   docs/upgrade-control-plane.md), 96 and 100 s (in place, load 4-11; same doc), 108.6 and
#   67.6 s (the rehearsal compute-upgrade; docs/compute-upgrade.md): median 84.5 s, so
#   per_batch_s + per_host_s = 84.5;
# - fixed_s: that rehearsal's resumed run took 73 s for cmp2's 67.6 s batch: 5.4 s;
# - per_host_s cannot be told from per_batch_s with one host per batch. Until the
#   32-compute rehearsal fits it, it is ASSUMED to be a one-host batch's time spread over
#   the 10 forks (a batch larger than forks runs each task in waves): 84.5 / 10 = 8.5 s,
#   and per_batch_s = 84.5 - 8.5 = 76.0.
DEFAULT_MODEL = {
    "fixed_s": 5.4,
    "per_batch_s": 76.0,
    "per_host_s": 8.5,
    "source": ("2-compute lab (one host per batch, forks 10): one-host batches 67.6-108.6 s, "
               "median 84.5 s; per_host_s assumed 84.5 s / 10 forks until the 32-compute "
               "rehearsal fits it (docs/compute-upgrade.md, 'A fleet')"),
}
COEFFICIENTS = ("fixed_s", "per_batch_s", "per_host_s")


class CostModelError(ValueError):
    """One sentence naming the setting and the fix."""


def model_of(model=None):
    """The model to use: ``model``'s coefficients over the defaults, checked."""
    out = dict(DEFAULT_MODEL)
    given = dict(model or {})
    unknown = sorted(set(given) - set(COEFFICIENTS) - {"source"})
    if unknown:
        raise CostModelError(
            "stackhop_compute_cost_model has %s, which the model does not know: use only %s "
            "and source." % (", ".join(unknown), ", ".join(COEFFICIENTS)))
    for key in COEFFICIENTS:
        if given.get(key) is None:
            continue
        try:
            value = float(given[key])
        except (TypeError, ValueError):
            value = -1.0
        if value < 0:
            raise CostModelError(
                "stackhop_compute_cost_model.%s is %r: set it to a number of seconds, 0 or more."
                % (key, given[key]))
        out[key] = value
    if any(given.get(key) is not None for key in COEFFICIENTS):
        out["source"] = str(given.get("source") or "the inventory's stackhop_compute_cost_model")
    return out


def estimate(compute_batches, model=None, batch_pause_s=0):
    """Estimated seconds of the compute phase per AZ and in all.

    ``compute_batches``: the plan's batches per AZ, in run order
    ([{az, hosts, batches: [{hosts: [...]}, ...]}], release_model.compute_batches);
    ``batch_pause_s``: stackhop_compute_batch_pause, waited after every batch but the last.
    Returns {azs: [{az, hosts, batches, seconds}], hosts, batches, fixed_s, total_s, model}.
    """
    m = model_of(model)
    try:
        pause = float(batch_pause_s or 0)
    except (TypeError, ValueError):
        pause = -1.0
    if pause < 0:
        raise CostModelError("stackhop_compute_batch_pause is %r: set it to a number of seconds, "
                             "0 or more." % (batch_pause_s,))
    zones = list(compute_batches or [])
    total_batches = sum(len(z.get("batches") or []) for z in zones)
    azs, seen = [], 0
    for zone in zones:
        batches = zone.get("batches") or []
        hosts = sum(len(b.get("hosts") or []) for b in batches)
        seen += len(batches)
        pauses = len(batches) - (1 if seen == total_batches and batches else 0)
        seconds = m["per_batch_s"] * len(batches) + m["per_host_s"] * hosts + pause * pauses
        azs.append({"az": zone.get("az"), "hosts": hosts, "batches": len(batches),
                    "seconds": round(seconds, 1)})
    total = (m["fixed_s"] if zones else 0.0) + sum(a["seconds"] for a in azs)
    return {"azs": azs, "hosts": sum(a["hosts"] for a in azs), "batches": total_batches,
            "fixed_s": m["fixed_s"] if zones else 0.0, "batch_pause_s": pause,
            "total_s": round(total, 1), "model": m}


def duration_text(seconds):
    """'1 h 05 min', '12 min 08 s', '42 s'."""
    seconds = int(round(float(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return "%d h %02d min" % (hours, minutes)
    if minutes:
        return "%d min %02d s" % (minutes, secs)
    return "%d s" % secs


def _solve(matrix, vector):
    """x of matrix x = vector (Gaussian elimination, partial pivoting); None if singular."""
    n = len(vector)
    a = [list(map(float, row)) + [float(vector[i])] for i, row in enumerate(matrix)]
    scale = max(abs(v) for row in a for v in row[:n]) or 1.0
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) <= 1e-9 * scale:
            return None
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(n):
            if r != col:
                factor = a[r][col] / a[col][col]
                a[r] = [x - factor * y for x, y in zip(a[r], a[col])]
    return [a[i][n] / a[i][i] for i in range(n)]


def fit(rows):
    """Least squares of seconds = fixed_s + per_batch_s * batches + per_host_s * hosts.

    ``rows``: [{batches, hosts, seconds}] of measured runs (another key such as the pause
    must be the same in all of them). Needs runs that tell the three terms apart: at least
    three with different batch counts at equal hosts, or different hosts at equal batches.
    Returns the coefficients, each row's predicted seconds and error, and the largest
    error in percent.
    """
    points = [(float(r["batches"]), float(r["hosts"]), float(r["seconds"])) for r in rows or []]
    if len(points) < 3:
        raise CostModelError("The fit has %d measured runs: measure at least three, with different "
                             "batch sizes and numbers of computes." % len(points))
    xs = [(1.0, b, h) for b, h, _t in points]
    normal = [[sum(x[i] * x[j] for x in xs) for j in range(3)] for i in range(3)]
    rhs = [sum(x[i] * p[2] for x, p in zip(xs, points)) for i in range(3)]
    coef = _solve(normal, rhs)
    if coef is None:
        raise CostModelError("The measured runs cannot tell a batch's cost from a host's (every run "
                             "has the same batches-to-hosts relation): add runs at another batch "
                             "size or number of computes.")
    out = dict(zip(COEFFICIENTS, (round(c, 2) for c in coef)))
    predicted = []
    for (b, h, t), row in zip(points, rows):
        p = coef[0] + coef[1] * b + coef[2] * h
        predicted.append(dict(row, predicted_s=round(p, 1),
                              error_pct=round(100.0 * (p - t) / t, 1) if t else None))
    errors = [abs(r["error_pct"]) for r in predicted if r["error_pct"] is not None]
    out["rows"] = predicted
    out["max_error_pct"] = max(errors) if errors else None
    return out


def within(predicted_s, measured_s, tolerance_pct=20.0):
    """Whether an estimate is within ``tolerance_pct`` of the measured seconds."""
    if not measured_s:
        return False
    return abs(float(predicted_s) - float(measured_s)) <= float(tolerance_pct) / 100.0 * float(measured_s)
