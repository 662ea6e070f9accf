"""Cached virtualenvs holding real OpenStack releases from PyPI, for the tests.

``ensure_venv(name, packages, exclude_newer)`` returns the path of a venv under
``~/.cache/stackhop/venvs/<name>-<hash>``; the hash covers the package list, the
``--exclude-newer`` date and the Python version, so a changed spec builds a new venv
and never reuses a stale one. Building is serialised by a lock file (``fcntl.flock``),
so concurrent test runs (or helpers) wait for one build instead of racing; a marker
file is written only after a successful install, and a venv directory without the
marker (an interrupted build) is removed and rebuilt.

Run as a script to build (or time) a venv by hand::

    python -m tests.lib.openstack_venv nova-2024.1 2024-06-01 'nova==29.*' PyMySQL 'setuptools<80'
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(os.environ.get("STACKHOP_VENV_CACHE",
                            Path.home() / ".cache" / "stackhop" / "venvs"))
MARKER = ".stackhop-complete"
# Bump when the way venvs are built changes (part of the cache key).
LAYOUT = 2

# The releases the tests use; one place to change them.
NOVA_2024_1 = ("nova-2024.1", ["nova==29.*", "PyMySQL", "setuptools<80"], "2024-06-01")
GLANCE_2024_1 = ("glance-2024.1", ["glance==28.*", "PyMySQL", "setuptools<80"], "2024-06-01")
# the RPC library of 2024.1's services (the RabbitMQ bridge's tests)
OSLO_MESSAGING_2024_1 = ("oslo-messaging-2024.1", ["oslo.messaging==14.7.*", "setuptools<80"], "2024-06-01")


def _uv():
    here = Path(os.environ.get("STACKHOP_VENV", "/work/main/.venv")) / "bin" / "uv"
    found = str(here) if here.exists() else shutil.which("uv")
    if not found:
        raise RuntimeError("uv was not found; run scripts/setup.sh (it installs uv in the venv)")
    return found


def spec_hash(packages, exclude_newer, python=None):
    python = python or "%d.%d" % sys.version_info[:2]
    spec = json.dumps({"packages": sorted(packages), "exclude_newer": exclude_newer,
                       "python": python, "layout": LAYOUT}, sort_keys=True)
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def venv_path(name, packages, exclude_newer):
    return CACHE / ("%s-%s" % (name, spec_hash(packages, exclude_newer)))


def ensure_venv(name, packages, exclude_newer, python=None, log=None):
    """Path of a complete venv with ``packages``; builds it once (locked) if missing."""
    path = venv_path(name, packages, exclude_newer)
    if (path / MARKER).exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # waits while another run builds it
        if (path / MARKER).exists():
            return path
        if path.exists():                          # an interrupted earlier build
            shutil.rmtree(path)
        uv = _uv()
        started = time.monotonic()
        try:
            subprocess.run([uv, "venv", "-q", "-p", python or sys.executable, str(path)],
                           check=True, capture_output=True, text=True)
            # --compile-bytecode: the tests may run with PYTHONDONTWRITEBYTECODE or a
            # read-only cache; without .pyc files every nova-manage call spends ~5 s of
            # CPU compiling nova's imports.
            subprocess.run([uv, "pip", "install", "-q", "-p", str(path / "bin" / "python"),
                            "--compile-bytecode", "--exclude-newer", exclude_newer]
                           + list(packages),
                           check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise RuntimeError("building the %s venv failed: %s" % (
                name, (exc.stderr or exc.stdout or "").strip()[-2000:])) from exc
        elapsed = time.monotonic() - started
        (path / MARKER).write_text(json.dumps({
            "packages": list(packages), "exclude_newer": exclude_newer,
            "build_seconds": round(elapsed, 1), "built_at": time.time()}) + "\n")
        if log:
            log("built %s in %.1f s" % (path, elapsed))
    return path


def _main(argv):
    name, exclude_newer, packages = argv[0], argv[1], argv[2:]
    started = time.monotonic()
    path = ensure_venv(name, packages, exclude_newer, log=print)
    size = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True,
                          check=True).stdout.split()[0]
    print("%s ready in %.1f s, %s MB" % (path, time.monotonic() - started, size))


if __name__ == "__main__":
    _main(sys.argv[1:] or [NOVA_2024_1[0], NOVA_2024_1[2]] + NOVA_2024_1[1])
