"""A private HAProxy (own config, sockets and loopback ports) in front of test HTTP servers.

Nothing here touches a system HAProxy: the process runs in the foreground (``-db``) from a
config file under ``basedir``, with an admin and an operator stats socket there, and
listens on 127.0.0.1 only. Each backend server is a small HTTP server in this process that
answers with its own ``<backend>/<server>`` name; the ones named ``slow`` hold a request
for ``/slow?s=SECONDS`` that long, so a session stays open on them.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from ansible_collections.stackhop.upgrade.plugins.module_utils.haproxy_drain import (
    admin_state,
    parse_servers_state,
    parse_stat,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.haproxy_runtime import HaproxyRuntime
from tests.lib.private_mariadb import free_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlparse(self.path)
        if url.path == "/slow" and self.server.slow:
            self.server.stopping.wait(float(parse_qs(url.query).get("s", ["3"])[0]))
        body = self.server.name.encode()
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass        # HAProxy ended the session (shutdown sessions): nobody to answer

    def log_message(self, *args):
        pass


class HttpServers:
    """One HTTP server per (backend, server) on free loopback ports, each on a thread."""

    def __init__(self, layout, slow=()):
        self.servers = {}
        for backend, names in layout.items():
            for name in names:
                httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
                httpd.daemon_threads = True
                httpd.name = "%s/%s" % (backend, name)
                httpd.slow = (backend, name) in slow
                httpd.stopping = threading.Event()     # ends a slow request's wait
                thread = threading.Thread(target=httpd.serve_forever, name=httpd.name, daemon=True)
                thread.start()
                self.servers[(backend, name)] = (httpd, thread)

    def port(self, backend, name):
        return self.servers[(backend, name)][0].server_address[1]

    def stop(self):
        for httpd, thread in self.servers.values():
            httpd.stopping.set()
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)
        self.servers = {}


class PrivateHaproxy:
    """``layout``: {backend: [server names]}; a frontend per backend on its own port.
    ``track``: {backend: other backend}: each server of the first follows the state of the
    server of the same name in the other (``track``) instead of checking its own.
    ``disabled``: (backend, server) pairs that start in maintenance (``disabled`` in the
    config); ``dead``: pairs whose address is a loopback port nobody listens on."""

    def __init__(self, basedir, layout, slow=(), track=None, disabled=(), dead=()):
        self.basedir = Path(basedir)
        self.layout = layout
        self.slow = slow
        self.track = track or {}
        self.disabled = set(disabled)
        self.dead = set(dead)
        self.admin_socket = self.basedir / "admin.sock"
        self.operator_socket = self.basedir / "operator.sock"
        self.config = self.basedir / "haproxy.cfg"
        self.log = self.basedir / "haproxy.log"
        self.ports = {}
        self.backends = None
        self.proc = None

    def _config(self):
        lines = ["global",
                 "    stats socket %s mode 600 level admin" % self.admin_socket,
                 "    stats socket %s mode 600 level operator" % self.operator_socket,
                 "    stats timeout 30s",
                 "defaults",
                 "    mode http",
                 "    timeout connect 2s",
                 # long enough for a test's held /slow session to outlast a module's
                 # start on a loaded machine; the tests end such sessions themselves
                 "    timeout client 600s",
                 "    timeout server 600s"]
        for backend, names in self.layout.items():
            self.ports[backend] = free_port()
            lines += ["frontend fe_%s" % backend,
                      "    bind 127.0.0.1:%d" % self.ports[backend],
                      "    default_backend %s" % backend,
                      "backend %s" % backend,
                      "    balance roundrobin"]
            for name in names:
                follow = ("track %s/%s" % (self.track[backend], name) if backend in self.track
                          else "check inter 1s")
                if (backend, name) in self.disabled:
                    follow += " disabled"
                port = (free_port() if (backend, name) in self.dead
                        else self.backends.port(backend, name))
                lines.append("    server %s 127.0.0.1:%d %s" % (name, port, follow))
        return "\n".join(lines) + "\n"

    def start(self, timeout=20):
        self.basedir.mkdir(parents=True, exist_ok=True)
        self.backends = HttpServers(self.layout, self.slow)
        self.config.write_text(self._config())
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("haproxy exited with %s: %s" % (
                    self.proc.returncode, self.log.read_text()[-2000:]))
            if self.admin_socket.exists() and self.get(next(iter(self.layout)))[0] == 200:
                return self
            time.sleep(0.2)
        raise RuntimeError("haproxy did not answer within %d s" % timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        if self.backends:
            self.backends.stop()
            self.backends = None

    def get(self, backend, path="/", timeout=10):
        """(status, body) of one request through the backend's frontend; (0, error) when it
        fails."""
        conn = http.client.HTTPConnection("127.0.0.1", self.ports[backend], timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            return response.status, response.read().decode()
        except (OSError, http.client.HTTPException) as exc:
            return 0, "%s: %s" % (type(exc).__name__, exc)
        finally:
            conn.close()

    # -- what the tests read and hold ---------------------------------------------
    def ask(self, command):
        return HaproxyRuntime(str(self.admin_socket), "test").ask(command)

    def admin_states(self):
        """{(backend, server): ready, drain or maint}."""
        return {(s["backend"], s["server"]): admin_state(s["admin_flags"])
                for s in parse_servers_state(self.ask("show servers state"))}

    def sessions(self, backend, server):
        return parse_stat(self.ask("show stat -1 4 -1"))[(backend, server)]["sessions"]

    def hold_slow_session(self, backend, server, seconds):
        """A /slow request through ``backend``'s frontend that roundrobin gave to ``server``
        (the backend's only slow one): (its thread, a dict that gets its answer and end
        time)."""
        for _attempt in range(12):
            done = {}

            def slow():
                done["answer"] = self.get(backend, "/slow?s=%s" % seconds, timeout=seconds + 60)
                done["end"] = time.monotonic()

            thread = threading.Thread(target=slow, daemon=True)
            thread.start()
            thread.join(0.5)
            if thread.is_alive():
                # a short GET of a test's traffic may be on it too for a moment (a loaded machine)
                assert self.sessions(backend, server) >= 1
                return thread, done
        raise AssertionError("no /slow request landed on %s/%s in 12 tries" % (backend, server))


class Traffic:
    """GET / through each of ``backends``' frontends, each on its own thread at ``hz``
    requests a second: records (start, end, backend, status, answering server)."""

    def __init__(self, lb, hz, backends=None):
        self.lb = lb
        self.records = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(backend, hz), daemon=True)
                         for backend in (backends or lb.layout)]

    def _send(self, backend, hz):
        next_at = time.monotonic()
        while not self._stop.is_set():
            start = time.monotonic()
            status, body = self.lb.get(backend, timeout=5)
            self.records.append((start, time.monotonic(), backend, status, body))
            next_at += 1.0 / hz
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()      # behind: no burst to catch up

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def between(self, t0, t1):
        return [r for r in self.records if t0 <= r[0] < t1]
