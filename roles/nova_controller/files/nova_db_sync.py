# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Run ``nova-manage api_db sync`` or ``db sync`` and report the schema versions around it.

Runs with the Python of the nova installation (it imports nova to read the versions
with nova's own ``nova.db.migration.db_version``, which also reaches cell0 through the
cell mapping, something ``nova-manage db version`` does not print). Prints one JSON
object: {"before": {...}, "after": {...}, "changed": bool, "rc": int}; the sync's own
output goes to stderr. No database URL is printed or passed on a command line.

Usage: nova_db_sync.py NOVA_MANAGE CONFIG_FILE {api_db,db}
"""

import json
import subprocess
import sys


def _versions(which):
    from nova import context, exception, objects
    from nova.db import migration

    if which == "api_db":
        return {"api": migration.db_version(database="api")}
    out = {"main": migration.db_version()}
    ctxt = context.get_admin_context()
    try:
        cell0 = objects.CellMapping.get_by_uuid(ctxt, objects.CellMapping.CELL0_UUID)
    except exception.CellMappingNotFound:
        out["cell0"] = None
    else:
        with context.target_cell(ctxt, cell0) as cctxt:
            out["cell0"] = migration.db_version(context=cctxt)
    return out


def main(argv):
    if len(argv) != 3 or argv[2] not in ("api_db", "db"):
        sys.stderr.write(__doc__)
        return 64
    nova_manage, config_file, which = argv
    from nova import config, objects

    config.parse_args(["nova_db_sync", "--config-file", config_file])
    objects.register_all()
    before = _versions(which)
    proc = subprocess.run([nova_manage, "--config-file", config_file, which, "sync"],
                          stdout=sys.stderr, stderr=sys.stderr, check=False)
    try:
        after = _versions(which)
    except Exception:  # a failed sync may leave the schema unreadable: report it
        after = None
    print(json.dumps({"before": before, "after": after, "rc": proc.returncode,
                      "changed": before != after}))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
