# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Read ``iptables-save`` output as tables, chains and rules; write restore payloads.

``iptables-save`` is the machine-readable form of the ruleset: one ``*table`` block
per table, ``:CHAIN POLICY [packets:bytes]`` declarations, then one ``-A CHAIN ...``
line per rule (optionally prefixed by ``[packets:bytes]`` with ``-c``) and ``COMMIT``.
Arguments are quoted the way ``iptables-restore`` reads them back (double quotes,
backslash escapes), so a rule is split with POSIX shell rules, never on blanks.
"""

from __future__ import annotations

import re
import shlex

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
)

BUILTIN_CHAINS = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}

_COUNTERS = re.compile(r"^\[(\d+):(\d+)\]$")
_SAFE_ARG = re.compile(r"^[A-Za-z0-9_.,:/@%+=!-]+$")


class Rule:
    """One ``-A CHAIN ...`` line: its chain, its arguments and the target's arguments."""

    def __init__(self, chain, args, counters=None, line=None):
        self.chain = chain
        self.args = list(args)
        self.counters = counters
        self.line = line

    # -- reading -------------------------------------------------------------
    @property
    def target(self):
        """The ``-j`` (or ``-g``) target, or None for a rule without one."""
        for flag in ("-j", "--jump", "-g", "--goto"):
            if flag in self.args:
                i = self.args.index(flag)
                if i + 1 < len(self.args):
                    return self.args[i + 1]
        return None

    @property
    def target_args(self):
        """Arguments after ``-j TARGET`` (iptables-save always prints the target last)."""
        for flag in ("-j", "--jump", "-g", "--goto"):
            if flag in self.args:
                return self.args[self.args.index(flag) + 2:]
        return []

    @property
    def match_args(self):
        """Arguments before the target."""
        for flag in ("-j", "--jump", "-g", "--goto"):
            if flag in self.args:
                return self.args[:self.args.index(flag)]
        return list(self.args)

    def option(self, name):
        """Value following ``name`` among the match arguments (None if absent or negated)."""
        args = self.match_args
        for i, arg in enumerate(args):
            if arg == name and i + 1 < len(args):
                if i > 0 and args[i - 1] == "!":
                    return None
                return args[i + 1]
        return None

    def comments(self):
        """Every ``-m comment --comment`` value of the rule."""
        args = self.match_args
        return [args[i + 1] for i, arg in enumerate(args)
                if arg == "--comment" and i + 1 < len(args)]

    def ct_zone(self):
        """Conntrack zone a ``-j CT`` rule sets, or None if the rule is not a plain zone rule.

        iptables 1.8.9 (nf_tables and legacy alike) prints ``-j CT --zone 0`` as
        ``-j CT``: libxt_CT only prints ``--zone`` when it is non-zero. Measured on the
        nf_tables backend: ``iptables-save``, ``iptables -S`` and ``iptables -L -v``
        all show the two spellings identically, and ``iptables -C`` finds one with
        the other, because the kernel keeps the very same target data for both (zone 0
        is the default zone); nft is no way out either, it shows the xt target opaquely.
        So no tool can "reveal" a hidden zone 0: there is nothing hidden. A CT rule without ``--zone`` and without any other CT option
        therefore IS a zone 0 rule; reading it as "no zone" is the trap this parser
        avoids. Rules with ``--notrack``, directional zones, helpers, timeouts or event
        masks are not plain zone rules and give None.
        """
        if self.target != "CT":
            return None
        targs = self.target_args
        if not targs:
            return 0
        if len(targs) == 2 and targs[0] == "--zone" and targs[1].isdigit():
            return int(targs[1])
        return None

    def device(self):
        """(match, device) the rule selects packets by: ``physdev`` or ``interface``."""
        dev = self.option("--physdev-in")
        if dev is not None:
            return "physdev", dev
        dev = self.option("-i") or self.option("--in-interface")
        if dev is not None:
            return "interface", dev
        return None, None

    def jumps_to(self, chain):
        return self.target == chain

    # -- writing -------------------------------------------------------------
    def spec(self):
        """The rule's arguments quoted for ``iptables-restore`` (without ``-A CHAIN``)."""
        return " ".join(restore_quote(a) for a in self.args)

    def __repr__(self):
        return "Rule(%r, %r)" % (self.chain, self.args)


class Chain:
    """A chain: name, policy (``-`` for user chains) and rules in order."""

    def __init__(self, name, policy="-", counters=None):
        self.name = name
        self.policy = policy
        self.counters = counters
        self.rules = []

    @property
    def builtin(self):
        return self.policy != "-"


class Table:
    """A table: name and chains in the order iptables-save declared them."""

    def __init__(self, name):
        self.name = name
        self.chains = {}

    def chain(self, name):
        return self.chains.get(name)

    def rules(self):
        for chain in self.chains.values():
            yield from chain.rules

    def references(self, chain):
        """Rules of this table that jump or go to ``chain``."""
        return [r for r in self.rules() if r.target == chain]


def parse_save(text):
    """Parse ``iptables-save`` output into ``{table name: Table}``.

    Raises StackhopError on a line it cannot read, naming the line, rather than
    guessing: a misread ruleset must never lead to a write.
    """
    tables = {}
    table = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            if table is not None:
                raise StackhopError(
                    "iptables-save output line %d opens table %s before table %s was "
                    "committed; check the iptables binary in use" % (lineno, line[1:], table.name))
            table = tables.setdefault(line[1:], Table(line[1:]))
            continue
        if table is None:
            raise StackhopError(
                "iptables-save output line %d is outside any table: %r; check the "
                "iptables binary in use" % (lineno, line))
        if line == "COMMIT":
            table = None
            continue
        if line.startswith(":"):
            parts = line[1:].split()
            if len(parts) < 2:
                raise StackhopError("iptables-save output line %d declares no policy: %r"
                                    % (lineno, line))
            name, policy = parts[0], parts[1]
            counters = parts[2] if len(parts) > 2 else None
            if name not in table.chains:
                table.chains[name] = Chain(name, policy, counters)
            continue
        try:
            tokens = shlex.split(line, posix=True)
        except ValueError as exc:
            raise StackhopError("iptables-save output line %d cannot be read (%s): %r"
                                % (lineno, exc, line))
        counters = None
        if tokens and _COUNTERS.match(tokens[0]):
            counters = tokens.pop(0)
        if len(tokens) < 2 or tokens[0] not in ("-A", "--append"):
            raise StackhopError("iptables-save output line %d is not a rule: %r"
                                % (lineno, line))
        chain = table.chains.get(tokens[1])
        if chain is None:
            chain = table.chains[tokens[1]] = Chain(tokens[1])
        chain.rules.append(Rule(tokens[1], tokens[2:], counters, line))
    if table is not None:
        raise StackhopError("iptables-save output ends inside table %s without COMMIT"
                            % table.name)
    return tables


_QUOTED = {}


def restore_quote(arg):
    """Quote one argument the way iptables-restore reads it (double quotes only)."""
    quoted = _QUOTED.get(arg)
    if quoted is None:
        if arg and _SAFE_ARG.match(arg):
            quoted = arg
        else:
            quoted = '"%s"' % arg.replace("\\", "\\\\").replace('"', '\\"')
        if len(_QUOTED) < 65536:
            _QUOTED[arg] = quoted
    return quoted


class RestorePayload:
    """Commands for one ``iptables-restore --noflush`` call, grouped by table."""

    def __init__(self):
        self._tables = {}

    def add(self, table, line):
        self._tables.setdefault(table, []).append(line)

    def new_chain(self, table, chain):
        # In --noflush mode a declaration of an EXISTING chain flushes it: only
        # ever declare chains that are missing.
        self.add(table, ":%s - [0:0]" % chain)

    def insert(self, table, chain, position, args):
        self.add(table, "-I %s %d %s" % (chain, position, " ".join(restore_quote(a) for a in args)))

    def append(self, table, chain, args):
        self.add(table, "-A %s %s" % (chain, " ".join(restore_quote(a) for a in args)))

    def delete(self, table, chain, args):
        self.add(table, "-D %s %s" % (chain, " ".join(restore_quote(a) for a in args)))

    def delete_chain(self, table, chain):
        self.add(table, "-X %s" % chain)

    def __bool__(self):
        return any(self._tables.values())

    def __len__(self):
        return sum(len(v) for v in self._tables.values())

    def text(self):
        out = []
        for table, lines in self._tables.items():
            if not lines:
                continue
            # Declarations must come before the rules that use them.
            decl = [ln for ln in lines if ln.startswith(":")]
            rest = [ln for ln in lines if not ln.startswith(":")]
            out.append("*%s" % table)
            out.extend(decl + rest)
            out.append("COMMIT")
        return "\n".join(out) + "\n" if out else ""
