"""stackhop lab: many isolated Debian hosts on one machine, reachable by Ansible over SSH.

One implementation used by molecule, pytest and the README's main command alike::

    labctl.py create  --lab NAME --inventory FILE   # build (or reuse) the base, start hosts
    labctl.py status  --lab NAME                    # JSON; exit 0 when every host is up
    labctl.py destroy --lab NAME                    # leaves no netns, mount, veth or process
    labctl.py ssh-config --lab NAME                 # path of the lab's ssh_config
    labctl.py inventory  --lab NAME                 # path of the generated Ansible inventory
    labctl.py exec --lab NAME --host H -- CMD...    # run CMD inside host H (all its namespaces)
    labctl.py ovs-start --lab NAME --host H         # start Open vSwitch inside host H
    labctl.py connection-vars --lab NAME            # Ansible vars reaching the lab (JSON)
    labctl.py base                                  # only build the cached base
    labctl.py fleet-inventory --lab NAME --computes N --out FILE   # the lab region with N
                                                    # computes over AZs and racks (no root)

Design (see lab/README.md):

* a cached ``debootstrap --variant=minbase bookworm`` base, built once per machine under
  ``/var/cache/stackhop/lab-base-<hash>`` (flock + completion marker);
* per host: a network namespace ``<lab>-<host>``, an overlayfs root (upper/work per host)
  mounted inside the host's own private mount namespace (so it vanishes with the host),
  ``unshare --mount --uts --ipc --pid --fork --kill-child`` + ``chroot ROOT sshd -D``, or
  ``systemd-nspawn -b`` on the same root and netns for hosts with ``lab_systemd: true``;
* a switch namespace ``<lab>-sw`` with bridge ``br-mgmt`` (management, the controller
  reaches it through ``ip netns exec <lab>-sw socat STDIO TCP:%h:%p``) and bridge
  ``br-prov`` (VLAN trunk, vlan_filtering, VLANs 1-4094) for hosts with
  ``lab_provider: true``: their ``eth1`` is a trunk port an OVS physical bridge can use;
* apt inside hosts goes through a relay: a socat in the switch namespace on the gateway
  address port 80 -> unix socket -> socat in the root namespace -> the machine's own
  Debian mirror (from /etc/apt/sources.list*), nothing else; hosts resolve the mirror's
  name to the gateway through /etc/hosts.

Every object is named from the lab name, so labs with different names live side by side.
Lab names: ``[a-z][a-z0-9]{0,11}`` (no dash, so no lab's names are a prefix of another's).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - JSON inventories still work
    yaml = None

PRIVATE_MODE = 0o700   # the lab's state dir and host dirs: root only
STATE_ROOT = Path(os.environ.get("STACKHOP_LAB_STATE", "/var/lib/stackhop-lab"))
CACHE_ROOT = Path(os.environ.get("STACKHOP_LAB_CACHE", "/var/cache/stackhop"))
SUITE = "bookworm"
# What a managed host needs: Python for Ansible, sshd, iproute2, ping/ps for tests,
# Open vSwitch (25 MB, measured: cheaper once in the base than apt per host) and
# systemd for the hosts booted with systemd-nspawn.
BASE_PACKAGES = ("python3", "openssh-server", "iproute2", "iputils-ping", "procps",
                 "openvswitch-switch", "systemd-sysv", "dbus", "less", "ca-certificates")
BASE_RECIPE = "3"  # bump when the base's post-processing changes
LAB_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
HOST_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
MGMT_IF = "eth0"
PROV_IF = "eth1"
SSHD_PORT = 22
# Where NSPAWN_INIT gives each systemd host its own cgroup (cgroup v1's name=systemd and
# v2's hierarchy, hybrid or unified), under stackhop-lab/<netns>.
CGROUP_HIERARCHIES = ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup")
SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=60s"

# PID 1 of an sshd host: mounts its overlay root, /proc, /sys, /dev, /run inside its own
# mount namespace (all vanish when the host's PID namespace dies), then becomes sshd.
HOST_INIT = r"""
set -eu
R=$1 LOWER=$2 UP=$3 WORK=$4 H=$5
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UP,workdir=$WORK" "$R"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs "$R/sys"
mount -t tmpfs -o nosuid,mode=0755,size=16m tmpfs "$R/dev"
mknod -m 666 "$R/dev/null" c 1 3
mknod -m 666 "$R/dev/zero" c 1 5
mknod -m 666 "$R/dev/full" c 1 7
mknod -m 666 "$R/dev/random" c 1 8
mknod -m 666 "$R/dev/urandom" c 1 9
mknod -m 666 "$R/dev/tty" c 5 0
mkdir -p "$R/dev/pts" "$R/dev/shm" "$R/dev/net" "$R/dev/mqueue"
mknod -m 666 "$R/dev/net/tun" c 10 200
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$R/dev/shm"
mount -t tmpfs -o nosuid,nodev,mode=0755,size=256m tmpfs "$R/run"
mkdir -p "$R/run/sshd" "$R/run/lock" "$R/run/openvswitch"
shift 5
for bind in "$@"; do   # SRC:DST, a directory the lab's hosts share (lab_shared_dirs)
  mkdir -p "$R${bind#*:}"
  mount --bind "${bind%%:*}" "$R${bind#*:}"
done
hostname "$H"
exec chroot "$R" /usr/sbin/sshd -D -e
"""

# Same root and netns, booted by systemd: the overlay lives in a private mount namespace.
NSPAWN_INIT = r"""
set -eu
R=$1 LOWER=$2 UP=$3 WORK=$4 H=$5 NETNS=$6 MACHINE=$7
shift 7   # what is left: --bind=SRC:DST, a directory the lab's hosts share (lab_shared_dirs)
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UP,workdir=$WORK" "$R"
# A cgroup of its own per host: nspawn puts the container in <its cgroup>/payload, and on a
# machine with no service manager every nspawn starts in the root cgroup, so all hosts
# shared /payload: one host's systemd stopping mariadb.service cleaned the cgroup another's
# was starting in (exit 219/CGROUP, Galera's bootstrap failed now and then). Where this
# process already sits in a service manager's cgroup, nothing is moved.
own_cgroup() {
  mkdir -p "$1/stackhop-lab/$MACHINE" && echo $$ >"$1/stackhop-lab/$MACHINE/cgroup.procs"
}
if grep -qx '[0-9]*:name=systemd:/' /proc/self/cgroup && [ -f /sys/fs/cgroup/systemd/cgroup.procs ]; then
  own_cgroup /sys/fs/cgroup/systemd
fi
if grep -qx '0::/' /proc/self/cgroup; then
  for hier in /sys/fs/cgroup/unified /sys/fs/cgroup; do
    if [ -f "$hier/cgroup.procs" ]; then own_cgroup "$hier"; break; fi
  done
fi
# /proc/sys/net writable: it is the host's own netns (neutron sets sysctls in its netns).
export SYSTEMD_NSPAWN_API_VFS_WRITABLE=network
exec systemd-nspawn --quiet --boot --directory="$R" --machine="$MACHINE" --hostname="$H" \
  --register=no --keep-unit --network-namespace-path="/run/netns/$NETNS" \
  --capability=all --bind=/dev/net/tun --console=read-only \
  --property=DeviceAllow="/dev/net/tun rwm" "$@"
"""

# Open vSwitch with the Debian default paths inside a host, userspace datapath only
# (bridges need datapath_type=netdev). Idempotent.
OVS_START = r"""
set -eu
H=$1
mkdir -p /var/run/openvswitch /var/log/openvswitch /etc/openvswitch
if ! ovs-appctl -t ovsdb-server version >/dev/null 2>&1; then
  [ -s /etc/openvswitch/conf.db ] || \
    ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
  ovsdb-server /etc/openvswitch/conf.db --remote=punix:/var/run/openvswitch/db.sock \
    --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
    --pidfile --detach --log-file
fi
ovs-vsctl --no-wait init
ovs-vsctl --no-wait set Open_vSwitch . external_ids:hostname="$H" external_ids:system-id="$H"
if ! ovs-appctl -t ovs-vswitchd version >/dev/null 2>&1; then
  ovs-vswitchd --pidfile --detach --log-file
fi
ovs-vsctl --timeout=20 show >/dev/null
"""

OVS_SYSTEMD = r"""
set -eu
H=$1
systemctl unmask --quiet openvswitch-switch.service ovsdb-server.service ovs-vswitchd.service
systemctl start openvswitch-switch.service
ovs-vsctl --timeout=20 set Open_vSwitch . external_ids:hostname="$H" external_ids:system-id="$H"
ovs-vsctl --timeout=20 show >/dev/null
"""

# Runs inside the switch namespace: wait until every host's sshd answers with its banner.
WAIT_SSH = r"""
import socket, sys, time
targets = sys.argv[2:]
deadline = time.time() + float(sys.argv[1])
pending = set(targets)
while pending and time.time() < deadline:
    for ip in sorted(pending):
        try:
            with socket.create_connection((ip, 22), timeout=1) as s:
                s.settimeout(2)
                if s.recv(4).startswith(b"SSH-"):
                    pending.discard(ip)
        except OSError:
            pass
    if pending:
        time.sleep(0.1)
print(" ".join(sorted(pending)))
sys.exit(1 if pending else 0)
"""


# Every systemd host (systemd-nspawn -b) takes several inotify instances of root's; the
# kernel's default of 128 runs out at about five four-host labs ("Failed to allocate
# manager object: Too many open files" from the host's PID 1).
INOTIFY_INSTANCES = 1024


def raise_inotify_instances(log):
    path = "/proc/sys/fs/inotify/max_user_instances"
    try:
        with open(path) as f:
            if int(f.read()) >= INOTIFY_INSTANCES:
                return
        with open(path, "w") as f:
            f.write("%d\n" % INOTIFY_INSTANCES)
        print("labctl: fs.inotify.max_user_instances raised to %d" % INOTIFY_INSTANCES, file=log)
    except OSError as exc:
        print("labctl: cannot raise fs.inotify.max_user_instances: %s" % exc, file=log)


class LabError(Exception):
    """One sentence naming the object and the fix."""


# -- small helpers ---------------------------------------------------------------------
def run(argv, check=True, input=None, env=None, timeout=600):
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          input=input, env=env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise LabError("command %s failed (rc %d): %s" % (
            " ".join(str(a) for a in argv), proc.returncode,
            (proc.stderr or proc.stdout).strip()[-2000:]))
    return proc


def ip(*args, ns=None, check=True):
    return run(["ip"] + (["-n", ns] if ns else []) + list(args), check=check)


def netns_list():
    out = run(["ip", "-j", "netns", "list"], check=False).stdout.strip()
    return [n["name"] for n in json.loads(out or "[]")]


def netns_pids(ns):
    proc = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in proc.stdout.split()] if proc.returncode == 0 else []


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def ancestors():
    """This process and its parents, which destroy must never kill."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def spawn_detached(argv, log):
    """Start argv in its own session, not our child (no zombie), return its pid."""
    proc = subprocess.run(
        ["/bin/sh", "-c", 'setsid "$@" </dev/null >>"$LABLOG" 2>&1 & echo $!', "spawn"]
        + [str(a) for a in argv],
        capture_output=True, text=True, env=dict(os.environ, LABLOG=str(log)), check=True)
    return int(proc.stdout.strip())


def pss_kib(pid):
    """Proportional set size: shared pages (the base's libraries) counted once overall."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def flock(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_structured(path):
    text = Path(path).read_text()
    if yaml is not None:
        return yaml.safe_load(text) or {}
    return json.loads(text)


def dump_structured(path, data):
    text = (yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
            if yaml is not None else json.dumps(data, indent=2))
    Path(path).write_text(text)


# -- the machine's Debian mirror -------------------------------------------------------
def apt_mirror():
    """(host, port, debian path) of the http mirror this machine's apt uses for Debian."""
    files = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        for m in re.finditer(r"(?:^deb\s+(?:\[[^\]]*\]\s+)?|^URIs:\s*)(http://[^\s]+)", text, re.M):
            uri = m.group(1)
            rest = uri[len("http://"):]
            hostport, path = (rest.split("/", 1) + [""])[:2]
            if path.rstrip("/") == "debian" or path.rstrip("/").endswith("/debian"):
                host, port = (hostport.split(":", 1) + [""])[:2]
                return host, int(port or 80), "/" + path.rstrip("/")
    raise LabError("no http Debian mirror found in /etc/apt/sources.list*; "
                   "add one (deb http://deb.debian.org/debian bookworm main) and retry")


# -- the cached base -------------------------------------------------------------------
def base_dir():
    host, port, path = apt_mirror()
    key = json.dumps([SUITE, sorted(BASE_PACKAGES), BASE_RECIPE, host, port, path])
    return CACHE_ROOT / ("lab-base-%s" % hashlib.sha256(key.encode()).hexdigest()[:12])


def ensure_base(log=sys.stderr):
    """Build the debootstrap base once per machine (flock + completion marker)."""
    base = base_dir()
    marker = base / ".stackhop-complete"
    if marker.exists():
        return base
    with flock(base.with_name(base.name + ".lock")):
        if marker.exists():
            return base
        host, port, path = apt_mirror()
        mirror = "http://%s%s%s" % (host, "" if port == 80 else ":%d" % port, path)
        tmp = base.with_name(base.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
        t0 = time.time()
        print("lab: building base %s from %s (once per machine)" % (base, mirror), file=log)
        run(["debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_PACKAGES),
             SUITE, tmp, mirror], timeout=1800)
        root = tmp
        (root / "etc/apt/sources.list").write_text(
            "deb {m} {s} main\ndeb {m} {s}-updates main\n"
            "deb {sec} {s}-security main\n".format(
                m=mirror, s=SUITE, sec=mirror.replace("/debian", "/debian-security")))
        (root / "etc/apt/apt.conf.d/90stackhop-lab").write_text(
            'Acquire::Languages "none";\nAPT::Install-Recommends "false";\n'
            'Acquire::Retries "3";\n')
        # Packages installed into a running sshd host must not try to start services.
        prc = root / "usr/sbin/policy-rc.d"
        prc.write_text("#!/bin/sh\n# stackhop lab: no init system runs services here\nexit 101\n")
        prc.chmod(0o755)
        (root / "etc/ssh/sshd_config.d/stackhop-lab.conf").write_text(
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n"
            "MaxStartups 100:30:200\nMaxSessions 100\n")
        (root / "etc/machine-id").write_text("")
        with contextlib.suppress(FileNotFoundError):
            (root / "etc/hostname").unlink()
        for cache in (root / "var/cache/apt").glob("*.bin"):
            cache.unlink()
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        tmp.rename(base)
        marker.write_text(json.dumps({"built": time.time(), "seconds": round(time.time() - t0, 1),
                                      "packages": list(BASE_PACKAGES), "mirror": mirror}))
        print("lab: base ready in %.0f s" % (time.time() - t0), file=log)
    return base


# -- inventory -------------------------------------------------------------------------
def load_inventory(path):
    """Hosts of an Ansible YAML/JSON inventory: {name: merged vars}, plus group members."""
    return load_inventory_data(load_structured(path))


def load_inventory_data(data):
    """load_inventory of an inventory already read."""
    if "all" not in data:
        data = {"all": {"children": data}}
    hosts, groups = {}, {}

    def walk(name, group, inherited):
        group = group or {}
        vars_ = dict(inherited, **(group.get("vars") or {}))
        members = groups.setdefault(name, [])
        for hname, hvars in (group.get("hosts") or {}).items():
            merged = dict(hosts.get(hname, {}))
            for k, v in vars_.items():
                merged.setdefault(k, v)
            merged.update(hvars or {})
            hosts[hname] = merged
            if hname not in members:
                members.append(hname)
        for cname, child in (group.get("children") or {}).items():
            walk(cname, child, vars_)
            for h in groups[cname]:
                if h not in members:
                    members.append(h)

    walk("all", data["all"], {})
    return hosts, groups


def plan(lab, inventory):
    """Validate everything before anything changes; return the lab's plan."""
    if not LAB_RE.match(lab or ""):
        raise LabError("lab name %r is invalid; use 1-12 lowercase letters/digits starting "
                       "with a letter (no dash)" % lab)
    declared = ((load_structured(inventory).get("all") or {}).get("vars") or {}).get("lab_name")
    if declared and declared != lab:
        raise LabError("inventory %s is for lab %s (its lab_name), not %s; use --lab %s or "
                       "another inventory" % (inventory, declared, lab, declared))
    hosts, groups = load_inventory(inventory)
    if not hosts:
        raise LabError("inventory %s lists no hosts; add hosts with ansible_host" % inventory)
    gw = None
    net = None
    out = []
    seen = set()
    for i, (name, hv) in enumerate(sorted(hosts.items())):
        if not HOST_RE.match(name) or name == "sw":
            raise LabError("host name %r in %s is invalid; use lowercase letters, digits and "
                           "dashes (not 'sw')" % (name, inventory))
        if "ansible_host" not in hv:
            raise LabError("host %s in %s has no ansible_host; give it a management "
                           "address" % (name, inventory))
        prefix = int(hv.get("lab_mgmt_prefix", 24))
        try:
            iface = ipaddress.ip_interface("%s/%d" % (hv["ansible_host"], prefix))
        except ValueError as exc:
            raise LabError("host %s has an invalid ansible_host %r; use an IPv4 address"
                           % (name, hv["ansible_host"])) from exc
        hnet = iface.network
        hgw = ipaddress.ip_address(hv.get("lab_mgmt_gateway", str(next(hnet.hosts()))))
        if net is None:
            net, gw = hnet, hgw
        elif (hnet, hgw) != (net, gw):
            raise LabError("host %s is on %s via %s but the lab's management network is %s "
                           "via %s; put every host on one network" % (name, hnet, hgw, net, gw))
        if str(iface.ip) in seen or iface.ip == gw:
            raise LabError("host %s reuses address %s; give every host its own address"
                           % (name, iface.ip))
        seen.add(str(iface.ip))
        out.append({
            "name": name, "index": i, "ip": str(iface.ip), "prefix": prefix,
            "netns": "%s-%s" % (lab, name),
            "provider": bool(hv.get("lab_provider", False)),
            "ovs": bool(hv.get("lab_ovs", False)),
            "systemd": bool(hv.get("lab_systemd", False)),
            "shared_dirs": shared_dirs(name, hv.get("lab_shared_dirs") or [], inventory),
        })
    return {"lab": lab, "inventory": str(Path(inventory).resolve()), "switch": "%s-sw" % lab,
            "network": str(net), "gateway": str(gw), "hosts": out, "groups": groups}


def shared_dirs(host, paths, inventory):
    """lab_shared_dirs of one host: absolute paths without ':' (the bind's separator)."""
    if not isinstance(paths, list):
        raise LabError("host %s in %s: lab_shared_dirs must be a list of absolute paths"
                       % (host, inventory))
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/") or ":" in path \
                or ".." in path.split("/") or path.strip("/") == "":
            raise LabError("host %s in %s: lab_shared_dirs entry %r is not an absolute path "
                           "below / without ':' or '..'; fix the entry" % (host, inventory, path))
    return [path.rstrip("/") for path in paths]


# -- a fleet: the lab region with N computes (issue 21) ----------------------------------
FLEET_MAX_COMPUTES = 80   # cmp1 .21 .. cmp80 .100; the APIs' service addresses start at .101
FLEET_MAX_VMS = 140       # provider-vlan100's allocation pool (.50-.200) less the DHCP ports
FLEET_COMPUTE_GROUPS = ("stackhop_computes", "lab")   # where the lab region's computes hang
# neutron-server logs each RPC reply's handling time at oslo.messaging's DEBUG ("sending
# reply ... time elapsed"), which bench/bench_agent_restarts.py reads; the other loggers
# keep oslo.log's default levels.
FLEET_NEUTRON_LOG_LEVELS = ",".join((
    "amqp=WARN", "amqplib=WARN", "sqlalchemy=WARN", "oslo_messaging=DEBUG", "oslo.messaging=DEBUG",
    "iso8601=WARN", "requests.packages.urllib3.connectionpool=WARN", "urllib3.connectionpool=WARN",
    "websocket=WARN", "keystonemiddleware=WARN", "routes.middleware=WARN", "stevedore=WARN",
    "taskflow=WARN", "keystoneauth=WARN", "oslo.cache=INFO", "oslo_policy=INFO",
    "dogpile.core.dogpile=INFO"))


def fleet_shape(computes, azs=None, racks_per_az=None):
    """(AZs, racks per AZ) of a lab with ``computes`` computes: 2 AZs below 16 computes, 4
    from 16; one rack per AZ up to 2 computes an AZ, else 2 (so 25 % batches, which keep a
    rack together, hold whole racks)."""
    computes = int(computes)
    if not 1 <= computes <= FLEET_MAX_COMPUTES:
        raise LabError("--computes %d is out of range; give 1 to %d computes (the management "
                       "addresses .21-.100)" % (computes, FLEET_MAX_COMPUTES))
    azs = min(int(azs or (2 if computes < 16 else 4)), computes)
    if azs < 1:
        raise LabError("--azs %s is invalid; give 1 or more availability zones" % azs)
    per_az = -(-computes // azs)
    racks = int(racks_per_az or (1 if per_az <= 2 else 2))
    if racks < 1:
        raise LabError("--racks-per-az %s is invalid; give 1 or more racks" % racks_per_az)
    return azs, racks


def fleet_layout(computes, azs=None, racks_per_az=None):
    """[{name, index, az, rack}] of the computes cmp1..cmpN: round-robin over the AZs (cmp1
    in az1, cmp2 in az2, as in lab/inventory/hosts.yml), each AZ's computes split into
    contiguous racks numbered across the region (az1: rack1.., az2: the next ones)."""
    azs, racks = fleet_shape(computes, azs, racks_per_az)
    members = {a: [i for i in range(1, computes + 1) if (i - 1) % azs + 1 == a]
               for a in range(1, azs + 1)}
    out = []
    for i in range(1, computes + 1):
        az = (i - 1) % azs + 1
        size = len(members[az])
        local = members[az].index(i) * min(racks, size) // size
        out.append({"name": "cmp%d" % i, "index": i, "az": az,
                    "rack": (az - 1) * racks + local + 1})
    return out


def _fleet_vms(layout, vms_per_compute):
    """lab_vm_servers: vm1 on cmp1 and vm2 on cmp2 (the probe's pair), then vm-<cmp>-<k> until
    every compute holds ``vms_per_compute``; each pinned to its host (``az:host``, admin)."""
    servers = []
    for c in layout:
        names = ["vm%d" % c["index"]] if c["index"] <= 2 else []
        names += ["vm-%s-%d" % (c["name"], k) for k in range(len(names) + 1, vms_per_compute + 1)]
        servers += [{"name": n, "az": "az%d:%s" % (c["az"], c["name"]),
                     "network": "{{ lab_provider_network.name }}"} for n in names]
    return servers


def fleet_inventory(source, computes, azs=None, racks_per_az=None, vms_per_compute=1, neutron_overrides=None):
    """The lab region's inventory ``source`` (lab/inventory/hosts.yml, loaded) with N computes
    instead of its two: AZ groups ``lab_az<a>`` under ``lab`` and ``stackhop_computes``, rack
    groups ``lab_az<a>_rack<r>`` (stackhop_az, stackhop_aggregate), each compute like cmp1
    (its lab_* vars) at the next management address. 2 computes with 1 VM each give the
    source's own layout and VMs; any other lab also gets ``vms_per_compute`` VMs pinned to
    every compute, every VM pinging vm1, and neutron-server's RPC timings logged (on top of
    ``neutron_overrides``, the source's group_vars' neutron.conf overrides: the controllers'
    host vars, which beat group_vars/all, would hide them)."""
    vms_per_compute = int(vms_per_compute)
    if vms_per_compute < 1 or computes * vms_per_compute > FLEET_MAX_VMS:
        raise LabError("%d computes with %d VMs each is %d VMs; give 1 or more VMs a compute and "
                       "at most %d in all (the provider network's addresses)"
                       % (computes, vms_per_compute, computes * vms_per_compute, FLEET_MAX_VMS))
    layout = fleet_layout(computes, azs, racks_per_az)
    data = json.loads(json.dumps(source))
    root = data.get("all") or {}
    children = root.get("children") or {}
    if any(g not in children for g in FLEET_COMPUTE_GROUPS):
        raise LabError("the source inventory has no %s groups; use the lab region's "
                       "lab/inventory/hosts.yml" % " and ".join(FLEET_COMPUTE_GROUPS))
    hosts = load_inventory_data(data)[0]
    olds = [h for h, hv in hosts.items() if hv.get("stackhop_az")]
    if not olds:
        raise LabError("the source inventory has no compute in an availability zone "
                       "(stackhop_az); use the lab region's lab/inventory/hosts.yml")
    first = min(olds, key=lambda h: ipaddress.ip_address(hosts[h]["ansible_host"]))
    start = ipaddress.ip_address(hosts[first]["ansible_host"])
    template = {k: v for k, v in (_host_own_vars(data, first) or {}).items() if k != "ansible_host"}
    zones = {}
    for c in layout:
        zone = zones.setdefault(c["az"], {"vars": {"stackhop_az": "az%d" % c["az"]}, "children": {}})
        rack = zone["children"].setdefault("lab_az%d_rack%d" % (c["az"], c["rack"]), {
            "vars": {"stackhop_aggregate": "rack%d" % c["rack"]}, "hosts": {}})
        rack["hosts"][c["name"]] = dict({"ansible_host": str(start + c["index"] - 1)}, **template)
    lab_children = {g: v for g, v in (children["lab"].get("children") or {}).items()
                    if not g.startswith("lab_az")}
    lab_children.update({"lab_az%d" % a: zones[a] for a in sorted(zones)})
    children["lab"]["children"] = lab_children
    children["stackhop_computes"]["children"] = {"lab_az%d" % a: None for a in sorted(zones)}
    if (computes, vms_per_compute) != (2, 1):
        root.setdefault("vars", {}).update({
            "lab_vm_servers": _fleet_vms(layout, vms_per_compute),
            "lab_vm_ping_targets": ["vm1"]})
        overrides = json.loads(json.dumps(neutron_overrides or {}))
        overrides.setdefault("quotas", {})["quota_port"] = max(200, computes * vms_per_compute + 50)
        overrides.setdefault("DEFAULT", {})["default_log_levels"] = FLEET_NEUTRON_LOG_LEVELS
        # host vars: an inventory file's group vars lose to the group_vars/all directory
        # next to it (the lab's, linked), and the fleet's neutron.conf was the lab's
        controllers = set()
        for group in ("stackhop_controllers", "stackhop_controllers_new"):
            controllers.update(_group_hosts(children.get(group), children))
        _set_host_vars(root, controllers, {"neutron_controller_neutron_conf_overrides": overrides})
    return data


def _group_hosts(group, children):
    """The host names of an inventory group (loaded), its child groups' too."""
    names = set(((group or {}).get("hosts") or {}))
    for name, child in ((group or {}).get("children") or {}).items():
        names |= _group_hosts(child or children.get(name), children)
    return names


def _set_host_vars(group, hosts, values):
    """``values`` on every entry of ``hosts`` in the inventory tree below ``group``."""
    for name in list(((group or {}).get("hosts") or {})):
        if name in hosts:
            group["hosts"][name] = dict(group["hosts"][name] or {}, **values)
    for child in ((group or {}).get("children") or {}).values():
        _set_host_vars(child, hosts, values)


def write_fleet_inventory(args):
    """fleet-inventory: the generated inventory with the lab's connection vars, at --out."""
    overrides = Path(args.source).parent / "group_vars" / "all" / "operator_overrides.yml"
    neutron = (load_structured(overrides).get("neutron_controller_neutron_conf_overrides")
               if overrides.is_file() else None)
    data = fleet_inventory(load_structured(args.source), args.computes, args.azs,
                           args.racks_per_az, args.vms_per_compute, neutron)
    data["all"].setdefault("vars", {}).update(Lab(args.lab).connection_vars())
    azs, racks = fleet_shape(args.computes, args.azs, args.racks_per_az)
    header = ("# generated by lab/labctl.py fleet-inventory from %s for lab %s: %d computes in "
              "%d AZs, %d racks an AZ, %d VMs a compute; do not edit\n"
              % (args.source, args.lab, args.computes, azs, racks, args.vms_per_compute))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dump_structured(out, data)
    out.write_text(header + out.read_text())


def _host_own_vars(data, host):
    """The vars written on ``host`` itself somewhere in the inventory (not its groups')."""
    found = {}

    def walk(group):
        for name, hvars in ((group or {}).get("hosts") or {}).items():
            if name == host:
                found.update(hvars or {})
        for child in ((group or {}).get("children") or {}).values():
            walk(child)
    walk(data.get("all"))
    return found


# -- the lab ---------------------------------------------------------------------------
class Lab:
    def __init__(self, name, state_root=None):
        if not LAB_RE.match(name or ""):
            raise LabError("lab name %r is invalid; use 1-12 lowercase letters/digits "
                           "starting with a letter (no dash)" % name)
        self.name = name
        self.dir = Path(state_root or STATE_ROOT) / name
        self.switch = "%s-sw" % name

    # paths
    @property
    def state_file(self):
        return self.dir / "state.json"

    @property
    def key(self):
        return self.dir / "id_ed25519"

    @property
    def ssh_config(self):
        return self.dir / "ssh_config"

    @property
    def inventory(self):
        return self.dir / "inventory.yml"

    @property
    def apt_sock(self):
        return self.dir / "apt.sock"

    def host_dir(self, host):
        return self.dir / "hosts" / host

    def private_dirs(self):
        """The directories only root may enter (mode 0700): the lab's state directory,
        ``hosts/`` and each host's directory (overlay upper, work and root). The hosts'
        files (MariaDB's data, RabbitMQ's Erlang cookie, configs with passwords, the lab's
        key) are all below them. The upper dirs keep their mode: an upper dir's mode is
        the mode of the host's ``/``, which its non-root services must traverse; inside
        the host, path lookups start at the overlay's root and never cross these."""
        hosts = self.dir / "hosts"
        found = [self.dir, hosts]
        if hosts.is_dir():
            found += sorted(d for d in hosts.iterdir() if d.is_dir())
        return [d for d in found if d.is_dir()]

    def make_private(self):
        for d in self.private_dirs():
            if stat.S_IMODE(d.stat().st_mode) != PRIVATE_MODE:
                d.chmod(PRIVATE_MODE)

    def state(self):
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def _lock(self):
        # One lock for all labs (creates take about a second): no per-lab file is left.
        return flock(self.dir.parent / ".lock")

    # ---------------------------------------------------------------------------------
    def create(self, inventory, timeout=90, log=sys.stderr, keep_on_failure=False):
        """Bring the lab up; a no-op when it is already up from the same inventory.

        Whatever is left of an earlier lab of this name (half-destroyed, crashed) is removed
        first. A failed create removes what it made, unless ``keep_on_failure``.
        """
        t0 = time.time()
        p = plan(self.name, inventory)
        base = ensure_base(log=log)
        raise_inotify_instances(log)
        same = ("hosts", "groups", "network", "gateway", "inventory")
        with self._lock():
            st = self.state()
            if st and all(st.get("plan", {}).get(k) == p[k] for k in same) \
                    and self._healthy(st):
                self.make_private()   # a lab made before its dirs were private
                print("lab %s: already up" % self.name, file=log)
                return st
            self._destroy_unlocked()
            try:
                state = self._create_unlocked(p, base, timeout)
            except BaseException:
                if not keep_on_failure:
                    self._destroy_unlocked()
                raise
            state["create_seconds"] = round(time.time() - t0, 2)
            self._write_state(state)
            print("lab %s: %d hosts up in %.1f s; inventory %s" % (
                self.name, len(p["hosts"]), time.time() - t0, self.inventory), file=log)
            return state

    def _create_unlocked(self, p, base, timeout):
        self.dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_MODE)
        self.make_private()
        state = {"plan": p, "base": str(base), "pids": {}, "relay": [], "created": None}
        self._write_state(state)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
             "stackhop-lab-%s" % self.name, "-f", self.key])
        self._switch(p)
        state["relay"] = self._apt_relay(p)
        self._write_state(state)
        for h in p["hosts"]:
            self._host_net(p, h)
            self._host_files(p, h, base)
            state["pids"][h["name"]] = self._host_start(p, h, base)
            self._write_state(state)
        self._wait_ssh(p, timeout)
        for h in p["hosts"]:
            if h["ovs"]:
                self._ovs_start(h["name"])
        self._write_client_files(p)
        state["created"] = time.time()
        self._write_state(state)
        return state

    def _write_state(self, state):
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_file)

    def _switch(self, p):
        sw = p["switch"]
        net = ipaddress.ip_network(p["network"])
        ip("netns", "add", sw)
        ip("link", "set", "lo", "up", ns=sw)
        ip("link", "add", "br-mgmt", "type", "bridge", ns=sw)
        ip("addr", "add", "%s/%d" % (p["gateway"], net.prefixlen), "dev", "br-mgmt", ns=sw)
        ip("link", "set", "br-mgmt", "up", ns=sw)
        # A VLAN trunk: with vlan_filtering every port carries VLANs 1-4094; kernels built
        # without bridge VLAN filtering get a plain bridge, which forwards tagged frames
        # untouched (same trunk behaviour, VLANs share one MAC table).
        p["vlan_filtering"] = ip("link", "add", "br-prov", "type", "bridge", "vlan_filtering",
                                 "1", ns=sw, check=False).returncode == 0
        if not p["vlan_filtering"]:
            ip("link", "add", "br-prov", "type", "bridge", ns=sw)
        ip("link", "set", "br-prov", "up", ns=sw)

    def _apt_relay(self, p):
        """gateway:80 in the switch ns -> unix socket -> the machine's Debian mirror only."""
        host, port = apt_mirror()[:2]
        with contextlib.suppress(FileNotFoundError):
            self.apt_sock.unlink()
        log = self.dir / "apt-relay.log"
        outer = spawn_detached(["socat", "UNIX-LISTEN:%s,fork,unlink-early,mode=600"
                                % self.apt_sock, "TCP:%s:%d" % (host, port)], log)
        inner = spawn_detached(["ip", "netns", "exec", p["switch"], "socat",
                                "TCP-LISTEN:80,bind=%s,reuseaddr,fork" % p["gateway"],
                                "UNIX-CONNECT:%s" % self.apt_sock], log)
        return [outer, inner]

    def _host_net(self, p, h):
        sw, ns = p["switch"], h["netns"]
        ip("netns", "add", ns)
        ip("link", "set", "lo", "up", ns=ns)
        links = [("m%d" % h["index"], MGMT_IF, "br-mgmt")]
        if h["provider"]:
            links.append(("p%d" % h["index"], PROV_IF, "br-prov"))
        for swend, hostend, bridge in links:
            # Both ends are created directly in their namespaces: no name ever
            # appears in the root namespace, so labs and other users never collide.
            ip("link", "add", swend, "netns", sw, "type", "veth",
               "peer", "name", hostend, "netns", ns)
            ip("link", "set", swend, "master", bridge, "up", ns=sw)
            ip("link", "set", hostend, "up", ns=ns)
            if bridge == "br-prov" and p.get("vlan_filtering"):
                run(["bridge", "-n", sw, "vlan", "add", "dev", swend, "vid", "2-4094"])
        ip("addr", "add", "%s/%d" % (h["ip"], h["prefix"]), "dev", MGMT_IF, ns=ns)
        ip("route", "add", "default", "via", p["gateway"], ns=ns)

    def _host_files(self, p, h, base):
        hd = self.host_dir(h["name"])
        shutil.rmtree(hd, ignore_errors=True)
        for d in ("upper", "work", "root"):
            (hd / d).mkdir(parents=True)
        self.make_private()   # hosts/ and hosts/<host>: 0700
        up = hd / "upper"
        (up / "etc").mkdir()
        (up / "etc/hostname").write_text(h["name"] + "\n")
        mirror_host = apt_mirror()[0]
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback",
                 "%s %s" % (p["gateway"], mirror_host)]
        lines += ["%s %s" % (o["ip"], o["name"]) for o in p["hosts"]]
        (up / "etc/hosts").write_text("\n".join(lines) + "\n")
        (up / "etc/resolv.conf").write_text("# stackhop lab: names come from /etc/hosts\n")
        ssh = up / "root/.ssh"
        ssh.mkdir(parents=True, mode=0o700)
        (up / "root").chmod(0o700)
        ak = ssh / "authorized_keys"
        ak.write_text(Path(str(self.key) + ".pub").read_text())
        ak.chmod(0o600)
        if h["systemd"]:
            # Under systemd, packages may start their services: drop the base's policy-rc.d
            # (an overlayfs whiteout is a 0/0 character device in the upper dir).
            (up / "usr/sbin").mkdir(parents=True)
            os.mknod(up / "usr/sbin/policy-rc.d", stat.S_IFCHR | 0o000, os.makedev(0, 0))
            if not h["ovs"]:
                # Open vSwitch only where asked for: mask its units (ovs-start unmasks).
                units = up / "etc/systemd/system"
                units.mkdir(parents=True)
                for unit in ("openvswitch-switch", "ovsdb-server", "ovs-vswitchd"):
                    (units / ("%s.service" % unit)).symlink_to("/dev/null")

    def shared_dir(self, path):
        """Where the hosts that list ``path`` in lab_shared_dirs share it: one directory
        of the lab's state, bind-mounted at ``path`` in each (a stand-in for the NFS
        share a production glance file store sits on)."""
        return self.dir / "shared" / path.strip("/").replace("/", "_")

    def _host_start(self, p, h, base):
        hd = self.host_dir(h["name"])
        args = [hd / "root", base, hd / "upper", hd / "work", h["name"]]
        binds = []
        for path in h.get("shared_dirs", []):
            src = self.shared_dir(path)
            src.mkdir(parents=True, exist_ok=True)
            binds.append("%s:%s" % (src, path))
        if h["systemd"]:
            argv = ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                    NSPAWN_INIT, "lab-host"] + args + [h["netns"], h["netns"]] + [
                        "--bind=%s" % b for b in binds]
        else:
            argv = ["ip", "netns", "exec", h["netns"], "unshare", "--mount", "--uts", "--ipc",
                    "--pid", "--fork", "--kill-child", "--propagation", "private",
                    "/bin/sh", "-c", HOST_INIT, "lab-host"] + args + binds
        return spawn_detached(argv, hd / "console.log")

    def _wait_ssh(self, p, timeout):
        ips = [h["ip"] for h in p["hosts"]]
        proc = run(["ip", "netns", "exec", p["switch"], sys.executable or "python3", "-c",
                    WAIT_SSH, str(timeout)] + ips, check=False, timeout=timeout + 30)
        if proc.returncode != 0:
            names = [h["name"] for h in p["hosts"] if h["ip"] in proc.stdout.split()]
            logs = "; ".join("%s: %s" % (n, self._tail(self.host_dir(n) / "console.log"))
                             for n in names)
            raise LabError("lab %s: sshd of %s did not answer within %d s (%s); run "
                           "'labctl.py destroy --lab %s' and look at the console logs"
                           % (self.name, ", ".join(names), timeout, logs, self.name))

    @staticmethod
    def _tail(path, n=300):
        try:
            return path.read_text()[-n:].strip().replace("\n", " | ")
        except OSError:
            return "no console log"

    def _write_client_files(self, p):
        proxy = "ip netns exec %s socat STDIO TCP:%%h:%%p" % p["switch"]
        cp = self.dir / "cp"
        cp.mkdir(exist_ok=True)
        lines = ["# stackhop lab %s: ssh -F %s HOST" % (self.name, self.ssh_config)]
        for h in p["hosts"]:
            lines += ["Host %s" % h["name"], "  HostName %s" % h["ip"]]
        lines += ["Host *", "  User root", "  Port %d" % SSHD_PORT,
                  "  IdentityFile %s" % self.key, "  IdentitiesOnly yes",
                  "  StrictHostKeyChecking no", "  UserKnownHostsFile /dev/null",
                  "  LogLevel ERROR", "  ProxyCommand %s" % proxy,
                  "  ControlPath %s/%%C" % cp, "  ControlMaster auto", "  ControlPersist 60s"]
        self.ssh_config.write_text("\n".join(lines) + "\n")
        # Ansible: a complete inventory (the input's hosts and groups) plus the lab's
        # connection vars.
        src = load_structured(p["inventory"])
        if "all" not in src:
            src = {"all": {"children": src}}
        src["all"]["vars"] = dict(src["all"].get("vars") or {}, **self.connection_vars())
        dump_structured(self.inventory, src)

    def connection_vars(self):
        """Ansible vars that reach this lab's hosts; they depend on the lab's name only.

        Its own ControlPath keeps two labs with the same addresses apart. Static inventories
        (molecule scenarios) may carry these literally: ``labctl.py connection-vars``.
        """
        proxy = "ip netns exec %s socat STDIO TCP:%%h:%%p" % self.switch
        return {
            "ansible_user": "root",
            "ansible_port": SSHD_PORT,
            "ansible_connection": "ssh",
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_common_args": (
                "-o ProxyCommand=\"%s\" -o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes "
                "-o ControlPath=%s/cp/%%C" % (proxy, self.dir)),
            # Ansible's default less -C: the lab's hosts are on this machine, and zlib on
            # every venv copy cost ~20 s of CPU per host and release for nothing
            "ansible_ssh_args": SSH_ARGS,
            "ansible_python_interpreter": "/usr/bin/python3",
            "lab_name": self.name,
            "lab_switch_netns": self.switch,
            # the lab's APIs answer only inside its switch's namespace
            "api_probe_netns": self.switch,
        }

    # ---------------------------------------------------------------------------------
    def host_pid1(self, host):
        """PID (in our PID namespace) of the host's init: sshd, or systemd under nspawn."""
        ns = "%s-%s" % (self.name, host)
        own = os.readlink("/proc/self/ns/pid")
        for pid in netns_pids(ns):
            try:
                with open("/proc/%d/status" % pid) as f:
                    nspid = [ln.split()[1:] for ln in f if ln.startswith("NSpid:")][0]
            except (OSError, IndexError):
                continue
            if len(nspid) > 1 and nspid[-1] == "1":
                with contextlib.suppress(OSError):
                    if os.readlink("/proc/%d/ns/pid" % pid) != own:
                        return pid
        raise LabError("host %s of lab %s is not running; run 'labctl.py create --lab %s'"
                       % (host, self.name, self.name))

    def exec_argv(self, host, argv):
        pid = self.host_pid1(host)
        return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w"] + list(argv)

    def exec(self, host, argv, check=True, input=None):
        return run(self.exec_argv(host, argv), check=check, input=input)

    def _ovs_start(self, host):
        st = self.state() or {}
        hosts = {h["name"]: h for h in (st.get("plan") or {}).get("hosts", [])}
        if hosts.get(host, {}).get("systemd"):
            # systemd runs Debian's openvswitch-switch units; start and wait for them.
            self.exec(host, ["/bin/sh", "-c", OVS_SYSTEMD, "ovs-start", host])
        else:
            self.exec(host, ["/bin/sh", "-c", OVS_START, "ovs-start", host])

    def ovs_start(self, host):
        with self._lock():
            self._ovs_start(host)

    # ---------------------------------------------------------------------------------
    def _healthy(self, st):
        p = st.get("plan") or {}
        if not st.get("created"):
            return False
        names = netns_list()
        if p.get("switch") not in names:
            return False
        for h in p.get("hosts", []):
            if h["netns"] not in names or not pid_alive(st["pids"].get(h["name"], 0)):
                return False
            try:
                self.host_pid1(h["name"])
            except LabError:
                return False
        return all(pid_alive(pid) for pid in st.get("relay", []))

    def processes(self):
        """Every process of this lab: in its namespaces, or one the lab started.

        The lab's own processes name one of its paths (host launchers: ``hosts/``, apt relay:
        ``apt.sock``, ssh masters: ``cp/``); an ansible-playbook merely using the lab's
        inventory is not one of them, nor is any ancestor of this process.
        """
        pids = set()
        for ns in self.namespaces():
            pids.update(netns_pids(ns))
        markers = [str(self.dir / "hosts") + "/", str(self.apt_sock), str(self.dir / "cp") + "/"]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                cmd = cmdline(int(entry))
                if any(m in cmd for m in markers):
                    pids.add(int(entry))
        pids -= ancestors()
        return sorted(p for p in pids if pid_alive(p))

    def namespaces(self):
        prefix = self.name + "-"
        return [n for n in netns_list() if n.startswith(prefix)]

    def mounts(self):
        marker = str(self.dir) + "/"
        with open("/proc/self/mounts") as f:
            return [ln.split()[1] for ln in f if ln.split()[1].startswith(marker)
                    or marker in ln.split()[3]]

    def status(self):
        st = self.state() or {}
        p = st.get("plan") or {}
        procs = self.processes()
        hosts = {}
        for h in p.get("hosts", []):
            try:
                pid1 = self.host_pid1(h["name"])
            except LabError:
                pid1 = None
            hosts[h["name"]] = {"ip": h["ip"], "netns": h["netns"], "pid1": pid1,
                                "systemd": h["systemd"], "provider": h["provider"]}
        return {"lab": self.name, "healthy": bool(st) and self._healthy(st),
                "hosts": hosts, "namespaces": self.namespaces(), "processes": len(procs),
                "rss_kib": sum(rss_kib(pid) for pid in procs),
                "pss_kib": sum(pss_kib(pid) for pid in procs), "mounts": self.mounts(),
                "inventory": str(self.inventory), "ssh_config": str(self.ssh_config),
                "create_seconds": st.get("create_seconds")}

    def destroy(self):
        with self._lock():
            self._destroy_unlocked()

    def cgroups(self):
        """The systemd hosts' own cgroups (NSPAWN_INIT), in every hierarchy."""
        return [top for hier in CGROUP_HIERARCHIES
                for top in sorted(Path(hier, "stackhop-lab").glob(self.name + "-*"))]

    def _remove_cgroups(self):
        """The hosts' cgroups, deepest first; their processes are gone."""
        for top in self.cgroups():
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)

    def _destroy_unlocked(self):
        """Kill, unlink, unmount and remove everything of this lab; safe on any leftover."""
        for _attempt in range(50):
            procs = self.processes()
            if not procs:
                break
            for pid in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # unshare --fork ignores SIGTERM
            time.sleep(0.05)
        else:
            raise LabError("lab %s: processes %s survive SIGKILL; look at them with ps and "
                           "retry destroy" % (self.name, self.processes()))
        for ns in self.namespaces():
            # veths explicitly: a namespace may linger while something still holds it.
            out = run(["ip", "-n", ns, "-j", "link", "show", "type", "veth"], check=False).stdout
            for link in json.loads(out or "[]"):
                ip("link", "del", link["ifname"], ns=ns, check=False)
        for ns in self.namespaces():
            ip("netns", "del", ns, check=False)
        for mnt in sorted(self.mounts(), key=len, reverse=True):
            run(["umount", "-l", mnt], check=False)
        self._remove_cgroups()
        if self.dir.exists():
            remove_in_background(self.dir)
        left = self.namespaces()
        if left:
            raise LabError("lab %s: namespaces %s could not be deleted; retry destroy"
                           % (self.name, left))


def remove_in_background(path):
    """Move ``path`` aside (the lab's name is free at once) and delete it in a detached,
    idle-priority process: the hosts' overlay roots hold every staged venv (hundreds of
    thousands of files), which took 70-120 s to delete in the foreground at the end of each
    lab. Trash an earlier run left (a killed deletion) is swept at the same time."""
    trash = path.parent / (".trash-%s-%d-%d" % (path.name, os.getpid(), time.monotonic_ns()))
    os.rename(path, trash)
    leftovers = [str(p) for p in path.parent.glob(".trash-*")]
    subprocess.Popen(["nice", "-n", "19", "ionice", "-c", "3", "rm", "-rf", "--one-file-system", "--"]
                     + leftovers, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)


def list_labs():
    if not STATE_ROOT.is_dir():
        return []
    return sorted(d.name for d in STATE_ROOT.iterdir() if d.is_dir() and LAB_RE.match(d.name))


# -- CLI -------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(prog="labctl.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd in ("create", "destroy", "status", "ssh-config", "inventory", "exec", "ovs-start",
                "connection-vars"):
        sp = sub.add_parser(cmd)
        sp.add_argument("--lab", default=os.environ.get("STACKHOP_LAB", "stackhop"))
        if cmd == "create":
            sp.add_argument("--inventory", required=True)
            sp.add_argument("--timeout", type=int, default=90)
            sp.add_argument("--keep-on-failure", action="store_true",
                            help="leave a failed lab in place to look at it")
        if cmd in ("exec", "ovs-start"):
            sp.add_argument("--host", required=True)
        if cmd == "exec":
            sp.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("base")
    sub.add_parser("list")
    sp = sub.add_parser("fleet-inventory", help="the lab region's inventory with N computes")
    sp.add_argument("--lab", default=os.environ.get("STACKHOP_LAB", "stackhop"))
    sp.add_argument("--computes", type=int, required=True)
    sp.add_argument("--azs", type=int, help="availability zones (default: 2, 4 from 16 computes)")
    sp.add_argument("--racks-per-az", type=int, help="racks per AZ (default: 1, 2 above 2 computes an AZ)")
    sp.add_argument("--vms-per-compute", type=int, default=1)
    sp.add_argument("--source", default=str(Path(__file__).resolve().parent / "inventory" / "hosts.yml"))
    sp.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "fleet-inventory":
        # writes one file: no namespace, mount or process, so no root needed
        try:
            write_fleet_inventory(args)
        except LabError as exc:
            print("labctl: %s" % exc, file=sys.stderr)
            return 1
        print(args.out)
        return 0
    if os.geteuid() != 0:
        print("labctl: must run as root (namespaces, mounts)", file=sys.stderr)
        return 2
    try:
        if args.cmd == "base":
            print(ensure_base())
            return 0
        if args.cmd == "list":
            print("\n".join(list_labs()))
            return 0
        lab = Lab(args.lab)
        if args.cmd == "create":
            lab.create(args.inventory, timeout=args.timeout,
                       keep_on_failure=args.keep_on_failure)
            print(lab.inventory)
        elif args.cmd == "destroy":
            t0 = time.time()
            lab.destroy()
            print("lab %s: destroyed in %.1f s" % (lab.name, time.time() - t0), file=sys.stderr)
        elif args.cmd == "status":
            st = lab.status()
            print(json.dumps(st, indent=2))
            return 0 if st["healthy"] else 1
        elif args.cmd == "ssh-config":
            print(lab.ssh_config)
        elif args.cmd == "inventory":
            print(lab.inventory)
        elif args.cmd == "connection-vars":
            print(json.dumps(lab.connection_vars(), indent=2))
        elif args.cmd == "ovs-start":
            lab.ovs_start(args.host)
        elif args.cmd == "exec":
            cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
            return subprocess.call(lab.exec_argv(args.host, cmd or ["/bin/bash"]))
    except LabError as exc:
        print("labctl: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
