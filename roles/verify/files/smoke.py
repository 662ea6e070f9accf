# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Smoke tests of procedures.md §2 step 7, one process, openstacksdk, JSON out.

    smoke.py --cloud lab-admin --components keystone,glance,placement,nova,neutron,cinder \
        [--override compute=http://10.20.0.12:8774/v2.1 ...] [--server-host cmp1 --server-az az1] \
        [--server-network NAME] [--timeout 300]

Run with the Python of the release's venv (it has openstacksdk). Every check is timed and
recorded as {component, check, status: ok|failed|skipped, seconds, detail}; a failing
check does not stop the others. Everything the checks create is named
``stackhop-verify-*`` and removed at the end; leftovers of an interrupted earlier run are
removed first. Prints one JSON document: {"checks": [...], "failed": N}.

--override SERVICE_TYPE=URL talks to one service directly (the new node before the
endpoint switch) instead of the catalog's endpoint.
"""

from __future__ import absolute_import, division, print_function

import argparse
import hashlib
import io
import json
import sys
import time
import traceback

PREFIX = "stackhop-verify-"


def _short(exc):
    text = str(exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, text[0][:300] if text else "")


class Smoke(object):
    def __init__(self, conn, args):
        self.conn = conn
        self.args = args
        self.checks = []

    def check(self, component, name, func):
        start = time.time()
        entry = {"component": component, "check": name}
        try:
            detail = func()
            if isinstance(detail, tuple) and detail and detail[0] == "skipped":
                entry.update(status="skipped", detail=detail[1])
            else:
                entry.update(status="ok", detail=detail if detail is not None else "")
        except Exception as exc:  # pylint: disable=broad-except
            entry.update(status="failed", detail=_short(exc),
                         trace=traceback.format_exc().splitlines()[-6:])
        entry["seconds"] = round(time.time() - start, 2)
        self.checks.append(entry)
        return entry["status"] == "ok"

    # -- keystone ----------------------------------------------------------------
    def keystone(self):
        def token():
            self.conn.authorize()
            return "token issued (%d characters)" % len(self.conn.auth_token or "")

        def users():
            names = [u.name for u in self.conn.identity.users()]
            if not names:
                raise RuntimeError("user list is empty")
            return "%d users" % len(names)

        self.check("keystone", "token issue", token)
        self.check("keystone", "user list", users)

    # -- glance ------------------------------------------------------------------
    def glance(self):
        def images():
            return "%d images" % len(list(self.conn.image.images()))

        def round_trip():
            data = b"stackhop verify " + str(time.time()).encode()
            image = self.conn.image.create_image(
                PREFIX + "image", data=io.BytesIO(data), disk_format="raw",
                container_format="bare", allow_duplicates=True, wait=True,
                timeout=self.args.timeout)
            try:
                got = self.conn.image.download_image(image)
                got = getattr(got, "content", got)
                if hashlib.sha256(got).hexdigest() != hashlib.sha256(data).hexdigest():
                    raise RuntimeError("downloaded image differs from the uploaded bytes")
            finally:
                self.conn.image.delete_image(image, ignore_missing=True)
            if self.conn.image.find_image(image.id, ignore_missing=True):
                raise RuntimeError("image %s still exists after delete" % image.id)
            return "uploaded, downloaded (%d bytes, equal) and deleted" % len(data)

        self.check("glance", "image list", images)
        self.check("glance", "image upload, download, delete", round_trip)

    # -- placement ---------------------------------------------------------------
    def placement(self):
        def providers():
            rps = list(self.conn.placement.resource_providers())
            if not rps:
                raise RuntimeError("no resource provider (no compute registered)")
            usages = {}
            for rp in rps:
                resp = self.conn.placement.get("/resource_providers/%s/usages" % rp.id)
                if resp.status_code != 200:
                    raise RuntimeError("usages of %s: HTTP %d" % (rp.name, resp.status_code))
                usages[rp.name] = resp.json().get("usages", {})
            return "%d resource providers; usages %s" % (len(rps), json.dumps(usages, sort_keys=True))

        self.check("placement", "resource providers and usages", providers)

    # -- nova --------------------------------------------------------------------
    def nova(self):
        def services():
            rows = list(self.conn.compute.services())
            down = ["%s@%s" % (s.binary, s.host) for s in rows if s.state != "up" and s.status == "enabled"]
            if down:
                raise RuntimeError("compute services down: %s" % ", ".join(sorted(down)))
            return "%d services up: %s" % (len(rows), ", ".join(sorted("%s@%s" % (s.binary, s.host) for s in rows)))

        def servers():
            return "%d servers" % len(list(self.conn.compute.servers(all_projects=True)))

        self.check("nova", "compute service list all up", services)
        self.check("nova", "server list", servers)
        if self.args.server_host:
            self.check("nova", "server create on %s" % self.args.server_host, self.boot)

    def boot(self):
        flavor = self.conn.compute.find_flavor(PREFIX + "flavor", ignore_missing=True)
        if flavor is None:
            flavor = self.conn.compute.create_flavor(name=PREFIX + "flavor", ram=64, vcpus=1,
                                                     disk=0, is_public=True)
        try:
            return self._boot(flavor)
        finally:
            self.conn.compute.delete_flavor(flavor, ignore_missing=True)

    def _boot(self, flavor):
        image = self.conn.image.create_image(
            PREFIX + "server-image", data=io.BytesIO(b"stackhop verify server"),
            disk_format="raw", container_format="bare", allow_duplicates=True, wait=True,
            timeout=self.args.timeout)
        server = None
        try:
            kwargs = {"name": PREFIX + "server", "flavor_id": flavor.id, "image_id": image.id}
            if self.args.server_network:
                net = self.conn.network.find_network(self.args.server_network, ignore_missing=False)
                kwargs["networks"] = [{"uuid": net.id}]
            else:
                kwargs["networks"] = "none"
            zone = self.args.server_az or "nova"
            kwargs["availability_zone"] = "%s:%s" % (zone, self.args.server_host)
            t0 = time.time()
            server = self.conn.compute.create_server(**kwargs)
            server = self.conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"],
                                                       interval=2, wait=self.args.timeout)
            active = time.time() - t0
            if server.compute_host != self.args.server_host:
                raise RuntimeError("server became ACTIVE on %s, not on %s"
                                   % (server.compute_host, self.args.server_host))
            return "ACTIVE on %s after %.1fs, deleted" % (server.compute_host, active)
        finally:
            if server is not None:
                self.conn.compute.delete_server(server, ignore_missing=True)
                self.conn.compute.wait_for_delete(server, interval=2, wait=self.args.timeout)
            self.conn.image.delete_image(image, ignore_missing=True)

    # -- neutron -----------------------------------------------------------------
    def neutron(self):
        def networks():
            nets = list(self.conn.network.networks())
            ports = list(self.conn.network.ports())
            return "%d networks, %d ports" % (len(nets), len(ports))

        def agents():
            rows = list(self.conn.network.agents())
            ignored = [a for a in rows if a.host in self.args.ignore_agent_hosts]
            dead = sorted("%s@%s" % (a.binary, a.host) for a in rows
                          if a.is_admin_state_up and not a.is_alive and a not in ignored)
            if dead:
                raise RuntimeError("agents not alive: %s" % ", ".join(dead))
            alive = sorted("%s@%s" % (a.binary, a.host) for a in rows if a.is_alive)
            return "%d of %d agents alive: %s%s" % (
                len(alive), len(rows), ", ".join(alive),
                "; not checked (left node): %s" % ", ".join(sorted("%s@%s" % (a.binary, a.host) for a in ignored))
                if ignored else "")

        self.check("neutron", "network and port list", networks)
        self.check("neutron", "agents alive", agents)

    # -- cinder ------------------------------------------------------------------
    def cinder(self):
        state = {}

        def services():
            rows = list(self.conn.block_storage.services())
            down = ["%s@%s" % (s.binary, s.host) for s in rows if s.state != "up" and s.status == "enabled"]
            state["volume"] = [s for s in rows if s.binary == "cinder-volume" and s.state == "up"]
            if down:
                raise RuntimeError("volume services down: %s" % ", ".join(sorted(down)))
            return "%d services up" % len(rows)

        def volume():
            if not state.get("volume"):
                return ("skipped", "no cinder-volume service is up: no backend to create a volume on")
            vol = self.conn.block_storage.create_volume(name=PREFIX + "volume", size=1)
            try:
                self.conn.block_storage.wait_for_status(vol, status="available", failures=["error"],
                                                        interval=2, wait=self.args.timeout)
            finally:
                self.conn.block_storage.delete_volume(vol, ignore_missing=True)
                self.conn.block_storage.wait_for_delete(vol, interval=2, wait=self.args.timeout)
            return "volume created (available) and deleted"

        def volumes():
            return "%d volumes" % len(list(self.conn.block_storage.volumes(all_projects=True)))

        self.check("cinder", "volume service list", services)
        self.check("cinder", "volume list (all projects)", volumes)
        self.check("cinder", "volume create and delete", volume)

    # -- leftovers ---------------------------------------------------------------
    def cleanup(self):
        """Remove what an interrupted earlier run left (servers, images, volumes)."""
        removed = []
        try:
            for server in self.conn.compute.servers(all_projects=True, name="^" + PREFIX):
                self.conn.compute.delete_server(server, ignore_missing=True)
                self.conn.compute.wait_for_delete(server, interval=2, wait=self.args.timeout)
                removed.append("server " + server.id)
        except Exception:  # pylint: disable=broad-except
            pass
        try:
            for image in self.conn.image.images():
                if (image.name or "").startswith(PREFIX):
                    self.conn.image.delete_image(image, ignore_missing=True)
                    removed.append("image " + image.id)
        except Exception:  # pylint: disable=broad-except
            pass
        return removed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--cloud", required=True)
    parser.add_argument("--components", default="keystone,glance,placement,nova,neutron")
    parser.add_argument("--override", action="append", default=[], help="SERVICE_TYPE=URL")
    parser.add_argument("--server-host", default="")
    parser.add_argument("--server-az", default="")
    parser.add_argument("--server-network", default="")
    parser.add_argument("--ignore-agent-host", action="append", default=[], dest="ignore_agent_hosts",
                        help="agents of this host (a node the services left) may be dead")
    parser.add_argument("--timeout", type=int, default=300)
    args = parser.parse_args(argv)
    import openstack  # pylint: disable=import-outside-toplevel

    overrides = {}
    for item in args.override:
        service_type, _sep, url = item.partition("=")
        overrides["%s_endpoint_override" % service_type.replace("-", "_")] = url
    conn = openstack.connect(cloud=args.cloud, **overrides)
    smoke = Smoke(conn, args)
    components = [c.strip() for c in args.components.split(",") if c.strip()]
    removed = smoke.cleanup()
    for component in ["keystone", "glance", "placement", "nova", "neutron", "cinder"]:
        if component in components:
            getattr(smoke, component)()
    failed = [c for c in smoke.checks if c["status"] == "failed"]
    print(json.dumps({"checks": smoke.checks, "failed": len(failed), "leftovers_removed": removed,
                      "overrides": overrides}, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
