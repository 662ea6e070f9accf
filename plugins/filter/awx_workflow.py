# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filter stackhop.upgrade.awx_workflow_nodes: the nodes of the AWX workflow that upgrades one
region (docs/awx.md; the playbook docs/awx/workflow.yml creates it with awx.awx). Docs in
awx_workflow_nodes.yml.

plan -> stage (the target's code) -> preflight -> backup -> [approval <region>-control-plane] -> control plane ->
per AZ (in the plan's order): computes canary -> [approval <az>-canary] -> computes rest ->
verify. Every node runs only on its parent's success; each compute node selects its AZ
(stackhop_select_az) and the canary node stops after the canary batch
(stackhop_compute_stop_after=canary); the node after an approval passes that approval on to
the playbook's own gate (stackhop_approved_gates).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

PHASES = ("plan", "stage", "preflight", "backup", "control_plane", "computes", "verify")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def template_names(prefix):
    """Job template name of every phase: '<prefix> <phase>'."""
    return {phase: "%s %s" % (prefix, phase.replace("_", " ")) for phase in PHASES}


def awx_workflow_nodes(azs, region, prefix="stackhop", approval_timeout=7200, organization=None):
    """The workflow_nodes of awx.awx.workflow_job_template for one region."""
    azs = [str(az) for az in (azs or [])]
    if not azs:
        raise AnsibleFilterError("stackhop_awx_azs is empty; list the region's availability zones "
                                 "in the plan's order (playbooks/plan.yml prints it).")
    for name in [str(region)] + azs:
        if not NAME.match(name):
            raise AnsibleFilterError("%r cannot name an approval gate; use letters, digits, '.', '_' "
                                     "or '-'." % name)
    timeout = int(approval_timeout)
    names = template_names(prefix)
    org = {"name": organization} if organization else None
    nodes = []

    def add(identifier, template=None, approval=None, extra=None):
        if template:
            ujt = {"name": names[template], "type": "job_template"}
            if org:
                ujt["organization"] = org
        else:
            ujt = {"name": approval, "type": "workflow_approval", "timeout": timeout,
                   "description": "stackhop approval gate %s" % approval}
        node = {"identifier": identifier, "unified_job_template": ujt,
                "related": {"success_nodes": []}}
        if extra:
            node["extra_data"] = extra
        if nodes:
            nodes[-1]["related"]["success_nodes"].append({"identifier": identifier})
        nodes.append(node)

    add("plan", "plan")
    add("stage", "stage")
    add("preflight", "preflight")
    add("backup", "backup")
    gate = "%s-control-plane" % region
    add("approve-" + gate, approval=gate)
    add("control-plane", "control_plane")
    for az in azs:
        add("computes-%s-canary" % az, "computes",
            extra={"stackhop_select_az": az, "stackhop_compute_stop_after": "canary"})
        add("approve-%s-canary" % az, approval="%s-canary" % az)
        add("computes-%s" % az, "computes",
            extra={"stackhop_select_az": az, "stackhop_approved_gates": ["%s-canary" % az]})
    add("verify", "verify")
    return nodes


class FilterModule:
    """stackhop.upgrade.awx_workflow_nodes."""

    def filters(self):
        return {"awx_workflow_nodes": awx_workflow_nodes}
