"""A toy OpenStack version document on 127.0.0.1 that tests stop, break or hang."""

from __future__ import annotations

import http.server
import socket
import threading
import time


class VersionApi:
    """A version document on 127.0.0.1:<port> that can be stopped, broken or hung."""

    def __init__(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.mode = "up"
        self.server = None
        self.start()

    def start(self):
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if api.mode == "hang":
                    time.sleep(3)
                    return
                status = 503 if api.mode == "503" else 300
                body = b'{"versions": {"values": []}}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return "http://127.0.0.1:%d/v3" % self.port
