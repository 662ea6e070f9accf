# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Test-only strategy: records which hosts every play resolves to, and runs only the plays
named in STACKHOP_RECORD_RUN (the scope play, the compute batch planning: controller-side
tasks), so a playbook runs for real on an inventory of unreachable hosts without any task
touching one of them.

Enabled by tests/scope (ANSIBLE_STRATEGY_PLUGINS=<this dir>, ANSIBLE_STRATEGY=record_hosts).
Each play appends one JSON line {"play": name, "hosts": [...], "ran": bool} to
STACKHOP_RECORD_FILE; a play with serial batches appends one line per batch. With
STACKHOP_RECORD_VARS (comma-separated variable names) the line also holds "vars":
{name: {host: value}}, each variable as every host of the play sees it when the play
starts (null when undefined).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible.template import Templar, trust_as_template


class StrategyModule(LinearStrategyModule):
    """The linear strategy for the plays to run; a record and nothing else for the others."""

    def run(self, iterator, play_context):
        play = iterator._play
        run = play.get_name() in os.environ.get("STACKHOP_RECORD_RUN", "").split("|")
        # ignore_restrictions: the whole play, not only the current serial batch
        hosts = [h.name for h in self._inventory.get_hosts(play.hosts, ignore_restrictions=True)]
        entry = {"play": play.get_name(), "hosts": hosts, "ran": run}
        names = [n for n in os.environ.get("STACKHOP_RECORD_VARS", "").split(",") if n]
        if names:
            entry["vars"] = self._seen(play, hosts, names)
        with open(os.environ["STACKHOP_RECORD_FILE"], "a", encoding="utf-8") as record:
            record.write(json.dumps(entry) + "\n")
        if run:
            return super(StrategyModule, self).run(iterator, play_context)
        return self._tqm.RUN_OK

    def _seen(self, play, hosts, names):
        """{name: {host: value}} as the play's tasks would template them on each host."""
        seen = dict((name, {}) for name in names)
        for name in hosts:
            host = self._inventory.get_host(name)
            variables = self._variable_manager.get_vars(play=play, host=host)
            templar = Templar(loader=self._loader, variables=variables)
            for var in names:
                seen[var][name] = templar.template(trust_as_template("{{ %s | default(none) }}" % var))
        return seen
