#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: glance_metadefs
short_description: Load glance's metadata definitions (metadefs) into its database, keeping the operator's
version_added: 0.1.0
description:
  - Glance's metadata definitions catalog (namespaces, their properties, objects, tags and
    resource type associations) is empty until C(glance-manage db load_metadefs) loads the
    JSON files a release ships; without it the image API's C(/v2/metadefs) lists nothing and
    tempest's metadef tests fail.
  - Reads the files of O(path) and the rows of the database, and runs
    C(glance-manage db load_metadefs) only when something of the files is missing - a new
    namespace, or with O(merge=true) a property, object, tag or resource type association a
    new release added to a namespace that exists. Namespaces and entries already in the
    database are never changed (the operator may have edited them), unless O(prefer_new) or
    O(overwrite) says so.
  - glance-manage logs a bad file or option and still exits 0, so the module reads the
    database again afterwards and fails naming what is still missing.
  - In check mode nothing runs; the result says what would be loaded.
  - The database URL stays in the configuration files (or in O(config), written to a private
    file); no password is ever on a command line or in the result.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  glance_manage:
    description:
      - The C(glance-manage) command, a name looked up on C(PATH) or an absolute path (for
        example inside a virtualenv).
    type: str
    default: glance-manage
  config_files:
    description:
      - The glance configuration files glance-manage reads, in order (each passed as
        C(--config-file)); C([database] connection) names the database.
    type: list
    elements: path
    default: [/etc/glance/glance-api.conf]
  config:
    description:
      - More configuration, written to a private temporary file (mode 0600) passed after
        O(config_files), for example C([database] connection) when no file on the host holds
        it yet.
    type: str
    default: ""
  path:
    description:
      - Directory of the metadefs JSON files.
      - Default the C(etc/glance/metadefs) directory of the virtualenv of an absolute
        O(glance_manage) when it exists (the files of that release), else
        C(/etc/glance/metadefs) (distribution packages).
    type: path
  merge:
    description:
      - V(true) also adds what a release added to namespaces that exist (properties, objects,
        tags, resource type associations); V(false) loads only the namespaces that are missing.
    type: bool
    default: true
  prefer_new:
    description:
      - Replace the entries that exist with the files' (C(--prefer_new)); the operator's edits
        of them are lost. Needs O(merge). Runs every time.
    type: bool
    default: false
  overwrite:
    description:
      - Delete each namespace of the files with everything in it and load it again
        (C(--overwrite)); the operator's additions to those namespaces are lost. Needs
        O(merge). Runs every time.
    type: bool
    default: false
requirements:
  - glance-manage of the glance release whose schema the database has.
  - PyMySQL for the Python that runs the module (the glance virtualenv has it).
notes:
  - Only MySQL/MariaDB databases are read.
attributes:
  check_mode:
    support: full
    details: Reads the files and the database and says what would be loaded.
  diff_mode:
    support: full
    details: The namespaces and the count of their entries before and after.
"""

EXAMPLES = r"""
- name: Load the metadefs of glance 2025.1, adding what the release added
  stackhop.upgrade.glance_metadefs:
    glance_manage: /opt/stackhop/venvs/2025.1/bin/glance-manage
    config_files: [/etc/glance/glance-api.conf]

- name: Only the namespaces that are missing, from the distribution's files
  stackhop.upgrade.glance_metadefs:
    path: /etc/glance/metadefs
    merge: false
"""

RETURN = r"""
missing:
  description:
    - What of the files was missing from the database before the run, per namespace
      (V(namespace) true when the whole namespace was), in check mode what would be loaded.
  returned: always
  type: dict
  sample: {OS::Compute::Libvirt: {namespace: false, properties: [hw_boot_menu], objects: [],
           tags: [], resource_types: []}}
loaded:
  description: Entries added per kind (namespaces, properties, objects, tags, resource_types).
  returned: always
  type: dict
  sample: {namespaces: 33, properties: 600, objects: 10, tags: 0, resource_types: 40}
namespaces:
  description: Namespaces of the files.
  returned: always
  type: int
  sample: 33
path:
  description: The directory of the files read.
  returned: always
  type: str
executed_commands:
  description: The glance-manage command lines run (they never hold a secret).
  returned: always
  type: list
  elements: str
"""

import json
import os
import shutil
import tempfile

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.secrets import Masker, mask_url
from ansible_collections.stackhop.upgrade.plugins.module_utils import dburl

KINDS = ("properties", "objects", "tags", "resource_types")
TABLES = ("metadef_namespaces", "metadef_properties", "metadef_objects", "metadef_tags",
          "metadef_resource_types", "metadef_namespace_resource_types")
# (kind, query of "namespace, entry name" rows)
_HAVE_QUERIES = (
    ("properties", "SELECT n.namespace, p.name FROM metadef_properties p "
                   "JOIN metadef_namespaces n ON p.namespace_id = n.id"),
    ("objects", "SELECT n.namespace, o.name FROM metadef_objects o "
                "JOIN metadef_namespaces n ON o.namespace_id = n.id"),
    ("tags", "SELECT n.namespace, t.name FROM metadef_tags t "
             "JOIN metadef_namespaces n ON t.namespace_id = n.id"),
    ("resource_types", "SELECT n.namespace, r.name FROM metadef_namespace_resource_types a "
                       "JOIN metadef_namespaces n ON a.namespace_id = n.id "
                       "JOIN metadef_resource_types r ON a.resource_type_id = r.id"),
)
_DB_ERRORS = (dburl.DbUrlError, dburl.pymysql.MySQLError) if dburl.HAS_PYMYSQL \
    else (dburl.DbUrlError,)


def read_metadef_files(path):
    """{namespace: {kind: set of names}} of the JSON files of ``path`` as glance reads them
    (every *.json file of the directory, or the one file)."""
    if os.path.isfile(path):
        files = [path]
    elif os.path.isdir(path):
        files = sorted(os.path.join(path, name) for name in os.listdir(path)
                       if name.endswith(".json") and os.path.isfile(os.path.join(path, name)))
    else:
        raise StackhopError("the metadefs directory %s does not exist; set path to the "
                            "directory of glance's metadefs JSON files" % path)
    if not files:
        raise StackhopError("the metadefs directory %s holds no .json file; set path to the "
                            "directory of glance's metadefs JSON files" % path)
    want = {}
    for name in files:
        try:
            with open(name) as handle:
                doc = json.load(handle)
        except (OSError, IOError, ValueError) as exc:
            raise StackhopError("the metadefs file %s cannot be read as JSON (%s); fix or "
                                "remove it" % (name, getattr(exc, "strerror", None) or exc))
        if not isinstance(doc, dict) or not doc.get("namespace"):
            raise StackhopError("the metadefs file %s names no namespace; fix or remove it" % name)
        want[doc["namespace"]] = {
            "properties": set((doc.get("properties") or {}).keys()),
            "objects": set(o["name"] for o in doc.get("objects") or [] if o.get("name")),
            "tags": set(t["name"] for t in doc.get("tags") or [] if t.get("name")),
            "resource_types": set(r["name"] for r in doc.get("resource_type_associations") or []
                                  if r.get("name")),
        }
    return want


def missing_metadefs(want, have, merge):
    """What glance-manage db load_metadefs would add: {namespace: {"namespace": bool,
    kind: sorted names}} for the namespaces with something missing. Without ``merge``
    glance skips a namespace that exists, whatever it lacks."""
    missing = {}
    for namespace in sorted(want):
        entries = want[namespace]
        if namespace not in have:
            missing[namespace] = dict(namespace=True, **dict(
                (kind, sorted(entries[kind])) for kind in KINDS))
        elif merge:
            lacking = dict((kind, sorted(entries[kind] - have[namespace][kind])) for kind in KINDS)
            if any(lacking.values()):
                missing[namespace] = dict(namespace=False, **lacking)
    return missing


def count_missing(missing):
    """{namespaces: n, kind: n} of a missing_metadefs result."""
    counts = {"namespaces": sum(1 for m in missing.values() if m["namespace"])}
    for kind in KINDS:
        counts[kind] = sum(len(m[kind]) for m in missing.values())
    return counts


def summary(have):
    """{namespace: "N properties, N objects, N tags, N resource types"} for a diff."""
    return dict((ns, ", ".join("%d %s" % (len(entries[kind]), kind.replace("_", " "))
                               for kind in KINDS)) for ns, entries in sorted(have.items()))


class GlanceMetadefs(StackhopModule):
    argument_spec = dict(
        glance_manage=dict(type="str", default="glance-manage"),
        config_files=dict(type="list", elements="path", default=["/etc/glance/glance-api.conf"]),
        config=dict(type="str", default="", no_log=True),
        path=dict(type="path"),
        merge=dict(type="bool", default=True),
        prefer_new=dict(type="bool", default=False),
        overwrite=dict(type="bool", default=False),
    )
    module_kwargs = dict(mutually_exclusive=[("prefer_new", "overwrite")])

    def __init__(self):
        super(GlanceMetadefs, self).__init__()
        self.masker = Masker()

    def _metadefs_path(self):
        if self.params["path"]:
            return self.params["path"]
        if os.path.isabs(self.glance_manage):
            shipped = os.path.join(os.path.dirname(os.path.dirname(self.glance_manage)),
                                   "etc", "glance", "metadefs")
            if os.path.isdir(shipped):
                return shipped
        return "/etc/glance/metadefs"

    def _read_database(self):
        """{namespace: {kind: set}} of the database."""
        conn = dburl.connect(self.url)
        try:
            tables = set(r[0] for r in dburl.query(
                conn, "SELECT table_name FROM information_schema.tables "
                      "WHERE table_schema = DATABASE()"))
            lacking = [t for t in TABLES if t not in tables]
            if lacking:
                raise StackhopError(
                    "the glance database at %s has no %s table; run glance-manage db_sync of "
                    "this release first" % (mask_url(self.url), lacking[0]))
            have = dict((row[0], dict((kind, set()) for kind in KINDS)) for row in dburl.query(
                conn, "SELECT namespace FROM metadef_namespaces"))
            for kind, sql in _HAVE_QUERIES:
                for namespace, name in dburl.query(conn, sql):
                    have.setdefault(namespace, dict((k, set()) for k in KINDS))[kind].add(name)
            return have
        finally:
            conn.close()

    def _have(self):
        try:
            return self._read_database()
        except _DB_ERRORS as exc:
            detail = exc if isinstance(exc, dburl.DbUrlError) else "MySQL error %s" % (
                exc.args[-1] if exc.args else exc)
            raise StackhopError(self.masker.mask(
                "glance's metadefs cannot be read from its database: %s; check [database] "
                "connection in config_files" % detail))

    def _load(self, path):
        p = self.params
        workdir = tempfile.mkdtemp(prefix="stackhop-metadefs-")
        try:
            os.chmod(workdir, 0o700)
            argv = [self.glance_manage]
            for conf in p["config_files"]:
                argv += ["--config-file", conf]
            if p["config"]:
                extra = os.path.join(workdir, "metadefs.conf")
                fd = os.open(extra, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(p["config"])
                argv += ["--config-file", extra]
            argv += ["db", "load_metadefs", "--path", path]
            argv += [flag for flag, on in (("--merge", p["merge"]), ("--prefer_new", p["prefer_new"]),
                                           ("--overwrite", p["overwrite"])) if on]
            rc, out, err = self.run_command(argv, check_rc=False)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if rc != 0:
            lines = [ln.strip() for ln in (err + "\n" + out).splitlines() if ln.strip()]
            raise StackhopError(self.masker.mask(
                "glance-manage db load_metadefs exited with %d: %s" % (
                    rc, lines[-1] if lines else "no output")), rc=rc)

    def run(self):
        p = self.params
        if (p["prefer_new"] or p["overwrite"]) and not p["merge"]:
            raise StackhopError("prefer_new and overwrite need merge=true (glance-manage "
                                "ignores them otherwise); set merge to true")
        self.glance_manage = self.command_path(
            p["glance_manage"], "glance-manage", "set glance_manage to the glance-manage of the installed glance")
        try:
            urls = dburl.config_connections(p["config_files"], ("database",), "glance", p["config"])
        except dburl.DbUrlError as exc:
            raise StackhopError(str(exc))
        self.url = urls["database"]
        if not self.url:
            raise StackhopError("the glance configuration has no [database] connection; give "
                                "the file that sets it in config_files, or set it in config")
        self.masker.add_url(self.url)
        path = self._metadefs_path()
        want = read_metadef_files(path)
        have = self._have()
        missing = missing_metadefs(want, have, p["merge"])
        forced = p["prefer_new"] or p["overwrite"]
        result = {"missing": missing, "loaded": count_missing({}), "namespaces": len(want),
                  "path": path, "changed": bool(missing) or forced}
        if not result["changed"] or self.check_mode:
            if self.check_mode:
                result["loaded"] = count_missing(missing)
            result["diff"] = {"before": summary(have), "after": summary(have)}
            return result
        self._load(path)
        after = self._have()
        left = missing_metadefs(want, after, p["merge"])
        if left:
            first = sorted(left)[0]
            raise StackhopError(
                "glance-manage db load_metadefs ran but %d namespaces of %s are still "
                "incomplete (first %s); read glance-manage's log for the file it skipped"
                % (len(left), path, first), missing=left)
        result["loaded"] = count_missing(missing)
        result["diff"] = {"before": summary(have), "after": summary(after)}
        return result


def main():
    GlanceMetadefs()()


if __name__ == "__main__":
    main()
