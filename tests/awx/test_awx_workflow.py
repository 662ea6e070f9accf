"""The AWX workflow of a region (docs/awx.md): its nodes (filter stackhop.upgrade.awx_workflow_nodes)
and the awx.awx playbook that creates it (docs/awx/workflow.yml; syntax only: no AWX here)."""

from __future__ import annotations

import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.filter.awx_workflow import awx_workflow_nodes, template_names
from tests.lib.ansible_runner import REPO, VENV, ansible_env


def chain(nodes):
    """The identifiers in run order, checking each node has exactly the next one as success node."""
    by_id = {n["identifier"]: n for n in nodes}
    order = [nodes[0]["identifier"]]
    while by_id[order[-1]]["related"]["success_nodes"]:
        [nxt] = by_id[order[-1]]["related"]["success_nodes"]
        order.append(nxt["identifier"])
    assert len(order) == len(nodes)
    return order


def test_region_of_two_azs():
    nodes = awx_workflow_nodes(["vxlan1", "vlan1"], "dc1", organization="Default")
    assert chain(nodes) == [
        "plan", "stage", "preflight", "backup", "approve-dc1-control-plane", "control-plane",
        "computes-vxlan1-canary", "approve-vxlan1-canary", "computes-vxlan1",
        "computes-vlan1-canary", "approve-vlan1-canary", "computes-vlan1", "verify"]
    by_id = {n["identifier"]: n for n in nodes}
    approval = by_id["approve-vxlan1-canary"]["unified_job_template"]
    assert approval == {"name": "vxlan1-canary", "type": "workflow_approval", "timeout": 7200,
                        "description": "stackhop approval gate vxlan1-canary"}
    assert by_id["computes-vxlan1-canary"]["extra_data"] == {
        "stackhop_select_az": "vxlan1", "stackhop_compute_stop_after": "canary"}
    assert by_id["computes-vlan1"]["extra_data"] == {
        "stackhop_select_az": "vlan1", "stackhop_approved_gates": ["vlan1-canary"]}
    assert by_id["control-plane"]["unified_job_template"] == {
        "name": "stackhop control plane", "type": "job_template", "organization": {"name": "Default"}}
    # every job node names one of the job templates docs/awx/workflow.yml creates
    names = set(template_names("stackhop").values())
    assert {n["unified_job_template"]["name"] for n in nodes
            if n["unified_job_template"]["type"] == "job_template"} == names


def test_timeout_from_a_survey_string():
    nodes = awx_workflow_nodes(["az1"], "dc1", approval_timeout="600")
    assert {n["unified_job_template"].get("timeout") for n in nodes} == {None, 600}


@pytest.mark.parametrize("azs, region, match", [
    ([], "dc1", "stackhop_awx_azs is empty"),
    (["az 1"], "dc1", "'az 1' cannot name an approval gate"),
])
def test_refusals(azs, region, match):
    with pytest.raises(AnsibleFilterError, match=match):
        awx_workflow_nodes(azs, region)


def test_playbook_syntax():
    proc = subprocess.run([str(VENV / "bin" / "ansible-playbook"), "--syntax-check", "-i", "localhost,",
                           str(REPO / "docs" / "awx" / "workflow.yml")],
                          env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
