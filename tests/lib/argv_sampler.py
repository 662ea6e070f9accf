"""Catch secrets on command lines: a thread that reads every ``/proc/<pid>/cmdline`` on
the machine every few tens of milliseconds and records each argv holding a secret.

Run in the root pid namespace it also sees the lab hosts' processes (they are ordinary
processes of this machine in their own namespaces), so one sampler watches both ends of
Ansible's SSH: the ``ssh`` client on the controller and ``/bin/sh -c ...`` on the host.

    with ArgvSampler(load_lab_secrets()) as sampler:
        subprocess.run([...])
    assert not sampler.hits, sampler.hits      # [(pid, masked argv, secret key), ...]
    print(sampler.samples)                     # how many passes over /proc it made

A sampler misses processes that live shorter than its interval; Ansible's ssh and
``sh -c`` live for the whole task (hundreds of ms at least), so they are seen.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB_SECRETS = REPO / "inventories" / "lab" / "group_vars" / "all" / "secrets.yml"
MIN_SECRET_LEN = 6


def _leaves(node, prefix):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, "%s.%s" % (prefix, key) if prefix else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _leaves(value, "%s[%d]" % (prefix, i))
    elif isinstance(node, str):
        yield prefix, node


def load_secrets(path=LAB_SECRETS, min_len=MIN_SECRET_LEN):
    """{dotted key: value} for every leaf string of at least ``min_len`` characters of a
    YAML vars file (default: the lab's secrets.yml)."""
    import yaml  # the project venv has PyYAML
    data = yaml.safe_load(Path(path).read_text()) or {}
    return {key: value for key, value in _leaves(data, "") if len(value) >= min_len}


load_lab_secrets = load_secrets


class ArgvSampler:
    """Context manager: samples every process's argv until exit; ``hits`` lists
    ``(pid, argv with each secret masked, secret key)``, one per distinct
    (pid, argv, key); ``samples`` counts the passes over /proc. With ``lab``, only the
    lab's processes make ``hits``; other processes' go to ``foreign_hits``."""

    def __init__(self, secrets, interval=0.03, proc="/proc", lab=None,
                 state_root="/var/lib/stackhop-lab", netns_dir="/run/netns"):
        if isinstance(secrets, dict):
            items = list(secrets.items())
        else:
            items = [(s, s) for s in secrets]
        self.secrets = [(key, value) for key, value in items if value]
        # longest first: a secret holding another is masked whole
        self._needles = sorted(((v.encode(), k) for k, v in self.secrets),
                               key=lambda kv: -len(kv[0]))
        self.interval = interval
        self.proc = proc
        self.hits = []
        # lab=NAME: a hit counts only for a process of that lab (in one of its network
        # namespaces, or naming its state directory, as the controller's ssh does);
        # other processes' hits (another lab's deploy on this machine) go here
        self.foreign_hits = []
        self.lab = lab
        self._lab_dir = ("%s/%s/" % (state_root.rstrip("/"), lab)).encode() if lab else None
        self._netns_dir = netns_dir
        self.samples = 0
        self.processes_seen = 0
        self._seen = set()
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self._own = os.getpid()

    def mask(self, argv):
        """``argv`` (list of str) with every secret value replaced by ``<secret:KEY>``."""
        out = []
        for arg in argv:
            for needle, key in self._needles:
                arg = arg.replace(needle.decode(), "<secret:%s>" % key)
            out.append(arg)
        return out

    def sample(self):
        """One pass over /proc (the thread calls it; tests may too)."""
        try:
            entries = os.listdir(self.proc)
        except OSError:
            return
        for entry in entries:
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid == self._own:
                continue
            try:
                with open("%s/%s/cmdline" % (self.proc, entry), "rb") as f:
                    raw = f.read()
            except OSError:  # gone, or not ours to read
                continue
            self.processes_seen += 1
            if not raw:
                continue
            for needle, key in self._needles:
                if needle in raw:
                    self._record(pid, raw, key)
        self.samples += 1

    def in_lab(self, pid, raw=b""):
        """Whether process ``pid`` belongs to the lab (always true without ``lab``)."""
        if self.lab is None or self._lab_dir in raw:
            return True
        try:
            ino = os.stat("%s/%d/ns/net" % (self.proc, pid)).st_ino
            names = os.listdir(self._netns_dir)
        except OSError:
            return False
        for name in names:
            if name.startswith(self.lab + "-"):
                try:
                    if os.stat(os.path.join(self._netns_dir, name)).st_ino == ino:
                        return True
                except OSError:
                    continue
        return False

    def _record(self, pid, raw, key):
        argv = [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]
        masked = self.mask(argv)
        ident = (pid, tuple(masked), key)
        with self._lock:
            if ident not in self._seen:
                self._seen.add(ident)
                (self.hits if self.in_lab(pid, raw) else self.foreign_hits).append(
                    (pid, masked, key))

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.sample()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t0)))

    def start(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="argv-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def report(self):
        """JSON-ready summary: samples, processes read, hits (no secret value in it)."""
        return {"samples": self.samples, "processes_read": self.processes_seen,
                "interval_s": self.interval, "secret_keys": [key for key, _value in self.secrets],
                "lab": self.lab,
                "hits": [{"pid": pid, "argv": argv, "secret": key}
                         for pid, argv, key in self.hits],
                "foreign_hits": [{"pid": pid, "argv": argv, "secret": key}
                                 for pid, argv, key in self.foreign_hits]}

    def write(self, path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.report(), indent=1) + "\n")
        os.replace(tmp, path)
        return path


def main(argv=None):
    """``python -m tests.lib.argv_sampler [--lab LAB] OUT.json -- COMMAND...``: run COMMAND
    under the sampler with the lab's secrets, write the report to OUT.json; exit with
    COMMAND's code, or 3 when it passed and a secret was seen (in LAB's processes)."""
    import subprocess
    import sys
    args = list(sys.argv[1:] if argv is None else argv)
    lab = None
    if args[:1] == ["--lab"]:
        lab, args = args[1], args[2:]
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m tests.lib.argv_sampler [--lab LAB] OUT.json -- COMMAND...",
              file=sys.stderr)
        return 2
    with ArgvSampler(load_lab_secrets(), lab=lab) as sampler:
        rc = subprocess.call(args[2:])
    sampler.write(args[0])
    print("argv sampler: %d passes over /proc, %d secret(s) on an argv (%d of other "
          "processes); report %s" % (sampler.samples, len(sampler.hits),
                                     len(sampler.foreign_hits), args[0]), file=sys.stderr)
    return rc or (3 if sampler.hits else 0)


if __name__ == "__main__":
    raise SystemExit(main())
