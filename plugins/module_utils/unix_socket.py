# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Connect to a daemon's unix socket (ovsdb-server's db.sock, ovs-vswitchd's <br>.mgmt)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket


def connect_unix(path, timeout, error_cls, missing, unreachable):
    """A connected stream socket to PATH, or ERROR_CLS with one sentence.

    MISSING is the sentence when the socket file does not exist; UNREACHABLE is a format
    string taking the reason when it exists but refuses the connection.
    """
    try:
        os.stat(path)
    except FileNotFoundError:
        raise error_cls(missing)
    except OSError:
        # there, but under a directory this user may not enter: the connect says why
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise error_cls(unreachable % (exc.strerror or exc))
    return sock
