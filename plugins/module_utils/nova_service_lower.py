# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Lower one host's service record to the version of the older code it goes back to, with
nova's own code; print what it found and did as JSON.

Runs INSIDE a release's nova (the control plane's, normally the target's): the
nova_service_version module pipes this file to
``<python> -I - --host HOST --binary nova-compute --version 66 [--check] --config-file FILE ...``.

Why: nova refuses to save a service record whose version is older than the minimum of its
binary's records (``Service._check_minimum_version``, ServiceTooOld: "started with older
code by accident, either due to a rollback"). After a whole-region upgrade every
nova-compute record holds the new version, so the first compute rolled back could never
start; its own record, written here as the older code would write it, makes the minimum
its version. Only ever lowers; the database's other columns and rows are left alone. The
output (one line)::

    {"format": 1, "found": [{"cell": "cell1", "id": 3, "version": 68}], "lowered": true,
     "cells_not_responding": []}

Logging goes to standard error; no URL or password is printed.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import sys

__metaclass__ = type

FORMAT = 1


def _args(argv):
    parser = argparse.ArgumentParser(prog="nova-service-lower")
    parser.add_argument("--host", required=True)
    parser.add_argument("--binary", default="nova-compute")
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--config-file", action="append", default=[])
    return parser.parse_args(argv)


def lower(argv):
    """What was found and lowered, as a dict (see the module's docstring)."""
    args = _args(argv)
    # nova's code, imported here: this file must also import where nova is not installed
    from nova import config as nova_config
    from nova import context as nova_context
    from nova import objects
    from nova.db.main import api as db_api

    objects.register_all()
    config = []
    for path in args.config_file:
        config += ["--config-file", path]
    nova_config.parse_args(["nova-service-lower"] + config)
    ctxt = nova_context.get_admin_context()
    found, silent, lowered = [], [], False
    for cell in objects.CellMappingList.get_all(ctxt):
        with nova_context.target_cell(ctxt, cell) as cctxt:
            try:
                svc = objects.Service.get_by_host_and_binary(cctxt, args.host, args.binary)
            except Exception:  # pylint: disable=broad-except  # a cell whose database does not answer
                silent.append(cell.name or cell.uuid)
                continue
            if svc is None:
                continue
            found.append({"cell": cell.name or cell.uuid, "id": svc.id, "version": svc.version})
            if svc.version > args.version:
                lowered = True
                if not args.check:
                    # the database API, not Service.save(): save() is the check that refuses it
                    db_api.service_update(cctxt, svc.id, {"version": args.version})
    return {"format": FORMAT, "found": found, "lowered": lowered, "cells_not_responding": silent}


def main(argv):
    sys.stdout.write(json.dumps(lower(argv), sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
