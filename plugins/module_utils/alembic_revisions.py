# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Alembic revisions of a release's code (read from the files, never imported) and of a
database (its version table), and what they say about each other.

A release's code knows every revision defined under its migration directories. A
database that records a revision the code does not know is past that release (or was
altered locally: the preflight's schema_revisions check tells the two apart before the
window). Used by the ``db_migrate`` module to skip an intermediate release's migrations
on a re-run once the database has gone beyond it.
"""

from __future__ import absolute_import, division, print_function

import ast
import os

__metaclass__ = type


class RevisionError(Exception):
    """A migration directory or file that cannot be read; the message names the fix."""


def _constant(node):
    """The value of a literal string/tuple/None node, else a marker."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return NotImplemented


def read_graph(paths):
    """{revision: [revisions it builds on]} of every ``*.py`` file below ``paths``: its
    ``down_revision`` and its ``depends_on``. Alembic applies a dependency first and does not
    record it in the version table once a revision that depends on it is there (glance's
    ``2024_1_contract01`` depends on ``2024_1_expand01``, which no revision has as
    ``down_revision``): without it the dependency would count as a head never reached.

    Only module-level ``revision``, ``down_revision`` and ``depends_on`` assignments are
    read from the syntax tree.
    """
    graph = {}
    for top in paths:
        if not os.path.isdir(top):
            raise RevisionError(
                "Migration directory %s does not exist: install the release's code there "
                "or fix the path." % top)
        for root, _dirs, files in os.walk(top):
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                path = os.path.join(root, name)
                with open(path, "rb") as handle:
                    try:
                        tree = ast.parse(handle.read(), filename=path)
                    except SyntaxError as exc:
                        raise RevisionError(
                            "Migration file %s is not valid Python (%s): reinstall the "
                            "release's code." % (path, exc.msg))
                values = {}
                for node in tree.body:
                    if isinstance(node, ast.Assign):
                        targets, value = node.targets, node.value
                    elif isinstance(node, ast.AnnAssign) and node.value is not None:
                        targets, value = [node.target], node.value
                    else:
                        continue
                    for target in targets:
                        if isinstance(target, ast.Name) and target.id in (
                                "revision", "down_revision", "depends_on"):
                            values[target.id] = _constant(value)
                revision = values.get("revision")
                if not isinstance(revision, str):
                    continue
                below = []
                for key in ("down_revision", "depends_on"):
                    found = values.get(key)
                    if isinstance(found, str):
                        found = [found]
                    elif isinstance(found, (tuple, list)):
                        found = [d for d in found if isinstance(d, str)]
                    else:
                        found = []
                    below += [d for d in found if d not in below]
                graph[revision] = below
    return graph


def heads(graph):
    """Revisions no other revision of ``graph`` builds on, sorted."""
    below = set()
    for downs in graph.values():
        below.update(downs)
    return sorted(set(graph) - below)


def compare(recorded, graph):
    """Where a database stands against a release's code.

    ``recorded``: the revisions of the database's version table. Returns one of
    ``empty`` (no version table or no row: a fresh database), ``past`` (a recorded
    revision the code does not know), ``at_head`` (the recorded revisions are the
    code's heads) or ``behind``, and the unknown revisions.
    """
    recorded = sorted(set(recorded or []))
    unknown = [r for r in recorded if r not in graph]
    if not recorded:
        return "empty", unknown
    if unknown:
        return "past", unknown
    if set(recorded) == set(heads(graph)):
        return "at_head", unknown
    return "behind", unknown


def applied(graph, recorded):
    """Revisions of ``graph`` a database recording ``recorded`` has applied: those and
    every revision below them (all branches of a merge)."""
    seen = set()
    todo = [r for r in recorded or [] if r in graph]
    while todo:
        rev = todo.pop()
        if rev not in seen:
            seen.add(rev)
            todo.extend(d for d in graph.get(rev, []) if d in graph)
    return seen


def progress_line(label, databases, graph, before, now, seconds):
    """One line on how far a schema migration has come: per database the revisions of the
    release's code applied (of all it defines) and how many of them this run applied."""
    total = len(graph)
    parts = []
    for db in databases:
        done = len(applied(graph, now.get(db)))
        start = len(applied(graph, before.get(db)))
        parts.append("%s %d of %d revisions (%d this run%s)" % (
            db, done, total, done - start,
            ", at " + ",".join(now[db]) if now.get(db) else ""))
    return "%s: %s, %.0f s" % (label, "; ".join(parts), seconds)
