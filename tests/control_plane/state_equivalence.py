"""One-off harness (not collected by pytest): the old templates/state.j2 and the filter
stackhop.upgrade.control_plane_state must give the same control_plane_state.

Renders state.j2 with Ansible's own templar (the template lookup, then from_json, as
_state_compute.yml did) and calls the filter on the same variables, for many generated
inputs; prints the differences. Run once before state.j2 was deleted:

    python tests/control_plane/state_equivalence.py [N] [SEED]
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "build" / "collections"
sys.path.insert(0, str(COLLECTIONS))

from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.plugins.loader import init_plugin_loader  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402

init_plugin_loader([str(COLLECTIONS)])

from ansible_collections.stackhop.upgrade.plugins.filter.control_plane_state import control_plane_state  # noqa: E402

STATE_J2 = REPO / "roles" / "control_plane" / "templates" / "state.j2"
SUPPORTED = ["keystone", "glance", "placement", "nova", "neutron", "cinder"]
PRIMARY = {"keystone": ["keystone"], "glance": ["glance-api"], "placement": ["placement-api"],
           "nova": ["nova-api"], "neutron": ["neutron-api", "neutron-server"], "cinder": ["cinder-api"]}
RELEASES = ["2024.1", "2024.2", "2025.1", "2025.2"]
VIPS = ["10.20.0.101", "10.20.0.102", "10.20.0.103"]


def old(variables):
    templar = Templar(loader=DataLoader(), variables=variables)
    expr = "{{ lookup('ansible.builtin.template', '%s') | from_json }}" % STATE_J2
    return templar.template(trust_as_template(expr))


def new(variables):
    v = variables
    return control_plane_state(
        v["hostvars"], v["control_plane_components"], v["__control_plane_supported"],
        v["control_plane_old_hosts"], v["control_plane_new_hosts"], v["control_plane_service_addresses"],
        v["__control_plane_primary_units"], v["__control_plane_target"],
        strategy=v["control_plane_strategy"], endpoint_method=v["control_plane_endpoint_method"])


def outcome(func, variables):
    try:
        return json.loads(json.dumps(func(variables)))
    except Exception as exc:  # noqa: BLE001 - both sides may refuse
        return "ERROR"


def gen(rng):
    nold = rng.choice([1, 1, 1, 2, 0])
    nnew = rng.choice([1, 1, 1, 2, 0])
    old_hosts = ["ctl-old%d" % i for i in range(nold)]
    new_hosts = ["ctl-new%d" % i for i in range(nnew)]
    other_region = ["r2-ctl-old", "r2-ctl-new"]
    comps = rng.sample(SUPPORTED + ["ironic"], rng.randint(0, 7))
    addrs = {}
    for i, c in enumerate(SUPPORTED + ["ironic"]):
        choice = rng.random()
        if choice < 0.7:
            addrs[c] = VIPS[i % 3] if rng.random() < 0.8 else rng.choice(VIPS)
        elif choice < 0.8:
            addrs[c] = ""
    hostvars = {}
    for h in old_hosts + new_hosts + other_region:
        if rng.random() < 0.12:
            hostvars[h] = {"inventory_hostname": h}   # unreachable: no facts
            continue
        units = {}
        for unit in ["keystone", "glance-api", "placement-api", "nova-api", "neutron-api", "neutron-server",
                     "cinder-api"]:
            r = rng.random()
            if r < 0.55:
                units[unit] = rng.choice(RELEASES)
            elif r < 0.7:
                units[unit] = ""
        held = ["10.20.0.%d" % (10 + len(hostvars))] + [a for a in VIPS if rng.random() < 0.35]
        hostvars[h] = {"inventory_hostname": h,
                       "control_plane_node": {"addresses": held, "units": units, "hostname": h + ".x"}}
    return {
        "hostvars": hostvars,
        "control_plane_components": comps,
        "__control_plane_supported": SUPPORTED,
        "control_plane_old_hosts": old_hosts,
        "control_plane_new_hosts": new_hosts,
        "__control_plane_controllers": old_hosts + new_hosts,
        "control_plane_service_addresses": addrs,
        "__control_plane_primary_units": PRIMARY,
        "__control_plane_target": rng.choice(RELEASES[1:]),
        "control_plane_strategy": rng.choice(["blue_green", "blue_green", "in_place", "rolling"]),
        "control_plane_endpoint_method": rng.choice(["vip", "vip", "dns", "keystone_catalog"]),
    }


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 16)
    same = differ = errors = 0
    for n in range(count):
        variables = gen(rng)
        a, b = outcome(old, variables), outcome(new, variables)
        if a == "ERROR":
            errors += 1
        if a == b:
            same += 1
            continue
        differ += 1
        if differ <= 5:
            print("case %d differs:\n in %s\n old %s\n new %s" % (n, json.dumps(variables, sort_keys=True), a, b))
    print("%d cases: %d same (%d refused by both), %d differ" % (count, same, errors, differ))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
