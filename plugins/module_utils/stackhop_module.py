# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""One base class for every stackhop module.

It owns the argument spec, check mode, diff, the record of executed commands and
error reporting, so each module only says what it wants and how to apply it.
"""

from __future__ import annotations

import json
import os
import pkgutil
import selectors
import shlex
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stackhop.upgrade.plugins.module_utils.secrets import Masker


class StackhopError(Exception):
    """A failure a module reports to the operator as one sentence.

    Raise it with a message that names the object and the fix; extra keyword
    arguments are returned in the failed result (never secrets).
    """

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class StackhopModule:
    """Subclass, set ``argument_spec`` (and ``module_kwargs``), implement ``run``.

    ``run`` returns a dict of results; ``changed`` defaults to False. It reads
    ``self.check_mode`` and ``self.diff_mode`` and must write nothing in check mode.
    """

    argument_spec = {}
    module_kwargs = {}

    def __init__(self):
        self.ansible = AnsibleModule(
            argument_spec=self.argument_spec,
            supports_check_mode=True,
            **self.module_kwargs
        )
        self.params = self.ansible.params
        self.check_mode = self.ansible.check_mode
        self.diff_mode = self.ansible._diff
        self.executed_commands = []

    # -- commands -------------------------------------------------------------
    def get_bin_path(self, name, hint=None):
        """Absolute path of a required executable, or a clear error."""
        path = self.ansible.get_bin_path(name, required=False)
        if not path:
            raise StackhopError(
                "%s was not found on %s; %s" % (
                    name, self._host(), hint or "install it or put it on PATH"))
        return path

    def command_path(self, value, name, hint):
        """The executable ``value`` names: an absolute path (for example inside a
        virtualenv), checked, or a name looked up on PATH; else a clear error.
        ``name`` says what it is (``nova-manage``), ``hint`` how to fix it."""
        if "/" not in value:
            return self.get_bin_path(value, hint)
        if not (os.path.isfile(value) and os.access(value, os.X_OK)):
            raise StackhopError("%s was not found at %s on %s; %s"
                                % (name, value, self._host(), hint))
        return value

    def run_command(self, argv, data=None, check_rc=True, environ_update=None,
                    binary_data=False, record=True):
        """Run argv (a list, never a shell string); record it; return (rc, out, err).

        Secrets must never be in argv: pass them in files or on stdin.
        """
        if record:
            self.executed_commands.append(shlex.join([str(a) for a in argv]))
        rc, out, err = self.ansible.run_command(
            [str(a) for a in argv], data=data, binary_data=binary_data,
            environ_update=environ_update or {})
        if check_rc and rc != 0:
            raise StackhopError(
                "%s failed with exit code %d: %s" % (
                    shlex.join([str(a) for a in argv[:3]]), rc,
                    (err or out).strip().splitlines()[-1:] or ["no output"]),
                rc=rc, stderr=err)
        return rc, out, err

    def run_json_helper(self, argv, helper, helper_name):
        """Pipe the source of ``helper`` (a module_utils module) to ``argv``, a Python that
        runs it from standard input (a release's own Python, with its code). Returns (the
        helper's last JSON line, parsed, or None when it failed or printed none; its exit
        code; its last output line, masked, for the caller's sentence)."""
        rc, out, err = self.run_command(argv, data=helper_source(helper), check_rc=False)
        lines = [line for line in (out or "").splitlines() if line.startswith("{")]
        if rc != 0 or not lines:
            last = [line.strip() for line in (err or out or "").splitlines() if line.strip()][-1:]
            return None, rc, Masker().mask(last[0])[:200] if last else "no output"
        try:
            return json.loads(lines[-1]), rc, ""
        except ValueError:
            raise StackhopError("%s under %s printed no JSON" % (helper_name, argv[0]))

    def run_streaming(self, argv, on_output, env=None):
        """Run argv like run_command (no shell, recorded), calling ``on_output(text)`` with
        each piece of standard output as the command writes it; return (rc, out, err).
        For long commands whose output tells their progress. ``env`` is added to the
        module's environment."""
        argv = [str(a) for a in argv]
        self.executed_commands.append(shlex.join(argv))
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=dict(os.environ, **(env or {})))
        except OSError as exc:
            raise StackhopError("%s could not be started on %s: %s"
                                % (argv[0], self._host(), exc.strerror))
        chunks = {proc.stdout: [], proc.stderr: []}
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            sel.register(proc.stderr, selectors.EVENT_READ)
            open_pipes = 2
            while open_pipes:
                for key, dummy in sel.select():
                    data = os.read(key.fileobj.fileno(), 65536)
                    if not data:
                        sel.unregister(key.fileobj)
                        open_pipes -= 1
                        continue
                    chunks[key.fileobj].append(data)
                    if key.fileobj is proc.stdout:
                        on_output(data.decode("utf-8", "replace"))
        rc = proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        return (rc, b"".join(chunks[proc.stdout]).decode("utf-8", "replace"),
                b"".join(chunks[proc.stderr]).decode("utf-8", "replace"))

    @staticmethod
    def write_progress(path, progress):
        """Rewrite the JSON progress file a job's follower reads (stackhop.upgrade.
        async_progress): beside it, then renamed over it, so no reader sees half a file."""
        if not path:
            return
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, mode=0o700, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=directory, prefix=".progress-")
        with os.fdopen(handle, "w") as out:
            json.dump(progress, out, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    # -- life cycle -----------------------------------------------------------
    def run(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self):
        try:
            result = self.run() or {}
        except StackhopError as exc:
            self.ansible.fail_json(
                msg=exc.msg, executed_commands=self.executed_commands, **exc.details)
        result.setdefault("changed", False)
        result.setdefault("executed_commands", self.executed_commands)
        if not self.diff_mode:
            result.pop("diff", None)
        self.ansible.exit_json(**result)

    @staticmethod
    def _host():
        import socket
        return socket.gethostname()


def helper_source(helper):
    """The source of a module_utils module a module pipes to another Python, also from
    inside an AnsiballZ zip."""
    package, _dot, name = helper.__name__.rpartition(".")
    data = pkgutil.get_data(package, name + ".py")
    if data is None:  # pragma: no cover - a loader without get_data
        with open(helper.__file__, "rb") as handle:
            data = handle.read()
    return data.decode("utf-8")


def changed_keys(have, want):
    """Keys of ``want`` whose value differs in ``have`` (the generic want/have step)."""
    return sorted(k for k, v in want.items() if have.get(k) != v)


def read_text(path):
    """A text file's content, or None when it does not exist."""
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_text(path, content, mode=0o644, dir_mode=0o755):
    """Write a text file whole: beside it, then renamed over it, so no reader sees half a
    file; its directory made when missing."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=dir_mode, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".stackhop-")
    with os.fdopen(handle, "w") as out:
        out.write(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
