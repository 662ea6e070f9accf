# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filter stackhop.upgrade.compute_batches: the batches playbooks/upgrade_computes.yml runs,
numbered, with their approval gates, from the plan's per-AZ batches (filter
stackhop.upgrade.upgrade_plan, key compute_batches). Docs in compute_batches.yml.

- the gate ``<az>-canary`` stands before the first batch after an AZ's canary;
- the gate ``<az>`` before the first batch of every AZ but the first;
- ``stop_after='canary'`` keeps only each AZ's canary batch: the canary job of an AWX
  workflow, or a canary run from the command line, without ``--limit`` (which would skip
  the controller-side planning play).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

STOP_AFTER = ("", "all", "canary")


def compute_batches(zones, stop_after=""):
    """[{index, az, canary, hosts, gate}] in run order."""
    stop = "" if stop_after is None else str(stop_after).strip().lower()
    if stop not in STOP_AFTER:
        raise AnsibleFilterError(
            "stackhop_compute_stop_after is %r; set it to canary (only the canary batch of each "
            "AZ) or leave it empty (every batch)." % stop_after)
    out = []
    for zone in zones or []:
        az = zone["az"]
        batches = [b for b in zone.get("batches") or [] if stop != "canary" or b.get("canary")]
        previous = None
        for position, batch in enumerate(batches):
            if previous is not None and previous.get("canary") and not batch.get("canary"):
                gate = "%s-canary" % az
            elif position == 0 and out:
                gate = az
            else:
                gate = ""
            out.append({"index": len(out) + 1, "az": az, "canary": bool(batch.get("canary")),
                        "hosts": list(batch["hosts"]), "gate": gate})
            previous = batch
    return out


class FilterModule:
    """stackhop.upgrade.compute_batches."""

    def filters(self):
        return {"compute_batches": compute_batches}
