#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Set HAProxy backend servers ready, drained or in maintenance, and wait until a drain ends
version_added: 0.3.0
description:
  - Sets the admin state of one or more servers of a running HAProxy through its runtime API
    on the UNIX stats socket (C(set server <backend>/<server> state ready|drain|maint)), so a
    controller leaves the load balancer before its services stop and comes back after.
  - Reads the servers' admin state from C(show servers state) and their sessions from
    C(show stat) (CSV), so a server already in O(state) gets no command and a second run
    changes nothing.
  - Every server O(servers) names is checked first, all of them before any is set, so a
    wrong name, or a server that cannot reach O(state) because it tracks another one,
    changes nothing.
  - With O(state=drain) (or V(maint)) and O(wait), waits until the servers hold no
    session and no queued request (C(scur) and C(qcur) 0), so no request is cut when the
    controller's services stop. A drained server still takes requests that persistence
    (a cookie, a stick table) sends to it; a maintenance takes none.
  - With O(state=ready) and O(wait), waits until every server's health check found it up
    (C(show stat)'s status C(UP), or C(no check) for a server without checks), so the
    servers that leave next never leave a backend without one that answers. A server in
    maintenance is drained first and made ready once its check found it up, because straight
    from maintenance HAProxy would send it requests before its first check (status C(UP 1/3)).
  - Talks to the socket itself (no C(socat)). Run it on every HAProxy node that balances
    the controllers, for example with a loop of C(delegate_to).
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  socket:
    description:
      - Path of HAProxy's UNIX stats socket; setting a state needs one at C(level admin)
        (a C(stats socket ... level admin) line of C(haproxy.cfg)).
    type: path
    default: /run/haproxy/admin.sock
  servers:
    description:
      - The servers to set, by the names of C(haproxy.cfg)'s C(backend) and C(server) lines.
    type: list
    elements: dict
    required: true
    suboptions:
      server:
        description: The server's name, for example the controller's host name.
        type: str
        required: true
      backend:
        description:
          - The backend (or C(listen) section) that has the server.
          - Omitted, every backend that has a server of that name, so one entry drains a
            controller from every API at once.
        type: str
  state:
    description:
      - V(ready) puts the servers back into load balancing; V(drain) sends them no new
        request but lets their sessions end (and keeps health checks); V(maint) sends them
        nothing and stops their health checks.
    type: str
    choices: [ready, drain, maint]
    required: true
  wait:
    description:
      - With O(state=drain) or O(state=maint), wait until every server holds no session and
        no queued request.
      - With O(state=ready), wait until every server's health check found it up; a server in
        maintenance goes through V(drain) until then.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait. When sessions remain, or a ready server is not up yet, the task
        fails naming those servers and why; the servers stay in O(state).
    type: int
    default: 300
  interval:
    description: Seconds between two reads of the servers' sessions while waiting.
    type: float
    default: 1.0
notes:
  - Changes live state only; a reload or restart of HAProxy resets the servers to the
    configuration's state unless C(server-state-file) saves it.
  - A server that tracks another one (C(track)) follows that server's maintenance or
    drain; list the tracked server too.
attributes:
  check_mode:
    support: full
    details: Reads the servers and reports which it would set; sets nothing, waits for nothing.
  diff_mode:
    support: full
    details: The admin state of each server before and after.
"""

EXAMPLES = r"""
- name: Drain ctl1 from every HAProxy backend that has it, until its sessions end
  stackhop.upgrade.haproxy_server:
    servers:
      - server: ctl1
    state: drain
    timeout: 120
  delegate_to: "{{ item }}"
  loop: "{{ groups['haproxy'] }}"

- name: Put it back into load balancing
  stackhop.upgrade.haproxy_server:
    servers:
      - server: ctl1
    state: ready
  delegate_to: "{{ item }}"
  loop: "{{ groups['haproxy'] }}"

- name: Take one server out of two backends at once, without waiting
  stackhop.upgrade.haproxy_server:
    socket: /var/lib/haproxy/stats
    servers:
      - {backend: keystone_api, server: infra1_keystone_container-8a2b}
      - {backend: nova_api_os_compute, server: infra1_nova_api_container-41c0}
    state: maint
    wait: false
"""

RETURN = r"""
servers:
  description: Each server O(servers) named, in HAProxy's order, after the task.
  returned: always
  type: list
  elements: dict
  contains:
    backend: {description: Its backend., type: str}
    server: {description: Its name., type: str}
    before:
      description: Its admin state before the task, V(ready), V(drain) or V(maint).
      type: str
    state:
      description: Its admin state after the task; in check mode, the one it would have.
      type: str
    sessions: {description: The sessions it held at the last read (C(scur))., type: int}
    queued: {description: The requests queued for it at the last read (C(qcur))., type: int}
    status:
      description: Its status in C(show stat) at the last read, for example C(UP), C(DRAIN) or C(MAINT).
      type: str
  sample:
    - {backend: keystone_api, server: ctl1, before: ready, state: drain, sessions: 0, queued: 0, status: DRAIN}
seconds:
  description: Seconds spent waiting for the servers' sessions to end, or for ready servers to be up.
  returned: always
  type: float
  sample: 3.4
executed_commands:
  description:
    - The runtime API commands that set a state, in order (reads are not listed; none in check mode).
    - A server made ready from maintenance with O(wait) has a drain command first.
  returned: always
  type: list
  elements: str
  sample: ["set server keystone_api/ctl1 state drain", "set server nova_api/ctl1 state drain"]
"""

import time

from ansible_collections.stackhop.upgrade.plugins.module_utils.haproxy_drain import (
    NAME,
    AnswerError,
    admin_state,
    holding,
    holding_phrase,
    inherited_blocks,
    needs_command,
    not_up,
    not_up_phrase,
    parse_servers_state,
    parse_stat,
    resolve,
    set_command,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.haproxy_runtime import (
    HaproxyRuntime,
    HaproxyRuntimeError,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

LEVELS = ("admin", "operator", "user")


class HaproxyServer(StackhopModule):
    argument_spec = dict(
        socket=dict(type="path", default="/run/haproxy/admin.sock"),
        servers=dict(type="list", elements="dict", required=True, options=dict(
            server=dict(type="str", required=True),
            backend=dict(type="str"),
        )),
        state=dict(type="str", choices=["ready", "drain", "maint"], required=True),
        wait=dict(type="bool", default=True),
        timeout=dict(type="int", default=300),
        interval=dict(type="float", default=1.0),
    )

    def __init__(self):
        super().__init__()
        self.runtime = HaproxyRuntime(self.params["socket"], self._host())

    # -- the socket -----------------------------------------------------------
    def _ask(self, command):
        try:
            return self.runtime.ask(command)
        except HaproxyRuntimeError as exc:
            raise StackhopError(str(exc))

    def _level_sentence(self, level=None, command=None):
        said = ("is at level %s, which may not set a server's state" % level if level
                else "refused '%s' (Permission denied)" % command)
        return ("HAProxy's socket %s on %s %s: set socket to a 'stats socket' line with 'level "
                "admin' (Debian's /run/haproxy/admin.sock is one)"
                % (self.params["socket"], self._host(), said))

    def _read(self, command, parse, what):
        answer = self._ask(command)
        if answer.strip() == "Permission denied":
            raise StackhopError(self._level_sentence(command=command))
        try:
            return parse(answer)
        except AnswerError as exc:
            raise StackhopError(
                "%s on %s answered '%s' with something that is not %s (%s: %r): set socket to "
                "HAProxy's stats socket" % (self.params["socket"], self._host(), command, what,
                                            exc, answer[:80]))

    def _states(self):
        return self._read("show servers state", parse_servers_state, "HAProxy's server state")

    def _stat(self):
        # -1 4 -1: every proxy, servers only
        return self._read("show stat -1 4 -1", parse_stat, "HAProxy's CSV statistics")

    def _require_admin(self):
        level = self._ask("show cli level").strip()
        # an HAProxy older than 2.0 has no such command: its "set" answers say it instead
        if level in LEVELS and level != "admin":
            raise StackhopError(self._level_sentence(level))

    def _set(self, backend, server, state):
        command = set_command(backend, server, state)
        self.executed_commands.append(command)
        answer = self._ask(command).strip()
        if not answer:
            return
        done = len(self.executed_commands) - 1
        if answer == "Permission denied":
            raise StackhopError(self._level_sentence(command=command), changed=done > 0)
        raise StackhopError(
            "HAProxy on %s refused '%s' (%s) after %d server%s had been set: read "
            "executed_commands, fix the cause and run the task again"
            % (self._host(), command, answer.splitlines()[0], done, "" if done == 1 else "s"),
            changed=done > 0)

    # -- the task -------------------------------------------------------------
    def _check_params(self):
        p = self.params
        if not p["servers"]:
            raise StackhopError("servers is empty: name at least one server")
        for item in p["servers"]:
            for key in ("backend", "server"):
                if item.get(key) is not None and not NAME.match(item[key]):
                    raise StackhopError(
                        "servers names %s %r, which is not an HAProxy name (letters, digits and "
                        "- _ . : only): give the name of its line in haproxy.cfg" % (key, item[key]))
        if p["timeout"] < 0 or p["interval"] <= 0:
            raise StackhopError("timeout must not be negative and interval must be above 0")

    def run(self):
        p = self.params
        self._check_params()
        wanted = p["state"]
        known = self._states()
        targets, missing = resolve(p["servers"], known)
        if missing:
            backends = sorted({s["backend"] for s in known})
            raise StackhopError(
                "nothing was changed: HAProxy on %s (%s) has %s; name servers that 'show servers "
                "state' lists (backends: %s)" % (self._host(), p["socket"], ", ".join(missing),
                                                 ", ".join(backends) or "none"))
        flags = {(s["backend"], s["server"]): s["admin_flags"] for s in known}
        stat = self._stat()
        blocked = inherited_blocks(targets, flags, stat, wanted)
        if blocked:
            raise StackhopError(
                "nothing was changed: %s, so no command makes %s %s: %s" % (
                    "; ".join(why for why, _fix in blocked), "it" if len(blocked) == 1 else "them",
                    wanted, "; ".join(sorted({fix for _why, fix in blocked}))))
        before = {pair: admin_state(flags[pair]) for pair in targets}
        change = [pair for pair in targets if needs_command(flags[pair], wanted)]
        if change:
            self._require_admin()
        # a server that leaves maintenance straight to ready takes requests before its first
        # health check (HAProxy shows it "UP 1/3"): drained first, it is checked while it
        # takes none, and made ready once the check found it up
        staged = [pair for pair in change if wanted == "ready" and p["wait"]
                  and before[pair] == "maint"]
        waited = 0.0
        if change and not self.check_mode:
            for backend, server in staged:
                self._set(backend, server, "drain")
            if staged:
                stat, waited = self._wait_up(staged, before, dict.fromkeys(staged, "drain"),
                                             staging=True)
            for backend, server in change:
                self._set(backend, server, wanted)
            flags = {(s["backend"], s["server"]): s["admin_flags"] for s in self._states()}
            wrong = ["%s/%s is %s" % (b, s, admin_state(flags.get((b, s), 0)))
                     for b, s in targets if admin_state(flags.get((b, s), 0)) != wanted]
            if wrong:
                raise StackhopError(
                    "HAProxy on %s took every command but %s, not %s: a server it tracks keeps it "
                    "there (show stat's tracked column); set that server too"
                    % (self._host(), ", ".join(wrong), wanted), changed=True)
        after = dict(before)
        after.update({pair: wanted for pair in change})
        if wanted in ("drain", "maint") and p["wait"] and not self.check_mode:
            stat, waited = self._wait(targets, before, after, bool(change))
        elif wanted == "ready" and p["wait"] and not self.check_mode:
            stat, more = self._wait_up(targets, before, after, changed=bool(change))
            waited = round(waited + more, 1)
        elif change and not self.check_mode:
            stat = self._stat()
        result = {"changed": bool(change), "seconds": waited,
                  "servers": self._summary(targets, before, after, stat)}
        if self.diff_mode:
            result["diff"] = {
                "before": "".join("%s/%s %s\n" % (b, s, before[(b, s)]) for b, s in targets),
                "after": "".join("%s/%s %s\n" % (b, s, after[(b, s)]) for b, s in targets),
                "before_header": "%s admin state" % p["socket"],
                "after_header": "%s admin state" % p["socket"],
            }
        return result

    def _wait(self, targets, before, after, changed):
        """Read the servers' sessions every interval until none holds one; (stat, seconds)."""
        p = self.params

        def sentence(left):
            return ("after %d s in %s, HAProxy on %s still has %s: %s in %s and take%s no new "
                    "request; raise timeout to let those sessions end, or end them with 'shutdown "
                    "sessions server <backend>/<server>' on %s, then run the task again"
                    % (p["timeout"], p["state"], self._host(), holding_phrase(left),
                       "it stays" if len(left) == 1 else "they stay", p["state"],
                       "s" if len(left) == 1 else "", p["socket"]))

        return self._until(lambda stat: holding(targets, stat), sentence, targets, before, after,
                           changed)

    def _wait_up(self, targets, before, after, changed=True, staging=False):
        """Read the servers' status every interval until each one's health check found it up;
        (stat, seconds). ``staging``: they are drained while their first check runs (a
        timeout then leaves them drained, a change made)."""
        return self._until(lambda stat: not_up(targets, stat),
                           lambda left: self._not_up_sentence(left, staging), targets, before,
                           after, True if staging else changed,
                           state="drain" if staging else None)

    def _until(self, pending, sentence, targets, before, after, changed, state=None):
        """Read ``show stat`` every interval until ``pending(stat)`` is empty; (stat,
        seconds). On timeout, fail with ``sentence(what is still pending)``."""
        p = self.params
        start = time.monotonic()
        while True:
            stat = self._stat()
            left = pending(stat)
            waited = round(time.monotonic() - start, 1)
            if not left:
                self._still(targets, after, changed, state=state)
                return stat, waited
            if waited >= p["timeout"]:
                raise StackhopError(sentence(left), changed=changed, seconds=waited,
                                    servers=self._summary(targets, before, after, stat))
            time.sleep(min(p["interval"], max(p["timeout"] - waited, 0.05)))

    def _not_up_sentence(self, left, staging):
        one = len(left) == 1
        its, services = ("its", "its service") if one else ("their", "their services")
        if staging:
            where = "after %d s drained" % self.params["timeout"]
            stays = "%s drained and take%s no request; " % ("it stays" if one else "they stay",
                                                            "s" if one else "")
        else:
            where, stays = "after %d s ready" % self.params["timeout"], ""
        return ("%s, HAProxy on %s has not found %s up by %s health check: %smake %s answer on "
                "%s address and port in haproxy.cfg, or raise timeout"
                % (where, self._host(), not_up_phrase(left), its, stays, services, its))

    def _still(self, targets, after, changed, state=None):
        """Fail when a target left its state while the task waited: a reload of HAProxy
        puts every server back into its configured state (unless server-state-file keeps
        the runtime's), and so does an operator's command."""
        flags = {(s["backend"], s["server"]): s["admin_flags"] for s in self._states()}
        moved = ["%s/%s (now %s)" % (b, s, admin_state(flags[(b, s)]))
                 for b, s in targets if (b, s) in flags and admin_state(flags[(b, s)]) != after[(b, s)]]
        if moved:
            raise StackhopError(
                "while the task waited, HAProxy on %s moved %s out of %s (a reload resets the "
                "runtime's states unless server-state-file keeps them, and so does a command on "
                "%s): run the task again" % (self._host(), ", ".join(moved), state or self.params["state"],
                                             self.params["socket"]), changed=changed)

    @staticmethod
    def _summary(targets, before, after, stat):
        rows = []
        for pair in targets:
            row = stat.get(pair) or {}
            rows.append({"backend": pair[0], "server": pair[1], "before": before[pair],
                         "state": after[pair], "sessions": row.get("sessions", 0),
                         "queued": row.get("queued", 0), "status": row.get("status", "")})
        return rows


def main():
    HaproxyServer()()


if __name__ == "__main__":
    main()
