# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Test-only strategy: records which hosts every play resolves to, and runs only the plays
named in STACKHOP_RECORD_RUN (the scope play, the compute batch planning: controller-side
tasks), so a playbook runs for real on an inventory of unreachable hosts without any task
touching one of them.

Enabled by tests/scope (ANSIBLE_STRATEGY_PLUGINS=<this dir>, ANSIBLE_STRATEGY=record_hosts).
Each play appends one JSON line {"play": name, "hosts": [...], "ran": bool} to
STACKHOP_RECORD_FILE; a play with serial batches appends one line per batch.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule


class StrategyModule(LinearStrategyModule):
    """The linear strategy for the plays to run; a record and nothing else for the others."""

    def run(self, iterator, play_context):
        play = iterator._play
        run = play.get_name() in os.environ.get("STACKHOP_RECORD_RUN", "").split("|")
        # ignore_restrictions: the whole play, not only the current serial batch
        hosts = [h.name for h in self._inventory.get_hosts(play.hosts, ignore_restrictions=True)]
        with open(os.environ["STACKHOP_RECORD_FILE"], "a", encoding="utf-8") as record:
            record.write(json.dumps({"play": play.get_name(), "hosts": hosts, "ran": run}) + "\n")
        if run:
            return super(StrategyModule, self).run(iterator, play_context)
        return self._tqm.RUN_OK
