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
import re
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


def http_call(method, url, timeout, context=None, headers=None, body=None, limit=1 << 20):
    """One request on a fresh connection: (status, headers, data, None), or
    (None, None, None, reason) when no answer came (refused, reset, timeout...)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    sent_headers = {"Connection": "close", "Accept": "application/json",
                    "User-Agent": "stackhop-api-probe"}
    sent_headers.update(headers or {})
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        sent_headers["Content-Type"] = "application/json"
    try:
        if parts.scheme == "https":
            conn = httplib.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout,
                                           context=context)
        else:
            conn = httplib.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        try:
            conn.request(method, path, body=payload, headers=sent_headers)
            response = conn.getresponse()
            data = response.read(limit)
            return response.status, response.headers, data, None
        finally:
            conn.close()
    except socket.timeout:
        return None, None, None, "timeout after %gs" % timeout
    except ConnectionRefusedError:
        return None, None, None, "connection refused"
    except ConnectionResetError:
        return None, None, None, "connection reset"
    except (OSError, httplib.HTTPException) as exc:
        if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return None, None, None, "unreachable"
        return None, None, None, (type(exc).__name__ + ": " + str(exc))[:120]


def poll_once(url, timeout, context=None):
    """One GET of ``url``: (ok, reason). ok is False for refused/timeout/reset/5xx."""
    status, _headers, _data, reason = http_call("GET", url, timeout, context, limit=65536)
    if status is None:
        return False, reason
    if status >= 500:
        return False, "HTTP %d" % status
    return True, "HTTP %d" % status


class ServiceProbe(object):
    """Polls one service and keeps its down windows."""

    def __init__(self, service, url, interval, timeout, previous=None, context=None,
                 check="version", poller=None):
        self.service = service
        self.url = url
        self.interval = interval
        self.timeout = timeout
        self.context = context
        # version: the unauthenticated version document; read/write: AuthProbe's calls
        self.check = check
        self.poller = poller or (lambda: poll_once(self.url, self.timeout, self.context))
        self.extra = None         # callable: more fields of the record (a writer's counters)
        self.skipped_polls = 0    # polls not made: no token while keystone itself failed
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
        self.skipped_polls = int(rec.get("skipped_polls") or 0)
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
        if ok is None:          # not measured (no token): neither up nor down
            with self.lock:
                self.skipped_polls += 1
            return
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
            rec = {
                "kind": "api",
                "check": self.check,
                "service": self.service,
                "name": "%s API%s (%s)" % (self.service, "" if self.check == "version"
                                           else " " + self.check, PROBE_ID),
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
            if self.skipped_polls:
                rec["skipped_polls"] = self.skipped_polls
        if self.extra is not None:
            rec.update(self.extra())
        return rec

    def loop(self, stop):
        deadline = time.monotonic()
        while not stop.is_set():
            sent = time.time()
            ok, reason = self.poller()
            self.observe(sent, ok, reason)
            deadline += self.interval
            now = time.monotonic()
            if deadline < now:      # the poll took longer than the interval: no catch-up burst
                deadline = now
            stop.wait(deadline - now)

    def loop_overlapped(self, stop, in_flight):
        """Start a poll every interval even while earlier ones still wait for their answer
        (up to ``in_flight`` at once), so a slow or hanging API is still polled at hz and
        the end of a window is known to one interval, not to one timeout. The answers are
        observed in the order the polls were sent."""
        lock = threading.Lock()
        done = {}               # seq -> (sent, ok, reason)
        state = {"next": 0, "running": 0, "threads": []}

        def work(seq, sent):
            ok, reason = self.poller()
            with lock:
                done[seq] = (sent, ok, reason)
                state["running"] -= 1
                while state["next"] in done:
                    self.observe(*done.pop(state["next"]))
                    state["next"] += 1

        seq = 0
        deadline = time.monotonic()
        while not stop.is_set():
            with lock:
                start = state["running"] < in_flight
                if start:
                    state["running"] += 1
            if start:
                thread = threading.Thread(target=work, args=(seq, time.time()),
                                          name="%s-%s-%d" % (self.service, self.check, seq))
                thread.daemon = True
                thread.start()
                state["threads"] = [t for t in state["threads"] if t.is_alive()] + [thread]
                seq += 1
            deadline += self.interval
            now = time.monotonic()
            if deadline < now:
                deadline = now
            stop.wait(deadline - now)
        for thread in state["threads"]:
            thread.join(self.timeout + 1.0)


# ---------------------------------------------------------------------------
# authenticated mode: reads and writes through the catalogue's endpoints, with a token

READ_SERVICES = ("keystone", "glance", "placement", "nova", "neutron", "cinder")
WRITE_SERVICES = ("neutron", "cinder", "glance")
# catalogue service type -> service; a lower rank wins when a cloud lists several
CATALOG_TYPES = {"identity": ("keystone", 0), "image": ("glance", 0), "compute": ("nova", 0),
                 "network": ("neutron", 0), "placement": ("placement", 0),
                 "block-storage": ("cinder", 0), "volumev3": ("cinder", 1), "volume": ("cinder", 2)}
OBJECT_PREFIX = "stackhop-probe-"
READS_IN_FLIGHT = 2
OK, FAIL, SKIP = "ok", "fail", "skip"
# keystonemiddleware's answer when it cannot reach keystone to validate a token it has not
# cached (auth_token's HTTPServiceUnavailable): keystone's failure, not the service's
KEYSTONE_UNAVAILABLE = b"Keystone service is temporarily unavailable"


def log(message):
    """One line on stderr (the unit's journal, or --log): never a secret."""
    sys.stderr.write("%s api_probe: %s\n" % (iso(time.time()), message))
    sys.stderr.flush()


def split_list(values):
    out = []
    for value in values or []:
        for item in str(value).split(","):
            item = item.strip()
            if item and item not in out:
                out.append(item)
    return out


def load_credentials(path, cloud=None):
    """The credentials of a file only root reads: JSON (a flat object, or a clouds.yaml
    structure with ``clouds``), or YAML when PyYAML is there. Never printed."""
    try:
        mode = os.stat(path).st_mode
        with open(path) as handle:
            text = handle.read()
    except OSError as exc:
        raise SystemExit("credentials file %s cannot be read (%s); give the path of a file "
                         "this user reads" % (path, exc.strerror))
    if mode & 0o077:
        raise SystemExit("credentials file %s is open to other users (mode %o); chmod 600 it"
                         % (path, mode & 0o777))
    try:
        data = json.loads(text)
    except ValueError:
        try:
            import yaml  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise SystemExit("credentials file %s is not JSON and PyYAML is not installed; "
                             "write it as JSON" % path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            raise SystemExit("credentials file %s is neither JSON nor YAML; write it as JSON"
                             % path)
    if isinstance(data, dict) and isinstance(data.get("clouds"), dict):
        clouds = data["clouds"]
        if cloud is None and len(clouds) == 1:
            cloud = next(iter(clouds))
        if cloud not in clouds:
            raise SystemExit("credentials file %s has no cloud %r; give --cloud with one of %s"
                             % (path, cloud, ", ".join(sorted(clouds))))
        data = clouds[cloud]
    if not isinstance(data, dict):
        raise SystemExit("credentials file %s holds no object; write auth_url, username, "
                         "password, project_name" % path)
    auth = dict(data.get("auth") or {})
    for key in ("auth_url", "username", "password", "project_name", "user_domain_name",
                "project_domain_name"):
        if not auth.get(key) and data.get(key):
            auth[key] = data[key]
    missing = [k for k in ("auth_url", "username", "password", "project_name") if not auth.get(k)]
    if missing:
        raise SystemExit("credentials file %s lacks %s; add them" % (path, ", ".join(missing)))
    auth_url = str(auth["auth_url"]).rstrip("/")
    if auth_url.endswith("/v3"):
        auth_url = auth_url[:-3]
    if not auth_url.startswith(("http://", "https://")):
        raise SystemExit("credentials file %s has an auth_url that is not http(s); give "
                         "http(s)://HOST:PORT/v3" % path)
    return {"auth_url": auth_url, "username": str(auth["username"]),
            "password": str(auth["password"]), "project_name": str(auth["project_name"]),
            "user_domain_name": str(auth.get("user_domain_name") or "Default"),
            "project_domain_name": str(auth.get("project_domain_name") or "Default"),
            "region": data.get("region_name") or data.get("region") or None,
            "interface": str(data.get("interface") or "public")}


class Session(object):
    """The probe's token: issued with the password, renewed at 3/4 of its life and when an
    API answers 401 to it. One renewal at a time: while it runs the others keep sending the
    old token (still valid) unless they were refused. A renewal that fails (keystone moving)
    is keystone's failure only: the other services' calls made without a valid token are
    not counted (``skipped_polls``), never as their own failures."""

    retry_s = 1.0

    def __init__(self, creds, timeout, context=None, clock=time.time):
        self.creds = creds
        self.timeout = timeout
        self.context = context
        self.clock = clock
        self.cond = threading.Condition()
        self.token = None
        self.generation = 0
        self.renew_at = 0.0
        self.expires = 0.0
        self.renewing = False
        self.last_try = -1e9
        self.last_error = None
        self.project_id = None
        self.catalog = []
        self.renewals = 0
        self.failures = 0

    def _password_body(self):
        creds = self.creds
        return {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": creds["username"], "domain": {"name": creds["user_domain_name"]},
                "password": creds["password"]}}},
            "scope": {"project": {"name": creds["project_name"],
                                  "domain": {"name": creds["project_domain_name"]}}}}}

    def _issue(self):
        """POST /v3/auth/tokens with the password: (None, fields) or (reason, None)."""
        status, headers, data, reason = http_call(
            "POST", self.creds["auth_url"] + "/v3/auth/tokens", self.timeout, self.context,
            body=self._password_body())
        if status is None:
            return reason, None
        if status != 201:
            return "HTTP %d" % status, None
        try:
            token = json.loads(data.decode())["token"]
            issued, expires = parse_iso(token["issued_at"]), parse_iso(token["expires_at"])
            fields = {"token": headers["X-Subject-Token"], "project_id": token["project"]["id"],
                      "catalog": token.get("catalog") or [], "life": max(expires - issued, 1.0)}
        except (ValueError, KeyError, TypeError, AttributeError):
            return "keystone's token answer is not a v3 token", None
        return None, fields

    def _valid(self, now):
        return self.token is not None and now < self.expires - 2.0

    def get(self, refused=None):
        """(token, generation); token None when no valid one can be had now. ``refused``:
        the generation an API just answered 401 to, renewed by whichever thread asks
        first while the others wait for that renewal."""
        with self.cond:
            while True:
                now = self.clock()
                stale = refused is not None and refused == self.generation
                if self.token is not None and now < self.renew_at and not stale:
                    return self.token, self.generation
                if self.renewing:
                    if not stale and self._valid(now):
                        return self.token, self.generation
                    self.cond.wait(self.timeout + 1.0)
                    continue
                if now - self.last_try < self.retry_s:   # a renewal failed a moment ago
                    if not stale and self._valid(now):
                        return self.token, self.generation
                    return None, self.generation
                self.renewing = True
                self.last_try = now
                break
        error, fields = self._issue()     # outside the lock: the others keep polling
        with self.cond:
            self.renewing = False
            now = self.clock()
            if error is None:
                if self.last_error:
                    log("a token was issued again (the last renewal failed: %s)" % self.last_error)
                self.token = fields["token"]
                self.project_id = fields["project_id"]
                self.catalog = fields["catalog"]
                self.expires = now + fields["life"]
                self.renew_at = now + 0.75 * fields["life"]
                self.generation += 1
                self.renewals += 1
                self.last_error = None
            else:
                if self.last_error is None:
                    log("keystone issued no token: %s (retried every %gs)" % (error, self.retry_s))
                self.last_error = error
                self.failures += 1
            self.cond.notify_all()
            if error is None or (not stale and self._valid(now)):
                return self.token, self.generation
            return None, self.generation

    def no_token(self):
        return "no token (keystone: %s)" % (self.last_error or "no answer yet")


def catalog_endpoints(catalog, region=None, interface="public"):
    """{service: URL} of the catalogue's endpoints of ``interface`` in ``region``."""
    found = {}
    for entry in catalog or []:
        service, rank = CATALOG_TYPES.get(entry.get("type"), (None, 0))
        if service is None or (service in found and found[service][0] <= rank):
            continue
        for endpoint in entry.get("endpoints") or []:
            if endpoint.get("interface") != interface:
                continue
            if region and region not in (endpoint.get("region_id"), endpoint.get("region")):
                continue
            found[service] = (rank, str(endpoint.get("url") or "").rstrip("/"))
            break
    return {service: url for service, (_rank, url) in found.items() if url}


def _strip_suffix(url, pattern):
    parts = urlsplit(url)
    path = re.sub(pattern, "", parts.path.rstrip("/"))
    return "%s://%s%s" % (parts.scheme, parts.netloc, path)


def api_base(service, endpoint, project_id):
    """The URL the calls of ``service`` start from (its version in it) from a catalogue
    or explicit endpoint, whichever way the cloud wrote it."""
    url = endpoint.rstrip("/")
    if service == "keystone":
        return _strip_suffix(url, r"/v3$") + "/v3"
    if service == "glance":
        return _strip_suffix(url, r"/v2$") + "/v2"
    if service == "neutron":
        return _strip_suffix(url, r"/v2\.0$") + "/v2.0"
    if service == "nova":
        if re.search(r"/v2(\.1)?(/[0-9a-fA-F-]+)?$", urlsplit(url).path):
            return url
        return url + "/v2.1"
    if service == "cinder":
        url = url.replace("%(project_id)s", project_id).replace("$(project_id)s", project_id)
        path = urlsplit(url).path
        if re.search(r"/v3/[0-9a-fA-F-]+$", path):
            return url
        if path.endswith("/v3"):
            return url + "/" + project_id
        return url + "/v3/" + project_id
    return url


# per service: the read (method, path under api_base, headers, expected statuses)
READS = {
    "keystone": ("POST", "/auth/tokens", {}, (201,)),
    "glance": ("GET", "/images?limit=1", {}, (200,)),
    "nova": ("GET", "/servers?limit=1", {"OpenStack-API-Version": "compute 2.1",
                                         "X-OpenStack-Nova-API-Version": "2.1"}, (200,)),
    "neutron": ("GET", "/networks?limit=1", {}, (200,)),
    "cinder": ("GET", "/volumes?limit=1", {}, (200,)),
    # placement has no limit on this list (1.14 answers 400 to one): a name filter keeps
    # the answer small on a cloud of thousands of providers, and still queries the table
    "placement": ("GET", "/resource_providers?name=stackhop-probe",
                  {"OpenStack-API-Version": "placement 1.14"}, (200,)),
}


class Client(object):
    """Calls with the session's token: a 401 renews the token and the call is sent again
    once; without a token the call is not made (SKIP, not the service's failure)."""

    def __init__(self, session, timeout, context=None):
        self.session = session
        self.timeout = timeout
        self.context = context

    def call(self, method, url, expect, body=None, headers=None):
        """(OK|FAIL|SKIP, status, parsed JSON or None, reason)."""
        token, generation = self.session.get()
        if token is None:
            return SKIP, None, None, self.session.no_token()
        for attempt in (1, 2):
            sent = {"X-Auth-Token": token}
            sent.update(headers or {})
            status, _headers, data, reason = http_call(method, url, self.timeout, self.context,
                                                       sent, body)
            if status is None:
                return FAIL, None, None, reason
            if status == 401 and attempt == 1:
                token, generation = self.session.get(refused=generation)
                if token is None:
                    return SKIP, None, None, self.session.no_token()
                continue
            if status == 503 and KEYSTONE_UNAVAILABLE in (data or b""):
                return SKIP, None, None, "the service could not reach keystone to validate the token"
            if status not in expect:
                return FAIL, status, None, "HTTP %d%s" % (status, " with a fresh token"
                                                          if status == 401 else "")
            try:
                parsed = json.loads(data.decode()) if data else None
            except ValueError:
                parsed = None
            return OK, status, parsed, "HTTP %d" % status
        return FAIL, None, None, "unreachable"  # pragma: no cover - the loop always returns


class Reader(object):
    """One service's read at hz: (ok, reason) for ServiceProbe; ok None = not measured."""

    def __init__(self, service, client, base):
        self.service = service
        self.client = client
        self.method, path, self.headers, self.expect = READS[service]
        self.url = base + path

    def target(self):
        return "%s %s" % (self.method, self.url)

    def poll(self):
        if self.service == "keystone":
            return self._token_issue()
        outcome, _status, _data, reason = self.client.call(self.method, self.url, self.expect,
                                                           headers=self.headers)
        return (None if outcome == SKIP else outcome == OK), reason

    def _token_issue(self):
        """Keystone's read: a token issued from the probe's own (the token method: the
        same issue path as a password login without hashing the password at hz, which
        would cost the lab's keystone a core). No token at all counts as keystone down."""
        session = self.client.session
        token, generation = session.get()
        if token is None:
            return False, session.no_token()
        body = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}}
        status, _headers, _data, reason = http_call("POST", self.url, self.client.timeout,
                                                    self.client.context, {"X-Auth-Token": token},
                                                    body, limit=1 << 20)
        if status is None:
            return False, reason
        if status == 401:
            session.get(refused=generation)
            return False, "HTTP 401 (the probe's token refused)"
        if status not in self.expect:
            return False, "HTTP %d" % status
        return True, "HTTP %d" % status


class Failed(Exception):
    """A call of a write cycle failed (or could not be made: ``skip``)."""

    def __init__(self, reason, skip=False):
        Exception.__init__(self, reason)
        self.reason = reason
        self.skip = skip


class Writer(object):
    """One service's write cycle (create, then delete what it created). The objects are
    named ``stackhop-probe-<run>-<n>``; what a failed cycle left is deleted by the next
    ones, and sweep() deletes every ``stackhop-probe-*`` object (start and stop)."""

    what = ""

    def __init__(self, service, client, base, tag):
        self.service = service
        self.client = client
        self.base = base
        self.tag = tag
        self.serial = 0
        self.lock = threading.Lock()
        self.counts = {"calls": 0, "created": 0, "deleted": 0}
        self.leftovers = []      # [(kind, url)] to delete, in creation order
        self.stuck = []          # leftovers a delete answered 4xx to: for the final sweep
        self.unsure = []         # names of creates that failed, maybe after the object was made

    def target(self):
        return "%s %s" % (self.what, self.base)

    def name(self):
        self.serial += 1
        return "%s%s-%d" % (OBJECT_PREFIX, self.tag, self.serial)

    def call(self, method, path, expect, body=None, what=""):
        outcome, status, data, reason = self.client.call(method, self.base + path, expect, body)
        with self.lock:
            self.counts["calls"] += 1
        if outcome == SKIP:
            raise Failed(reason, skip=True)
        if outcome == FAIL:
            raise Failed("%s: %s" % (what or method.lower(), reason))
        return status, data

    def created(self, kind, path):
        with self.lock:
            self.counts["created"] += 1
            self.leftovers.append((kind, path))

    def delete(self, kind, path, expect):
        self.call("DELETE", path, expect, what=kind + " delete")
        with self.lock:
            self.counts["deleted"] += 1
            if (kind, path) in self.leftovers:
                self.leftovers.remove((kind, path))

    def before_leftover_delete(self, kind, path):
        """What must go before a leftover can be deleted (nothing by default)."""

    def find_by_name(self, name):
        """The (kind, path) of objects named ``name``; None where a writer cannot look."""
        return None

    def find_unsure(self):
        """Look up the objects of creates that failed (a timeout may come after the object
        was made) and queue them as leftovers."""
        for name in list(self.unsure):
            found = self.find_by_name(name)
            with self.lock:
                self.unsure.remove(name)
                for item in found or []:
                    if item not in self.leftovers:
                        self.leftovers.append(item)

    def retry_leftovers(self):
        """Delete what earlier cycles left (newest first: a port before its network)."""
        self.find_unsure()
        for kind, path in list(reversed(self.leftovers)):
            self.before_leftover_delete(kind, path)
            outcome, status, _data, reason = self.client.call("DELETE", self.base + path,
                                                              (202, 204, 404))
            with self.lock:
                self.counts["calls"] += 1
            if outcome == SKIP:
                raise Failed(reason, skip=True)
            if outcome == FAIL and (status is None or status >= 500):
                raise Failed("%s delete of a leftover: %s" % (kind, reason))
            with self.lock:
                self.leftovers.remove((kind, path))
                if outcome == FAIL:
                    self.stuck.append((kind, path))
                    log("%s: the delete of %s answered %s; left for the final sweep"
                        % (self.service, path, reason))
                elif status != 404:
                    self.counts["deleted"] += 1

    def poll(self):
        try:
            self.retry_leftovers()
            self.cycle()
        except Failed as exc:
            return (None if exc.skip else False), exc.reason
        return True, "ok"

    def cycle(self):
        raise NotImplementedError

    def fields(self):
        with self.lock:
            out = dict(self.counts)
            out["leftovers"] = len(self.leftovers) + len(self.stuck)
            return out

    def mine(self, name):
        return isinstance(name, str) and name.startswith(OBJECT_PREFIX)


class NetworkWriter(Writer):
    """neutron: a network, a port on it, both deleted."""

    what = "POST networks + ports, DELETE both:"

    def cycle(self):
        name = self.name()
        try:
            _status, data = self.call("POST", "/networks", (201,), {"network": {"name": name}},
                                      "network create")
        except Failed as exc:
            if not exc.skip:
                with self.lock:
                    self.unsure.append(name)
            raise
        network = "/networks/%s" % _id(data, "network")
        self.created("network", network)
        _status, data = self.call("POST", "/ports", (201,), {"port": {
            "name": name, "network_id": network.rsplit("/", 1)[1]}}, "port create")
        port = "/ports/%s" % _id(data, "port")
        self.created("port", port)
        self.delete("port", port, (204,))
        self.delete("network", network, (204,))

    def find_by_name(self, name):
        _status, data = self.call("GET", "/networks?fields=id&name=%s" % name, (200,),
                                  what="network lookup of a failed create")
        return [("network", "/networks/%s" % net["id"]) for net in (data or {}).get("networks") or []]

    def before_leftover_delete(self, kind, path):
        # a port create that timed out may still have made its port, which the probe never
        # learnt: the network would stay in use (409) and, cycle after cycle, the probe's
        # leftovers would fill the project's network quota. The network is the probe's own,
        # so every port on it is too.
        if kind == "network":
            self.delete_ports_of(path.rsplit("/", 1)[1])

    def delete_ports_of(self, network_id):
        """Delete every port on one of the probe's networks."""
        _status, ports = self.call("GET", "/ports?fields=id&network_id=%s" % network_id, (200,),
                                   what="port list of a probe network")
        for port in (ports or {}).get("ports") or []:
            self.call("DELETE", "/ports/%s" % port["id"], (204, 404), what="port delete of a probe network")

    def sweep(self, deadline=None):
        _status, data = self.call("GET", "/networks?fields=id&fields=name", (200,))
        count = 0
        for net in (data or {}).get("networks") or []:
            if not self.mine(net.get("name")):
                continue
            if deadline and time.time() > deadline:
                raise Failed("out of time (--cleanup-wait)")
            self.delete_ports_of(net["id"])
            self.call("DELETE", "/networks/%s" % net["id"], (204, 404))
            count += 1
        return count


class ImageWriter(Writer):
    """glance: an image record without data, deleted."""

    what = "POST images, DELETE it:"

    def cycle(self):
        _status, data = self.call("POST", "/images", (201,), {
            "name": self.name(), "disk_format": "raw", "container_format": "bare",
            "visibility": "private"}, "image create")
        image = "/images/%s" % _id(data)
        self.created("image", image)
        self.delete("image", image, (204,))

    def sweep(self, deadline=None):
        count = 0
        path = "/images?limit=100"
        while path:
            _status, data = self.call("GET", path, (200,))
            for image in (data or {}).get("images") or []:
                if deadline and time.time() > deadline:
                    raise Failed("out of time (--cleanup-wait)")
                if self.mine(image.get("name")):
                    # one image that cannot go (the lab's glance answered 400 once) does
                    # not keep the others
                    try:
                        self.call("DELETE", "/images/%s" % image["id"], (204, 404))
                        count += 1
                    except Failed as exc:
                        if exc.skip or not exc.reason.endswith(tuple("HTTP 4%02d" % n for n in range(100))):
                            raise
                        log("glance: image %s stays: %s" % (image["id"], exc.reason))
            following = (data or {}).get("next")
            path = following[len("/v2"):] if following and following.startswith("/v2/") else None
        return count


class VolumeWriter(Writer):
    """cinder: a 1 GB volume; deleted once it left ``creating`` (a later cycle), at most
    ``max_volumes`` at a time (the project's volume quota), stuck ones at the stop."""

    what = "POST volumes, DELETE once created:"

    def __init__(self, service, client, base, tag, max_volumes=3):
        Writer.__init__(self, service, client, base, tag)
        self.max_volumes = max_volumes
        self.volumes = {}        # path -> {"since": epoch, "deleting": bool}
        self.counts["errored"] = 0

    def cycle(self):
        for path, vol in sorted(self.volumes.items()):
            status, data = self.call("GET", path, (200, 404), what="volume show")
            if status == 404:
                self._gone(path, vol)
                continue
            state = ((data or {}).get("volume") or {}).get("status")
            if vol["deleting"] or state in ("creating", "deleting"):
                continue
            if state == "error" and not vol.get("error"):
                vol["error"] = True
                with self.lock:
                    self.counts["errored"] += 1
            self.call("DELETE", path, (202, 404), what="volume delete")
            vol["deleting"] = True
        if len(self.volumes) < self.max_volumes:
            _status, data = self.call("POST", "/volumes", (202,), {"volume": {
                "size": 1, "name": self.name()}}, "volume create")
            path = "/volumes/%s" % _id(data, "volume")
            with self.lock:
                self.counts["created"] += 1
                self.volumes[path] = {"since": time.time(), "deleting": False}

    def _gone(self, path, vol):
        with self.lock:
            del self.volumes[path]
            if vol["deleting"]:
                self.counts["deleted"] += 1

    def fields(self):
        out = Writer.fields(self)
        with self.lock:
            out["leftovers"] += len(self.volumes)
        return out

    def sweep(self, deadline=None):
        """Delete every stackhop-probe-* volume (one stuck in ``creating`` is set to
        ``error`` first) and wait for them to go, until ``deadline``."""
        _status, data = self.call("GET", "/volumes/detail?limit=1000", (200,))
        mine = [v for v in (data or {}).get("volumes") or [] if self.mine(v.get("name"))]
        for vol in mine:
            path = "/volumes/%s" % vol["id"]
            if vol.get("status") not in ("available", "error", "deleting", "error_deleting"):
                self.call("POST", path + "/action", (202, 404),
                          {"os-reset_status": {"status": "error"}})
            if vol.get("status") != "deleting":
                self.call("DELETE", path, (202, 404))
        left = {"/volumes/%s" % v["id"] for v in mine}
        while left and deadline and time.time() < deadline:
            time.sleep(1.0)
            for path in sorted(left):
                status, _data = self.call("GET", path, (200, 404))
                if status == 404:
                    left.discard(path)
        with self.lock:
            self.volumes = {p: v for p, v in self.volumes.items() if p in left}
        return len(mine)


WRITERS = {"neutron": NetworkWriter, "glance": ImageWriter, "cinder": VolumeWriter}


def _id(data, key=None):
    try:
        return (data[key] if key else data)["id"]
    except (KeyError, TypeError):
        raise Failed("the answer has no %s id" % (key or "object"))


class AuthProbes(object):
    """The reads and writes of one run: its session, endpoints, readers and writers."""

    def __init__(self, args, context):
        self.args = args
        self.context = context
        self.creds = load_credentials(args.credentials, args.cloud)
        self.session = Session(self.creds, args.read_timeout, context)
        self.reads = split_list(args.read)
        self.writes = split_list(args.write)
        for service in self.reads:
            if service not in READ_SERVICES:
                raise SystemExit("--read %s: no read is known for it; give some of %s"
                                 % (service, ", ".join(READ_SERVICES)))
        for service in self.writes:
            if service not in WRITE_SERVICES:
                raise SystemExit("--write %s: no write is known for it; give some of %s"
                                 % (service, ", ".join(WRITE_SERVICES)))
        self.endpoints = dict(parse_targets(args.endpoint, what="--endpoint"))
        self.tag = "%x" % int(time.time())
        self.readers = {}
        self.writers = {}

    def connect(self, stop):
        """Get the first token (retrying until it comes or the probe stops) and build the
        readers and writers from the catalogue and the explicit endpoints."""
        while not stop.is_set():
            token, _generation = self.session.get()
            if token is not None:
                break
            stop.wait(2.0)
        if stop.is_set():
            return False
        catalog = catalog_endpoints(self.session.catalog, self.creds["region"],
                                    self.creds["interface"])
        catalog.setdefault("keystone", self.creds["auth_url"])
        endpoints = dict(catalog, **self.endpoints)
        read_client = Client(self.session, self.args.read_timeout, self.context)
        write_client = Client(self.session, self.args.write_timeout, self.context)
        for service in sorted(set(self.reads) | set(self.writes)):
            if service not in endpoints:
                raise SystemExit("%s has no %s endpoint in region %s of the catalogue; give "
                                 "--endpoint %s=URL" % (service, self.creds["interface"],
                                                        self.creds["region"], service))
            base = api_base(service, endpoints[service], self.session.project_id)
            if service in self.reads:
                self.readers[service] = Reader(service, read_client, base)
            if service in self.writes:
                self.writers[service] = WRITERS[service](service, write_client, base, self.tag)
                if service == "cinder":
                    self.writers[service].max_volumes = max(1, self.args.max_volumes)
        log("token issued; reads: %s; writes: %s" % (
            ", ".join("%s %s" % (s, r.target()) for s, r in sorted(self.readers.items())) or "none",
            ", ".join("%s %s" % (s, w.base) for s, w in sorted(self.writers.items())) or "none"))
        return True

    def sweep(self, deadline=None):
        """Delete every stackhop-probe-* object of the write services (an earlier run's at
        the start, this run's leftovers at the stop)."""
        for service, writer in sorted(self.writers.items()):
            try:
                count = writer.sweep(deadline)
                with writer.lock:
                    writer.leftovers, writer.stuck = [], []
                if count:
                    log("%s: deleted %d %s* object(s)" % (service, count, OBJECT_PREFIX))
            except Failed as exc:
                log("%s: the sweep of %s* objects failed: %s; they stay for the next start"
                    % (service, OBJECT_PREFIX, exc.reason))

    def keystone_fields(self):
        return {"token_renewals": self.session.renewals, "token_failures": self.session.failures}


def parse_targets(values, what="--target"):
    targets = []
    seen = set()
    for value in values or []:
        service, sep, url = value.partition("=")
        if not sep or not service or not url.startswith(("http://", "https://")):
            raise SystemExit("bad %s %r: give SERVICE=http(s)://HOST:PORT/PATH" % (what, value))
        if service in seen:
            raise SystemExit("service %s is given twice; give each service once" % service)
        seen.add(service)
        targets.append((service, url))
    return targets


def load_previous(path, url, check="version"):
    try:
        with open(path) as handle:
            rec = json.load(handle)
    except (OSError, ValueError):
        return None
    if isinstance(rec, dict) and rec.get("probe") == PROBE_ID and rec.get("target") == url \
            and rec.get("check", "version") == check:
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


def record_path(out_dir, service, check="version"):
    """api-<service>.json (version document), api-read-<service>.json, api-write-<service>.json."""
    return os.path.join(out_dir, PREFIX + ("" if check == "version" else check + "-")
                        + service + ".json")


def cmd_run(args):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    targets = parse_targets(args.target)
    args.out_dir = os.path.abspath(args.out_dir)
    args.state = os.path.abspath(args.state) if args.state else None
    args.log = os.path.abspath(args.log) if args.log else None
    authenticated = args.mode == "authenticated"
    if authenticated and not args.credentials:
        raise SystemExit("--mode authenticated needs --credentials FILE (mode 0600)")
    if args.credentials:
        args.credentials = os.path.abspath(args.credentials)
    if not targets and not (authenticated and (args.read or args.write)):
        raise SystemExit("give at least one --target SERVICE=URL (or, authenticated, --read/--write)")
    if not 0.5 <= args.hz <= 50:
        raise SystemExit("--hz %g is outside 0.5..50" % args.hz)
    os.makedirs(args.out_dir, exist_ok=True)
    context = None
    if args.insecure:
        context = ssl._create_unverified_context()  # pylint: disable=protected-access
    # credentials and names are checked before the caller is left (a bad file fails the start)
    auth = AuthProbes(args, context) if authenticated else None
    if args.daemon:
        daemonize(args.log)
    interval = round(1.0 / args.hz, 4)
    probes = []
    for service, url in targets:
        path = record_path(args.out_dir, service)
        previous = None if args.fresh else load_previous(path, url)
        probes.append((path, ServiceProbe(service, url, interval, args.timeout, previous, context)))
    if args.state:
        state = {"pid": os.getpid(), "out_dir": os.path.abspath(args.out_dir),
                 "targets": dict(targets), "hz": args.hz, "timeout_s": args.timeout,
                 "started": iso(time.time()), "probe": PROBE_ID, "mode": args.mode}
        if auth:
            state.update({"reads": auth.reads, "writes": auth.writes,
                          "credentials": args.credentials, "cloud": args.cloud,
                          "endpoints": auth.endpoints, "read_timeout_s": args.read_timeout,
                          "write_timeout_s": args.write_timeout})
        write_json_atomic(args.state, state)
    threads = []

    def launch(probe):
        if probe.check == "read":
            # reads overlap by one: a slow answer does not stop the next read; never more,
            # so the probe cannot become the load of an API that slows down (seen on the
            # lab: 21 token issues in flight filled keystone's 4 uwsgi threads)
            in_flight = READS_IN_FLIGHT
            thread = threading.Thread(target=probe.loop_overlapped, args=(stop, in_flight),
                                      name=probe.service + "-read")
        else:
            thread = threading.Thread(target=probe.loop, args=(stop,), name=probe.service)
        thread.daemon = True
        thread.start()
        threads.append(thread)

    for _path, probe in probes:
        launch(probe)
    lock = threading.Lock()

    def flush():
        now = time.time()
        with lock:
            current = list(probes)
        for path, probe in current:
            write_json_atomic(path, probe.record(now))

    failed = []
    if auth:
        def start_auth():
            try:
                if not auth.connect(stop):
                    return
            except SystemExit as exc:
                log(str(exc))
                failed.append(str(exc))
                stop.set()
                return
            auth.sweep()     # an earlier run's leftovers
            added = []
            for service, reader in sorted(auth.readers.items()):
                path = record_path(args.out_dir, service, "read")
                previous = None if args.fresh else load_previous(path, reader.target(), "read")
                probe = ServiceProbe(service, reader.target(), interval, args.read_timeout,
                                     previous, context, "read", reader.poll)
                if service == "keystone":
                    probe.extra = auth.keystone_fields
                added.append((path, probe))
            for service, writer in sorted(auth.writers.items()):
                path = record_path(args.out_dir, service, "write")
                previous = None if args.fresh else load_previous(path, writer.target(), "write")
                probe = ServiceProbe(service, writer.target(), interval, args.write_timeout,
                                     previous, context, "write", writer.poll)
                probe.extra = writer.fields
                added.append((path, probe))
            with lock:
                probes.extend(added)
            for _path, probe in added:
                launch(probe)
        connector = threading.Thread(target=start_auth, name="keystone-auth")
        connector.daemon = True
        connector.start()

    flush()
    ends = time.monotonic() + args.max_seconds if args.max_seconds > 0 else None
    while not stop.wait(args.write_every):
        flush()
        if ends is not None and time.monotonic() >= ends:
            # a run killed before its stop task must not leave the probe writing for ever
            log("stopping: --max-seconds %g reached without a stop" % args.max_seconds)
            stop.set()
    for thread in list(threads):
        # a write cycle makes several calls
        thread.join(args.write_timeout * 5 + 1.0 if auth else args.timeout + 1.0)
    now = time.time()
    for _path, probe in probes:
        probe.close(now)
    if auth:
        auth.sweep(deadline=time.time() + args.cleanup_wait)
    flush()
    if args.state:
        try:
            os.unlink(args.state)
        except OSError:
            pass
    return 1 if failed else 0


def summarize(out_dir, records=None, checks=None):
    """{service: row} of the version-document records; ``checks`` (a dict) also gets
    {"read": {service: row}, "write": {service: row}} from the authenticated ones."""
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
        row = {
            "target": rec.get("target"),
            "start": rec.get("start"),
            "end": rec.get("end"),
            "down_s": round(sum(seconds), 3),
            "longest_s": round(max(seconds or [0.0]), 3),
            "windows": len(windows),
            "ongoing": bool(rec.get("ongoing")),
            "polls": rec.get("polls"),
            "failed_polls": rec.get("failed_polls"),
            "skipped_polls": rec.get("skipped_polls", 0),
            "polls_per_s": rec.get("polls_per_s"),
            "interval_s": rec.get("interval_s"),
            "reasons": sorted({w.get("reason", "") for w in windows}),
            "down": windows,
            "unmonitored_s": round(sum(parse_iso(g["end"]) - parse_iso(g["start"])
                                       for g in rec.get("unmonitored") or []), 3),
        }
        for key in ("created", "deleted", "calls", "leftovers", "errored", "token_renewals",
                    "token_failures"):
            if key in rec:
                row[key] = rec[key]
        check = rec.get("check", "version")
        if check == "version":
            rows[rec["service"]] = row
        elif checks is not None:
            checks.setdefault(check, {})[rec["service"]] = row
    return rows


def markdown(rows, checks=None):
    lines = ["| API | down total | longest window | windows | polls/s | target |",
             "|---|---:|---:|---:|---:|---|"]
    for service, row in sorted(rows.items()):
        lines.append("| %s | %.2fs%s | %.2fs | %d | %s | %s |" % (
            service, row["down_s"], " (down now)" if row["ongoing"] else "", row["longest_s"],
            row["windows"], row["polls_per_s"], row["target"]))
    checks = checks or {}
    if checks.get("read") or checks.get("write"):
        lines += ["", "| API | reads | failed reads | longest read window | writes | failed writes "
                  "| longest write window | leftovers |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for service in sorted(set(checks.get("read") or {}) | set(checks.get("write") or {})):
            cells = [service]
            for check in ("read", "write"):
                row = (checks.get(check) or {}).get(service)
                if row is None:
                    cells += ["-", "-", "-"]
                    continue
                cells += ["%s (%s/s)" % (row["polls"], row["polls_per_s"]),
                          str(row["failed_polls"]),
                          "%.2fs%s" % (row["longest_s"], " (down now)" if row["ongoing"] else "")]
            write = (checks.get("write") or {}).get(service)
            cells.append(str(write.get("leftovers", 0)) if write else "-")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cmd_report(args):
    records = []
    checks = {}
    rows = summarize(args.out_dir, records, checks)
    if args.format == "markdown":
        print(markdown(rows, checks))
    else:
        print(json.dumps({"out_dir": os.path.abspath(args.out_dir), "services": rows,
                          "reads": checks.get("read", {}), "writes": checks.get("write", {}),
                          "markdown": markdown(rows, checks), "records": records},
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
        # authenticated: which reads and writes, the credentials file's path (never its content)
        out.update({k: state[k] for k in ("mode", "reads", "writes", "credentials", "cloud",
                                          "endpoints", "read_timeout_s", "write_timeout_s")
                    if k in state})
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
    run.add_argument("--max-seconds", type=float, default=0.0,
                     help="stop by itself after this many seconds (0: only on SIGTERM)")
    run.add_argument("--state", help="write pid and settings here (removed at exit)")
    run.add_argument("--daemon", action="store_true", help="detach (when not under systemd)")
    run.add_argument("--log", help="stdout/stderr of a detached probe")
    run.add_argument("--fresh", action="store_true", help="do not continue earlier records")
    run.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    run.add_argument("--mode", choices=["version", "authenticated"], default="version",
                     help="authenticated: also --read/--write per service with a token")
    run.add_argument("--credentials", help="authenticated: file (0600) with auth_url, username, "
                     "password, project_name... (JSON or clouds.yaml); never the password itself")
    run.add_argument("--cloud", help="the clouds.yaml entry of --credentials (when it has several)")
    run.add_argument("--read", action="append", default=[],
                     help="services to read at --hz (repeat or comma list): " + ", ".join(READ_SERVICES))
    run.add_argument("--write", action="append", default=[],
                     help="services to write at --hz (repeat or comma list): " + ", ".join(WRITE_SERVICES))
    run.add_argument("--endpoint", action="append", default=[],
                     help="SERVICE=URL instead of the catalogue's public endpoint (repeat)")
    run.add_argument("--read-timeout", type=float, default=5.0, help="seconds before a read fails")
    run.add_argument("--write-timeout", type=float, default=10.0, help="seconds before a write call fails")
    run.add_argument("--max-volumes", type=int, default=3,
                     help="cinder write: volumes alive at once (the project's volume quota)")
    run.add_argument("--cleanup-wait", type=float, default=60.0,
                     help="seconds the stop waits for the probe's volumes to be deleted")
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
