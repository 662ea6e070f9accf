"""Release N (2024.1) on the topology ha, deployed with the collection's own roles by
``scripts/lab-up.sh --topology ha`` (lab/playbooks/deploy_ha.yml, then lab/playbooks/vms.yml):
every API, scheduler and conductor on each of ctl1-3, each API on its controller's own
address behind HAProxy on the VIP. Shown, with figures printed and saved:

- a token and a list of each API (keystone, glance, placement, nova, neutron, cinder)
  through the VIP, from the lab's switch (a client none of the controllers), every
  catalogue endpoint on the VIP; the same on each controller's own address, where each API
  listens (and on no wildcard);
- every control service on each controller (nova's and cinder's services up in their
  APIs, cinder-volume with the lab's stand-in driver on each under one backend name), the DHCP agent on net1, an
  OVS agent on net1 and cmp1-4, the computes in az1 and az2;
- an image uploaded through ctl1's glance-api is read back through ctl2's, ctl3's and the
  VIP (the file store is shared, as on NFS);
- the services' queues are quorum queues of the RabbitMQ cluster; keystone's keys the
  same on the three controllers (a token made by one is valid on the others);
- ctl2's APIs stopped: HAProxy marks ctl2 down on every backend and reads through the VIP
  all answer; started again, HAProxy sends ctl2 work again;
- the VMs ping (vms.yml again, changing nothing), and a second run of deploy_ha.yml
  changes nothing; the deploy put no lab secret on any process's argv.

Then (issue 18, proofs 1, 3 and 4) the main job's upgrade_region.yml with
control_plane_strategy rolling, 2024.1 -> 2025.1: each controller in turn drained from
HAProxy, upgraded and put back, with the VMs' probe, the API probe through the VIP (version
documents, and in its authenticated mode a read of every API and a write of neutron, cinder
and glance at 4 Hz) and a reader making a token and a list of every API through the VIP the
whole run; ctl3's
control services SIGKILLed as placement's turn starts; no failed read, no packet lost,
every controller on 2025.1, and a second run changing nothing.

The lab (STACKHOP_HA_REGION_LAB, default ``haregion``) is destroyed at the end unless
STACKHOP_HA_REGION_KEEP=1, which also reuses a kept one whose hosts are up. The rehearsal
``ha-region`` (scripts/rehearse.sh ha-region); 30-50 minutes on two busy cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest
import yaml

from lab.labctl import Lab
from tests.lab.conftest import argv_report_path
from tests.lib.ansible_runner import REPO
from tests.lib.argv_sampler import ArgvSampler, load_lab_secrets
from tests.lib.cp_lab import api_downtime, log, probe_check_figures, report, run_playbook
from tests.lib.lab_logs import keep_logs
from tests.lib.region_lab import RegionLab, failed_tasks, haproxy_stat_rows, kept_lab_is_up, lab_up

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(14000),
              pytest.mark.rehearsal("ha-region")]

LAB = os.environ.get("STACKHOP_HA_REGION_LAB", "haregion")
KEEP = os.environ.get("STACKHOP_HA_REGION_KEEP") == "1"
UP_TIMEOUT = 4800
DEPLOY = REPO / "lab" / "playbooks" / "deploy_ha.yml"
VMS = REPO / "lab" / "playbooks" / "vms.yml"
FIGURES = REPO / "build" / "lab" / "ha-region-figures.json"
CONTROLLERS = ("ctl1", "ctl2", "ctl3")
COMPUTES = ("cmp1", "cmp2", "cmp3", "cmp4")
# HAProxy's backend (the component) -> its port (lab_lb_apis) and the unit serving it
APIS = {"keystone": (5000, "keystone"), "glance": (9292, "glance-api"), "placement": (8778, "placement-api"),
        "nova": (8774, "nova-api"), "neutron": (9696, "neutron-server"), "cinder": (8776, "cinder-api")}
CONTROL_UNITS = ["keystone", "glance-api", "placement-api", "nova-api", "nova-conductor", "nova-scheduler",
                 "neutron-server", "cinder-api", "cinder-scheduler", "cinder-volume"]
# Reads through the VIP while ctl2 is down: rounds of a token and a list of every API.
ROUNDS = 10

# A client of the APIs, run in the lab's switch namespace with the machine's python3: the
# admin password and the addresses on stdin (no secret on an argv).
#   mode read:  ``rounds`` times a token from <address>:5000 and a list of each API at
#               <address> (the catalogue's URLs, their host replaced by <address>)
#   mode cross: a token from <address>, validated by the keystone of each of ``others``
#   mode image: an image uploaded to the glance-api at <address>, read back from each of
#               ``others`` (the sha256 of what each returned), then deleted
CLIENT = r"""
import json, sys, time, urllib.error, urllib.parse, urllib.request
args = json.load(sys.stdin)
LISTS = {"identity": ("/projects", "projects"), "image": ("/v2/images", "images"),
         "placement": ("/resource_providers", "resource_providers"),
         "compute": ("/servers", "servers"), "network": ("/v2.0/networks", "networks"),
         "volumev3": ("/volumes", "volumes")}

def call(url, token=None, body=None, headers=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                 headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    if token:
        req.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.headers, json.loads(resp.read() or b"{}")

def token(address):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": args["password"]}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    _status, headers, doc = call("http://%s:5000/v3/auth/tokens" % address, body=body)
    return headers["X-Subject-Token"], doc["token"]

def on(url, address):
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc="%s:%s" % (address, parts.port)).geturl().rstrip("/")

if args["mode"] == "read":
    rounds = []
    for _ in range(args["rounds"]):
        t0 = time.monotonic()
        result = {"errors": [], "counts": {}, "catalogue_hosts": []}
        try:
            tok, doc = token(args["address"])
            for service in doc["catalog"]:
                for ep in service["endpoints"]:
                    result["catalogue_hosts"].append(urllib.parse.urlsplit(ep["url"]).hostname)
                if service["type"] not in LISTS:
                    continue
                url = [ep["url"] for ep in service["endpoints"] if ep["interface"] == "public"][0]
                path, key = LISTS[service["type"]]
                try:
                    _s, _h, listed = call(on(url, args["address"]) + path, tok)
                    result["counts"][service["type"]] = len(listed[key])
                except Exception as exc:  # one API's failure, told in the result
                    result["errors"].append("%s: %s" % (service["type"], exc))
        except Exception as exc:  # the token's
            result["errors"].append("token: %s" % exc)
        result["seconds"] = round(time.monotonic() - t0, 3)
        rounds.append(result)
    print(json.dumps(rounds))
elif args["mode"] == "image":
    import hashlib, os
    tok, _doc = token(args["address"])
    glance = "http://%s:9292/v2/images" % args["address"]
    _s, _h, image = call(glance, tok, {"name": "ha-shared-store", "disk_format": "raw",
                                       "container_format": "bare"})
    data = os.urandom(65536)
    req = urllib.request.Request("%s/%s/file" % (glance, image["id"]), data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream", "X-Auth-Token": tok})
    urllib.request.urlopen(req, timeout=30).read()
    read = {}
    for other in args["others"]:
        req = urllib.request.Request("http://%s:9292/v2/images/%s/file" % (other, image["id"]),
                                     headers={"X-Auth-Token": tok})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                read[other] = hashlib.sha256(resp.read()).hexdigest()
        except urllib.error.HTTPError as exc:
            read[other] = "HTTP %d" % exc.code
    urllib.request.urlopen(urllib.request.Request("%s/%s" % (glance, image["id"]), method="DELETE",
                                                  headers={"X-Auth-Token": tok}), timeout=30).read()
    print(json.dumps({"uploaded": hashlib.sha256(data).hexdigest(), "read": read}))
else:
    tok, _doc = token(args["address"])
    valid = {}
    for other in args["others"]:
        try:
            status, _h, _d = call("http://%s:5000/v3/auth/tokens" % other, tok, headers={"X-Subject-Token": tok})
            valid[other] = status
        except urllib.error.HTTPError as exc:
            valid[other] = exc.code
    print(json.dumps(valid))
"""


def save_figures(key, data):
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    doc.setdefault("ha_region", {})[key] = data
    FIGURES.write_text(json.dumps(doc, indent=1, sort_keys=True))


@pytest.fixture(scope="module")
def ha(lab_base, request):
    """The topology ha with release N deployed and the VMs pinging (scripts/lab-up.sh
    --topology ha), under the argv sampler."""
    lab = Lab(LAB)
    reused = KEEP and kept_lab_is_up(LAB)
    argv_report = argv_report_path(LAB, "deploy")
    took = 0.0
    if not reused:
        argv_report.parent.mkdir(parents=True, exist_ok=True)
        sampler = ArgvSampler(load_lab_secrets(), lab=LAB)
        took = lab_up(LAB, ["--topology", "ha"], timeout=UP_TIMEOUT, keep=KEEP, sampler=sampler)
        sampler.write(argv_report)
        print("\nlab %s: the topology ha with 2024.1 and its VMs up in %.0f s" % (LAB, took))
        save_figures("lab_up_s", round(took))
    region = RegionLab(LAB, owned=not KEEP, seconds=took)
    region.reused = reused
    region.argv_report = argv_report
    region.vip = region.hostvars["ctl1"]["lab_lb_vip"]
    region.address = {h: region.hostvars[h]["ansible_host"] for h in region.hostvars}
    yield region
    pss = lab.status()["pss_kib"] if lab.state() else 0
    print("\nlab %s: its processes held %.0f MiB (PSS)" % (LAB, pss / 1024))
    save_figures("pss_mib", round(pss / 1024))
    if not KEEP:
        keep_logs(LAB, request.session)
        lab.destroy()


def read_apis(ha, address, rounds=1):
    """Rounds of a token and a list of each API at ``address``, from the lab's switch."""
    stdin = json.dumps({"mode": "read", "address": address, "rounds": rounds,
                        "password": load_lab_secrets()["stackhop_admin_password"]})
    proc = subprocess.run(["ip", "netns", "exec", Lab(LAB).switch, "/usr/bin/python3", "-c", CLIENT],
                          input=stdin, capture_output=True, text=True, timeout=60 + 60 * rounds, check=True)
    return json.loads(proc.stdout)


def openstack(ha, *argv):
    """The release venv's CLI on ctl1 (its clouds.yaml's lab-admin), JSON out."""
    out = ha.exec("ctl1", "env", "OS_CLOUD=lab-admin", "/opt/stackhop/venvs/2024.1/bin/openstack",
                  *argv, "-f", "json").stdout
    return json.loads(out)


def vip_holder(ha):
    holders = [h for h in CONTROLLERS if ha.vip in ha.addresses(h)]
    assert len(holders) == 1, "one holder of the VIP, not %s" % holders
    return holders[0]


def haproxy_servers(ha, host):
    """{(backend, server): {'status': ..., 'stot': sessions}} of the API backends, from
    HAProxy's runtime API on ``host``."""
    return {(r["pxname"], r["svname"]): {"status": r["status"], "stot": int(r["stot"] or 0)}
            for r in haproxy_stat_rows(ha, host) if r["pxname"] in APIS and r["svname"] in CONTROLLERS}


def wait_status(ha, host, server, wanted, timeout=60):
    """Seconds until every API backend's ``server`` has ``wanted`` status on ``host``'s HAProxy."""
    t0 = time.monotonic()
    while True:
        state = haproxy_servers(ha, host)
        if all(state[(b, server)]["status"] == wanted for b in APIS):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError("%s not %s on every backend after %d s: %s" % (server, wanted, timeout, state))
        time.sleep(0.5)


def test_the_deploy_put_no_secret_on_an_argv(ha):
    if ha.reused:
        pytest.skip("a kept lab: its deploy was sampled when it ran")
    report = json.loads(ha.argv_report.read_text())
    print("\ndeploy: %d passes over every process's argv, %d with a secret"
          % (report["samples"], len(report["hits"])))
    assert report["samples"] > 10 and not report["hits"], report["hits"][:5]


def test_a_token_and_a_list_of_each_api_through_the_vip(ha):
    result = read_apis(ha, ha.vip)[0]
    print("\nthrough the VIP %s: %.2f s, listed %s; catalogue hosts %s"
          % (ha.vip, result["seconds"], result["counts"], sorted(set(result["catalogue_hosts"]))))
    assert not result["errors"], result["errors"]
    assert sorted(result["counts"]) == sorted(["identity", "image", "placement", "compute", "network", "volumev3"])
    assert set(result["catalogue_hosts"]) == {ha.vip}, "every endpoint on the VIP"
    assert result["counts"]["compute"] >= 2 and result["counts"]["placement"] == len(COMPUTES)


def test_each_api_answers_on_each_controller_and_listens_there_only(ha):
    for host in CONTROLLERS:
        result = read_apis(ha, ha.address[host])[0]
        listening = ha.exec(host, "ss", "-Htln").stdout.split("\n")
        local = {port: sorted({line.split()[3].rsplit(":", 1)[0] for line in listening
                               if line.split() and line.split()[3].rsplit(":", 1)[-1] == str(port)})
                 for port, _unit in APIS.values()}
        print("\n%s (%s): listed %s in %.2f s; listening %s"
              % (host, ha.address[host], result["counts"], result["seconds"], local), end="")
        assert not result["errors"] and len(result["counts"]) == len(APIS), result["errors"]
        # its own address (the API) and the VIP (HAProxy, on every controller): no wildcard
        assert all(addrs == sorted([ha.address[host], ha.vip]) for addrs in local.values()), local


def test_every_control_service_runs_on_each_controller(ha):
    for host in CONTROLLERS:
        states = ha.exec(host, "systemctl", "is-active", *CONTROL_UNITS, check=False).stdout.split()
        assert states == ["active"] * len(CONTROL_UNITS), (host, dict(zip(CONTROL_UNITS, states)))
    nova = openstack(ha, "compute", "service", "list")
    cinder = openstack(ha, "volume", "service", "list")
    agents = openstack(ha, "network", "agent", "list")
    by = {}
    for row in nova:
        by.setdefault(row["Binary"], []).append((row["Host"], row["State"], row.get("Zone")))
    for row in cinder:
        by.setdefault(row["Binary"], []).append((row["Host"], row["State"], row.get("Zone")))
    for row in agents:
        by.setdefault(row["Binary"], []).append((row["Host"], ":-)" if row["Alive"] in (True, ":-)") else "XXX"))
    for binary, rows in sorted(by.items()):
        print("\n%s: %s" % (binary, sorted(rows)), end="")
    for binary in ("nova-conductor", "nova-scheduler", "cinder-scheduler"):
        assert sorted(by[binary]) == [(h, "up", by[binary][0][2]) for h in CONTROLLERS], by[binary]
    # one backend name for the three cinder-volume services (backend_host, a shared backend)
    assert sorted(h for h, state, _z in by["cinder-volume"] if state == "up") == ["cinder@fake"]
    zones = {h: z for h, state, z in by["nova-compute"] if state == "up"}
    assert zones == {"cmp1": "az1", "cmp3": "az1", "cmp2": "az2", "cmp4": "az2"}
    assert by["neutron-dhcp-agent"] == [("net1", ":-)")]
    assert sorted(by["neutron-openvswitch-agent"]) == [(h, ":-)") for h in sorted(("net1",) + COMPUTES)]


def test_the_services_queues_are_quorum_queues_of_the_cluster(ha):
    queues = json.loads(ha.exec("ctl1", "rabbitmqctl", "list_queues", "name", "type", "members",
                                "--formatter", "json").stdout)
    # the shared queues (not a process's own reply_ and _fanout_ queues, classic by design)
    shared = {q["name"]: q for q in queues if not q["name"].startswith("reply_") and "_fanout_" not in q["name"]}
    kinds = {}
    for queue in shared.values():
        kinds.setdefault(queue["type"], []).append(queue["name"])
    print("\n%d queues; the shared ones by type: %s" % (len(queues), {k: sorted(v) for k, v in kinds.items()}))
    for name in ("conductor", "scheduler", "cinder-scheduler", "q-plugin", "compute"):
        assert name in shared, "queue %s" % name
    assert set(kinds) == {"quorum"}
    assert all(len(q["members"]) == 3 for q in shared.values())


def test_keystone_has_the_same_keys_on_each_controller(ha):
    sums = {h: ha.exec(h, "sh", "-c", "cd /etc/keystone && sha256sum fernet-keys/* credential-keys/*").stdout
            for h in CONTROLLERS}
    stdin = json.dumps({"mode": "cross", "address": ha.address["ctl1"],
                        "others": [ha.address[h] for h in ("ctl2", "ctl3")],
                        "password": load_lab_secrets()["stackhop_admin_password"]})
    valid = json.loads(subprocess.run(["ip", "netns", "exec", Lab(LAB).switch, "/usr/bin/python3", "-c", CLIENT],
                                      input=stdin, capture_output=True, text=True, timeout=60, check=True).stdout)
    print("\nkeys: %d files on each controller, the same: %s; ctl1's token validated by %s"
          % (len(sums["ctl1"].splitlines()), len(set(sums.values())) == 1, valid))
    assert len(sums["ctl1"].splitlines()) >= 4 and len(set(sums.values())) == 1
    assert set(valid.values()) == {200}


def test_an_image_uploaded_through_one_glance_is_read_through_the_others(ha):
    """glance's file store is shared (lab_shared_dirs, the stand-in for an NFS share), and
    each controller's glance user has the same uid, as a shared file store needs."""
    stdin = json.dumps({"mode": "image", "address": ha.address["ctl1"],
                        "others": [ha.address[h] for h in ("ctl2", "ctl3")] + [ha.vip],
                        "password": load_lab_secrets()["stackhop_admin_password"]})
    result = json.loads(subprocess.run(["ip", "netns", "exec", Lab(LAB).switch, "/usr/bin/python3", "-c", CLIENT],
                                       input=stdin, capture_output=True, text=True, timeout=120,
                                       check=True).stdout)
    uids = {h: ha.exec(h, "id", "-u", "glance").stdout.strip() for h in CONTROLLERS}
    print("\nglance: uploaded through ctl1, read through ctl2, ctl3 and the VIP: %s; glance's uid %s"
          % (result["read"], uids))
    assert set(result["read"].values()) == {result["uploaded"]}, result
    assert len(set(uids.values())) == 1, uids


def test_reads_through_the_vip_answer_while_ctl2s_apis_are_stopped(ha):
    holder = vip_holder(ha)
    units = [unit for _port, unit in APIS.values()]
    assert wait_status(ha, holder, "ctl2", "UP") >= 0
    t0 = time.monotonic()
    ha.exec("ctl2", "systemctl", "stop", *units)
    try:
        wait_status(ha, holder, "ctl2", "DOWN")
        down_s = time.monotonic() - t0   # from the stop's start: HAProxy's checks (inter 2s, fall 5)
        before = haproxy_servers(ha, holder)
        rounds = read_apis(ha, ha.vip, ROUNDS)
        during = haproxy_servers(ha, holder)
    finally:
        t_start = time.monotonic()
        ha.exec("ctl2", "systemctl", "start", *units)
    wait_status(ha, holder, "ctl2", "UP", timeout=180)
    up_s = time.monotonic() - t_start   # from the start's start: the units up, then two checks
    after_rounds = read_apis(ha, ha.vip, 3)
    after = haproxy_servers(ha, holder)
    errors = [e for r in rounds for e in r["errors"]]
    served = {b: {h: during[(b, h)]["stot"] - before[(b, h)]["stot"] for h in CONTROLLERS} for b in APIS}
    back = {b: after[(b, "ctl2")]["stot"] - during[(b, "ctl2")]["stot"] for b in APIS}
    figures = {"ctl2_down_after_s": round(down_s, 1), "ctl2_up_after_s": round(up_s, 1),
               "rounds": len(rounds), "errors": len(errors),
               "round_s": sorted(r["seconds"] for r in rounds)}
    save_figures("ctl2_stopped", figures)
    print("\nVIP held by %s; ctl2's APIs stopped: DOWN on every backend after %.1f s; %d rounds of a token "
          "and six lists through the VIP, %d errors (%.2f-%.2f s a round); sessions per server meanwhile %s;\n"
          "started again: UP after %.1f s, its sessions since %s"
          % (holder, down_s, len(rounds), len(errors), min(figures["round_s"]), max(figures["round_s"]),
             served, up_s, back))
    assert not errors, errors[:5]
    assert all(served[b]["ctl2"] == 0 for b in APIS)
    assert not [e for r in after_rounds for e in r["errors"]]
    # keystone's, at least: every round asks for a token, round robin over three servers
    assert back["keystone"] > 0


def test_the_vms_ping_and_vms_yml_changes_nothing(ha):
    t0 = time.monotonic()
    proc, doc = ha.playbook(VMS)
    assert proc.returncode == 0, failed_tasks(doc) or proc.stderr[-3000:]
    pings = [res for play in doc["plays"] for task in play["tasks"] if "Ping" in task["task"]["name"]
             for res in task["hosts"].values()]
    changed = {h: s["changed"] for h, s in doc["stats"].items()}
    print("\nvms.yml again: %.0f s, changed %s, %d pings between the VMs"
          % (time.monotonic() - t0, changed, sum(len(r.get("results", [])) for r in pings)))
    assert pings and all(not r.get("failed") for r in pings)
    assert set(changed.values()) == {0}


def test_a_second_run_of_the_deploy_changes_nothing(ha):
    t0 = time.monotonic()
    proc, doc = ha.playbook(DEPLOY, timeout=3600)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, failed_tasks(doc) or proc.stderr[-3000:]
    changed = {h: s["changed"] for h, s in doc["stats"].items()}
    save_figures("second_deploy", {"seconds": round(seconds), "changed": sum(changed.values())})
    print("\nsecond run of deploy_ha.yml: %.0f s, changed %s" % (seconds, changed))
    which = [(task["task"]["name"], h) for play in doc["plays"] for task in play["tasks"]
             for h, res in task["hosts"].items() if res.get("changed")]
    assert set(changed.values()) == {0}, which[:20]


# --- The rolling upgrade of the HA control plane (issue 18, proofs 1, 3 and 4) ----------
# upgrade_region.yml with control_plane_strategy rolling, 2024.1 -> 2025.1: every
# controller in turn drained from HAProxy, upgraded and put back; the VMs' probe and the
# API probe (each API's version document through the VIP at 4 Hz) from before to after;
# a reader making a token and a list of every API through the VIP in a loop, the whole
# run; ctl3's control services SIGKILLed as placement's turn starts (systemd starts them
# again after 5 s); then a second run, which must change nothing.
ROLLING_ID = "ha-2024.1-to-2025.1-rolling"
ROLLING_REPORT = REPO / "build" / "reports" / ROLLING_ID
TARGET = "2025.1"
UPGRADE = REPO / "lab" / "playbooks" / "upgrade_region.yml"
PROBE = REPO / "lab" / "playbooks" / "probe.yml"
ACKS = REPO / "lab" / "inventory" / "acknowledgements-2025.1.yml"
KILLED = "ctl3"
WRITES = ["neutron", "cinder", "glance"]
READER_PAUSE = 10.0


def _rolling_vars():
    extra = yaml.safe_load(ACKS.read_text()) or {}
    extra.update({"stackhop_target_release": TARGET, "stackhop_control_plane_strategy": "rolling",
                  "stackhop_upgrade_id": ROLLING_ID, "stackhop_approval": "auto",
                  "control_plane_api_probe": True,
                  # and a read of each API and a write of neutron, cinder and glance
                  # through the VIP (the catalogue's endpoints), besides the version documents
                  "api_probe_mode": "authenticated", "api_probe_writes": WRITES,
                  # A poll fails when it errors or has no answer within an API client's
                  # patience (30 s; HAProxy's own server timeout is 50 s). With 5 s, session
                  # 29's run counted only timeouts and no error, 88 of them in the 90 s before
                  # any node moved: eight lab hosts and three controllers' services on two
                  # cores answered slowly (load average 20), so a 5 s bound measured the
                  # machine, not the drain. At 2 Hz the probe itself adds half the load of 4 Hz.
                  "api_probe_hz": 2, "api_probe_timeout": 30.0,
                  "api_probe_read_timeout": 30.0, "api_probe_write_timeout": 30.0,
                  # tempest before and after is the rehearsals tempest's and region-in-place's
                  # proof; here its smoke runs cost about 20 min of a run that must fit a
                  # session, and loaded the cores while the probe measured
                  "verify_tempest": False})
    return extra


class Reader(threading.Thread):
    """read_apis through the VIP, round after round, until stopped: every error kept."""

    def __init__(self, ha):
        super().__init__(daemon=True)
        self.ha, self.stop_flag = ha, threading.Event()
        self.rounds, self.errors, self.longest = 0, [], 0.0

    def run(self):
        while not self.stop_flag.is_set():
            try:
                for result in read_apis(self.ha, self.ha.vip, rounds=5):
                    self.rounds += 1
                    self.longest = max(self.longest, result["seconds"])
                    self.errors += [(time.strftime("%H:%M:%S"), e) for e in result["errors"]]
            except Exception as exc:  # pylint: disable=broad-except
                self.errors.append((time.strftime("%H:%M:%S"), "reader: %s" % exc))
            # a user's pace, not a load test: the API probe polls every API besides
            self.stop_flag.wait(READER_PAUSE)


def _kill_controller(ha, host):
    """SIGKILL every control service of ``host`` (systemd's Restart=on-failure starts them again)."""
    ha.exec(host, "systemctl", "kill", "--signal=KILL", *CONTROL_UNITS, check=False)
    log("killed the control services of %s with SIGKILL" % host)
    KILLS.append(time.strftime("%H:%M:%S"))


KILLS = []


@pytest.fixture(scope="module")
def rolled(ha):
    assert run_playbook(ha, PROBE, "ha-probe-start", {"lab_probe_action": "start", "lab_probe_reset": True}).rc == 0
    reader = Reader(ha)
    reader.start()
    time.sleep(5)
    # session 31's run: 7 min of staging and checks, 110 min of control plane, then the computes
    # (a 7000 s bound killed it in cinder's turn)
    run = run_playbook(ha, UPGRADE, "ha-rolling", _rolling_vars(), report_dir=ROLLING_REPORT, timeout=12000,
                       triggers=[(r"placement: one at a time", lambda: _kill_controller(ha, KILLED))])
    reader.stop_flag.set()
    reader.join(300)
    assert run_playbook(ha, PROBE, "ha-probe-report", {"lab_probe_action": "report"}).rc == 0
    probe = json.loads((REPO / "build" / "lab" / "probe-report.json").read_text())
    api = {e["service"]: e for e in report(ROLLING_REPORT).get("api") or []}
    figures = {"rc": run.rc, "seconds": round(run.seconds), "api_down_s": api_downtime(ROLLING_REPORT),
               "api_reads": {s: probe_check_figures(api.get(s, {}).get("reads")) for s in APIS},
               "api_writes": {s: probe_check_figures(api.get(s, {}).get("writes")) for s in WRITES},
               "reads": {"rounds": reader.rounds, "errors": reader.errors[:20], "longest_round_s": reader.longest},
               "killed": {"host": KILLED, "at": KILLS}, "vm_icmp": probe.get("icmp"), "vm_tcp": probe.get("tcp"),
               "log": str(run.log)}
    save_figures("rolling", figures)
    log("rolling 2024.1 -> 2025.1: %s" % json.dumps(figures, indent=1))
    return run, probe, reader, figures


def test_rolling_upgrade_fails_no_api_read_and_loses_no_packet(rolled):
    run, probe, reader, figures = rolled
    assert run.rc == 0, run.text[-6000:]
    assert KILLS, "the kill of %s never ran: its trigger line was not printed" % KILLED
    assert probe["icmp"]["sent"] > 1000 and probe["icmp"]["lost"] == 0, probe["icmp"]
    assert probe["tcp"]["resets"] == 0 and probe["tcp"]["reconnects"] == 0, probe["tcp"]
    # the API probe's version documents through the VIP: no failed poll for any service
    assert set(figures["api_down_s"]) >= set(APIS), figures["api_down_s"]
    assert all(v[0] == 0 for v in figures["api_down_s"].values()), figures["api_down_s"]
    # a token and a list of every API through the VIP, the whole run
    assert reader.rounds > 50 and reader.errors == [], reader.errors[:10]


def test_the_authenticated_probe_failed_no_read_and_counts_the_writes(rolled):
    """Proof 1's reads and writes at 4 Hz through the VIP: no failed read of any service;
    the writes' failures and longest window per service are figures (goal 0)."""
    _run, _probe, _reader, figures = rolled
    reads, writes = figures["api_reads"], figures["api_writes"]
    print("\nauthenticated reads: %s\nwrites: %s" % (json.dumps(reads), json.dumps(writes)))
    assert all(reads.get(s) for s in APIS), reads
    assert all(r["calls"] > 1000 and r["failed"] == 0 for r in reads.values()), reads
    assert all(writes.get(s) and writes[s]["created"] > 20 and not writes[s]["leftovers"]
               for s in WRITES), writes


def test_every_controller_runs_the_target(rolled, ha):
    for host in CONTROLLERS:
        for unit in CONTROL_UNITS:
            exec_start = ha.exec(host, "systemctl", "show", "-p", "ExecStart", "--value",
                                 unit if unit != "neutron-server" else "neutron-api").stdout
            assert "/opt/stackhop/venvs/%s/" % TARGET in exec_start, (host, unit, exec_start[:200])


def test_a_second_rolling_run_changes_nothing(rolled, ha):
    run = run_playbook(ha, UPGRADE, "ha-rolling-again", _rolling_vars(), report_dir=ROLLING_REPORT, timeout=5000)
    assert run.rc == 0, run.text[-6000:]
    changed = {h: v for h, v in run.changed().items() if v}
    save_figures("rolling_again", {"rc": run.rc, "seconds": round(run.seconds), "changed": changed})
    assert not changed, changed
