# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""The smoke tests of procedures.md §2 step 7 (DeNA's per-service checks), through
openstacksdk: the control plane runs them against a new node on its own address before
the endpoint switch, the verify role against the region after the upgrade.

Every check is timed and recorded as {component, check, status: ok|failed|skipped,
seconds, detail}; a failing check does not stop the others. What the checks create is
named ``stackhop-smoke-*`` and removed at the end; leftovers of an interrupted earlier
run are removed first. In check mode only the checks that read run.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import traceback

from ansible_collections.stackhop.upgrade.plugins.module_utils import components

PREFIX = "stackhop-smoke-"
# The components with checks, their service type in the catalog (and in openstacksdk's
# endpoint overrides) and the path of each API under its port (what a bare
# http://node:port override gets): the component catalogue's.
COMPONENTS = [name for name in components.ORDER if components.CATALOGUE[name]["smoke"]]
SERVICE_TYPES = {name: components.CATALOGUE[name]["service_type"] for name in COMPONENTS}
API_PATHS = {components.CATALOGUE[name]["service_type"]: components.CATALOGUE[name]["endpoint_path"]
             for name in COMPONENTS}
# Every check's id, by component (what skip_checks names).
CHECK_IDS = {
    "keystone": ["keystone_token", "keystone_users", "keystone_older_token"],
    "glance": ["glance_images", "glance_round_trip"],
    "placement": ["placement_providers"],
    "nova": ["nova_services", "nova_servers", "nova_flavors", "nova_boot"],
    "neutron": ["neutron_networks", "neutron_agents"],
    "cinder": ["cinder_services", "cinder_volumes", "cinder_volume_create"],
    "ironic": ["ironic_conductors", "ironic_nodes"],
}
# What write_checks takes: every check, those that only read, or only those that create
# and delete (a blue-green window holds the reads; the writes run after the switch).
WRITE_MODES = ("run", "skip", "only")
# Provision states of a bare-metal node that mean it failed (ironic/common/states.py).
IRONIC_FAILED_STATES = ("error", "deploy failed", "clean failed", "inspect failed", "rescue failed",
                        "unrescue failed", "adopt failed", "service failed")
# openstacksdk asks the bare-metal API for the highest microversion both it and the
# resource know (conductors: 1.49, ironic 12.1, stein on; nodes: the server's, up to the
# SDK's); the checks name it.
CHECK_MODE_SKIP = "not run in check mode: it creates and deletes resources"


def normalize_overrides(overrides):
    """{service type: URL} from {service type or component name: URL}; a URL without a
    path gets the API's version path. Raises ValueError naming an unknown key."""
    out = {}
    for key, url in overrides.items():
        service_type = SERVICE_TYPES.get(key, key)
        if service_type not in API_PATHS:
            raise ValueError(key)
        url = str(url).rstrip("/")
        scheme_host = url.split("://", 1)[-1]
        if "/" not in scheme_host:
            url += API_PATHS[service_type]
        out[service_type] = url
    return out


def short(exc):
    text = str(exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, text[0][:300] if text else "")


class Skipped(Exception):
    """A check that cannot run here (its detail says why); recorded as skipped."""


class Smoke:
    """Runs the checks of the given components on one connection.

    ``server``: {host, az, network} of a server to boot on that compute (nova), or None.
    ``ignore_agent_hosts``: nodes the services left, whose dead agents are not counted.
    ``validate_token``: a token an older keystone issued, which must validate here.
    ``skip``: ids of checks (CHECK_IDS) to leave out.
    ``writes``: ``run`` every check, ``skip`` those that create and delete resources, or run
    ``only`` those.
    ``settle``: how long the checks of services' heartbeats (nova's and cinder's services,
    neutron's agents) wait for a service that is down to report: one restarted a moment ago
    (a rollback, a switch) shows down until its first report, up to report_interval after
    its start, and a database restored from a dump holds old heartbeats.
    """

    def __init__(self, conn, timeout=300, check_mode=False, server=None,
                 ignore_agent_hosts=(), validate_token=None, skip=(), settle=90, poll=5, sleep=time.sleep,
                 writes="run"):
        self.conn = conn
        self.timeout = timeout
        self.settle_seconds = settle
        self.poll = poll
        self.sleep = sleep
        self.check_mode = check_mode
        self.server = server or {}
        self.ignore_agent_hosts = set(ignore_agent_hosts)
        self.validate_token = validate_token
        self.skip = set(skip)
        if writes not in WRITE_MODES:
            raise ValueError(writes)
        self.writes = writes
        self.checks = []

    def check(self, component, check_id, name, func, writes=False):
        start = time.time()
        entry = {"component": component, "id": check_id, "check": name}
        if check_id in self.skip:
            entry.update(status="skipped", detail="left out by skip_checks")
        elif writes and self.writes == "skip":
            entry.update(status="skipped", detail="left out by write_checks=skip: it creates and deletes resources")
        elif not writes and self.writes == "only":
            entry.update(status="skipped", detail="left out by write_checks=only: it only reads")
        elif writes and self.check_mode:
            entry.update(status="skipped", detail=CHECK_MODE_SKIP)
        else:
            try:
                detail = func()
                entry.update(status="ok", detail=detail if detail is not None else "")
            except Skipped as exc:
                entry.update(status="skipped", detail=str(exc))
            except Exception as exc:  # pylint: disable=broad-except
                entry.update(status="failed", detail=short(exc),
                             trace=traceback.format_exc().splitlines()[-6:])
        entry["seconds"] = round(time.time() - start, 2)
        self.checks.append(entry)
        return entry["status"] == "ok"

    def settled(self, probe):
        """probe() -> (what is down, the rows); polled until nothing is down or ``settle``
        seconds pass; the last answer."""
        deadline = time.time() + self.settle_seconds
        while True:
            down, rows = probe()
            if not down or time.time() >= deadline:
                return down, rows
            self.sleep(self.poll)

    def run(self, components):
        for component in COMPONENTS:
            if component in components:
                getattr(self, component)()
        return self.checks

    def failed(self):
        return [c for c in self.checks if c["status"] == "failed"]

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

        def older_token():
            resp = self.conn.identity.get("/auth/tokens", headers={"X-Subject-Token": self.validate_token},
                                          raise_exc=False)
            if resp.status_code != 200:
                raise RuntimeError(
                    "HTTP %d: the keystones' fernet keys differ; copy /etc/keystone/fernet-keys "
                    "from the node that issued it" % resp.status_code)
            return "validated (expires %s)" % resp.json().get("token", {}).get("expires_at", "?")

        self.check("keystone", "keystone_token", "token issue", token)
        self.check("keystone", "keystone_users", "user list", users)
        if self.validate_token:
            self.check("keystone", "keystone_older_token", "token of the older keystone validates", older_token)

    # -- glance ------------------------------------------------------------------
    def glance(self):
        def images():
            return "%d images" % len(list(self.conn.image.images()))

        def round_trip():
            data = b"stackhop smoke " + str(time.time()).encode()
            image = self.conn.image.create_image(
                PREFIX + "image", data=io.BytesIO(data), disk_format="raw",
                container_format="bare", allow_duplicates=True, wait=True, timeout=self.timeout)
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

        self.check("glance", "glance_images", "image list", images)
        self.check("glance", "glance_round_trip", "image upload, download, delete", round_trip, writes=True)

    # -- placement ---------------------------------------------------------------
    def placement(self):
        def providers():
            rps = list(self.conn.placement.resource_providers())
            if not rps:
                raise RuntimeError("no resource provider (no compute registered)")
            usages = {}
            for rp in rps:
                resp = self.conn.placement.get("/resource_providers/%s/usages" % rp.id, raise_exc=False)
                if resp.status_code != 200:
                    raise RuntimeError("usages of %s: HTTP %d" % (rp.name, resp.status_code))
                usages[rp.name] = resp.json().get("usages", {})
            return "%d resource providers; usages %s" % (len(rps), json.dumps(usages, sort_keys=True))

        self.check("placement", "placement_providers", "resource providers and usages", providers)

    # -- nova --------------------------------------------------------------------
    def nova(self):
        def services():
            def probe():
                rows = list(self.conn.compute.services())
                return ["%s@%s" % (s.binary, s.host) for s in rows if s.state != "up" and s.status == "enabled"], rows
            down, rows = self.settled(probe)
            if down:
                raise RuntimeError("compute services down: %s" % ", ".join(sorted(down)))
            return "%d services up: %s" % (len(rows), ", ".join(sorted("%s@%s" % (s.binary, s.host) for s in rows)))

        def servers():
            return "%d servers" % len(list(self.conn.compute.servers(all_projects=True)))

        def flavors():
            return "%d flavors" % len(list(self.conn.compute.flavors()))

        self.check("nova", "nova_services", "compute service list all up", services)
        self.check("nova", "nova_servers", "server list", servers)
        self.check("nova", "nova_flavors", "flavor list", flavors)
        if self.server.get("host"):
            self.check("nova", "nova_boot", "server create on %s" % self.server["host"], self.boot, writes=True)

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
            PREFIX + "server-image", data=io.BytesIO(b"stackhop smoke server"),
            disk_format="raw", container_format="bare", allow_duplicates=True, wait=True,
            timeout=self.timeout)
        server = None
        host = self.server["host"]
        try:
            kwargs = {"name": PREFIX + "server", "flavor_id": flavor.id, "image_id": image.id}
            if self.server.get("network"):
                net = self.conn.network.find_network(self.server["network"], ignore_missing=False)
                kwargs["networks"] = [{"uuid": net.id}]
            else:
                kwargs["networks"] = "none"
            kwargs["availability_zone"] = "%s:%s" % (self.server.get("az") or "nova", host)
            t0 = time.time()
            server = self.conn.compute.create_server(**kwargs)
            server = self.conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"],
                                                       interval=2, wait=self.timeout)
            active = time.time() - t0
            if server.compute_host != host:
                raise RuntimeError("server became ACTIVE on %s, not on %s" % (server.compute_host, host))
            return "ACTIVE on %s after %.1fs, deleted" % (server.compute_host, active)
        finally:
            if server is not None:
                self.conn.compute.delete_server(server, ignore_missing=True)
                self.conn.compute.wait_for_delete(server, interval=2, wait=self.timeout)
            self.conn.image.delete_image(image, ignore_missing=True)

    # -- neutron -----------------------------------------------------------------
    def neutron(self):
        def networks():
            nets = list(self.conn.network.networks())
            ports = list(self.conn.network.ports())
            return "%d networks, %d ports" % (len(nets), len(ports))

        def agents():
            def probe():
                rows = list(self.conn.network.agents())
                return sorted("%s@%s" % (a.binary, a.host) for a in rows if a.is_admin_state_up and not a.is_alive
                              and a.host not in self.ignore_agent_hosts), rows
            dead, rows = self.settled(probe)
            ignored = [a for a in rows if a.host in self.ignore_agent_hosts]
            if dead:
                raise RuntimeError("agents not alive: %s" % ", ".join(dead))
            alive = sorted("%s@%s" % (a.binary, a.host) for a in rows if a.is_alive)
            return "%d of %d agents alive: %s%s" % (
                len(alive), len(rows), ", ".join(alive),
                "; not checked (left node): %s" % ", ".join(sorted("%s@%s" % (a.binary, a.host) for a in ignored))
                if ignored else "")

        self.check("neutron", "neutron_networks", "network and port list", networks)
        self.check("neutron", "neutron_agents", "agents alive", agents)

    # -- cinder ------------------------------------------------------------------
    def cinder(self):
        state = {}

        def services():
            def probe():
                rows = list(self.conn.block_storage.services())
                return ["%s@%s" % (s.binary, s.host) for s in rows if s.state != "up" and s.status == "enabled"], rows
            down, rows = self.settled(probe)
            state["volume"] = [s for s in rows if s.binary == "cinder-volume" and s.state == "up"]
            if down:
                raise RuntimeError("volume services down: %s" % ", ".join(sorted(down)))
            return "%d services up" % len(rows)

        def volume():
            if "volume" not in state:        # cinder_services was left out
                state["volume"] = [s for s in self.conn.block_storage.services()
                                   if s.binary == "cinder-volume" and s.state == "up"]
            if not state.get("volume"):
                raise Skipped("no cinder-volume service is up: no backend to create a volume on")
            vol = self.conn.block_storage.create_volume(name=PREFIX + "volume", size=1)
            try:
                self.conn.block_storage.wait_for_status(vol, status="available", failures=["error"],
                                                        interval=2, wait=self.timeout)
            finally:
                self.conn.block_storage.delete_volume(vol, ignore_missing=True)
                self.conn.block_storage.wait_for_delete(vol, interval=2, wait=self.timeout)
            return "volume created (available) and deleted"

        def volumes():
            return "%d volumes" % len(list(self.conn.block_storage.volumes(all_projects=True)))

        self.check("cinder", "cinder_services", "volume service list", services)
        self.check("cinder", "cinder_volumes", "volume list (all projects)", volumes)
        self.check("cinder", "cinder_volume_create", "volume create and delete", volume, writes=True)

    # -- ironic ------------------------------------------------------------------
    def ironic(self):
        def conductors():
            def probe():
                rows = list(self.conn.baremetal.conductors(details=True))
                return ([] if any(c.alive for c in rows) else ["no conductor alive"]), rows
            try:
                down, rows = self.settled(probe)
            except Exception as exc:  # pylint: disable=broad-except
                # ironic's default policy lets only a system-scoped reader list conductors
                if getattr(exc, "status_code", None) == 403:
                    raise Skipped("the conductor list needs a system-scoped token (baremetal:conductor:get); "
                                  "the node list checks the conductors' work instead")
                raise
            if down:
                raise RuntimeError("no ironic-conductor is alive (%d registered)" % len(rows))
            return "conductors alive: %s" % ", ".join(sorted(c.hostname for c in rows if c.alive))

        def nodes():
            rows = list(self.conn.baremetal.nodes(details=True))
            return ironic_nodes_summary([{"name": n.name or n.id, "provision_state": n.provision_state,
                                          "instance_id": n.instance_id, "last_error": n.last_error}
                                         for n in rows])

        self.check("ironic", "ironic_conductors", "conductor list (microversion 1.49)", conductors)
        self.check("ironic", "ironic_nodes", "node list (the microversion negotiated)", nodes)

    # -- leftovers ---------------------------------------------------------------
    def cleanup(self, components):
        """Remove what an interrupted earlier run left (servers, images, volumes, flavors);
        nothing to do when no check writes."""
        if self.check_mode or self.writes == "skip":
            return []
        removed = []
        steps = []
        if "nova" in components:
            steps.append(("server", lambda: self.conn.compute.servers(all_projects=True, name="^" + PREFIX),
                          lambda s: (self.conn.compute.delete_server(s, ignore_missing=True),
                                     self.conn.compute.wait_for_delete(s, interval=2, wait=self.timeout))))
            steps.append(("flavor", lambda: [f for f in self.conn.compute.flavors() if (f.name or "").startswith(PREFIX)],
                          lambda f: self.conn.compute.delete_flavor(f, ignore_missing=True)))
        if "glance" in components or "nova" in components:
            steps.append(("image", lambda: [i for i in self.conn.image.images() if (i.name or "").startswith(PREFIX)],
                          lambda i: self.conn.image.delete_image(i, ignore_missing=True)))
        if "cinder" in components:
            steps.append(("volume", lambda: [v for v in self.conn.block_storage.volumes(all_projects=True)
                                             if (v.name or "").startswith(PREFIX)],
                          lambda v: (self.conn.block_storage.delete_volume(v, ignore_missing=True),
                                     self.conn.block_storage.wait_for_delete(v, interval=2, wait=self.timeout))))
        for kind, listing, delete in steps:
            try:
                for item in list(listing()):
                    delete(item)
                    removed.append("%s %s" % (kind, item.id))
            except Exception:  # pylint: disable=broad-except
                # a leftover that cannot be listed or removed shows in its check below
                continue
        return removed


def ironic_nodes_summary(nodes):
    """What the node list says: raises naming the nodes in a failed provision state, else
    '<n> nodes: <count> <state>, ...; <m> with an instance'."""
    failed = sorted("%s (%s%s)" % (n["name"], n["provision_state"],
                                   ": " + n["last_error"].splitlines()[0][:200] if n.get("last_error") else "")
                    for n in nodes if n["provision_state"] in IRONIC_FAILED_STATES)
    if failed:
        raise RuntimeError("nodes in a failed state: %s" % ", ".join(failed))
    counts = {}
    for node in nodes:
        counts[node["provision_state"]] = counts.get(node["provision_state"], 0) + 1
    return "%d node%s: %s; %d with an instance" % (
        len(nodes), "" if len(nodes) == 1 else "s",
        ", ".join("%d %s" % (counts[k], k) for k in sorted(counts)) or "none",
        len([n for n in nodes if n.get("instance_id")]))


def failure_sentence(failed, passed, where):
    """One sentence naming the first failed check, how many others failed, and the fix."""
    first = failed[0]
    more = " (and %d more failed check%s)" % (len(failed) - 1, "" if len(failed) == 2 else "s") if len(failed) > 1 else ""
    return ("smoke test of %s failed on %s: %s: %s%s; %d check%s passed; fix the service (its log "
            "names the cause) and run again." % (
                first["component"], where, first["check"], first["detail"], more,
                passed, "" if passed == 1 else "s"))
