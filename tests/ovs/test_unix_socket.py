"""connect_unix (plugins/module_utils/unix_socket.py): a socket that is not there is MISSING's
sentence; one the user may not reach is UNREACHABLE's with the system's reason, not "missing"."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils.unix_socket import connect_unix


class Refused(Exception):
    pass


def test_a_missing_socket_and_a_listening_one(tmp_path):
    with pytest.raises(Refused, match="^gone$"):
        connect_unix(str(tmp_path / "none.sock"), 2, Refused, "gone", "unreachable: %s")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(tmp_path / "ok.sock"))
    server.listen(1)
    try:
        connect_unix(str(tmp_path / "ok.sock"), 2, Refused, "gone", "unreachable: %s").close()
    finally:
        server.close()


@pytest.mark.needs_root
def test_a_socket_behind_a_closed_directory_is_unreachable_not_missing(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(closed / "admin.sock"))
    server.listen(1)
    tmp_path.chmod(0o755)
    code = ("import sys; sys.path[:0] = %r\n"
            "from ansible_collections.stackhop.upgrade.plugins.module_utils.unix_socket import connect_unix\n"
            "class E(Exception): pass\n"
            "try:\n    connect_unix(%r, 2, E, 'gone', 'unreachable: %%s')\nexcept E as e:\n    print(e)\n"
            % (sys.path, str(closed / "admin.sock")))
    try:
        out = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                              sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, HOME="/tmp"), check=False)
    finally:
        server.close()
    assert out.stdout.strip() == "unreachable: Permission denied", (out.stdout, out.stderr)
