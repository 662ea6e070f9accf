# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""API downtime probe: polls every service's unauthenticated version document.

    api_probe.py run --target keystone=http://10.20.0.31:5000/v3 --target nova=... \
        --hz 4 --timeout 1 --out-dir REPORT_DIR/probes [--state FILE] [--daemon]
    api_probe.py report --out-dir REPORT_DIR/probes [--format json|markdown]
    api_probe.py status --state FILE
    api_probe.py stop --state FILE

``run`` polls each target in its own thread ``--hz`` times a second (a fresh TCP
connection per poll, ``Connection: close``). A poll fails when the connection is
refused or reset, when nothing answers within ``--timeout`` seconds, or when the
answer is HTTP 5xx; every other answer (200, 300 Multiple Choices, 401...) means the
API is up. A down window runs from the send time of the first failed poll to the send
time of the first good one, so each edge is known to within one poll interval.

Every second (and on SIGTERM/SIGINT) the probe rewrites ``<out-dir>/api-<service>.json``
atomically (temporary file, fsync, rename) with one record in the report callback's
format (docs/report.md, "Probe data"): ``kind: api``, ``service``, ``target``,
``interval_s``, ``start``, ``end``, ``down`` windows (a window still open is written
with ``end`` = now and ``ongoing: true``). A record left by an earlier run of the probe
for the same service and target is continued: its windows are kept and the time the
probe was not running is listed under ``unmonitored``.

Only the standard library is used, so any Python 3.6+ runs it.
"""

from __future__ import absolute_import, division, print_function

import argparse
import datetime
import errno
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time

try:
    import http.client as httplib
    import ssl
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported
    sys.exit("api_probe.py needs Python 3")

PROBE_ID = "stackhop.upgrade.api_probe"
PREFIX = "api-"


def iso(epoch):
    """ISO 8601 UTC with milliseconds, as the report callback writes its times."""
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (stamp.microsecond // 1000)


def parse_iso(value):
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    stamp = datetime.datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def write_json_atomic(path, data):
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".api-probe-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def poll_once(url, timeout, context=None):
    """One GET of ``url``: (ok, reason). ok is False for refused/timeout/reset/5xx."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        if parts.scheme == "https":
            conn = httplib.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout,
                                           context=context)
        else:
            conn = httplib.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close",
                                               "Accept": "application/json",
                                               "User-Agent": "stackhop-api-probe"})
            response = conn.getresponse()
            response.read(65536)
            status = response.status
        finally:
            conn.close()
    except socket.timeout:
        return False, "timeout after %gs" % timeout
    except ConnectionRefusedError:
        return False, "connection refused"
    except ConnectionResetError:
        return False, "connection reset"
    except (OSError, httplib.HTTPException) as exc:
        if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return False, "unreachable"
        return False, (type(exc).__name__ + ": " + str(exc))[:120]
    if status >= 500:
        return False, "HTTP %d" % status
    return True, "HTTP %d" % status


class ServiceProbe(object):
    """Polls one service and keeps its down windows."""

    def __init__(self, service, url, interval, timeout, previous=None, context=None):
        self.service = service
        self.url = url
        self.interval = interval
        self.timeout = timeout
        self.context = context
        self.lock = threading.Lock()
        self.start = time.time()
        self.windows = []        # closed: {start, end, reason, polls}
        self.unmonitored = []
        self.open = None          # {start, reason, polls}
        self.polls = 0
        self.failed_polls = 0
        self.last_poll = None
        self.last_ok = None
        if previous:
            self._continue(previous)

    def _continue(self, rec):
        """Keep an earlier run's windows for the same service and target."""
        try:
            start = parse_iso(rec["start"])
            end = parse_iso(rec["end"])
        except (KeyError, TypeError, ValueError):
            return
        self.start = start
        self.polls = int(rec.get("polls") or 0)
        self.failed_polls = int(rec.get("failed_polls") or 0)
        for window in rec.get("down") or []:
            try:
                self.windows.append({"start": parse_iso(window["start"]),
                                     "end": parse_iso(window["end"]),
                                     "reason": window.get("reason", ""),
                                     "polls": int(window.get("polls") or 0)})
            except (KeyError, TypeError, ValueError):
                continue
        for gap in rec.get("unmonitored") or []:
            try:
                self.unmonitored.append({"start": parse_iso(gap["start"]),
                                         "end": parse_iso(gap["end"])})
            except (KeyError, TypeError, ValueError):
                continue
        now = time.time()
        if now > end:
            self.unmonitored.append({"start": end, "end": now})

    def observe(self, sent, ok, reason):
        with self.lock:
            self.polls += 1
            self.last_poll = sent
            if ok:
                self.last_ok = sent
                if self.open is not None:
                    self.windows.append({"start": self.open["start"], "end": sent,
                                         "reason": self.open["reason"],
                                         "polls": self.open["polls"]})
                    self.open = None
            else:
                self.failed_polls += 1
                if self.open is None:
                    self.open = {"start": sent, "reason": reason, "polls": 0}
                self.open["polls"] += 1

    def close(self, when):
        """Close an open window at ``when`` (the probe stops while the API is down)."""
        with self.lock:
            if self.open is not None:
                self.windows.append({"start": self.open["start"], "end": max(when, self.open["start"]),
                                     "reason": self.open["reason"] + " (still down when the probe stopped)",
                                     "polls": self.open["polls"]})
                self.open = None

    def record(self, now=None):
        now = time.time() if now is None else now
        with self.lock:
            windows = list(self.windows)
            ongoing = self.open is not None
            if ongoing:
                windows.append({"start": self.open["start"], "end": max(now, self.open["start"]),
                                "reason": self.open["reason"], "polls": self.open["polls"],
                                "ongoing": True})
            down = []
            for window in windows:
                item = {"start": iso(window["start"]), "end": iso(window["end"]),
                        "seconds": round(window["end"] - window["start"], 3),
                        "reason": window["reason"], "polls": window["polls"]}
                if window.get("ongoing"):
                    item["ongoing"] = True
                down.append(item)
            seconds = max(now - self.start - sum(g["end"] - g["start"] for g in self.unmonitored),
                          1e-9)
            return {
                "kind": "api",
                "service": self.service,
                "name": "%s API (%s)" % (self.service, PROBE_ID),
                "target": self.url,
                "interval_s": self.interval,
                "timeout_s": self.timeout,
                "start": iso(self.start),
                "end": iso(now),
                "down": down,
                "down_s": round(sum(w["end"] - w["start"] for w in windows), 3),
                "longest_s": round(max([w["end"] - w["start"] for w in windows] or [0.0]), 3),
                "ongoing": ongoing,
                "polls": self.polls,
                "failed_polls": self.failed_polls,
                "polls_per_s": round(self.polls / seconds, 2),
                "unmonitored": [{"start": iso(g["start"]), "end": iso(g["end"])}
                                for g in self.unmonitored],
                "probe": PROBE_ID,
            }

    def loop(self, stop):
        deadline = time.monotonic()
        while not stop.is_set():
            sent = time.time()
            ok, reason = poll_once(self.url, self.timeout, self.context)
            self.observe(sent, ok, reason)
            deadline += self.interval
            now = time.monotonic()
            if deadline < now:      # the poll took longer than the interval: no catch-up burst
                deadline = now
            stop.wait(deadline - now)


def parse_targets(values):
    targets = []
    seen = set()
    for value in values:
        service, sep, url = value.partition("=")
        if not sep or not service or not url.startswith(("http://", "https://")):
            raise SystemExit("bad --target %r: give SERVICE=http(s)://HOST:PORT/PATH" % value)
        if service in seen:
            raise SystemExit("service %s is given twice; give each service once" % service)
        seen.add(service)
        targets.append((service, url))
    return targets


def load_previous(path, url):
    try:
        with open(path) as handle:
            rec = json.load(handle)
    except (OSError, ValueError):
        return None
    if isinstance(rec, dict) and rec.get("probe") == PROBE_ID and rec.get("target") == url:
        return rec
    return None


def daemonize(log_path):
    """Detach from the caller (double fork, new session) when no systemd runs the probe."""
    if os.fork() > 0:
        os._exit(0)  # pylint: disable=protected-access
    os.setsid()
    if os.fork() > 0:
        os._exit(0)  # pylint: disable=protected-access
    os.chdir("/")
    with open(os.devnull) as devnull:
        os.dup2(devnull.fileno(), 0)
    fd = os.open(log_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def cmd_run(args):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    targets = parse_targets(args.target)
    args.out_dir = os.path.abspath(args.out_dir)
    args.state = os.path.abspath(args.state) if args.state else None
    args.log = os.path.abspath(args.log) if args.log else None
    if not targets:
        raise SystemExit("give at least one --target SERVICE=URL")
    if not 0.5 <= args.hz <= 50:
        raise SystemExit("--hz %g is outside 0.5..50" % args.hz)
    os.makedirs(args.out_dir, exist_ok=True)
    context = None
    if args.insecure:
        context = ssl._create_unverified_context()  # pylint: disable=protected-access
    if args.daemon:
        daemonize(args.log)
    interval = round(1.0 / args.hz, 4)
    probes = []
    for service, url in targets:
        path = os.path.join(args.out_dir, PREFIX + service + ".json")
        previous = None if args.fresh else load_previous(path, url)
        probes.append((path, ServiceProbe(service, url, interval, args.timeout, previous, context)))
    if args.state:
        write_json_atomic(args.state, {"pid": os.getpid(), "out_dir": os.path.abspath(args.out_dir),
                                       "targets": dict(targets), "hz": args.hz,
                                       "timeout_s": args.timeout, "started": iso(time.time()),
                                       "probe": PROBE_ID})
    threads = [threading.Thread(target=p.loop, args=(stop,), name=p.service) for _path, p in probes]
    for thread in threads:
        thread.daemon = True
        thread.start()

    def flush():
        now = time.time()
        for path, probe in probes:
            write_json_atomic(path, probe.record(now))

    flush()
    while not stop.wait(args.write_every):
        flush()
    for thread in threads:
        thread.join(args.timeout + 1.0)
    now = time.time()
    for _path, probe in probes:
        probe.close(now)
    flush()
    if args.state:
        try:
            os.unlink(args.state)
        except OSError:
            pass
    return 0


def summarize(out_dir, records=None):
    rows = {}
    for name in sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []:
        if not (name.startswith(PREFIX) and name.endswith(".json")):
            continue
        try:
            with open(os.path.join(out_dir, name)) as handle:
                rec = json.load(handle)
        except (OSError, ValueError):
            continue
        if not isinstance(rec, dict) or rec.get("probe") != PROBE_ID:
            continue
        if records is not None:
            records.append(rec)
        windows = rec.get("down") or []
        seconds = [float(w.get("seconds", parse_iso(w["end"]) - parse_iso(w["start"])))
                   for w in windows]
        rows[rec["service"]] = {
            "target": rec.get("target"),
            "start": rec.get("start"),
            "end": rec.get("end"),
            "down_s": round(sum(seconds), 3),
            "longest_s": round(max(seconds or [0.0]), 3),
            "windows": len(windows),
            "ongoing": bool(rec.get("ongoing")),
            "polls": rec.get("polls"),
            "failed_polls": rec.get("failed_polls"),
            "polls_per_s": rec.get("polls_per_s"),
            "interval_s": rec.get("interval_s"),
            "reasons": sorted({w.get("reason", "") for w in windows}),
            "down": windows,
            "unmonitored_s": round(sum(parse_iso(g["end"]) - parse_iso(g["start"])
                                       for g in rec.get("unmonitored") or []), 3),
        }
    return rows


def markdown(rows):
    lines = ["| API | down total | longest window | windows | polls/s | target |",
             "|---|---:|---:|---:|---:|---|"]
    for service, row in sorted(rows.items()):
        lines.append("| %s | %.2fs%s | %.2fs | %d | %s | %s |" % (
            service, row["down_s"], " (down now)" if row["ongoing"] else "", row["longest_s"],
            row["windows"], row["polls_per_s"], row["target"]))
    return "\n".join(lines)


def cmd_report(args):
    records = []
    rows = summarize(args.out_dir, records)
    if args.format == "markdown":
        print(markdown(rows))
    else:
        print(json.dumps({"out_dir": os.path.abspath(args.out_dir), "services": rows,
                          "markdown": markdown(rows), "records": records},
                         indent=1, sort_keys=True))
    return 0


def running_probe(state_path):
    """(state, pid) of the probe named by a state file; pid is 0 when it is not running."""
    try:
        with open(state_path) as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return None, 0
    pid = int(state.get("pid") or 0)
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        argv = []
    names = [os.path.basename(a.decode(errors="replace")) for a in argv]
    if pid <= 1 or "api_probe.py" not in names or "run" not in names:
        return state, 0
    return state, pid


def cmd_status(args):
    state, pid = running_probe(args.state)
    out = {"running": bool(pid), "pid": pid}
    if state:
        out.update({k: state.get(k) for k in ("out_dir", "targets", "hz", "timeout_s", "started")})
    print(json.dumps(out, sort_keys=True))
    return 0


def cmd_stop(args):
    """Stop a detached probe named by its state file (only if it is really the probe)."""
    state, pid = running_probe(args.state)
    if state is None:
        print(json.dumps({"stopped": False, "reason": "no state file"}))
        return 0
    if not pid:
        os.unlink(args.state)
        print(json.dumps({"stopped": False, "reason": "the probe is not running"}))
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline and os.path.exists("/proc/%d" % pid):
        time.sleep(0.1)
    alive = os.path.exists("/proc/%d" % pid)
    print(json.dumps({"stopped": not alive, "pid": pid}))
    return 1 if alive else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="poll the targets until SIGTERM")
    run.add_argument("--target", action="append", default=[], help="SERVICE=URL (repeat)")
    run.add_argument("--hz", type=float, default=4.0, help="polls per second per service")
    run.add_argument("--timeout", type=float, default=1.0, help="seconds before a poll fails")
    run.add_argument("--out-dir", required=True, help="<report_dir>/probes")
    run.add_argument("--write-every", type=float, default=1.0, help="seconds between rewrites")
    run.add_argument("--state", help="write pid and settings here (removed at exit)")
    run.add_argument("--daemon", action="store_true", help="detach (when not under systemd)")
    run.add_argument("--log", help="stdout/stderr of a detached probe")
    run.add_argument("--fresh", action="store_true", help="do not continue earlier records")
    run.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    report = sub.add_parser("report", help="per-service downtime from the records")
    report.add_argument("--out-dir", required=True)
    report.add_argument("--format", choices=["json", "markdown"], default="json")
    status = sub.add_parser("status", help="is the probe of a state file running")
    status.add_argument("--state", required=True)
    stop = sub.add_parser("stop", help="stop a detached probe")
    stop.add_argument("--state", required=True)
    stop.add_argument("--wait", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "report":
        return cmd_report(args)
    if args.command == "stop":
        return cmd_stop(args)
    if args.command == "status":
        return cmd_status(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
