#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: smoke_test
short_description: Smoke-test OpenStack services through openstacksdk, on the catalog's endpoints or on one node directly
version_added: 0.2.0
description:
  - Runs the per-service checks of procedures.md section 2 step 7 (DeNA's) through
    openstacksdk with the operator's C(clouds.yaml) entry - keystone issues a token and lists
    users (and validates a token an older keystone issued), glance lists images and takes an
    image through upload, download and delete, placement lists resource providers and their
    usages, nova lists services (all up), servers and flavors and may boot a server on one
    compute, neutron lists networks and ports and finds every agent alive, cinder lists
    services and volumes and creates and deletes a volume when a backend is up, ironic
    finds a conductor alive and lists the nodes, none in a failed provision state.
  - O(endpoint_overrides) reaches one node on its own address (the new node of a blue-green
    upgrade before its endpoint switch); an identity override also issues the token there.
  - What the checks create is named C(stackhop-smoke-*) and removed; leftovers of an
    interrupted earlier run are removed first. A failing check does not stop the others.
  - Fails, when O(fail=true), with one sentence naming the first failed check.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
  - stackhop.upgrade.openstack_cloud
options:
  components:
    description: The services to check, run in the order of the list's choices.
    type: list
    elements: str
    choices: [keystone, glance, placement, nova, neutron, cinder, ironic]
    default: []
  endpoint_overrides:
    description:
      - 'C({service type: URL}) to use instead of the catalog''s endpoint, for example
        C({compute: http://10.20.0.12:8774/v2.1}). Service types are identity, image,
        placement, compute, network, block-storage, baremetal; a component name (V(nova)) stands for its
        service type.'
      - 'A URL without a path gets the API''s version path (identity C(/v3), compute C(/v2.1),
        block-storage C(/v3/%(project_id\)s)); C(%(project_id\)s) is replaced by the
        token''s project.'
    type: dict
    default: {}
  server:
    description: Boot a server on this compute and wait until it is ACTIVE there (nova), then delete it.
    type: dict
    suboptions:
      host:
        description: The compute's host name as nova knows it.
        type: str
        required: true
      az:
        description: Its availability zone.
        type: str
        default: nova
      network:
        description: Network of its port; empty boots it without one (microversion 2.37 C(none)).
        type: str
        default: ''
  skip_checks:
    description:
      - Checks to leave out, by id - keystone_token, keystone_users, keystone_older_token,
        glance_images, glance_round_trip, placement_providers, nova_services, nova_servers,
        nova_flavors, nova_boot, neutron_networks, neutron_agents, cinder_services,
        cinder_volumes, cinder_volume_create, ironic_conductors, ironic_nodes. They are reported as skipped.
      - For example V([nova_services, neutron_agents]) right after a component restarted,
        when heartbeats missed while it was stopped still count.
    type: list
    elements: str
    default: []
  write_checks:
    description:
      - V(run) runs every check; V(skip) leaves out those that create and delete resources
        (glance_round_trip, nova_boot, cinder_volume_create) and the removal of an earlier
        run's leftovers; V(only) runs just those.
      - A blue-green upgrade reads on the new node's own address inside the API's window and
        writes through the service address after the switch, where a volume's creation no
        longer holds the window.
    type: str
    choices: [run, skip, only]
    default: run
  ignore_agent_hosts:
    description: Nodes the services left (blue-green); their dead neutron agents are not counted.
    type: list
    elements: str
    default: []
  validate_token:
    description: A token an older keystone issued; it must validate on the keystone checked (fernet keys copied).
    type: str
  issue_token:
    description: Return a token in RV(auth_token) (register the task with C(no_log)); no token when keystone does not answer and O(fail=false).
    type: bool
    default: false
  timeout:
    description: Seconds a created image, server or volume may take to become ready or go away.
    type: int
    default: 300
  api_timeout:
    description:
      - Seconds one API request may take before the check that made it fails. A service that
        accepts a request and never answers it (a hung API worker) fails its check instead of
        holding the run.
    type: int
    default: 120
  settle:
    description:
      - Seconds the checks of heartbeats (nova's and cinder's services, neutron's agents) wait
        for a service that shows down to report, polling every 5 s. A service restarted a
        moment ago (a rollback, a switch) shows down until its first report, and a database
        restored from a dump holds old heartbeats. One still down after that fails.
    type: int
    default: 90
  fail:
    description: Fail when a check failed; V(false) returns the checks for a report that decides later.
    type: bool
    default: true
attributes:
  check_mode:
    support: partial
    details: Runs only the checks that read; those that create and delete resources are reported as skipped.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Smoke-test nova on the new controller before its endpoint moves
  stackhop.upgrade.smoke_test:
    cloud: region1-admin
    components: [nova]
    endpoint_overrides:
      compute: http://10.20.0.12:8774/v2.1
  vars:
    ansible_python_interpreter: /opt/stackhop/venvs/2025.1/bin/python

- name: Smoke-test the region after its upgrade, for the report
  stackhop.upgrade.smoke_test:
    cloud: region1-admin
    ca_cert: /etc/ssl/certs/region1-ca.pem
    components: [keystone, glance, placement, nova, neutron, cinder]
    server: {host: cmp101, az: az1}
    fail: false
  register: smoke
"""

RETURN = r"""
checks:
  description: One entry per check - C(component), C(id), C(check), C(status) (V(ok), V(failed), V(skipped)), C(seconds), C(detail).
  returned: always
  type: list
  elements: dict
failed_checks:
  description: How many checks failed.
  returned: always
  type: int
leftovers_removed:
  description: Resources of an interrupted earlier run that were removed first.
  returned: always
  type: list
  elements: str
endpoint_overrides:
  description: The overrides used.
  returned: always
  type: dict
auth_token:
  description: A token, with O(issue_token=true) (empty when none was issued).
  returned: when O(issue_token=true)
  type: str
"""

from ansible_collections.stackhop.upgrade.plugins.module_utils.openstack_cloud import (
    CLOUD_ARGUMENT_SPEC,
    CloudError,
    connect,
    describe,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.smoke import (
    CHECK_IDS,
    COMPONENTS,
    SERVICE_TYPES,
    WRITE_MODES,
    Smoke,
    failure_sentence,
    normalize_overrides,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)


class SmokeTest(StackhopModule):
    argument_spec = dict(
        CLOUD_ARGUMENT_SPEC,
        components=dict(type="list", elements="str", choices=COMPONENTS, default=[]),
        endpoint_overrides=dict(type="dict", default={}),
        server=dict(type="dict", options=dict(
            host=dict(type="str", required=True),
            az=dict(type="str", default="nova"),
            network=dict(type="str", default=""))),
        skip_checks=dict(type="list", elements="str", default=[]),
        write_checks=dict(type="str", choices=list(WRITE_MODES), default="run"),
        ignore_agent_hosts=dict(type="list", elements="str", default=[]),
        validate_token=dict(type="str", no_log=True),
        issue_token=dict(type="bool", default=False),
        timeout=dict(type="int", default=300),
        # a default, unlike the other cloud modules: a smoke test must end
        api_timeout=dict(type="int", default=120),
        settle=dict(type="int", default=90),
        fail=dict(type="bool", default=True),
    )

    def run(self):
        p = self.params
        try:
            overrides = normalize_overrides(p["endpoint_overrides"])
        except ValueError as exc:
            raise StackhopError("endpoint_overrides names unknown service type %s: use %s, or a component name."
                                % (exc, ", ".join(sorted(SERVICE_TYPES.values()))))
        known = set(i for ids in CHECK_IDS.values() for i in ids)
        bad = sorted(set(p["skip_checks"]) - known)
        if bad:
            raise StackhopError("skip_checks names unknown check %s: use ids of %s."
                                % (", ".join(bad), ", ".join(sorted(known))))
        where = describe(p, overrides)
        result = {"checks": [], "failed_checks": 0, "leftovers_removed": [], "endpoint_overrides": overrides}
        try:
            conn = connect(p, overrides, host=self._host())
        except CloudError as exc:
            if p["fail"]:
                raise StackhopError(str(exc))
            check = {"component": "keystone", "check": "token issue", "status": "failed",
                     "detail": str(exc), "seconds": 0}
            result.update(checks=[check], failed_checks=1)
            if p["issue_token"]:
                result["auth_token"] = ""
            return result
        smoke = Smoke(conn, timeout=p["timeout"], check_mode=self.check_mode,
                      server=p["server"], ignore_agent_hosts=p["ignore_agent_hosts"],
                      validate_token=p["validate_token"], skip=p["skip_checks"], settle=p["settle"],
                      writes=p["write_checks"])
        components = p["components"]
        result["leftovers_removed"] = smoke.cleanup(components)
        smoke.run(components)
        failed = smoke.failed()
        result.update(checks=smoke.checks, failed_checks=len(failed))
        if failed and p["fail"]:
            passed = len([c for c in smoke.checks if c["status"] == "ok"])
            raise StackhopError(failure_sentence(failed, passed, where), **result)
        if p["issue_token"]:
            result["auth_token"] = conn.auth_token or ""
        return result


def main():
    SmokeTest()()


if __name__ == "__main__":
    main()
