#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upgrade_plan
short_description: Build the upgrade plan of one region or availability zone from the release model
version_added: 0.1.0
description:
  - Computes, without touching any host, the hop path from the current to the target
    release (direct, SLURP skip-level or fast-forward through every intermediate
    release's migrations), the components in order with the steps each will run, the
    quirks of the release model that apply, the pre-flight checks and the compute
    batches per availability zone with the canary first.
  - Refuses an unknown release, a downgrade or a target equal to the current release
    with one sentence that names the fix.
  - Runs on the controller (C(localhost)); C(playbooks/plan.yml) writes its result as
    JSON and Markdown.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  current_release:
    description: The release the region runs, as a codename (V(caracal)) or number (V(2024.1)).
    type: str
    required: true
  target_release:
    description: The release to upgrade to.
    type: str
    required: true
  region:
    description: The region's name, as printed in the plan.
    type: str
    required: true
  computes:
    description: The region's compute hosts.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Inventory hostname.
        type: str
        required: true
      az:
        description: Availability zone.
        type: str
        default: nova
      aggregate:
        description: Host aggregate (rack).
        type: str
  strategy:
    description: Control-plane strategy.
    type: str
    default: blue_green
    choices: [blue_green, in_place, rolling]
  component_order:
    description: Order of the component upgrades; DeNA's order by default.
    type: list
    elements: str
    default: [keystone, glance, placement, nova, neutron, cinder, ironic]
  components:
    description: Components deployed in the region; default all of O(component_order).
    type: list
    elements: str
  install_method:
    description: How the target release's code is installed.
    type: str
    default: venv
    choices: [apt, dnf, venv]
  canary_size:
    description: Hosts in the first batch of each AZ.
    type: int
    default: 1
  batch_percent:
    description: Size of the later batches, in percent of the AZ's computes.
    type: int
    default: 25
  batch_pause:
    description:
      - Seconds waited after every compute batch but the last (C(stackhop_compute_batch_pause));
        part of the compute phase's estimate.
    type: float
    default: 0
  cost_model:
    description:
      - The compute phase's cost model (C(stackhop_compute_cost_model)), seconds = O(cost_model.fixed_s)
        + O(cost_model.per_batch_s) x batches + O(cost_model.per_host_s) x hosts; a coefficient not given
        keeps the default, measured on the 2-compute lab (docs/compute-upgrade.md, "A fleet").
      - The plan's C(compute_estimate) gives the estimated seconds of each AZ and of the whole compute phase.
    type: dict
    suboptions:
      fixed_s:
        description: The playbook's own plays around the batches, once.
        type: float
      per_batch_s:
        description: Each batch, whatever its size.
        type: float
      per_host_s:
        description: Each host.
        type: float
      source:
        description: Where the coefficients come from, as the plan prints it.
        type: str
  az:
    description: Plan only this availability zone.
    type: str
  az_order:
    description: AZs to upgrade first, in this order; the others follow, smallest first.
    type: list
    elements: str
  discovered:
    description:
      - What each host runs, {host - the registered result of stackhop.upgrade.service_discovery
        there}. The plan then has a "What runs now" section, one line per host, and warns about
        a component at another release than O(current_release), installed otherwise than
        O(install_method), mixed or unknown. Omitted (an offline plan) - no such section.
    type: dict
  config_checks:
    description:
      - Each host's config files checked against the target release's options, {host - the
        registered C(results) of stackhop.upgrade.config_migrate in check mode over
        stackhop.upgrade.config_option_jobs}. The plan then lists, per host and file, the
        renames of each release on the path and the options the target no longer declares.
    type: dict
  nova_archive:
    description:
      - The archive of nova's deleted rows before each release's online data migrations,
        as the nova_controller role runs it (its C(nova_controller_archive_*) variables).
    type: dict
    default: {}
    suboptions:
      archive:
        description: Archive at all (C(nova_controller_archive_deleted_rows)).
        type: bool
        default: true
      max_rows:
        description: Rows per batch (C(nova_controller_archive_max_rows)).
        type: int
        default: 1000
      purge:
        description: Purge the shadow tables afterwards (C(nova_controller_archive_purge)).
        type: bool
        default: false
      before:
        description: Only rows deleted before this date (C(nova_controller_archive_before)).
        type: str
        default: ''
      all_cells:
        description: Every cell (C(nova_controller_archive_all_cells)).
        type: bool
        default: false
  db_move:
    description:
      - The new database server when the databases move with a blue-green upgrade (the first
        C(stackhop_db_new) host of the region); each component's steps then load its dump
        there and migrate it there. Empty, the databases stay where they are.
    type: str
    default: ''
  network_hosts:
    description:
      - The region's network nodes (C(stackhop_network)). With them, neutron's C(agents) step is
        planned only when a network node is not a controller whose deploy step upgrades it
        (blue_green deploys on O(new_controllers), in_place and rolling on O(controllers)).
        Omitted, it is planned as the strategy has it.
    type: list
    elements: str
  controllers:
    description:
      - The region's controllers that serve now (C(stackhop_controllers)).
    type: list
    elements: str
    default: []
  new_controllers:
    description:
      - The new controllers of a blue-green upgrade (C(stackhop_controllers_new)).
    type: list
    elements: str
    default: []
seealso:
  - plugin: stackhop.upgrade.upgrade_path
    plugin_type: filter
attributes:
  check_mode:
    support: full
    details: Computes the plan only, which changes nothing in any mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Plan region RegionOne, 2024.1 to 2025.1
  stackhop.upgrade.upgrade_plan:
    current_release: "2024.1"
    target_release: "2025.1"
    region: RegionOne
    computes:
      - {name: cmp1, az: az1, aggregate: rack1}
      - {name: cmp2, az: az2, aggregate: rack2}
  register: plan
"""

RETURN = r"""
plan:
  description:
    - The plan (path, components with steps, quirks, preflight, compute_batches, warnings;
      discovered - one line per host, when O(discovered) is given; config_changes - one line
      per host and file, when O(config_checks) is given).
  returned: success
  type: dict
markdown:
  description: The plan as a Markdown step tree.
  returned: success
  type: str
executed_commands:
  description: Always empty; the module runs nothing.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.stackhop.upgrade.plugins.module_utils import compute_cost
from ansible_collections.stackhop.upgrade.plugins.module_utils import discovery
from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


def config_change_lines(config_checks):
    """The plan's lines of the config changes: {host: config_migrate results}."""
    lines = []
    for host in sorted(config_checks):
        for result in config_checks[host] or []:
            job = result.get("item") or {}
            name = job.get("component", "?")
            if result.get("skipped"):
                lines.append("%s, %s: not checked (the target release's code is not on the host yet)" % (host, name))
                continue
            if "files" not in result:
                lines.append("%s, %s: not checked (%s)" % (host, name, (result.get("msg") or "no message").rstrip(".")))
                continue
            for item in result["files"]:
                changes = ["%s -> %s (%s)" % (r.get("from"), r.get("to"), r.get("release"))
                           for r in item.get("renamed") or []]
                changes += ["%s/%s no longer declared (removed in %s)" % (
                    u.get("section"), u.get("option"), u.get("removed_in") or "no release on the path declared it")
                    for u in item.get("unknown") or []]
                # list items a release on the path no longer accepts (the rest of the list is kept)
                changes += ["%s/%s: %s" % (e.get("section"), e.get("option"), e.get("reason"))
                            for e in item.get("edits") or [] if e.get("kind") == "removed_value"]
                lines.append("%s %s -> %s: %s" % (host, item["path"], result.get("target"),
                                                  "; ".join(changes) or "nothing changes"))
    return lines


class UpgradePlan(StackhopModule):
    argument_spec = dict(
        current_release=dict(type="str", required=True),
        target_release=dict(type="str", required=True),
        region=dict(type="str", required=True),
        computes=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            az=dict(type="str", default="nova"),
            aggregate=dict(type="str"),
        )),
        strategy=dict(type="str", default="blue_green", choices=["blue_green", "in_place", "rolling"]),
        component_order=dict(type="list", elements="str",
                             default=list(rm.DEFAULT_COMPONENT_ORDER)),
        components=dict(type="list", elements="str"),
        install_method=dict(type="str", default="venv", choices=["apt", "dnf", "venv"]),
        canary_size=dict(type="int", default=1),
        batch_percent=dict(type="int", default=25),
        batch_pause=dict(type="float", default=0),
        cost_model=dict(type="dict", options=dict(
            fixed_s=dict(type="float"),
            per_batch_s=dict(type="float"),
            per_host_s=dict(type="float"),
            source=dict(type="str"),
        )),
        az=dict(type="str"),
        az_order=dict(type="list", elements="str"),
        discovered=dict(type="dict"),
        config_checks=dict(type="dict"),
        nova_archive=dict(type="dict", default={}, options=dict(
            archive=dict(type="bool", default=True),
            max_rows=dict(type="int", default=1000),
            purge=dict(type="bool", default=False),
            before=dict(type="str", default=""),
            all_cells=dict(type="bool", default=False),
        )),
        db_move=dict(type="str", default=""),
        network_hosts=dict(type="list", elements="str"),
        controllers=dict(type="list", elements="str", default=[]),
        new_controllers=dict(type="list", elements="str", default=[]),
    )

    def run(self):
        p = self.params
        try:
            plan = rm.build_plan(
                p["current_release"], p["target_release"], p["region"], p["computes"],
                strategy=p["strategy"], component_order=p["component_order"],
                components=p["components"], install_method=p["install_method"],
                canary_size=p["canary_size"], batch_percent=p["batch_percent"],
                az=p["az"], az_order=p["az_order"], nova_archive=p["nova_archive"],
                db_move=p["db_move"] or None,
                apart_network_nodes=rm.network_nodes_apart(p["strategy"], p["network_hosts"],
                                                           p["controllers"], p["new_controllers"]))
            plan["compute_estimate"] = compute_cost.estimate(
                plan["compute_batches"], p["cost_model"], p["batch_pause"])
        except (rm.ReleaseModelError, compute_cost.CostModelError) as exc:
            raise StackhopError(str(exc))
        if p["discovered"] is not None:
            lines, warnings = discovery.plan_section(p["discovered"], plan["current"]["number"],
                                                     p["install_method"])
            plan["discovered"] = lines
            plan["warnings"] = plan["warnings"] + warnings
        if p["config_checks"] is not None:
            plan["config_changes"] = config_change_lines(p["config_checks"])
        return {"plan": plan, "markdown": rm.plan_markdown(plan)}


def main():
    UpgradePlan()()


if __name__ == "__main__":
    main()
