"""A toy OpenStack on 127.0.0.1 for the API probe's authenticated mode: keystone (password
and token methods, a catalogue, tokens that expire), glance, nova, neutron, cinder and
placement, each on a port of its own, each of which a test can stop (refused), break (503),
hang, or make refuse the tokens issued so far (401). Objects live in memory; a cinder
volume stays ``creating`` for ``volume_create_s`` seconds."""

from __future__ import annotations

import datetime
import http.server
import json
import re
import socket
import threading
import time
import uuid

SERVICES = ("keystone", "glance", "nova", "neutron", "cinder", "placement")
CATALOG = {"keystone": ("identity", "/v3"), "glance": ("image", ""), "nova": ("compute", "/v2.1"),
           "neutron": ("network", ""), "cinder": ("volumev3", "/v3/%(project_id)s"),
           "placement": ("placement", "")}
PROJECT_ID = "0123456789abcdef0123456789abcdef"
PASSWORD = "s3cret-Stub-Pa55"


def _iso(epoch):
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StubCloud:
    """Six services; ``modes[service]`` is up, 503, hang, refuse (401 to every token),
    no-keystone (keystonemiddleware's 503 when it cannot reach keystone) or
    ``slow-posts:<path>`` (a POST to a path ending so is carried out and answered 3 s later,
    after the client gave up)."""

    def __init__(self, token_life=3600.0, region="RegionOne"):
        self.token_life = token_life
        self.region = region
        self.lock = threading.Lock()
        self.modes = {s: "up" for s in SERVICES}
        self.tokens = {}           # token -> expires (epoch)
        self.password_auths = 0
        self.token_auths = 0
        self.requests = []         # (service, method, path, status)
        self.headers_seen = []     # every request's headers (no-secret checks)
        self.bodies_seen = []
        self.objects = {"networks": {}, "ports": {}, "images": {}, "volumes": {}}
        self.volume_create_s = 0.3
        self.volume_delete_s = 0.2
        self.ports = {}
        self.servers = {}
        for service in SERVICES:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            self.ports[service] = sock.getsockname()[1]
            sock.close()
            self.start(service)

    # -- control

    def url(self, service):
        return "http://127.0.0.1:%d%s" % (self.ports[service], CATALOG[service][1])

    @property
    def auth_url(self):
        return "http://127.0.0.1:%d/v3" % self.ports["keystone"]

    def credentials(self):
        return {"auth_url": self.auth_url, "username": "admin", "password": PASSWORD,
                "project_name": "admin", "user_domain_name": "Default",
                "project_domain_name": "Default", "region_name": self.region}

    def start(self, service):
        cloud = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with cloud.lock:
                    cloud.headers_seen.append(dict(self.headers))
                    cloud.bodies_seen.append(raw)
                mode = cloud.modes[service]
                if mode == "hang":
                    time.sleep(3)
                    return
                if mode == "503":
                    status, body, headers = 503, {"error": "unavailable"}, {}
                elif mode == "no-keystone":   # keystonemiddleware without keystone
                    status, headers = 503, {}
                    body = {"error": "The Keystone service is temporarily unavailable."}
                else:
                    try:
                        body_in = json.loads(raw) if raw else None
                    except ValueError:
                        body_in = None
                    status, body, headers = cloud.answer(service, self.command, self.path,
                                                         self.headers, body_in)
                    if (mode.startswith("slow-posts:") and self.command == "POST"
                            and self.path.split("?")[0].endswith(mode.split(":", 1)[1])):
                        time.sleep(3)
                with cloud.lock:
                    cloud.requests.append((service, self.command, self.path, status))
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle  # noqa: N815 (http.server's names)

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.ports[service]), Handler)
        server.daemon_threads = True
        self.servers[service] = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self, service):
        server = self.servers.pop(service, None)
        if server is not None:
            server.shutdown()
            server.server_close()

    def close(self):
        for service in list(self.servers):
            self.stop(service)

    def refuse_tokens(self):
        """Every token issued so far becomes invalid (a keystone with other fernet keys)."""
        with self.lock:
            self.tokens.clear()

    def count(self, service, method=None, prefix=""):
        with self.lock:
            return sum(1 for s, m, p, _st in self.requests
                       if s == service and (method is None or m == method) and p.startswith(prefix))

    # -- the APIs

    def _issue(self):
        token = uuid.uuid4().hex
        now = time.time()
        with self.lock:
            self.tokens[token] = now + self.token_life
        catalog = [{"type": CATALOG[s][0], "name": s, "endpoints": [
            {"interface": "public", "region_id": self.region, "region": self.region,
             "url": "http://127.0.0.1:%d%s" % (self.ports[s], CATALOG[s][1].replace(
                 "%(project_id)s", PROJECT_ID))},
            {"interface": "internal", "region_id": self.region, "region": self.region,
             "url": "http://192.0.2.1:1%s" % CATALOG[s][1]}]} for s in SERVICES]
        body = {"token": {"issued_at": _iso(now), "expires_at": _iso(now + self.token_life),
                          "project": {"id": PROJECT_ID, "name": "admin"}, "catalog": catalog}}
        return 201, body, {"X-Subject-Token": token}

    def valid(self, token):
        with self.lock:
            return token is not None and self.tokens.get(token, 0) > time.time()

    def _keystone(self, method, path, body):
        if method == "POST" and path.rstrip("/").endswith("/v3/auth/tokens"):
            identity = ((body or {}).get("auth") or {}).get("identity") or {}
            if identity.get("methods") == ["password"]:
                user = identity["password"]["user"]
                with self.lock:
                    self.password_auths += 1
                if user.get("password") != PASSWORD or user.get("name") != "admin":
                    return 401, {"error": {"code": 401}}, {}
                return self._issue()
            if identity.get("methods") == ["token"]:
                with self.lock:
                    self.token_auths += 1
                if not self.valid(identity["token"]["id"]):
                    return 401, {"error": {"code": 401}}, {}
                return self._issue()
            return 400, {"error": {"code": 400}}, {}
        return 300, {"versions": {}}, {}

    def answer(self, service, method, path, headers, body):
        """(status, body, headers) of one request to ``service``."""
        if service == "keystone":
            return self._keystone(method, path, body)
        if self.modes[service] == "refuse" or not self.valid(headers.get("X-Auth-Token")):
            return 401, {"error": "unauthorized"}, {}
        path, _sep, query = path.partition("?")
        path = path.rstrip("/")
        # placement validates its query strings (1.14 has no limit on this list)
        if service == "placement" and query and any(
                p.split("=")[0] not in ("name", "uuid", "member_of", "resources", "in_tree")
                for p in query.split("&")):
            return 400, {"errors": [{"status": 400, "detail": "Invalid query string parameters"}]}, {}
        for pattern, handler in self._routes(service):
            match = re.fullmatch(pattern, path)
            if match:
                return handler(method, body, *match.groups())
        return 404, {"error": "no route %s %s" % (method, path)}, {}

    def _routes(self, service):
        if service == "glance":
            return [(r"/v2/images", self._collection("images", "image", flat=True)),
                    (r"/v2/images/([^/]+)", self._member("images"))]
        if service == "nova":
            return [(r"/v2\.1/servers", lambda m, b: (200, {"servers": []}, {}))]
        if service == "placement":
            return [(r"/resource_providers", lambda m, b: (200, {"resource_providers": []}, {}))]
        if service == "neutron":
            return [(r"/v2\.0/networks", self._collection("networks", "network")),
                    (r"/v2\.0/networks/([^/]+)", self._member("networks")),
                    (r"/v2\.0/ports", self._collection("ports", "port")),
                    (r"/v2\.0/ports/([^/]+)", self._member("ports"))]
        if service == "cinder":
            prefix = r"/v3/" + PROJECT_ID
            return [(prefix + r"/volumes(?:/detail)?", self._collection("volumes", "volume")),
                    (prefix + r"/volumes/([^/]+)", self._volume),
                    (prefix + r"/volumes/([^/]+)/action", self._volume_action)]
        return []

    def _collection(self, kind, key, flat=False):
        def handler(method, body):
            store = self.objects[kind]
            if method == "GET":
                with self.lock:
                    items = [dict(v) for v in store.values() if not v.get("_gone")]
                for item in items:
                    self._refresh(kind, item)
                return 200, {kind: [{k: v for k, v in i.items() if not k.startswith("_")}
                                    for i in items if not i.get("_gone")]}, {}
            if method != "POST":
                return 405, None, {}
            fields = dict(body if flat else (body or {}).get(key) or {})
            if kind == "ports" and fields.get("network_id") not in store_ids(self.objects["networks"]):
                return 404, {"error": "no network"}, {}
            fields["id"] = uuid.uuid4().hex
            if kind == "volumes":
                fields.update(status="creating", _since=time.time())
            with self.lock:
                store[fields["id"]] = fields
            shown = {k: v for k, v in fields.items() if not k.startswith("_")}
            return (202 if kind == "volumes" else 201), (shown if flat else {key: shown}), {}
        return handler

    def _member(self, kind):
        def handler(method, body, ident):
            store = self.objects[kind]
            with self.lock:
                item = store.get(ident)
                if item is None:
                    return 404, {"error": "not found"}, {}
                if method == "DELETE":
                    if kind == "networks" and any(p.get("network_id") == ident
                                                  for p in self.objects["ports"].values()):
                        return 409, {"error": "network in use"}, {}
                    del store[ident]
                    return 204, None, {}
                return 200, {kind[:-1]: dict(item)}, {}
        return handler

    def _refresh(self, kind, item):
        if kind != "volumes":
            return
        with self.lock:
            stored = self.objects["volumes"].get(item["id"])
            if stored is None:
                item["_gone"] = True
                return
            now = time.time()
            if stored["status"] == "creating" and now - stored["_since"] >= self.volume_create_s:
                stored["status"] = "available"
            if stored["status"] == "deleting" and now - stored["_since"] >= self.volume_delete_s:
                del self.objects["volumes"][item["id"]]
                item["_gone"] = True
                return
            item.update(stored)

    def _volume(self, method, body, ident):
        item = {"id": ident}
        self._refresh("volumes", item)
        if item.get("_gone"):
            return 404, {"error": "not found"}, {}
        if method == "GET":
            return 200, {"volume": {k: v for k, v in item.items() if not k.startswith("_")}}, {}
        if method == "DELETE":
            with self.lock:
                stored = self.objects["volumes"][ident]
                if stored["status"] not in ("available", "error"):
                    return 400, {"error": "invalid volume status %s" % stored["status"]}, {}
                stored.update(status="deleting", _since=time.time())
            return 202, None, {}
        return 405, None, {}

    def _volume_action(self, method, body, ident):
        with self.lock:
            stored = self.objects["volumes"].get(ident)
            if stored is None:
                return 404, None, {}
            if "os-reset_status" in (body or {}):
                stored["status"] = body["os-reset_status"]["status"]
                return 202, None, {}
        return 400, None, {}

    def live(self, kind):
        """Names of the objects of ``kind`` that exist now."""
        with self.lock:
            items = list(self.objects[kind].values())
        out = []
        for item in items:
            copy = dict(item)
            self._refresh(kind, copy)
            if not copy.get("_gone"):
                out.append(copy.get("name"))
        return out


def store_ids(store):
    return set(store)
