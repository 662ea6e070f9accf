# Copyright (c) stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Controller-side model of the stackhop upgrade report (no Ansible imports).

Used by the ``stackhop.upgrade.upgrade_report`` callback and the
``stackhop.upgrade.upgrade_progress`` filter. The formats are documented in
docs/report.md:

- ``<report_dir>/runs/<run_id>.json``: what one ansible-playbook run recorded
  (phases per host and component), written while the run goes on;
- ``<report_dir>/probes/*.json``: what the API and data-plane probes measured;
- ``<report_dir>/report.json`` and ``report.html``: all runs of the directory
  merged, so an interrupted run and its re-run show in one report.
"""

from __future__ import annotations

import bisect
import datetime
import glob
import json
import os
import tempfile

FORMAT = 1

# Colours of the phases in the chart (others get a colour from PALETTE by name).
PHASE_COLOURS = {
    "preflight": "#6c8ebf",
    "backup": "#8e6cbf",
    "drain": "#bf9a6c",
    "stop": "#bf6c6c",
    "upgrade": "#3f8f5f",
    "db_sync": "#2f7fa0",
    "migrate": "#a0902f",
    "start": "#5fa03f",
    "verify": "#3fa09a",
    "approval": "#9a9a9a",
    "done": "#333333",
}
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
           "#ff9da7", "#9c755f", "#bab0ac", "#e15759"]


# ---------------------------------------------------------------------------
# time helpers


def parse_time(value):
    """Epoch seconds (float) from an epoch number or an ISO 8601 string; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    stamp = datetime.datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def iso(epoch):
    """ISO 8601 UTC with milliseconds, e.g. 2026-11-22T03:04:05.123Z."""
    if epoch is None:
        return None
    stamp = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (stamp.microsecond // 1000)


def human_duration(seconds):
    """'1h02m', '3m05s', '4.2s'."""
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return "%.1fs" % seconds
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return "%dm%02ds" % (minutes, sec)
    hours, minutes = divmod(minutes, 60)
    return "%dh%02dm" % (hours, minutes)


def write_json_atomic(path, data):
    """Write JSON through a temporary file and a rename, so readers never see half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def write_text_atomic(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# probes


API_CHECKS = ("version", "read", "write")


class ProbeError(ValueError):
    """A probe record that does not follow the documented format."""


def normalize_probe(raw, origin):
    """Check one probe record and return it with epoch-second times.

    ``origin`` (a file name or 'set_stats') names the record in error messages.
    """
    if not isinstance(raw, dict):
        raise ProbeError("probe record in %s is not a JSON object; write one object per probe"
                         % origin)
    kind = raw.get("kind")
    if kind not in ("api", "dataplane", "tempest"):
        raise ProbeError("probe record in %s has kind %r; set kind to 'api' or 'dataplane' (a probe), or 'tempest' (the verify role)"
                         % (origin, kind))
    if kind == "tempest":
        return normalize_tempest(raw, origin)
    name = raw.get("name") or raw.get("service") or raw.get("path") or origin
    probe = {
        "kind": kind,
        "name": str(name),
        "origin": origin,
        "start": parse_time(raw.get("start")),
        "end": parse_time(raw.get("end")),
        "interval_s": raw.get("interval_s"),
        "target": raw.get("target"),
    }
    if kind == "api":
        if not raw.get("service"):
            raise ProbeError("api probe %r in %s has no service; set service (e.g. 'nova')"
                             % (name, origin))
        probe["service"] = str(raw["service"])
        # version (the unauthenticated version document, the default), read or write
        # (the authenticated calls of api_probe.py --mode authenticated)
        probe["check"] = str(raw.get("check") or "version")
        if probe["check"] not in API_CHECKS:
            raise ProbeError("api probe %r in %s has check %r; set check to version, read or write"
                             % (name, origin, probe["check"]))
        for key in ("polls", "failed_polls", "skipped_polls", "created", "deleted", "leftovers",
                    "errored"):
            try:
                probe[key] = int(raw[key]) if raw.get(key) is not None else None
            except (TypeError, ValueError):
                raise ProbeError("api probe %r in %s has %s %r; give a whole number"
                                 % (name, origin, key, raw[key]))
        windows = []
        for window in raw.get("down") or []:
            start, end = parse_time(window.get("start")), parse_time(window.get("end"))
            if start is None or end is None or end < start:
                raise ProbeError("api probe %r in %s has a down window without a valid "
                                 "start <= end; give both as ISO 8601 or epoch seconds"
                                 % (name, origin))
            windows.append({"start": start, "end": end, "reason": window.get("reason", "")})
        probe["down"] = sorted(windows, key=lambda w: w["start"])
        probe["down_s"] = round(sum(w["end"] - w["start"] for w in windows), 3)
    else:
        probe["path"] = str(raw.get("path") or name)
        probe["sent"] = int(raw.get("sent") or 0)
        probe["lost"] = int(raw.get("lost") or 0)
        marks = []
        for mark in raw.get("loss") or []:
            start = parse_time(mark.get("start"))
            end = parse_time(mark.get("end", mark.get("start")))
            if start is None:
                raise ProbeError("dataplane probe %r in %s has a loss mark without start"
                                 % (name, origin))
            marks.append({"start": start, "end": max(start, end or start),
                          "lost": int(mark.get("lost") or 1)})
        probe["loss"] = sorted(marks, key=lambda m: m["start"])
        probe["events"] = normalize_events(raw.get("events"), name, origin)
        probe["events_dropped"] = {str(k): int(v) for k, v in
                                   (raw.get("events_dropped") or {}).items() if int(v)}
        gap = raw.get("longest_gap_s")
        if gap is None and marks:
            gap = max(m["end"] - m["start"] for m in marks)
        probe["longest_gap_s"] = float(gap) if gap is not None else 0.0
        if not probe["lost"] and marks:
            probe["lost"] = sum(m["lost"] for m in marks)
    return probe


def normalize_tempest(raw, origin):
    """A tempest record of the verify role (roles/verify/tasks/tempest.yml): its run
    ``phase`` (before or after), ``table`` (service, before and after passed/failed/skipped),
    ``regressions``, ``seconds``, ``before_seconds``, ``compared``, ``version``, ``host``."""
    if raw.get("phase") not in ("before", "after"):
        raise ProbeError("tempest record in %s has phase %r; set phase to 'before' or 'after'"
                         % (origin, raw.get("phase")))
    rows = raw.get("table") or []
    if not isinstance(rows, list) or not all(isinstance(r, dict) and r.get("service") for r in rows):
        raise ProbeError("tempest record in %s has a table that is not a list of {service, before, after}"
                         % origin)

    def number(value):
        return None if value in (None, "") else round(float(value), 1)
    return {"kind": "tempest", "name": str(raw.get("name") or "tempest"), "origin": origin,
            "phase": raw["phase"], "host": raw.get("host"), "version": raw.get("version"),
            "seconds": number(raw.get("seconds")), "before_seconds": number(raw.get("before_seconds")),
            "compared": bool(raw.get("compared")) and str(raw.get("compared")).lower() != "false",
            "table": rows, "regressions": list(raw.get("regressions") or []),
            "passed_then_skipped": list(raw.get("passed_then_skipped") or []),
            "start": None, "end": None}


def config_edits(result):
    """The config file edits a stackhop.upgrade.config_migrate result made, or in check mode
    would make: ``[{path, action, section, option, kind, reason}]``, from its ``path`` and
    ``edits``, its ``files`` (called with ``paths``) or each item's of a loop. No value is
    kept: the report needs what changed and why, and a value may be a secret."""
    if not isinstance(result, dict):
        return []
    items = result["results"] if isinstance(result.get("results"), list) else [result]
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        for entry in item["files"] if isinstance(item.get("files"), list) else [item]:
            if not isinstance(entry, dict) or not entry.get("path") or not isinstance(entry.get("edits"), list):
                continue
            for edit in entry["edits"]:
                if isinstance(edit, dict):
                    out.append({"path": entry["path"], "action": edit.get("action"), "section": edit.get("section"),
                                "option": edit.get("option"), "kind": edit.get("kind"), "reason": edit.get("reason")})
    return out


def tempest_summary(probes):
    """The report's tempest entry: the last run after the upgrade (it holds the before
    counts it compared with), else the last run before it; None without tempest."""
    runs = [p for p in probes if p["kind"] == "tempest"]
    if not runs:
        return None
    after = [p for p in runs if p["phase"] == "after"]
    before = [p for p in runs if p["phase"] == "before"]
    if after:
        entry = dict(after[-1])
    else:
        last = before[-1]
        entry = dict(last, compared=False, seconds=None, before_seconds=last["seconds"],
                     table=[{"service": r["service"], "before": r.get("after"), "after": None}
                            for r in last["table"]])
    if entry.get("before_seconds") is None and before:
        entry["before_seconds"] = before[-1]["seconds"]
    for key in ("origin", "start", "end", "kind"):
        entry.pop(key, None)
    return entry


def normalize_events(raw_events, name, origin):
    """The timed events of a dataplane record (probe.py's ``events``), epoch seconds.

    Each: ``kind`` (loss, gap, reset, ...), ``start``, ``end`` (default: start), ``ms``
    (default: end - start), and optionally ``seq`` (the ICMP sequence number of a lost
    request), ``reason`` (of a TCP reset) and ``open`` (a gap still going on).
    """
    if raw_events is None:
        return []
    if not isinstance(raw_events, list):
        raise ProbeError("dataplane probe %r in %s has events that are not a list; give a "
                         "list of {kind, start, end, ms}" % (name, origin))
    events = []
    for raw in raw_events:
        if not isinstance(raw, dict):
            raise ProbeError("dataplane probe %r in %s has an event that is not an object"
                             % (name, origin))
        start = parse_time(raw.get("start"))
        end = parse_time(raw.get("end")) if raw.get("end") is not None else start
        if start is None or end is None or end < start:
            raise ProbeError("dataplane probe %r in %s has an event without a valid "
                             "start <= end; give both as ISO 8601 or epoch seconds"
                             % (name, origin))
        ms = raw.get("ms")
        event = {"kind": str(raw.get("kind") or "loss"), "start": start, "end": end,
                 "ms": round(float(ms) if ms is not None else (end - start) * 1000, 1)}
        for key in ("seq", "reason"):
            if raw.get(key) not in (None, ""):
                event[key] = raw[key]
        if raw.get("open"):
            event["open"] = True
        events.append(event)
    return sorted(events, key=lambda e: (e["start"], e["kind"]))


def load_probe_files(report_dir):
    """Probe records from <report_dir>/probes/*.json (a file holds one record or a list)."""
    probes, errors = [], []
    for path in sorted(glob.glob(os.path.join(report_dir, "probes", "*.json"))):
        origin = os.path.relpath(path, report_dir)
        try:
            with open(path) as handle:
                data = json.load(handle)
        except ValueError as exc:
            errors.append("%s is not valid JSON (%s); the probe must write it atomically"
                          % (origin, exc))
            continue
        for raw in data if isinstance(data, list) else [data]:
            try:
                probes.append(normalize_probe(raw, origin))
            except (ProbeError, ValueError, TypeError, AttributeError) as exc:
                errors.append(str(exc))
    return probes, errors


# ---------------------------------------------------------------------------
# runs and merging


def load_runs(report_dir):
    """The run records of a report directory, oldest first."""
    runs = []
    for path in glob.glob(os.path.join(report_dir, "runs", "*.json")):
        try:
            with open(path) as handle:
                runs.append(json.load(handle))
        except ValueError:
            continue
    runs.sort(key=lambda r: (parse_time(r.get("start")) or 0, r.get("run_id", "")))
    return runs


def _span_seconds(phase):
    return max(0.0, (parse_time(phase["end"]) or 0) - (parse_time(phase["start"]) or 0))


def place_events(events, phases):
    """Which phase spans were moving when each event happened.

    ``events``: dicts with ``start`` and ``end`` (ISO 8601 or epoch; an instant when
    equal); ``phases``: the report's phase spans (``host``, ``phase``, ``component``,
    ``start``, ``end``, and optionally ``run``). A span is moving at an event when the two
    overlap (ends included). Returns copies of the events, in their order, each with
    ``moving``: [{host, phase, component, run}, ...] sorted by host, empty when no span
    was running then.
    """
    spans = []
    for phase in phases:
        start, end = parse_time(phase.get("start")), parse_time(phase.get("end"))
        if start is None:
            continue
        spans.append((start, end if end is not None else start, phase))
    spans.sort(key=lambda s: s[0])
    starts = [s[0] for s in spans]
    placed = []
    for event in events:
        start = parse_time(event["start"])
        end = parse_time(event.get("end"))
        end = start if end is None else max(start, end)
        moving = []
        for span_start, span_end, phase in spans[:bisect.bisect_right(starts, end)]:
            if span_end >= start:
                moving.append({"host": phase.get("host"), "phase": phase.get("phase"),
                               "component": phase.get("component"), "run": phase.get("run")})
        moving.sort(key=lambda m: (str(m["host"]), str(m["phase"]), str(m["component"])))
        placed.append(dict(event, moving=moving))
    return placed


def _merge_check(entry, probe):
    """A read or write record into the service's ``reads`` / ``writes``: its calls, the
    failed ones, the down windows, their total and the longest."""
    key = probe["check"] + "s"
    part = entry.setdefault(key, {"polls": 0, "failed_polls": 0, "skipped_polls": 0,
                                  "down": [], "down_s": 0.0, "longest_s": 0.0})
    for field in ("polls", "failed_polls", "skipped_polls", "created", "deleted", "leftovers",
                  "errored"):
        if probe.get(field) is not None:
            part[field] = part.get(field, 0) + probe[field]
    for window in probe["down"]:
        seconds = round(window["end"] - window["start"], 3)
        part["down"].append({"start": iso(window["start"]), "end": iso(window["end"]),
                             "seconds": seconds, "reason": window["reason"],
                             "probe": probe["name"]})
        part["down_s"] = round(part["down_s"] + seconds, 3)
        part["longest_s"] = max(part["longest_s"], seconds)
    part["down"].sort(key=lambda w: w["start"])


def merge(report_dir, runs, probes, probe_errors=None, current_run_id=None):
    """Build the report.json document from run records and probe records."""
    phases, hosts, run_rows = [], {}, []
    for index, run in enumerate(runs, 1):
        status = run.get("status", "running")
        if status == "running" and run.get("run_id") != current_run_id:
            status = "interrupted"
        run_rows.append({
            "run_id": run.get("run_id"), "index": index, "status": status,
            "start": run.get("start"), "end": run.get("end"),
            "playbooks": run.get("playbooks", []),
            "upgrade_id": run.get("upgrade_id"),
        })
        for phase in run.get("phases", []):
            row = dict(phase)
            row["run_id"] = run.get("run_id")
            row["run"] = index
            row["duration_s"] = round(_span_seconds(row), 3)
            phases.append(row)
        for name, info in (run.get("hosts") or {}).items():
            entry = hosts.setdefault(name, {"az": None, "runs": []})
            entry["az"] = info.get("az") or entry["az"]
            entry["runs"].append(dict(info, run_id=run.get("run_id")))
    phases.sort(key=lambda p: (parse_time(p["start"]) or 0, p["host"]))
    edits = [dict(edit, run=index, run_id=run.get("run_id"))
             for index, run in enumerate(runs, 1) for edit in run.get("config_edits") or []]

    api = {}
    dataplane = []
    for probe in probes:
        if probe["kind"] == "tempest":
            continue
        if probe["kind"] == "api":
            entry = api.setdefault(probe["service"], {"service": probe["service"],
                                                      "down": [], "down_s": 0.0,
                                                      "longest_s": 0.0, "probes": []})
            entry["probes"].append(probe["name"])
            if probe["check"] != "version":
                _merge_check(entry, probe)
                continue
            for window in probe["down"]:
                entry["down"].append({"start": iso(window["start"]), "end": iso(window["end"]),
                                      "seconds": round(window["end"] - window["start"], 3),
                                      "reason": window["reason"], "probe": probe["name"]})
                entry["down_s"] = round(entry["down_s"] + window["end"] - window["start"], 3)
                entry["longest_s"] = max(entry["longest_s"],
                                         round(window["end"] - window["start"], 3))
        else:
            dataplane.append({
                "name": probe["name"], "path": probe["path"], "sent": probe["sent"],
                "lost": probe["lost"], "longest_gap_s": round(probe["longest_gap_s"], 3),
                "loss_pct": round(100.0 * probe["lost"] / probe["sent"], 3) if probe["sent"] else None,
                "start": iso(probe["start"]), "end": iso(probe["end"]),
                "loss": [{"start": iso(m["start"]), "end": iso(m["end"]), "lost": m["lost"]}
                         for m in probe["loss"]],
                "events": [dict(e, start=iso(e["start"]), end=iso(e["end"]))
                           for e in place_events(probe["events"], phases)],
                "events_dropped": probe["events_dropped"],
            })
    for entry in api.values():
        entry["down"].sort(key=lambda w: w["start"])

    starts = [parse_time(r["start"]) for r in run_rows if r.get("start")]
    ends = [parse_time(r["end"]) for r in run_rows if r.get("end")]
    ends += [parse_time(p["end"]) for p in phases]
    upgrade_ids = sorted({r["upgrade_id"] for r in run_rows if r.get("upgrade_id")})
    failed = [p for p in phases if p.get("failed")]
    last = run_rows[-1]["status"] if run_rows else "empty"
    return {
        "format": FORMAT,
        "report_dir": os.path.abspath(report_dir),
        "upgrade_id": upgrade_ids[-1] if upgrade_ids else None,
        "generated": iso(datetime.datetime.now(datetime.timezone.utc).timestamp()),
        "start": iso(min(starts)) if starts else None,
        "end": iso(max(ends)) if ends else None,
        "status": last,
        "runs": run_rows,
        "hosts": hosts,
        "phases": phases,
        "failed_phases": len(failed),
        "api": sorted(api.values(), key=lambda e: e["service"]),
        "dataplane": dataplane,
        "tempest": tempest_summary(probes),
        "config_edits": edits,
        "probe_errors": list(probe_errors or []),
    }


# ---------------------------------------------------------------------------
# progress


def az_durations(report):
    """Seconds per host in each AZ of a (rehearsal) report: AZ wall time / hosts in the AZ.

    Hosts of one AZ are upgraded in batches, so their phases overlap: the AZ's wall
    time divided by its host count is the throughput a remaining host costs.
    """
    spans = {}
    for phase in report.get("phases", []):
        az = phase.get("az") or "-"
        start, end = parse_time(phase["start"]), parse_time(phase["end"])
        entry = spans.setdefault(az, {"start": start, "end": end, "hosts": set()})
        entry["start"] = min(entry["start"], start)
        entry["end"] = max(entry["end"], end)
        entry["hosts"].add(phase["host"])
    return {az: (e["end"] - e["start"]) / max(1, len(e["hosts"])) for az, e in spans.items()}


def progress(az_hosts, done, rehearsal=None, now=None):
    """Per AZ hosts done/total and the time left estimated from a rehearsal report.

    ``az_hosts``: {az: [host, ...]}; ``done``: hosts finished; ``rehearsal``: a
    report.json document (or None). Returns {az: {...}, '_all': {...}}.
    """
    done = set(done or [])
    per_host = az_durations(rehearsal) if rehearsal else {}
    fallback = (sum(per_host.values()) / len(per_host)) if per_host else None
    now = now if now is not None else datetime.datetime.now(datetime.timezone.utc).timestamp()
    result, total_done, total_hosts, total_left = {}, 0, 0, 0.0
    have_estimate = bool(per_host)
    for az in sorted(az_hosts):
        members = list(az_hosts[az])
        finished = [h for h in members if h in done]
        remaining = [h for h in members if h not in done]
        seconds = per_host.get(az, fallback)
        left = None if seconds is None else round(seconds * len(remaining), 1)
        result[az] = {
            "done": len(finished), "total": len(members),
            "percent": round(100.0 * len(finished) / len(members), 1) if members else 100.0,
            "remaining": remaining,
            "seconds_per_host": None if seconds is None else round(seconds, 1),
            "estimate_s": left,
            "estimate_source": "rehearsal" if az in per_host else ("rehearsal average" if seconds else None),
        }
        total_done += len(finished)
        total_hosts += len(members)
        total_left += left or 0.0
    result["_all"] = {
        "done": total_done, "total": total_hosts,
        "percent": round(100.0 * total_done / total_hosts, 1) if total_hosts else 100.0,
        "estimate_s": round(total_left, 1) if have_estimate else None,
        "eta": iso(now + total_left) if have_estimate else None,
    }
    return result


def progress_line(az, entry):
    text = "%s: %d/%d hosts done" % (az, entry["done"], entry["total"])
    if entry.get("estimate_s") is not None:
        text += ", about %s left (from the rehearsal)" % human_duration(entry["estimate_s"])
    return text


# ---------------------------------------------------------------------------
# Markdown summary

SUMMARY_EVENTS = 10   # data-plane events listed in the summary (all are in report.html)


def markdown_summary(report, html_path=None):
    lines = ["## stackhop upgrade report", ""]
    runs = report["runs"]
    lines.append("Upgrade id: %s; runs: %s; status: **%s**" % (
        report.get("upgrade_id") or "-",
        ", ".join("%d (%s)" % (r["index"], r["status"]) for r in runs) or "-",
        report["status"]))
    if report.get("start") and report.get("end"):
        lines.append("Wall time: %s (%s to %s)" % (
            human_duration(parse_time(report["end"]) - parse_time(report["start"])),
            report["start"], report["end"]))
    lines.append("")
    # phases aggregated per phase and component
    table = {}
    for phase in report["phases"]:
        key = (phase["phase"], phase["component"])
        entry = table.setdefault(key, {"hosts": set(), "seconds": 0.0, "changed": 0,
                                       "failed": 0, "start": phase["start"]})
        entry["hosts"].add(phase["host"])
        entry["seconds"] = max(entry["seconds"], phase["duration_s"])
        entry["changed"] += phase.get("changed", 0)
        entry["failed"] += 1 if phase.get("failed") else 0
    if table:
        lines += ["| phase | component | hosts | longest | changed | failed |",
                  "|---|---|---:|---:|---:|---:|"]
        for (name, component), entry in sorted(table.items(), key=lambda kv: kv[1]["start"]):
            lines.append("| %s | %s | %d | %s | %d | %d |" % (
                name, component, len(entry["hosts"]), human_duration(entry["seconds"]),
                entry["changed"], entry["failed"]))
        lines.append("")
    if report["api"]:
        lines += ["| API | down total | longest window | windows |", "|---|---:|---:|---:|"]
        for entry in report["api"]:
            lines.append("| %s | %s | %s | %d |" % (entry["service"], human_duration(entry["down_s"]),
                                                    human_duration(entry["longest_s"]),
                                                    len(entry["down"])))
        lines.append("")
        rows = api_check_rows(report)
        if rows:
            lines += ["| API | reads | failed reads | longest read window | writes | failed writes | "
                      "longest write window |", "|---|---:|---:|---:|---:|---:|---:|"]
            for row in rows:
                cells = [row["service"]]
                for part in (row["reads"], row["writes"]):
                    cells += ["-", "-", "-"] if part is None else [
                        str(part["polls"]), str(part["failed_polls"]), human_duration(part["longest_s"])]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    if report["dataplane"]:
        lines += ["| data path | sent | lost | longest gap |", "|---|---:|---:|---:|"]
        for entry in report["dataplane"]:
            lines.append("| %s | %d | %d | %s |" % (entry["path"], entry["sent"], entry["lost"],
                                                    human_duration(entry["longest_gap_s"])))
        lines.append("")
    rows = event_rows(report)
    if rows:
        shown = rows[:SUMMARY_EVENTS]
        lines += ["| losses and gaps (UTC) | data path | event | duration | moving |",
                  "|---|---|---|---:|---|"]
        for row in shown:
            lines.append("| %s | %s | %s | %s | %s |" % (
                row["time"], row["path"], row["what"], row["duration"], row["moving_text"]))
        if len(rows) > len(shown):
            lines.append("")
            lines.append("%d more in the report's table 'Losses and gaps'." % (len(rows) - len(shown)))
        lines.append("")
    if report.get("tempest"):
        lines += tempest_markdown(report["tempest"]) + [""]
    if not report["api"] and not report["dataplane"]:
        lines += ["No probe data (see docs/report.md, probes/*.json).", ""]
    for error in report.get("probe_errors", []):
        lines.append("- probe data ignored: %s" % error)
    if html_path:
        lines.append("Report: %s" % html_path)
    return "\n".join(lines).rstrip() + "\n"


def api_check_rows(report):
    """The services with authenticated reads or writes: {service, reads, writes} (None
    where that check did not run), for the summary's and the page's table."""
    return [{"service": e["service"], "reads": e.get("reads"), "writes": e.get("writes")}
            for e in report["api"] if e.get("reads") or e.get("writes")]


def tempest_markdown(entry):
    """Tempest's before/after table (module_utils/tempest.py's, shared with the verify role)."""
    from ansible_collections.stackhop.upgrade.plugins.module_utils.tempest import markdown
    return markdown(entry)


# ---------------------------------------------------------------------------
# HTML


TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
_ENV = None


def phase_colour(name):
    if name in PHASE_COLOURS:
        return PHASE_COLOURS[name]
    return PALETTE[sum(ord(c) for c in name) % len(PALETTE)]


def _px(value):
    """A coordinate as the SVG prints it: one decimal."""
    return "%.1f" % value


def template_env():
    """The Jinja2 environment of the report templates (next to this file, in templates/).

    Every value is HTML-escaped unless the template marks it safe; the templates format
    the numbers (``px``: one decimal, ``int``: whole pixels or counts).
    """
    global _ENV
    if _ENV is None:
        import jinja2
        _ENV = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=True)
        _ENV.filters.update(px=_px, duration=human_duration, colour=phase_colour)
    return _ENV


def _ticks(t0, t1, width_px, seconds_per_px=None):
    """Round tick times in [t0, t1], about one per 90 px (seconds_per_px keeps one scale)."""
    span = max(t1 - t0, 1e-3)
    scale = seconds_per_px or span / max(width_px, 1)
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400):
        if step / scale >= 90:
            break
    first = (int(t0 // step) + 1) * step
    ticks = []
    value = first
    while value < t1:
        ticks.append(value)
        value += step
    return ticks, step


BREAK_PX = 34


def axis_pieces(report, t0, t1, plot_w, left=220):
    """Pieces of the time axis: (start, end, left_px, width_px, cut).

    A pause between two runs longer than a minute and than 15 % of the time the runs
    took is cut out (drawn as a hatched band of BREAK_PX pixels), so an interrupted run
    and its re-run hours later both stay readable.
    """
    spans = sorted((parse_time(r.get("start")), parse_time(r.get("end")) or parse_time(r.get("start")))
                   for r in report["runs"] if r.get("start"))
    merged = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    active = sum(e - s for s, e in merged) or (t1 - t0)
    gaps = []
    for (dummy, end), (start, dummy2) in zip(merged, merged[1:]):
        if start - end > max(60.0, 0.15 * active):
            gaps.append((end, start))
    bounds, cursor = [], t0
    for start, end in gaps:
        bounds.append((cursor, start, False))
        bounds.append((start, end, True))
        cursor = end
    bounds.append((cursor, t1, False))
    live = sum(e - s for s, e, cut in bounds if not cut) or 1.0
    free = plot_w - BREAK_PX * len(gaps)
    pieces, x = [], float(left)
    for start, end, cut in bounds:
        width = BREAK_PX if cut else free * (end - start) / live
        pieces.append((start, end, x, width, cut))
        x += width
    return pieces


# ---------------------------------------------------------------------------
# timeline layout: scale (time -> x), lanes (rows -> y), marks (what is drawn);
# templates/timeline.svg.j2 draws it.


def _timeline_times(report):
    """Every time the chart must show: phases, API down windows, loss marks, runs."""
    t_values = []
    for phase in report["phases"]:
        t_values += [parse_time(phase["start"]), parse_time(phase["end"])]
    for entry in report["api"]:
        for window in entry["down"] + _check_windows(entry):
            t_values += [parse_time(window["start"]), parse_time(window["end"])]
    for entry in report["dataplane"]:
        for mark in entry["loss"]:
            t_values += [parse_time(mark["start"]), parse_time(mark["end"])]
        for event in entry.get("events") or []:
            t_values += [parse_time(event["start"]), parse_time(event["end"])]
    for run in report["runs"]:
        t_values += [parse_time(run.get("start")), parse_time(run.get("end"))]
    return [t for t in t_values if t is not None]


def _check_windows(entry):
    return [w for key in ("reads", "writes") for w in (entry.get(key) or {}).get("down") or []]


class TimeScale:
    """Time to x pixels over the axis pieces (long pauses between runs cut out)."""

    label_w, right, row_h, top = 220, 20, 26, 34

    def __init__(self, report, t_values, width):
        self.t0, self.t1 = min(t_values), max(t_values)
        if self.t1 - self.t0 < 1:
            self.t1 = self.t0 + 1
        self.width = width
        self.plot_w = width - self.label_w - self.right
        self.pieces = axis_pieces(report, self.t0, self.t1, self.plot_w, self.label_w)

    def x(self, t):
        pieces = self.pieces
        for index, (start, end, left, span_px, dummy) in enumerate(pieces):
            if t <= end or index == len(pieces) - 1:
                t = min(max(t, start), end)
                return left + (t - start) / max(end - start, 1e-9) * span_px
        return self.label_w + self.plot_w

    def axis(self, axis_y):
        """Axis pieces: a cut as a hatched band with its duration, the others with ticks."""
        pieces = self.pieces
        seconds_per_px = sum(p[1] - p[0] for p in pieces if not p[4]) / max(
            1.0, sum(p[3] for p in pieces if not p[4]))
        out = []
        for start, end, left, span_px, cut in pieces:
            if cut:
                out.append({"cut": True, "x": left, "width": span_px,
                            "label": "+" + human_duration(end - start)})
                continue
            ticks, step = _ticks(start, end, max(span_px, 1), seconds_per_px)
            fmt = "%H:%M:%S" if step < 60 else "%H:%M"
            out.append({"cut": False, "ticks": [
                {"x": self.x(tick),
                 "text": datetime.datetime.fromtimestamp(tick, tz=datetime.timezone.utc).strftime(fmt)}
                for tick in ticks]})
        return out


def timeline_lanes(report, scale):
    """The rows: hosts (grouped by AZ, in order of first phase), then APIs, then paths."""
    hosts = []
    for phase in report["phases"]:
        if phase["host"] not in hosts:
            hosts.append(phase["host"])
    host_az = {h: (report["hosts"].get(h) or {}).get("az") for h in hosts}
    order = {h: i for i, h in enumerate(hosts)}
    hosts.sort(key=lambda h: (host_az.get(h) or "", order[h]))
    rows = [("host", h) for h in hosts] + [("api", e["service"]) for e in report["api"]]
    rows += [("dataplane", e["path"]) for e in report["dataplane"]]
    lanes = []
    for index, (kind, name) in enumerate(rows):
        fill = "#f7f7f7" if index % 2 else "#ffffff"
        label = name
        if kind == "host" and host_az.get(name):
            label = "%s (%s)" % (name, host_az[name])
        elif kind == "api":
            fill, label = "#fdf3f3", "API %s" % name
        elif kind == "dataplane":
            fill, label = "#f3f6fd", "ping %s" % name
        lanes.append({"kind": kind, "name": name, "y": scale.top + index * scale.row_h,
                      "fill": fill, "label": label,
                      "short": label if len(label) <= 28 else label[:27] + "\u2026"})
    return hosts, lanes


def _phase_mark(phase, y, scale):
    start, end = parse_time(phase["start"]), parse_time(phase["end"])
    x0 = scale.x(start)
    x1 = max(scale.x(end), x0 + 2)
    state = "failed" if phase.get("failed") else ("interrupted" if phase.get("interrupted") else "")
    tip = "%s\n%s / %s\n%s - %s (%s)\nrun %s, tasks %d, changed %d%s" % (
        phase["host"], phase["phase"], phase["component"], phase["start"][11:19],
        phase["end"][11:19], human_duration(phase["duration_s"]), phase["run"],
        phase.get("tasks", 0), phase.get("changed", 0), ", " + state.upper() if state else "")
    label = "%s/%s" % (phase["phase"], phase["component"])
    if x1 - x0 <= 7 * len(label):
        label = phase["component"]
    return {"phase": phase, "x": x0, "y": y, "width": x1 - x0, "state": state, "tip": tip,
            "label": label if x1 - x0 > 7 * len(label) + 6 else None}


# failing authenticated API reads and writes (api_probe.py --mode authenticated)
CHECK_COLOURS = {"read": "#ff7f0e", "write": "#7b3294"}
EVENT_COLOURS = {"loss": "#c51b7d", "gap": "#e6550d", "reset": "#111111"}
EVENT_LEGEND = [("loss", EVENT_COLOURS["loss"], "lost packet"),
                ("gap", EVENT_COLOURS["gap"], "gap > 50 ms"),
                ("reset", EVENT_COLOURS["reset"], "TCP reset")]


def event_colour(kind):
    return EVENT_COLOURS.get(kind, "#555555")


def _ms_text(ms):
    return "%.0f ms" % ms if ms < 10000 else human_duration(ms / 1000.0)


def moving_text(moving):
    """'upgrade/nova on cmp1, stop/ovs on cmp2' or 'none'."""
    if not moving:
        return "none"
    return ", ".join("%s/%s on %s" % (m["phase"], m["component"], m["host"]) for m in moving)


def event_rows(report):
    """The data-plane events of every path, by time: the 'losses and gaps' table."""
    rows = []
    for entry in report["dataplane"]:
        for event in entry.get("events") or []:
            what = event["kind"]
            if event.get("seq") is not None:
                what += " (seq %s)" % event["seq"]
            if event.get("reason"):
                what += ": %s" % event["reason"]
            if event.get("open"):
                what += " (still going on)"
            rows.append({
                "start": event["start"], "end": event["end"], "time": event["start"][11:23],
                "path": entry["path"], "kind": event["kind"], "what": what,
                "colour": event_colour(event["kind"]),
                "duration": _ms_text(event["ms"]) if event["kind"] == "gap" or event["ms"] else "-",
                "moving": event.get("moving") or [], "moving_text": moving_text(event.get("moving")),
            })
    rows.sort(key=lambda r: (parse_time(r["start"]), r["path"], r["kind"]))
    return rows


def _event_marks(entry, event, y, scale, host_y):
    start, end = parse_time(event["start"]), parse_time(event["end"])
    x0 = scale.x(start)
    width = max(2.0, scale.x(end) - x0)
    what = event["kind"] + (" %s" % _ms_text(event["ms"]) if event["kind"] == "gap" else "")
    if event.get("seq") is not None:
        what += " seq %s" % event["seq"]
    tip = "%s: %s\n%s - %s\nmoving: %s" % (
        entry["path"], what, event["start"][11:23], event["end"][11:23],
        moving_text(event.get("moving")))
    mark = {"path": entry["path"], "kind": event["kind"], "tip": tip, "x": x0, "y": y,
            "width": width, "colour": event_colour(event["kind"])}
    beside = [{"host": m["host"], "kind": event["kind"], "tip": tip, "x": x0,
               "y": host_y[m["host"]], "colour": mark["colour"]}
              for m in event.get("moving") or [] if m["host"] in host_y]
    return mark, beside


def timeline_marks(report, scale, hosts):
    """What is drawn on the lanes: run boundaries, phases, API down windows, losses, and
    the data-plane events (each loss, gap and reset at its time in its path's row, and a
    marker in the row of each host whose phase was moving then)."""
    row_h = scale.row_h
    x = scale.x
    marks = {"runs": [], "phases": [], "api": [], "api_checks": [], "loss": [], "events": [],
             "beside": []}
    host_y = {host: scale.top + index * row_h for index, host in enumerate(hosts)}
    for run in report["runs"]:
        start = parse_time(run.get("start"))
        if start is not None:
            marks["runs"].append({"x": x(start), "index": run["index"], "status": run["status"]})
    for phase in report["phases"]:
        y = scale.top + hosts.index(phase["host"]) * row_h + 4
        marks["phases"].append(_phase_mark(phase, y, scale))
    offset = len(hosts)
    for index, entry in enumerate(report["api"]):
        y = scale.top + (offset + index) * row_h
        for window in entry["down"]:
            start, end = parse_time(window["start"]), parse_time(window["end"])
            tip = "API %s down %s\n%s - %s %s" % (
                entry["service"], human_duration(window["seconds"]), window["start"][11:19],
                window["end"][11:19], window.get("reason") or "")
            marks["api"].append({"service": entry["service"], "tip": tip, "x": x(start), "y": y,
                                 "width": max(1.5, x(end) - x(start))})
        # the authenticated reads (a strip at the top of the row) and writes (at the bottom)
        for check, key in (("read", "reads"), ("write", "writes")):
            for window in (entry.get(key) or {}).get("down") or []:
                start, end = parse_time(window["start"]), parse_time(window["end"])
                tip = "API %s %s failing %s\n%s - %s %s" % (
                    entry["service"], check + "s", human_duration(window["seconds"]),
                    window["start"][11:19], window["end"][11:19], window.get("reason") or "")
                marks["api_checks"].append({
                    "service": entry["service"], "check": check, "tip": tip, "x": x(start),
                    "y": y + (1 if check == "read" else row_h - 5), "colour": CHECK_COLOURS[check],
                    "width": max(1.5, x(end) - x(start))})
    offset += len(report["api"])
    for index, entry in enumerate(report["dataplane"]):
        y = scale.top + (offset + index) * row_h
        for mark in entry["loss"]:
            start, end = parse_time(mark["start"]), parse_time(mark["end"])
            tip = "%s: %d lost\n%s - %s" % (
                entry["path"], mark["lost"], mark["start"][11:19], mark["end"][11:19])
            marks["loss"].append({"path": entry["path"], "tip": tip, "x": x(start), "y": y,
                                  "width": max(1.5, x(end) - x(start))})
        for event in entry.get("events") or []:
            mark, beside = _event_marks(entry, event, y, scale, host_y)
            marks["events"].append(mark)
            marks["beside"] += beside
    # gaps first: the instants (losses, resets) are drawn over them
    marks["events"].sort(key=lambda m: (m["kind"] != "gap", m["x"]))
    marks["beside"].sort(key=lambda m: (m["kind"] != "gap", m["x"]))
    return marks


def timeline_layout(report, width=1200):
    """Everything templates/timeline.svg.j2 draws, in pixels (None: nothing recorded)."""
    t_values = _timeline_times(report)
    if not t_values:
        return {"empty": True, "width": width}
    scale = TimeScale(report, t_values, width)
    hosts, lanes = timeline_lanes(report, scale)
    axis_y = scale.top + scale.row_h * len(lanes)
    return {"empty": False, "width": width, "height": scale.top + scale.row_h * len(lanes) + 40,
            "label_w": scale.label_w, "plot_w": scale.plot_w, "row_h": scale.row_h,
            "top": scale.top, "axis_y": axis_y, "lanes": lanes, "axis": scale.axis(axis_y),
            "marks": timeline_marks(report, scale, hosts)}


def timeline_svg(report, width=1200):
    """The timeline chart as an inline SVG string (rendered on the controller, no JS needed)."""
    return template_env().get_template("timeline.svg.j2").render(
        timeline=timeline_layout(report, width))


def render_html(report):
    """report.html: one self-contained page (inline CSS, SVG and script, no network)."""
    seen = []
    for phase in report["phases"]:
        if phase["phase"] not in seen:
            seen.append(phase["phase"])
    title = ("stackhop upgrade report %s" % (report.get("upgrade_id") or "")).strip()
    return template_env().get_template("upgrade_report.html.j2").render(
        report=report, title=title, legend=seen, timeline=timeline_layout(report),
        events=event_rows(report), event_legend=EVENT_LEGEND, api_checks=api_check_rows(report),
        check_colours=CHECK_COLOURS)


def build_report(report_dir, extra_probes=None, current_run_id=None):
    """Merge the runs and probes of ``report_dir``; write report.json and report.html.

    Returns (report, html_path).
    """
    probes, errors = load_probe_files(report_dir)
    runs = load_runs(report_dir)
    extra = list(extra_probes or [])
    for run in runs:
        extra += [("set_stats of run %s" % run.get("run_id"), raw) for raw in run.get("probes") or []]
    for origin, raw in extra:
        try:
            probes.append(normalize_probe(raw, origin))
        except (ProbeError, ValueError, TypeError, AttributeError) as exc:
            errors.append(str(exc))
    report = merge(report_dir, runs, probes, errors, current_run_id)
    write_json_atomic(os.path.join(report_dir, "report.json"), report)
    html_path = os.path.join(os.path.abspath(report_dir), "report.html")
    write_text_atomic(html_path, render_html(report))
    return report, html_path
