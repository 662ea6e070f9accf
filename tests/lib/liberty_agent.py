"""What a liberty (neutron 7.x) OVS agent does to the raw table when it starts.

This is a test double written from reading neutron 7.2.0
(neutron/agent/linux/iptables_firewall.py, iptables_manager.py); no neutron code is
copied. It reproduces the behaviour that decides a port's conntrack zone:

1. Tools are found the way rootwrap finds a ``CommandFilter`` with a bare name: the
   first directory of ``exec_dirs`` (rootwrap.conf) holding the executable.
2. Zone map: ``iptables-save -t raw`` (IPv4 only); every line that matches
   ``<...> --physdev-in DEV<...> -j CT --zone N`` maps ``DEV[3:]`` (the port id
   fragment after ``tap``/``qvb``) to zone N. The TEXT is parsed: a rule printed as
   ``-j CT`` (zone 0 hidden by iptables-save) gives no entry.
3. A port without an entry gets a new zone: 1 when the map is empty, else the highest
   zone in use plus one.
4. Apply (IPv4 and IPv6): full ``iptables-save``; in the raw table every line that
   contains the wrap name ``neutron-openvswi`` is dropped and the agent's own chains and
   rules are put right after the chain declarations (the jump from each builtin chain
   first, then per port ``-m physdev --physdev-in qvb.. -j CT --zone Z`` and the same
   for ``tap..``); the per-chain difference between old and new is sent as
   ``-D``/``-I`` commands to ``iptables-restore -n``.

Usage: ``python liberty_agent.py ROOTWRAP_CONF PORT_ID [PORT_ID ...]``; prints the
zones as JSON. Run it inside the host's network namespace.
"""

import configparser
import difflib
import json
import os
import re
import subprocess
import sys

WRAP = "neutron-openvswi"
DEV_LEN, PREFIX_LEN = 14, 3
ZONE_LINE = re.compile(r".* --physdev-in ([A-Za-z0-9-]+).* -j CT --zone (\d+).*")


def exec_dirs(conf):
    parser = configparser.RawConfigParser()
    parser.read(conf)
    return [d.strip() for d in parser.get("DEFAULT", "exec_dirs").split(",") if d.strip()]


def find(name, dirs):
    for d in dirs:
        path = os.path.join(d, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise SystemExit("%s not found in exec_dirs %s" % (name, dirs))


def run(argv, data=None):
    proc = subprocess.run(argv, input=data, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit("%s failed (%d): %s" % (argv, proc.returncode, proc.stderr))
    return proc.stdout


def zone_map(dirs):
    zones = {}
    for line in run([find("iptables-save", dirs), "-t", "raw"]).split("\n"):
        m = ZONE_LINE.match(line)
        if m:
            zones[m.group(1)[PREFIX_LEN:]] = int(m.group(2))
    return zones


def port_zone(zones, port):
    short = port[:DEV_LEN - PREFIX_LEN]
    if short not in zones:
        used = sorted(set(zones.values()))
        zones[short] = used[-1] + 1 if used else 1
    return zones[short]


def wanted_raw(ports, zones):
    chains = [":%s-OUTPUT - [0:0]" % WRAP, ":%s-PREROUTING - [0:0]" % WRAP]
    rules = ["-A OUTPUT -j %s-OUTPUT" % WRAP, "-A PREROUTING -j %s-PREROUTING" % WRAP]
    for port in sorted(ports):
        zone = port_zone(zones, port)
        for dev in ("qvb" + port, "tap" + port):
            rules.append("-A %s-PREROUTING -m physdev --physdev-in %s -j CT --zone %d"
                         % (WRAP, dev[:DEV_LEN], zone))
    return chains + rules


def by_chain(lines):
    out = {}
    for line in lines:
        if line.startswith(":"):
            out.setdefault(line[1:].split(" ", 1)[0], [])
        elif line.startswith("-A "):
            out.setdefault(line.split(" ", 2)[1], []).append(line)
    return out


def apply(dirs, version, ours):
    save = "iptables-save" if version == 4 else "ip6tables-save"
    restore = "iptables-restore" if version == 4 else "ip6tables-restore"
    lines = run([find(save, dirs)]).split("\n")
    if "*raw" in lines:
        start = lines.index("*raw")
        end = lines.index("COMMIT", start) + 1
        old = [ln.strip() for ln in lines[start:end]]
    else:
        old = ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", "COMMIT"]
    new = [ln for ln in old if WRAP not in ln]
    at = max(i for i, ln in enumerate(new) if ln.startswith(":") or ln == "*raw") + 1
    new[at:at] = ours
    old_c, new_c = by_chain(old), by_chain(new)
    cmds = [":%s - [0:0]" % c for c in sorted(set(new_c) - set(old_c))]
    for chain in sorted(set(old_c) | set(new_c)):
        index = 1
        for d in difflib.ndiff(old_c.get(chain, []), new_c.get(chain, [])):
            if d.startswith("?"):
                continue
            if d.startswith("-"):
                cmds.append("-D %s %d" % (chain, index))
                index -= 1
            elif d.startswith("+"):
                cmds.append("-I %s %d %s" % (chain, index, d[2:].split(" ", 2)[2]))
            index += 1
    for chain in sorted(set(old_c) - set(new_c)):
        cmds.append("-X %s" % chain)
    if cmds:
        run([find(restore, dirs), "-n"], "\n".join(["*raw"] + cmds + ["COMMIT", ""]))
    return cmds


def main():
    conf, ports = sys.argv[1], sys.argv[2:]
    dirs = exec_dirs(conf)
    zones = zone_map(dirs)
    seen = dict(zones)
    ours = wanted_raw(ports, zones)
    cmds = {v: apply(dirs, v, ours) for v in (4, 6)}
    print(json.dumps({"read": seen, "zones": {p: port_zone(zones, p) for p in ports},
                      "commands": cmds}))


if __name__ == "__main__":
    main()
