# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""HAProxy's runtime API on its UNIX stats socket, one command per connection.

The CLI's non-interactive mode: a command line in, its answer out, then HAProxy closes
the connection. A connection per command keeps every answer apart (no prompt to parse)
and costs nothing on a local socket.
"""

from __future__ import annotations

import getpass
import os
import socket

from ansible_collections.stackhop.upgrade.plugins.module_utils.unix_socket import connect_unix


class HaproxyRuntimeError(Exception):
    """A failure of the socket, said in one sentence naming the object and the fix."""


class HaproxyRuntime:
    """``HaproxyRuntime(path, host).ask("show servers state")`` -> the answer's text."""

    def __init__(self, path, host, timeout=10):
        self.path = path
        self.host = host
        self.timeout = timeout

    def _connect(self):
        try:
            os.stat(self.path)
            allowed = os.access(self.path, os.R_OK | os.W_OK)
        except PermissionError:     # a directory on the way the user may not search
            allowed = False
        except FileNotFoundError:
            allowed = True          # connect_unix says it is missing
        if not allowed:
            raise HaproxyRuntimeError(
                "%s may not open HAProxy's socket %s on %s (permission denied): run the task as "
                "root (become: true) or as a member of the socket's group (the user, group and "
                "mode of its 'stats socket' line)" % (_user(), self.path, self.host))
        return connect_unix(
            self.path, self.timeout, HaproxyRuntimeError,
            "No HAProxy socket at %s on %s: set socket to the path of haproxy.cfg's 'stats "
            "socket ... level admin' line, or start haproxy" % (self.path, self.host),
            "HAProxy does not answer on " + self.path.replace("%", "%%") + " on "
            + self.host.replace("%", "%%") + " (%s): start haproxy, or set socket to the "
            "path its 'stats socket' line names")

    def ask(self, command):
        """Send one command line; return HAProxy's whole answer (its closing empty line
        removed)."""
        if "\n" in command or ";" in command:
            raise HaproxyRuntimeError("%r is more than one HAProxy command" % command)
        sock = self._connect()
        chunks = []
        try:
            sock.sendall(command.encode("ascii") + b"\n")
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            raise HaproxyRuntimeError(
                "HAProxy did not answer '%s' on %s on %s within %d s: check that haproxy is "
                "not stuck (its log), then run the task again" % (
                    command, self.path, self.host, self.timeout))
        except OSError as exc:
            raise HaproxyRuntimeError(
                "HAProxy's socket %s on %s failed during '%s' (%s): check that haproxy is "
                "running, then run the task again" % (
                    self.path, self.host, command, exc.strerror or exc))
        finally:
            sock.close()
        return b"".join(chunks).decode("utf-8", "replace").rstrip("\n")


def _user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):   # a uid without a passwd entry
        return "uid %d" % os.getuid()
