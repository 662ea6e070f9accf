# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Print, as JSON, the nova-compute services of every cell and the service versions nova's
own code knows, read with that code.

Runs INSIDE a release's nova (a venv's or the distribution's Python): the
nova_compute_versions module pipes this file to ``<python> -I - --config-file FILE ...``.
It reads what nova's TooOldComputeService check reads (``nova.utils.raise_if_old_compute``):
the minimum service version of the nova-compute services of all cells, and the oldest
release that code accepts (``OLDEST_SUPPORTED_SERVICE_VERSION``) with its number; and, so
that the operator is told which hosts, each compute service of each cell. Nothing is
written. The output (one line)::

    {"format": 1, "minimum": 61, "oldest_supported": "Antelope",
     "aliases": {"Antelope": 66, ...}, "cells_not_responding": ["<cell name>"],
     "computes": [{"cell": "cell1", "host": "cmp1", "version": 61,
                   "forced_down": false, "disabled": false}]}

``minimum`` is null when no cell holds a compute service. Logging goes to standard error;
no URL or password is printed.
"""

from __future__ import absolute_import, division, print_function

import json
import sys

__metaclass__ = type

FORMAT = 1


def _config_args(argv):
    """The ``--config-file`` arguments of ``argv`` (oslo.config's own syntax), as given."""
    out = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--config-file" and args:
            out += [arg, args.pop(0)]
        elif arg.startswith("--config-file="):
            out.append(arg)
    return out


def read(argv):
    """The services and versions, as a dict (see the module's docstring)."""
    # nova's code, imported here: this file must also import where nova is not installed
    from nova import config as nova_config
    from nova import context as nova_context
    from nova import objects
    from nova.objects import service as service_obj

    objects.register_all()
    # as nova-manage does: the cells' transport URLs are read with oslo.messaging's options
    # (transports connect only when used; nothing here sends a message)
    nova_config.parse_args(["nova-compute-versions"] + _config_args(argv))
    ctxt = nova_context.get_admin_context()
    minimum = service_obj.get_minimum_version_all_cells(ctxt, ["nova-compute"])
    names = dict((cell.uuid, cell.name or cell.uuid) for cell in objects.CellMappingList.get_all(ctxt))
    results = nova_context.scatter_gather_all_cells(
        ctxt, objects.ServiceList.get_by_binary, "nova-compute", include_disabled=True)
    computes, silent = [], []
    for cell_uuid, services in sorted(results.items()):
        if services is nova_context.did_not_respond_sentinel or isinstance(services, Exception):
            silent.append(names.get(cell_uuid, cell_uuid))
            continue
        for svc in services:
            computes.append({"cell": names.get(cell_uuid, cell_uuid), "host": svc.host,
                             "version": svc.version, "forced_down": bool(svc.forced_down),
                             "disabled": bool(svc.disabled)})
    return {"format": FORMAT, "minimum": minimum or None,
            "oldest_supported": service_obj.OLDEST_SUPPORTED_SERVICE_VERSION,
            "aliases": dict(service_obj.SERVICE_VERSION_ALIASES),
            "cells_not_responding": sorted(silent),
            "computes": sorted(computes, key=lambda c: (c["cell"], c["host"]))}


def main(argv):
    sys.stdout.write(json.dumps(read(argv), sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
