# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Build one OpenStack release's virtualenv once per machine, at the path it has on the hosts.

Runs on the Ansible controller (as root)::

    build_venv.py --name 2024.1 --target /opt/stackhop/venvs/2024.1 \
        --exclude-newer 2024-06-01 --python /usr/bin/python3 -- 'nova==29.*' ...

A virtualenv is not relocatable (its scripts name the interpreter by absolute path), so
it is built AT its target path: in a private mount namespace the target is a bind mount of
the cache directory ``CACHE/<name>-<hash>``, nothing appears on the machine's own /opt.
The hash covers packages, exclude-newer date, interpreter version, target path and this
recipe, so a changed spec builds a new venv and never reuses a stale one. Builds are
serialised with flock; a marker file is written only after a successful build, and a
directory without it (an interrupted build) is removed and rebuilt. Prints one JSON line.
"""

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

RECIPE = "1"
MARKER = ".stackhop-complete"

# Inside a private mount namespace: hide nothing but make TARGET a view of the build dir.
BIND = r"""
set -eu
SRC=$1 TARGET=$2 ANCHOR=$3
shift 3
if [ "$ANCHOR" != "$TARGET" ]; then
  mount -t tmpfs -o mode=0755,size=1m stackhop-venv "$ANCHOR"
  mkdir -p "$TARGET"
fi
mount --bind "$SRC" "$TARGET"
exec "$@"
"""


def fail(msg):
    print(json.dumps({"failed": True, "msg": msg}))
    sys.exit(1)


def python_version(python):
    out = subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def anchor_of(target):
    """The deepest existing directory on the target's path (where a tmpfs can go)."""
    path = target
    while not os.path.isdir(path):
        path = os.path.dirname(path)
    return path if path != target else target


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--exclude-newer", required=True)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--cache", default="/var/cache/stackhop/venvs")
    ap.add_argument("--uv", default=shutil.which("uv") or "uv")
    ap.add_argument("packages", nargs="+")
    args = ap.parse_args()
    if not os.path.isabs(args.target) or args.target.rstrip("/") in ("", "/opt", "/usr"):
        fail("venv target %r is not a dedicated absolute path; use e.g. "
             "/opt/stackhop/venvs/2024.1" % args.target)
    if os.path.isdir(args.target) and os.listdir(args.target):
        fail("venv target %s exists on this machine and is not empty; build on a machine "
             "without it or pick another target" % args.target)
    pyver = python_version(args.python)
    key = json.dumps({"packages": sorted(args.packages), "exclude_newer": args.exclude_newer,
                      "python": pyver, "target": args.target, "recipe": RECIPE},
                     sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    path = os.path.join(args.cache, "%s-%s" % (args.name, digest))
    marker = os.path.join(path, MARKER)
    result = {"changed": False, "path": path, "hash": digest, "target": args.target,
              "python": pyver}
    os.makedirs(args.cache, exist_ok=True)
    if not os.path.exists(marker):
        with open(path + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(marker):
                shutil.rmtree(path, ignore_errors=True)
                os.makedirs(path)
                started = time.monotonic()
                wrap = ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", BIND,
                        "bind", path, args.target, anchor_of(args.target)]
                env = dict(os.environ, UV_NO_CONFIG="1")
                env.pop("VIRTUAL_ENV", None)
                steps = [
                    [args.uv, "venv", "-q", "--seed", "-p", args.python, args.target],
                    # --compile-bytecode: without .pyc files every service start spends
                    # seconds of CPU compiling; the hosts' venv is read-mostly.
                    [args.uv, "pip", "install", "-q", "-p", args.target + "/bin/python",
                     "--compile-bytecode", "--exclude-newer", args.exclude_newer]
                    + args.packages,
                ]
                for step in steps:
                    proc = subprocess.run(wrap + step, capture_output=True, text=True, env=env,
                                          check=False)
                    if proc.returncode != 0:
                        shutil.rmtree(path, ignore_errors=True)
                        fail("building venv %s failed at '%s': %s" % (
                            args.name, " ".join(step[:3]),
                            (proc.stderr or proc.stdout).strip()[-1500:]))
                seconds = round(time.monotonic() - started, 1)
                with open(marker, "w") as f:
                    json.dump({"packages": args.packages, "exclude_newer": args.exclude_newer,
                               "python": pyver, "target": args.target,
                               "build_seconds": seconds, "built_at": time.time()}, f)
                result.update(changed=True, build_seconds=seconds)
    with open(marker) as f:
        result["marker"] = json.load(f)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
