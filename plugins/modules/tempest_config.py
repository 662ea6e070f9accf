#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tempest_config
short_description: Write a tempest.conf for the region from what the region has
version_added: 0.3.0
description:
  - Lists through openstacksdk, with the operator's C(clouds.yaml) entry, the region's
    catalog, images, flavors, networks and their extensions, and the nova-compute,
    cinder-volume and cinder-backup services, and writes a C(tempest.conf) for them -
    C([service_available]) says which services tempest tests (a cinder without a
    cinder-volume service up has no volume backend and is absent, so its tests are skipped
    rather than failed; swift and horizon only when in the catalog), C([compute]) gets an
    active image (cirros first) and the smallest flavor, C([network]) the first external
    network and C([network-feature-enabled]) the extensions neutron reports,
    C([volume-feature-enabled] backup) whether a cinder-backup is up; without neutron's
    C(router) extension (no L3) tempest gets no isolated network per test project and no
    floating IPs, and its servers use the first shared network (C([compute] fixed_network_name)).
  - The admin credentials are those of the C(clouds.yaml) entry; the password is written
    only into the file (mode 0600), never returned, logged or shown in a diff.
  - Run it with a Python that has openstacksdk (the release virtualenv's).
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
  - stackhop.upgrade.openstack_cloud
options:
  path:
    description: The tempest.conf written.
    type: path
    required: true
  workspace:
    description: Tempest's workspace directory (its logs and locks go below it).
    type: path
    required: true
  image:
    description: Name or id of the image tempest's servers boot; empty picks an active one (cirros first).
    type: str
    default: ''
  flavor:
    description: Name or id of their flavor; empty picks the smallest.
    type: str
    default: ''
  network:
    description: Name or id of the external network for floating IPs; empty picks the first external one (none skips those tests).
    type: str
    default: ''
  validation:
    description: Let tempest log in to its servers over SSH (C([validation] run_validation)); needs floating IPs reachable from this host.
    type: bool
    default: false
  overrides:
    description: 'C({section: {option: value}}) set last, over what the module decided (not C([auth] admin_password)).'
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    details: Lists the region and reports whether the file would change; writes nothing.
  diff_mode:
    support: full
    details: The file before and after, the password masked.
"""

EXAMPLES = r"""
- name: Write tempest.conf for the region
  stackhop.upgrade.tempest_config:
    cloud: region1-admin
    path: /var/lib/stackhop/tempest/region1/etc/tempest.conf
    workspace: /var/lib/stackhop/tempest/region1
  vars:
    ansible_python_interpreter: /opt/stackhop/venvs/2025.1/bin/python
  diff: false
"""

RETURN = r"""
services:
  description: Component to whether tempest tests it (C([service_available])).
  returned: always
  type: dict
notes:
  description: Why each service and feature is on or off, one line each.
  returned: always
  type: list
  elements: str
sections:
  description: The file's options by section, the password masked.
  returned: always
  type: dict
path:
  description: The file.
  returned: always
  type: str
"""

import os
import tempfile

from ansible_collections.stackhop.upgrade.plugins.module_utils.openstack_cloud import (
    CLOUD_ARGUMENT_SPEC,
    CloudError,
    connect,
    describe,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.tempest import (
    MASK,
    SECRET,
    TempestConfError,
    decide,
    render,
)


def _listing(what, where, call):
    try:
        return list(call())
    except Exception as exc:  # pylint: disable=broad-except
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise StackhopError("listing the %s through %s failed (%s: %s); check that the service "
                            "answers and that the clouds.yaml entry is an admin's" % (what, where, type(exc).__name__, first))


class TempestConfig(StackhopModule):
    argument_spec = dict(
        CLOUD_ARGUMENT_SPEC,
        path=dict(type="path", required=True),
        workspace=dict(type="path", required=True),
        image=dict(type="str", default=""),
        flavor=dict(type="str", default=""),
        network=dict(type="str", default=""),
        validation=dict(type="bool", default=False),
        overrides=dict(type="dict", default={}),
    )

    def facts(self, conn, where):
        """What the region has, as module_utils.tempest.decide reads it."""
        config = conn.config.config
        auth = dict(config.get("auth") or {})
        types = [s.type for s in _listing("services of the catalog", where, conn.identity.services)
                 if getattr(s, "is_enabled", True)]
        facts = {
            "region": conn.config.get_region_name() or config.get("region_name") or "RegionOne",
            "services": types,
            "auth": {k: auth.get(k) for k in ("auth_url", "username", "project_name",
                                              "user_domain_name", "project_domain_name")},
            "cacert": config.get("cacert"),
            "insecure": config.get("verify") is False,
        }
        if "image" in types:
            facts["images"] = [{"id": i.id, "name": i.name, "status": i.status}
                               for i in _listing("images", where, conn.image.images)]
        if "compute" in types:
            facts["flavors"] = [{"id": f.id, "name": f.name, "ram": f.ram, "vcpus": f.vcpus, "disk": f.disk,
                                 "is_disabled": bool(getattr(f, "is_disabled", False))}
                                for f in _listing("flavors", where, conn.compute.flavors)]
            facts["compute_services"] = [{"binary": s.binary, "host": s.host, "state": s.state, "status": s.status}
                                         for s in _listing("compute services", where, conn.compute.services)]
        if "network" in types:
            facts["networks"] = [{"id": n.id, "name": n.name, "external": bool(n.is_router_external),
                                  "shared": bool(n.is_shared)}
                                 for n in _listing("networks", where, conn.network.networks)]
            facts["network_extensions"] = [e.alias for e in _listing("network extensions", where,
                                                                     conn.network.extensions)]
        if {"block-storage", "volumev3", "volume"} & set(types):
            facts["volume_services"] = [{"binary": s.binary, "host": s.host, "state": s.state, "status": s.status}
                                        for s in _listing("volume services", where, conn.block_storage.services)]
        return facts, auth.get("password")

    def run(self):
        p = self.params
        where = describe(p)
        try:
            conn = connect(p, host=self._host())
        except CloudError as exc:
            raise StackhopError(str(exc))
        facts, password = self.facts(conn, where)
        if not password:
            raise StackhopError("the clouds.yaml entry of %s has no password; tempest needs the admin's "
                                "password (application credentials cannot create its test users)" % where)
        try:
            decided = decide(facts, {"image": p["image"], "flavor": p["flavor"], "network": p["network"],
                                     "validation": p["validation"], "workspace": p["workspace"],
                                     "overrides": p["overrides"]})
        except TempestConfError as exc:
            raise StackhopError(str(exc))
        content = render(decided["sections"], password)
        shown = render(decided["sections"], MASK)
        before = None
        if os.path.exists(p["path"]):
            with open(p["path"]) as handle:
                before = handle.read()
        changed = before != content
        if changed and not self.check_mode:
            directory = os.path.dirname(p["path"]) or "."
            os.makedirs(directory, mode=0o700, exist_ok=True)
            handle, tmp = tempfile.mkstemp(dir=directory, prefix=".tempest-conf-")
            with os.fdopen(handle, "w") as out:
                out.write(content)
            os.chmod(tmp, 0o600)
            os.replace(tmp, p["path"])
        shown_before = "" if before is None else "\n".join(
            "%s = %s" % (SECRET, MASK) if line.startswith(SECRET) else line for line in before.split("\n"))
        sections = {k: dict(v) for k, v in decided["sections"].items()}
        return {"changed": changed, "services": decided["services"], "notes": decided["notes"],
                "sections": sections, "path": p["path"],
                "diff": {"before": shown_before, "after": shown, "before_header": p["path"],
                         "after_header": p["path"]}}


def main():
    TempestConfig()()


if __name__ == "__main__":
    main()
