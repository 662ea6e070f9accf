"""Catch secrets on command lines: a thread that reads the ``/proc/<pid>/cmdline`` of every
process the moment it executes a program (the kernel's process events connector, root
only) and of every process on the machine twice a second (argv a process rewrites after it
started), and records each argv holding a secret. Without the connector it reads every
process every few tens of milliseconds instead.

Run in the root pid namespace it also sees the lab hosts' processes (they are ordinary
processes of this machine in their own namespaces), so one sampler watches both ends of
Ansible's SSH: the ``ssh`` client on the controller and ``/bin/sh -c ...`` on the host.

    with ArgvSampler(load_lab_secrets()) as sampler:
        subprocess.run([...])
    assert not sampler.hits, sampler.hits      # [(pid, masked argv, secret key), ...]
    print(sampler.samples)                     # how many passes over /proc it made

With exec events a process is read within a scheduling delay of its exec: only one that
exits before the sampler runs again is missed (by polling, one that lives shorter than the
interval). So the reading thread asks for real-time scheduling (root may): on a machine
whose cores are busy, a thread of ordinary priority waited longer than a 50 ms process
lived. Ansible's ssh and ``sh -c`` live for the whole task (hundreds of ms at least).
Events cost a read per exec instead of a read per process every 30 ms: the polling pass
took a fifth of a core on the lab.
"""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import struct
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB_SECRETS = REPO / "lab" / "inventory" / "group_vars" / "all" / "secrets.yml"
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

# linux/connector.h, linux/cn_proc.h
NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_EVENT_EXEC = 0x00000002
NLMSG_DONE = 3
NLMSG_HDR = struct.Struct("=IHHII")          # len, type, flags, seq, pid
CN_MSG = struct.Struct("=IIIIHH")            # idx, val, seq, ack, len, flags
PROC_EVENT = struct.Struct("=IIQ")           # what, cpu, timestamp_ns
EXEC_EVENT = struct.Struct("=II")            # process_pid, process_tgid


def exec_events_socket():
    """A netlink socket subscribed to the kernel's process events, or None where there is
    none (not root, no CONFIG_PROC_EVENTS, not Linux)."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    except (AttributeError, OSError):
        return None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind((0, CN_IDX_PROC))
        op = struct.pack("=I", PROC_CN_MCAST_LISTEN)
        body = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(op), 0) + op
        sock.send(NLMSG_HDR.pack(NLMSG_HDR.size + len(body), NLMSG_DONE, 0, 0, 0) + body)
    except OSError:
        sock.close()
        return None
    return sock


def exec_pids(data):
    """The pids (thread group ids) of the exec events in one datagram of the connector."""
    pids = []
    offset = 0
    while offset + NLMSG_HDR.size <= len(data):
        length = NLMSG_HDR.unpack_from(data, offset)[0]
        if length < NLMSG_HDR.size:
            break
        event = offset + NLMSG_HDR.size + CN_MSG.size
        if event + PROC_EVENT.size + EXEC_EVENT.size <= offset + length:
            what = PROC_EVENT.unpack_from(data, event)[0]
            if what == PROC_EVENT_EXEC:
                pids.append(EXEC_EVENT.unpack_from(data, event + PROC_EVENT.size)[1])
        offset += (length + 3) & ~3
    return pids


class ArgvSampler:
    """Context manager: samples every process's argv until exit; ``hits`` lists
    ``(pid, argv with each secret masked, secret key)``, one per distinct
    (pid, argv, key); ``samples`` counts the passes over /proc. With ``lab``, only the
    lab's processes make ``hits``; other processes' go to ``foreign_hits``. ``interval``
    is the period of the passes over every process: 0.5 s when exec events come
    (``events``), 0.03 s without them; ``execs_read`` counts the processes read on their exec,
    ``events_lost`` the times the kernel dropped events (a pass follows at once)."""

    def __init__(self, secrets, interval=None, proc="/proc", lab=None,
                 state_root="/var/lib/stackhop-lab", netns_dir="/run/netns", events=True,
                 programs=()):
        if isinstance(secrets, dict):
            items = list(secrets.items())
        else:
            items = [(s, s) for s in secrets]
        self.secrets = [(key, value) for key, value in items if value]
        # longest first: a secret holding another is masked whole
        self._needles = sorted(((v.encode(), k) for k, v in self.secrets),
                               key=lambda kv: -len(kv[0]))
        self._events_wanted = events and proc == "/proc"
        self._sock = None
        self._interval = interval
        self.interval = interval if interval is not None else 0.03
        self.execs_read = 0
        self.events_lost = 0
        self.mode = None
        self.realtime = False
        # programs=(basename, ...): the argv of every process of these programs is kept in
        # program_argvs (secrets masked), whether or not it holds a secret
        self.programs = {p.encode() for p in programs}
        self.program_argvs = []
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
            if entry.isdigit():
                self.read(int(entry))
        self.samples += 1

    def read(self, pid):
        """Read one process's argv and record the secrets in it; False when it is gone."""
        if pid == self._own:
            return True
        try:
            with open("%s/%d/cmdline" % (self.proc, pid), "rb") as f:
                raw = f.read()
        except OSError:  # gone, or not ours to read
            return False
        self.processes_seen += 1
        if self.programs and os.path.basename(raw.split(b"\0", 1)[0]) in self.programs:
            self._keep_program(pid, raw)
        for needle, key in self._needles:
            if needle in raw:
                self._record(pid, raw, key)
        return True

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

    def _keep_program(self, pid, raw):
        argv = self.mask([a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")])
        with self._lock:
            if (pid, argv) not in self.program_argvs:
                self.program_argvs.append((pid, argv))

    def programs_seen(self):
        """The basenames of the watched programs that ran while the sampler did."""
        return {os.path.basename(argv[0]) for _pid, argv in self.program_argvs}

    def _realtime(self):
        # this thread only (pid 0), lowest real-time priority: it sleeps in select() and
        # reads one cmdline per exec, so it cannot starve the machine
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except (AttributeError, OSError):
            return False
        return True

    def _run(self):
        if self._sock is None:
            while not self._stop.is_set():
                t0 = time.monotonic()
                self.sample()
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - t0)))
            return
        self.realtime = self._realtime()
        due = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= due:
                self.sample()
                due = now + self.interval
            # a short timeout: stop() is seen within it
            ready, _w, _x = select.select([self._sock], [], [], min(0.1, max(0.0, due - now)))
            if ready:
                self._drain()

    def _drain(self):
        while True:
            try:
                data = self._sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.events_lost += 1     # the kernel dropped events: read everyone now
                self.sample()
                continue
            for pid in exec_pids(data):
                if self.read(pid):
                    self.execs_read += 1

    def start(self):
        self._stop.clear()
        if self._events_wanted and self._sock is None:
            self._sock = exec_events_socket()
        self.mode = "exec events" if self._sock is not None else "polling"
        if self._interval is None:
            self.interval = 0.5 if self._sock is not None else 0.03
        self._thread = threading.Thread(target=self._run, name="argv-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def report(self):
        """JSON-ready summary: samples, processes read, hits (no secret value in it)."""
        return {"samples": self.samples, "processes_read": self.processes_seen,
                "mode": self.mode, "realtime": self.realtime, "interval_s": self.interval,
                "execs_read": self.execs_read,
                "events_lost": self.events_lost, "secret_keys": [key for key, _value in self.secrets],
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
    figures = (sampler.samples, sampler.execs_read, len(sampler.hits), len(sampler.foreign_hits),
               args[0])
    print("argv sampler: %d passes over /proc, %d processes read on exec, %d secret(s) on an "
          "argv (%d of other processes); report %s" % figures, file=sys.stderr)
    return rc or (3 if sampler.hits else 0)


if __name__ == "__main__":
    raise SystemExit(main())
