"""A long-lived TCP stream for data-plane tests: a pushing server and a counting client.

``server HOST PORT INTERVAL SIZE``: accepts one connection and pushes SIZE bytes
every INTERVAL seconds, forever (like a message broker or a log/event stream to a
consumer that only listens).
``client HOST PORT``: opens the connection (so the VM is the side that opened it)
and only reads. It prints one JSON line per read, ``{"t": monotonic, "bytes": total}``,
and one ``{"t": .., "event": "reset"|"eof"|"error", "detail": ..}`` line if the
connection ends. The test reads these lines to count bytes, resets and stalls.
"""

import json
import socket
import sys
import time


def emit(**kw):
    kw.setdefault("t", time.monotonic())
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def server(host, port, interval, size):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1)
    emit(event="listening")
    conn = ls.accept()[0]
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = b"x" * size
    sent = 0
    try:
        while True:
            conn.sendall(payload)
            sent += size
            time.sleep(interval)
    except OSError as exc:
        emit(event="error", detail=str(exc), sent=sent)


def client(host, port):
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)
    emit(event="connected")
    total = 0
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                emit(event="eof", bytes=total)
                return
            total += len(data)
            emit(bytes=total)
    except ConnectionResetError as exc:
        emit(event="reset", detail=str(exc), bytes=total)
    except OSError as exc:
        emit(event="error", detail=str(exc), bytes=total)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    else:
        client(sys.argv[2], int(sys.argv[3]))
