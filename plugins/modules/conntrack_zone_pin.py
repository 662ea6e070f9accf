#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: conntrack_zone_pin
short_description: Keep VM connections in conntrack zone 0 across the OVS agent's move to per-port zones
version_added: 0.1.0
description:
  - Kilo's iptables hybrid firewall tracks every VM port in conntrack zone 0; from liberty
    on the OVS agent gives each port its own zone. When the new agent starts it reads
    C(iptables-save -t raw) and keeps the zone of every port whose
    C(-m physdev --physdev-in DEV ... -j CT --zone N) rule it finds; any other port gets a
    fresh, empty zone, and the packets of its existing connections are no longer
    ESTABLISHED (DeNA's kilo to liberty upgrade).
  - This module adds, before the agent upgrade, one pin rule per device
    C(-m physdev --physdev-in DEV -m comment --comment stackhop-zone-pin -j CT --zone 0)
    at the top of O(chain) in the raw table, all in one C(iptables-restore --noflush) per
    IP version. The comment marks the rules it manages; nothing else is ever removed.
  - Because C(iptables-save) prints C(-j CT --zone 0) as C(-j CT), the agent would not
    see the pin. With O(save_wrapper) the module installs C(iptables-save) and
    C(ip6tables-save) wrappers in O(wrapper_dir) that call the real tools and put
    C(--zone 0) back on CT rules of the raw table only, and puts O(wrapper_dir) first in
    rootwrap's C(exec_dirs) so the agent runs them.
  - The module itself always reads rules with the real tools (never through its wrapper)
    and reads a CT rule without C(--zone) as zone 0, which is what the kernel holds.
  - Devices that already have a CT rule of someone else in the raw table (for example
    the new agent's own zone rule) are left alone, with a warning when that rule sets
    another zone than O(zone).
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  devices:
    description:
      - Devices to pin, for example C(tap1a2b3c4d-5e). With O(state=present) each must be an
        interface of the host. Mutually exclusive with O(device_regex).
    type: list
    elements: str
  device_regex:
    description:
      - Python regular expression (searched) selecting the devices. With O(state=present) it
        is matched against the host's interfaces, with O(state=absent) against the devices
        of the managed pin rules. When neither O(devices) nor O(device_regex) is given,
        C(^tap) is used.
    type: str
  zone:
    description: Conntrack zone to pin the devices to (0 keeps kilo's connections).
    type: int
    default: 0
  chain:
    description:
      - Chain of the raw table that holds the pin rules. The liberty agent reads every raw
        rule, whatever its chain, so the default chain (the agent's own) is enough for it
        to keep zone 0, and the agent replaces the pins by its own zone 0 rules on its
        first run.
    type: str
    default: neutron-openvswi-PREROUTING
  create_chain:
    description:
      - Create O(chain) (and jump to it first thing from the raw table's PREROUTING) when
        it is missing. When false a missing chain is an error that names it. A kilo host
        has the chain for IPv4 but not for IPv6.
    type: bool
    default: false
  match:
    description:
      - How a pin rule selects the device's packets. C(physdev) is
        C(-m physdev --physdev-in DEV) (what the OVS agent reads); C(interface) is C(-i DEV),
        which the liberty agent does not read as a zone assignment.
    type: str
    choices: [physdev, interface]
    default: physdev
  ip_versions:
    description: IP versions to pin (C(iptables) and C(ip6tables)).
    type: list
    elements: int
    choices: [4, 6]
    default: [4, 6]
  save_wrapper:
    description:
      - Install the C(iptables-save) (and C(ip6tables-save)) wrapper in O(wrapper_dir) and
        put O(wrapper_dir) first in the C(exec_dirs) of O(rootwrap_conf).
    type: bool
    default: true
  wrapper_dir:
    description: Directory for the wrappers; it must exist and must not hold the real tools.
    type: path
    default: /usr/local/sbin
  rootwrap_conf:
    description:
      - rootwrap configuration whose C(exec_dirs) gets O(wrapper_dir) first (other entries
        keep their order). An empty string leaves rootwrap alone. A file without
        C(exec_dirs) is an error.
    type: str
    default: /etc/neutron/rootwrap.conf
  state:
    description:
      - C(present) adds the pins (and wrappers). C(absent) removes the managed pins of the
        selected devices, and the wrappers and rootwrap change this module made, once the
        new agent owns the zones.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Needs root.
  - Run it before the OVS agent upgrade and keep the wrapper while the agent's own zone 0
    rules exist; every agent restart reads the zones again.
seealso:
  - module: stackhop.upgrade.ovs_other_config
attributes:
  check_mode:
    support: full
    details: Reads the raw tables, the wrappers and O(rootwrap_conf) and reports what would
      change; writes nothing.
  diff_mode:
    support: full
    details: The managed pins per IP version, the wrappers and the C(exec_dirs) of
      O(rootwrap_conf), before and after.
"""

EXAMPLES = r"""
- name: Pin every VM tap to conntrack zone 0 before the OVS agent upgrade
  stackhop.upgrade.conntrack_zone_pin:
    create_chain: true

- name: Pin two ports, IPv4 only, no wrapper
  stackhop.upgrade.conntrack_zone_pin:
    devices: [tap1a2b3c4d-5e, tap6f7a8b9c-0d]
    ip_versions: [4]
    save_wrapper: false

- name: Remove the pins, wrappers and rootwrap change once the new agent owns the zones
  stackhop.upgrade.conntrack_zone_pin:
    state: absent
"""

RETURN = r"""
added:
  description: Devices whose pin rule was added or replaced (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [tap1a2b3c4d-5e]
removed:
  description: Devices whose managed pin rule was removed or replaced.
  returned: always
  type: list
  elements: str
present:
  description: Devices that carry a managed pin rule after the run.
  returned: always
  type: list
  elements: str
wrapper_changed:
  description: Whether a wrapper was written or removed.
  returned: always
  type: bool
rootwrap_changed:
  description: Whether the C(exec_dirs) of O(rootwrap_conf) was changed.
  returned: always
  type: bool
executed_commands:
  description: Commands run.
  returned: always
  type: list
  elements: str
diff:
  description: Managed rules, wrappers and C(exec_dirs) before and after, in diff mode.
  returned: when diff mode is on
  type: list
  elements: dict
"""

import os
import re
import sys
import tempfile

from ansible_collections.stackhop.upgrade.plugins.module_utils import rootwrap
from ansible_collections.stackhop.upgrade.plugins.module_utils.conntrack_wrapper import (
    is_ours,
    wrapper_text,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.iptables import (
    RestorePayload,
    Table,
    parse_save,
    restore_quote,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)

COMMENT = "stackhop-zone-pin"
DEFAULT_REGEX = "^tap"
# Where the real tools live; the wrapper directory is never searched (and a file that
# is one of our wrappers is never taken for the real tool).
SYSTEM_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
TOOLS = {4: ("iptables-save", "iptables-restore"), 6: ("ip6tables-save", "ip6tables-restore")}
IFNAMSIZ = 15
CHAIN_MAX = 28


def read_pins(table, chain_name):
    """What the raw table holds: (chain or None, our CT rules in the chain, other CT rules).

    The other CT rules (the agent's, an operator's), in any raw chain, are keyed by the
    device they match; the first one of a device counts.
    """
    chain = table.chain(chain_name)
    managed = [r for r in (chain.rules if chain else []) if COMMENT in r.comments()]
    pins = [r for r in managed if r.target == "CT"]
    foreign = {}
    for rule in table.rules():
        if rule.target == "CT" and COMMENT not in rule.comments():
            dev = rule.device()[1]
            if dev is not None:
                foreign.setdefault(dev, rule)
    return chain, pins, foreign


def decide_present(pins, foreign, devices, zone, match, pin_args):
    """state=present, pure: (pins to delete, [(device, rule args)] to insert, warnings).

    A device with exactly one pin of ours in the right zone and match is left alone; its
    other pins are replaced. A device that has someone else's CT rule and no pin of ours
    is left alone (with a warning when that rule's zone is another one).
    """
    by_dev = {}
    for rule in pins:
        by_dev.setdefault(rule.device()[1], []).append(rule)
    stale, wanted, warnings = [], [], []
    for dev in devices:
        have = by_dev.get(dev, [])
        if not have and dev in foreign:
            other = foreign[dev].ct_zone()
            if other != zone:
                warnings.append(
                    "%s already has a CT rule in chain %s (%s) that is not ours; "
                    "left alone" % (dev, foreign[dev].chain,
                                    "zone %s" % other if other is not None else
                                    " ".join(foreign[dev].target_args)))
            continue
        good = [r for r in have if r.ct_zone() == zone and r.device() == (match, dev)]
        if len(have) == 1 and good:
            continue
        stale += have
        wanted.append((dev, pin_args(dev)))
    return stale, wanted, warnings


def decide_absent(table, chain, pins, selected):
    """state=absent, pure: (pins to delete, our jumps to the chain to delete, drop the chain).

    The jump create_chain made, and the chain itself if nothing else uses it, go with
    the last pin.
    """
    gone = [r for r in pins if selected(r.device()[1] or "")]
    keep = [r for r in pins if r not in gone]
    jumps, drop_chain = [], False
    if chain is not None and not keep:
        jumps = [r for r in table.references(chain.name) if COMMENT in r.comments()]
        others = [r for r in table.references(chain.name) if r not in jumps]
        drop_chain = bool(jumps and not others and len(chain.rules) == len(gone)
                          and not chain.builtin)
    return gone, jumps, drop_chain


class ConntrackZonePin(StackhopModule):
    argument_spec = dict(
        devices=dict(type="list", elements="str"),
        device_regex=dict(type="str"),
        zone=dict(type="int", default=0),
        chain=dict(type="str", default="neutron-openvswi-PREROUTING"),
        create_chain=dict(type="bool", default=False),
        match=dict(type="str", choices=["physdev", "interface"], default="physdev"),
        ip_versions=dict(type="list", elements="int", choices=[4, 6], default=[4, 6]),
        save_wrapper=dict(type="bool", default=True),
        wrapper_dir=dict(type="path", default="/usr/local/sbin"),
        rootwrap_conf=dict(type="str", default="/etc/neutron/rootwrap.conf"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module_kwargs = dict(mutually_exclusive=[("devices", "device_regex")])

    # -- input ---------------------------------------------------------------
    def validate(self):
        p = self.params
        if not 0 <= p["zone"] <= 65535:
            raise StackhopError(
                "zone %d is out of range; conntrack zones are 0 to 65535 (0 keeps kilo's "
                "connections)" % p["zone"])
        chain = p["chain"]
        if not chain or len(chain) > CHAIN_MAX or re.search(r"\s", chain):
            raise StackhopError(
                "chain %r is not a valid iptables chain name; use 1 to %d characters "
                "without blanks" % (chain, CHAIN_MAX))
        if not p["ip_versions"]:
            raise StackhopError("ip_versions is empty; give [4], [6] or [4, 6]")
        if p["devices"] is not None:
            bad = [d for d in p["devices"]
                   if not d or len(d) > IFNAMSIZ or re.search(r"[\s/]", d)]
            if bad:
                raise StackhopError(
                    "devices %s are not valid interface names; use 1 to %d characters "
                    "without blanks or slashes" % (", ".join(repr(b) for b in bad), IFNAMSIZ))
            if not p["devices"]:
                raise StackhopError("devices is empty; list the devices to pin or use device_regex")
        try:
            self.regex = re.compile(p["device_regex"] or DEFAULT_REGEX)
        except re.error as exc:
            raise StackhopError("device_regex %r is not a valid regular expression (%s); "
                                "fix it" % (p["device_regex"], exc))
        wrapper_dir = os.path.realpath(p["wrapper_dir"])
        if any(os.path.realpath(d) == wrapper_dir for d in SYSTEM_DIRS):
            raise StackhopError(
                "wrapper_dir %s holds the real iptables tools; use a directory of its own "
                "such as /usr/local/sbin" % p["wrapper_dir"])
        if p["save_wrapper"] and p["state"] == "present" and not os.path.isdir(p["wrapper_dir"]):
            raise StackhopError(
                "wrapper_dir %s does not exist; create it or set save_wrapper: false"
                % p["wrapper_dir"])

    @staticmethod
    def host_interfaces():
        # /sys/class/net lists the interfaces of the network namespace we run in.
        return set(os.listdir("/sys/class/net"))

    def select_present_devices(self):
        p = self.params
        ifaces = self.host_interfaces()
        if p["devices"] is not None:
            missing = [d for d in p["devices"] if d not in ifaces]
            if missing:
                raise StackhopError(
                    "devices %s are not interfaces of %s; remove them from devices or run "
                    "the task on the host that has them" % (", ".join(missing), self._host()))
            return list(dict.fromkeys(p["devices"]))
        return sorted(d for d in ifaces if self.regex.search(d))

    def selected(self, device):
        p = self.params
        if p["devices"] is not None:
            return device in p["devices"]
        return bool(self.regex.search(device))

    # -- tools ---------------------------------------------------------------
    def real_tool(self, name):
        wrapper_dir = os.path.realpath(self.params["wrapper_dir"])
        for directory in SYSTEM_DIRS:
            if os.path.realpath(directory) == wrapper_dir:
                continue
            path = os.path.join(directory, name)
            if os.path.isfile(path) and os.access(path, os.X_OK) and not self._is_wrapper(path):
                return path
        raise StackhopError(
            "the real %s was not found in %s on %s; install the iptables package"
            % (name, ", ".join(SYSTEM_DIRS), self._host()))

    @staticmethod
    def _read_head(path):
        try:
            with open(path, "rb") as f:
                return f.read(400).decode("utf-8", "replace")
        except OSError:
            return ""

    def _is_wrapper(self, path):
        return is_ours(self._read_head(path))

    # -- rules ---------------------------------------------------------------
    def pin_args(self, device):
        p = self.params
        if p["match"] == "physdev":
            sel = ["-m", "physdev", "--physdev-in", device]
        else:
            sel = ["-i", device]
        return sel + ["-m", "comment", "--comment", COMMENT, "-j", "CT", "--zone", str(p["zone"])]

    def read_raw(self, version):
        save = self.real_tool(TOOLS[version][0])
        # The real tool, by absolute path: never the wrapper, whatever PATH says.
        _rc, out, _err = self.run_command([save, "-t", "raw"])
        return parse_save(out).get("raw") or Table("raw")

    @staticmethod
    def rule_line(rule, zone=None):
        """iptables-save style line with the zone written out (diff output)."""
        text = "-A %s %s" % (rule.chain, rule.spec())
        if zone is not None and rule.ct_zone() == 0 and not rule.target_args:
            text += " --zone 0"
        return text

    def plan_version(self, version, table, devices, warnings):
        """(payload, added, removed, present, before lines, after lines) for one version."""
        p = self.params
        chain_name = p["chain"]
        chain, pins, foreign = read_pins(table, chain_name)
        diff = self.diff_mode
        before = [self.rule_line(r, True) for r in pins] if diff else []
        payload = RestorePayload()
        if p["state"] == "present":
            if chain is None and not p["create_chain"]:
                raise StackhopError(
                    "chain %s does not exist in the raw table of %s on %s; set "
                    "create_chain: true, or leave %d out of ip_versions"
                    % (chain_name, TOOLS[version][0].replace("-save", ""), self._host(), version))
            stale, wanted, notes = decide_present(pins, foreign, devices, p["zone"], p["match"],
                                                  self.pin_args)
            warnings.extend(notes)
            for rule in stale:
                payload.delete("raw", chain_name, rule.args)
            if chain is None and wanted:
                payload.new_chain("raw", chain_name)
                if chain_name not in ("PREROUTING", "OUTPUT"):
                    payload.insert("raw", "PREROUTING", 1,
                                   ["-m", "comment", "--comment", COMMENT, "-j", chain_name])
            for pos, (dev, want) in enumerate(wanted, 1):
                payload.insert("raw", chain_name, pos, want)
            added = set(dev for dev, _want in wanted)
            removed = set(r.device()[1] for r in stale)
            keep = [r for r in pins if r.device()[1] not in removed]
            new_lines = ["-A %s %s" % (chain_name, " ".join(restore_quote(a) for a in w))
                         for _d, w in wanted]
        else:
            gone, jumps, drop_chain = decide_absent(table, chain, pins, self.selected)
            for rule in gone:
                payload.delete("raw", chain_name, rule.args)
            for rule in jumps:
                payload.delete("raw", rule.chain, rule.args)
            if drop_chain:
                payload.delete_chain("raw", chain_name)
            added, removed = set(), set(r.device()[1] for r in gone)
            keep = [r for r in pins if r not in gone]
            new_lines = []
        present = set(r.device()[1] for r in keep) | added
        after = new_lines + [self.rule_line(r, True) for r in keep] if diff else []
        return payload, added, removed, present, before, after

    # -- files ---------------------------------------------------------------
    @staticmethod
    def read_text(path):
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StackhopError("%s cannot be read (%s); fix its permissions" % (path, exc.strerror))

    def write_file(self, path, text, mode):
        directory = os.path.dirname(path) or "."
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".stackhop-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            if os.path.exists(path):
                st = os.stat(path)
                os.chown(tmp, st.st_uid, st.st_gid)
                mode = st.st_mode & 0o7777 if mode is None else mode
            os.chmod(tmp, 0o644 if mode is None else mode)
            os.rename(tmp, path)
        except OSError as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise StackhopError("%s cannot be written (%s); check the directory" % (path, exc.strerror))

    def plan_wrappers(self, versions, pinned):
        """[(path, before, after)] for the wrappers that change (after None = remove).

        With state=absent a wrapper goes only when no managed pin of its IP version is
        left: the agent must keep seeing the zone of every pin that stays.
        """
        p = self.params
        changes = []
        python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
        for version in versions:
            name = TOOLS[version][0]
            path = os.path.join(p["wrapper_dir"], name)
            current = self.read_text(path)
            ours = current is not None and is_ours(current)
            if p["state"] == "present":
                if current is not None and not ours:
                    raise StackhopError(
                        "%s exists and was not written by this module; move it away (it may be "
                        "an older hand-made wrapper) or set save_wrapper: false" % path)
                want = wrapper_text(self.real_tool(name), python)
                if current != want:
                    changes.append((path, current, want))
            elif ours and not pinned[version]:
                changes.append((path, current, None))
        return changes

    def wrappers_left(self, removed_paths):
        """Our wrappers that remain in wrapper_dir after the planned removals."""
        left = []
        for name in (TOOLS[4][0], TOOLS[6][0]):
            path = os.path.join(self.params["wrapper_dir"], name)
            text = self.read_text(path)
            if text is not None and is_ours(text) and path not in removed_paths:
                left.append(path)
        return left

    def plan_rootwrap(self):
        p = self.params
        path = p["rootwrap_conf"]
        if not path:
            return None
        text = self.read_text(path)
        if text is None:
            if p["state"] == "absent":
                return None
            raise StackhopError("rootwrap_conf %s does not exist; give the right path or set "
                                "rootwrap_conf to '' to leave rootwrap alone" % path)
        if p["state"] == "present":
            new = rootwrap.put_first(text, path, p["wrapper_dir"])
        else:
            if rootwrap.MARKER not in text:
                return None
            new = rootwrap.undo(text, path, p["wrapper_dir"])
        return (path, text, new) if new != text else None

    # -- run -----------------------------------------------------------------
    def run(self):
        p = self.params
        self.validate()
        versions = sorted(set(p["ip_versions"]))
        devices = self.select_present_devices() if p["state"] == "present" else []
        warnings = []
        if p["state"] == "present" and not devices:
            warnings.append("no interface of %s matches device_regex %r; nothing to pin"
                            % (self._host(), self.regex.pattern))
        # Everything is read and checked before anything is written.
        plans, wrappers, rootwrap_change = self.plan_all(versions, devices, warnings)
        changed = bool(any(plan[0] for plan in plans.values()) or wrappers or rootwrap_change)
        if changed and not self.check_mode:
            self.apply(plans, wrappers, rootwrap_change)
        for warning in warnings:
            self.ansible.warn(warning)
        added, removed, present = set(), set(), set()
        for dummy, a, r, pr, dummy_before, dummy_after in plans.values():
            added |= a
            removed |= r
            present |= pr
        return dict(
            changed=changed,
            added=sorted(added),
            removed=sorted(removed),
            present=sorted(present),
            wrapper_changed=bool(wrappers),
            rootwrap_changed=bool(rootwrap_change),
            diff=self.diff_of(plans, wrappers, rootwrap_change),
        )

    def plan_all(self, versions, devices, warnings):
        """The change set: per IP version its plan (plan_version), the wrappers to write or
        remove, and rootwrap.conf's change (or None)."""
        p = self.params
        plans = {}
        for version in versions:
            self.real_tool(TOOLS[version][1])
            plans[version] = self.plan_version(version, self.read_raw(version), devices, warnings)
        wrappers = []
        rootwrap_change = None
        if p["save_wrapper"] or p["state"] == "absent":
            wrappers = self.plan_wrappers(versions, {v: bool(plans[v][3]) for v in versions})
            # rootwrap goes back only when none of our wrappers is left.
            if p["state"] == "present" or not self.wrappers_left([w[0] for w in wrappers]):
                rootwrap_change = self.plan_rootwrap()
        return plans, wrappers, rootwrap_change

    def diff_of(self, plans, wrappers, rootwrap_change):
        """The diff of the change set: the managed pins per IP version, then the files."""
        chain = self.params["chain"]
        diff = []
        for version in sorted(plans):
            before, after = plans[version][4], plans[version][5]
            if before != after:
                header = "%s raw %s (managed pins)" % (TOOLS[version][0][:-5], chain)
                diff.append({
                    "before_header": header,
                    "after_header": header,
                    "before": "\n".join(before) + ("\n" if before else ""),
                    "after": "\n".join(after) + ("\n" if after else ""),
                })
        for path, before, after in wrappers:
            diff.append({"before_header": path, "after_header": path,
                         "before": before or "", "after": after or ""})
        if rootwrap_change:
            path, before, after = rootwrap_change
            diff.append({"before_header": path, "after_header": path,
                         "before": before, "after": after})
        return diff

    def apply(self, plans, wrappers, rootwrap_change):
        """Write the change set: one restore transaction per IP version, then the files."""
        for version in sorted(plans):
            payload = plans[version][0]
            if payload:
                # One transaction per IP version for the whole change set.
                self.run_command([self.real_tool(TOOLS[version][1]), "--noflush"],
                                 data=payload.text())
        for path, dummy_before, after in wrappers:
            if after is None:
                self.executed_commands.append("rm %s" % path)
                os.unlink(path)
            else:
                self.executed_commands.append("write %s" % path)
                self.write_file(path, after, 0o755)
        if rootwrap_change:
            path, dummy_before, after = rootwrap_change
            self.executed_commands.append("write %s" % path)
            self.write_file(path, after, None)


def main():
    ConntrackZonePin()()


if __name__ == "__main__":
    main()
