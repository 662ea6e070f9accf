"""The lab's bare metal (lab/roles/lab_baremetal): fake-hardware nodes enrolled in ironic
and made available, the nova host of nova-compute-ironic mapped into its cell and put in
an aggregate, a bare-metal flavor asking for the nodes' resource class only, and servers
booted on them without a network (microversion 2.37 "none": no neutron port to bind).

Run on a controller with the release venv's Python (openstacksdk):
    lab_baremetal.py --cloud lab-admin --nodes 2 --resource-class BAREMETAL_LAB \
        --host ctl-old --aggregate lab-baremetal --flavor bm.lab --image lab-fake \
        --nova-manage /opt/stackhop/venvs/2024.1/bin/nova-manage --server bm1
Idempotent: what exists is kept. Prints one JSON document: changed, nodes, servers.
"""

import argparse
import json
import subprocess
import sys
import time

import openstack


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def wait(what, probe, timeout, interval=5):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit("timed out after %d s waiting for %s" % (timeout, what))
        time.sleep(interval)


def nodes(conn, args, changed):
    out = []
    for number in range(1, args.nodes + 1):
        name = "lab-bm%d" % number
        node = conn.baremetal.find_node(name)
        if node is None:
            node = conn.baremetal.create_node(name=name, driver="fake-hardware",
                                              resource_class=args.resource_class)
            changed.append("node %s enrolled" % name)
        node = conn.baremetal.get_node(node.id)
        if node.provision_state == "enroll":
            node = conn.baremetal.set_node_provision_state(node, "manage", wait=True, timeout=300)
            changed.append("node %s managed" % name)
        if node.provision_state == "manageable":
            node = conn.baremetal.set_node_provision_state(node, "provide", wait=True, timeout=300)
            changed.append("node %s provided" % name)
        if node.power_state != "power on":
            # fake power reports what was last set, and the fake deploy powers nothing on:
            # nova skips a node with no power state, and its power sync stops a server
            # whose node says "power off" (SHUTOFF ten minutes after it went ACTIVE)
            conn.baremetal.set_node_power_state(node, "power on", wait=True, timeout=120)
            changed.append("node %s powered on" % name)
        node = conn.baremetal.get_node(node.id)
        out.append({"name": name, "id": node.id, "provision_state": node.provision_state,
                    "power_state": node.power_state, "instance_id": node.instance_id})
    return out


def free_providers(conn, resource_class):
    resp = conn.placement.get("/resource_providers?resources=CUSTOM_%s:1" % resource_class,
                              microversion="1.4")
    return resp.json()["resource_providers"]


def mapped(conn, args, changed):
    """nova-compute-ironic's compute nodes (one per ironic node) in nova and placement, its
    host mapped into the cell, the host in the aggregate."""
    wait("nova's compute nodes of the ironic nodes",
         lambda: len([h for h in conn.compute.hypervisors(details=True)
                      if h.hypervisor_type == "ironic"]) >= args.nodes, 600)
    out = subprocess.run([args.nova_manage, "cell_v2", "discover_hosts", "--verbose"],
                         capture_output=True, text=True, check=True).stdout
    if "Creating host mapping" in out:
        changed.append("host %s mapped into its cell" % args.host)
    agg = conn.compute.find_aggregate(args.aggregate)
    if agg is None:
        agg = conn.compute.create_aggregate(name=args.aggregate)
        changed.append("aggregate %s created" % args.aggregate)
    agg = conn.compute.get_aggregate(agg.id)
    if args.host not in (agg.hosts or []):
        conn.compute.add_host_to_aggregate(agg, args.host)
        changed.append("host %s added to aggregate %s" % (args.host, args.aggregate))


def flavor(conn, args, changed):
    found = conn.compute.find_flavor(args.flavor)
    if found is None:
        found = conn.compute.create_flavor(name=args.flavor, ram=1024, vcpus=1, disk=10)
        changed.append("flavor %s created" % args.flavor)
    specs = {"resources:CUSTOM_%s" % args.resource_class: "1", "resources:VCPU": "0",
             "resources:MEMORY_MB": "0", "resources:DISK_GB": "0"}
    have = conn.compute.fetch_flavor_extra_specs(found).extra_specs or {}
    if any(have.get(k) != v for k, v in specs.items()):
        conn.compute.create_flavor_extra_specs(found, specs)
        changed.append("flavor %s extra specs set" % args.flavor)
    return found


def servers(conn, args, bm_flavor, changed):
    image = conn.image.find_image(args.image, ignore_missing=False)
    out = []
    for name in args.server:
        server = conn.compute.find_server(name)
        if server is None:
            # the placement inventory of a freed node comes back at the next resource update
            wait("a free %s node in placement" % args.resource_class,
                 lambda: free_providers(conn, args.resource_class), 300)
            server = conn.compute.create_server(name=name, flavor_id=bm_flavor.id, image_id=image.id,
                                                networks="none")
            changed.append("server %s booted" % name)
        server = conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR", "SHUTOFF"],
                                              interval=3, wait=args.timeout)
        node = conn.baremetal.get_node(server.hypervisor_hostname) if server.hypervisor_hostname else None
        out.append({"name": name, "id": server.id, "status": server.status,
                    "host": server.compute_host, "node": server.hypervisor_hostname,
                    "node_state": node.provision_state if node else None,
                    "node_instance": node.instance_id if node else None})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cloud", required=True)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--resource-class", default="BAREMETAL_LAB")
    parser.add_argument("--host", required=True, help="nova's name of nova-compute-ironic's host")
    parser.add_argument("--aggregate", default="lab-baremetal")
    parser.add_argument("--flavor", default="bm.lab")
    parser.add_argument("--image", default="lab-fake")
    parser.add_argument("--nova-manage", required=True)
    parser.add_argument("--server", action="append", default=[])
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    conn = openstack.connect(cloud=args.cloud)
    changed = []
    enrolled = nodes(conn, args, changed)
    mapped(conn, args, changed)
    bm_flavor = flavor(conn, args, changed)
    booted = servers(conn, args, bm_flavor, changed)
    print(json.dumps({"changed": bool(changed), "done": changed, "nodes": enrolled, "servers": booted}))


if __name__ == "__main__":
    main()
