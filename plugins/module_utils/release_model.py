# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""The OpenStack release model: every release kilo .. 2026.2, in one place.

Pure Python (no Ansible import) so module_utils, filter and lookup plugins and the
unit tests all read the same data.

Sources of the data below:

* Release names, numbers, dates and the SLURP flag: openstack/releases
  ``data/series_status.yaml`` (2023.1 antelope is the first release with a
  ``release-id``; every ``.1`` since carries ``slurp: yes``, as the governance
  resolution 20220210-release-cadence-adjustment decided). Numbers before 2023.1
  are the year.half of the release date (kilo shipped as 2015.1.0).
* Service versions: the version each component's ``stable/<series>`` branch was
  cut from, openstack/releases ``deliverables/<series>/<component>.yaml``
  (``branches: location``); kilo .. mitaka, which predate that field, from the
  releases listed there. 2026.2 hibiscus: the new major version on PyPI
  (``pip index versions``) after 2026.1's; ironic's 2026.2 series is not yet
  known (ironic releases several majors per cycle), so it is ``None``.
* ``exclude_newer``: the date for ``uv pip install --exclude-newer`` of the venv
  install method: the first day of the second month after the release date, so
  the first stable fixes are in (lab-notes: 2024.1 -> 2024-06-01, 2025.1 ->
  2025-06-01; both rehearsed on this machine).
* Hop quirks: the operator write-ups (DeNA, HULK, CERN, NHN, MCP in
  shared/seeds, digested in shared/procedures.md), the peer survey
  (shared/peers.md) and the OpenStack release notes named in each quirk.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.stackhop.upgrade.plugins.module_utils import components
from ansible_collections.stackhop.upgrade.plugins.module_utils import compute_cost

# What each component is (its package, its databases, the order) is the component
# catalogue's; this module adds what changes by release.
COMPONENTS = components.ORDER
DEFAULT_COMPONENT_ORDER = components.ORDER
PIP_NAMES = {name: entry["package"] for name, entry in components.CATALOGUE.items()}
# component -> databases its migrations touch
DATABASES = {name: tuple(entry["databases"]) for name, entry in components.CATALOGUE.items()}

# codename, number, initial release date, slurp,
# versions: keystone glance placement nova neutron cinder ironic
# (major version of the stable branch; ironic: its stable series major.minor;
#  placement: None while it was part of nova, i.e. before stein).
_RELEASE_TABLE = (
    ("kilo", "2015.1", "2015-04-30", False,
     ("2015.1", "2015.1", None, "2015.1", "2015.1", "2015.1", "2015.1")),
    ("liberty", "2015.2", "2015-10-15", False,
     ("8", "11", None, "12", "7", "7", "4.2")),
    ("mitaka", "2016.1", "2016-04-07", False,
     ("9", "12", None, "13", "8", "8", "5.1")),
    ("newton", "2016.2", "2016-10-06", False,
     ("10", "13", None, "14", "9", "9", "6.2")),
    ("ocata", "2017.1", "2017-02-22", False,
     ("11", "14", None, "15", "10", "10", "7.0")),
    ("pike", "2017.2", "2017-08-30", False,
     ("12", "15", None, "16", "11", "11", "9.0")),
    ("queens", "2018.1", "2018-02-28", False,
     ("13", "16", None, "17", "12", "12", "10.1")),
    ("rocky", "2018.2", "2018-08-30", False,
     ("14", "17", None, "18", "13", "13", "11.1")),
    ("stein", "2019.1", "2019-04-10", False,
     ("15", "18", "1", "19", "14", "14", "12.1")),
    ("train", "2019.2", "2019-10-16", False,
     ("16", "19", "2", "20", "15", "15", "13.0")),
    ("ussuri", "2020.1", "2020-05-13", False,
     ("17", "20", "3", "21", "16", "16", "15.0")),
    ("victoria", "2020.2", "2020-10-14", False,
     ("18", "21", "4", "22", "17", "17", "16.0")),
    ("wallaby", "2021.1", "2021-04-14", False,
     ("19", "22", "5", "23", "18", "18", "17.0")),
    ("xena", "2021.2", "2021-10-06", False,
     ("20", "23", "6", "24", "19", "19", "18.2")),
    ("yoga", "2022.1", "2022-03-30", False,
     ("21", "24", "7", "25", "20", "20", "20.1")),
    ("zed", "2022.2", "2022-10-05", False,
     ("22", "25", "8", "26", "21", "21", "21.1")),
    ("antelope", "2023.1", "2023-03-22", True,
     ("23", "26", "9", "27", "22", "22", "21.4")),
    ("bobcat", "2023.2", "2023-10-04", False,
     ("24", "27", "10", "28", "23", "23", "23.0")),
    ("caracal", "2024.1", "2024-04-03", True,
     ("25", "28", "11", "29", "24", "24", "24.1")),
    ("dalmatian", "2024.2", "2024-10-02", False,
     ("26", "29", "12", "30", "25", "25", "26.1")),
    ("epoxy", "2025.1", "2025-04-02", True,
     ("27", "30", "13", "31", "26", "26", "29.0")),
    ("flamingo", "2025.2", "2025-10-01", False,
     ("28", "31", "14", "32", "27", "27", "32.0")),
    ("gazpacho", "2026.1", "2026-04-01", True,
     ("29", "32", "15", "33", "28", "28", "35.0")),
    ("hibiscus", "2026.2", "2026-09-30", False,
     ("30", "33", "16", "34", "29", "29", None)),
)

# The oldest compute release nova's control services accept (nova/objects/service.py
# OLDEST_SUPPORTED_SERVICE_VERSION, by the release that shipped each value; the check
# exists from wallaby, nova 23). Older computes make nova-api/conductor refuse to start
# unless [workarounds] disable_compute_service_check_for_ffu is set. Since 2024.1 it is
# the previous SLURP release, so a SLURP jump needs no workaround.
NOVA_OLDEST_COMPUTE = {
    "wallaby": "victoria", "xena": "wallaby", "yoga": "xena", "zed": "yoga",
    "antelope": "yoga", "bobcat": "antelope", "caracal": "antelope",
    "dalmatian": "caracal", "epoxy": "caracal", "flamingo": "epoxy",
    "gazpacho": "epoxy", "hibiscus": "gazpacho",
}

# Schema versions MCP pinned when jumping mitaka -> ocata with ocata's code
# (seed 004: "api_db sync --version 20", "db sync --version 334", both newton).
NOVA_LEGACY_SCHEMA = {
    "newton": {"api_db": 20, "db": 334},
}


# Dependency pins a release needs beyond its --exclude-newer date: a library released
# before that date that breaks the release. OpenStack's upper-constraints file held it
# back; a venv installed without that file (uv pip install --exclude-newer DATE) must
# carry the pin, so every install of the release gets it from here.
PIP_PINS = {
    # SQLAlchemy 2.0: 2023.1's nova, keystone and cinder import sqlalchemy-migrate, which
    # imports sqlalchemy.databases (gone in 2.0): nova-manage, keystone-manage and
    # cinder-manage die on import. Measured on a venv built with --exclude-newer
    # 2023-05-01 (SQLAlchemy 2.0.12); upper-constraints of stable/2023.1 holds 1.4.41.
    # 2023.2's (SQLAlchemy 2.0.23, oslo.db 14.1) imports every service, but its cinder's
    # alembic env.py calls connect() on the Connection oslo.db hands it, which SQLAlchemy
    # 2.0 no longer has: `cinder-manage db sync` dies ("'Connection' object has no
    # attribute 'connect'"), measured on the Debian region's zed -> 2024.1 fast-forward;
    # upper-constraints of stable/2023.2 holds SQLAlchemy 1.4.49.
    "2023.1": ("SQLAlchemy<2",),
    "2023.2": ("SQLAlchemy<2",),
    # netaddr 1.x: 2024.1's neutron(-lib) makes `openstack subnet create` answer 500
    # ("'list' object has no attribute 'split'" in neutron-lib's converter), measured on
    # the lab region (lab/region.md); upper-constraints of stable/2024.1 holds
    # netaddr at 0.10.1.
    "2024.1": ("netaddr<1",),
    # oslo.policy 4.5.0: glance 29.0.0 (2024.2) builds a policy Enforcer when
    # glance.common.config is imported, which now looks for the policy file before the
    # configuration is parsed; every glance command, glance-manage --help included, dies
    # with oslo_config.cfg.NotInitializedError. Measured on the lab's fast-forward
    # (2024.2's glance-manage db_sync); 4.4.0 works.
    "2024.2": ("oslo.policy<4.5",),
}


# Values a release no longer accepts inside a list option: {component: {release number:
# {(section, option): {item: why}}}}. Option renames and removals come from each release's
# own oslo.config metadata (config_migrate); a list's items are not options, so what a
# release removed from them is written here, each measured on the releases' venvs.
REMOVED_LIST_ITEMS = {
    "nova": {
        # nova 28.0.0 (2023.2) has no AvailabilityZoneFilter (nova/scheduler/filters has no
        # availability_zone_filter.py; 27.0.0 has it): a scheduler whose enabled_filters
        # names it does not start ("Scheduler Host Filter AvailabilityZoneFilter could not
        # be found", measured on the Debian region's zed -> 2024.1). Placement has filtered
        # availability zones since 24.0.0 (Xena), so dropping it changes no placement.
        "2023.2": {("filter_scheduler", "enabled_filters"): {
            "AvailabilityZoneFilter": "nova 2023.2 removed AvailabilityZoneFilter (placement "
                                      "filters availability zones since Xena)"}},
    },
}


class ReleaseModelError(ValueError):
    """A request the model refuses; the message is one sentence with the fix."""


def _exclude_newer(date_text):
    day = datetime.date(*[int(x) for x in date_text.split("-")])
    month = day.month + 2
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime.date(year, month, 1).isoformat()


def _pip_spec(component, version):
    if version is None:
        return None
    return "%s==%s.*" % (PIP_NAMES[component], version)


def _build_releases():
    releases = []
    for index, (codename, number, date, slurp, versions) in enumerate(_RELEASE_TABLE):
        comps = dict(zip(("keystone", "glance", "placement", "nova", "neutron",
                          "cinder", "ironic"), versions))
        releases.append({
            "index": index,
            "codename": codename,
            "number": number,
            "official_number": number >= "2023.1" or codename == "kilo",
            "released": date,
            "slurp": slurp,
            "versions": comps,
            "pip_specs": dict((c, _pip_spec(c, v)) for c, v in comps.items()),
            "pip_pins": list(PIP_PINS.get(number, ())),
            "exclude_newer": _exclude_newer(date),
        })
    return releases


RELEASES = _build_releases()
_BY_KEY = {}
for _r in RELEASES:
    _BY_KEY[_r["codename"]] = _r
    _BY_KEY[_r["number"]] = _r


def release_names():
    """Codenames, oldest first."""
    return [r["codename"] for r in RELEASES]


def label(release):
    return "%s (%s)" % (release["number"], release["codename"])


def get_release(name):
    """The release dict for a codename ('caracal', 'Caracal') or number ('2024.1')."""
    key = str(name).strip().lower()
    if key in _BY_KEY:
        return _BY_KEY[key]
    raise ReleaseModelError(
        "Unknown OpenStack release %r: use a codename (%s .. %s) or a number "
        "(%s .. %s)." % (name, RELEASES[0]["codename"], RELEASES[-1]["codename"],
                         RELEASES[0]["number"], RELEASES[-1]["number"]))


def service_version(release, component):
    """Major version (ironic: series) of ``component`` in ``release``; None if absent."""
    rel = get_release(release) if not isinstance(release, dict) else release
    if component not in COMPONENTS:
        raise ReleaseModelError(
            "Unknown component %r: use one of %s." % (component, ", ".join(COMPONENTS)))
    return rel["versions"][component]


def release_of_version(component, version):
    """The release whose ``component`` has major version ``version`` (e.g. nova 29)."""
    text = str(version)
    for rel in RELEASES:
        have = rel["versions"].get(component)
        if have is None:
            continue
        if text == have or text.startswith(have + "."):
            return rel
    raise ReleaseModelError(
        "No release in the model ships %s %s: check the version, or extend "
        "_RELEASE_TABLE in plugins/module_utils/release_model.py." % (component, version))


# ---------------------------------------------------------------------------
# Hop quirks.
#
# ``into``: the quirk applies when the upgrade path crosses into this release
#           (current < into <= target); None = every upgrade.
# ``since``: instead of ``into``: applies when the target is this release or
#           later (behaviour that stays, e.g. nova's too-old-compute check).
# ``when``: extra condition: "always", "skip_level" (the path skips at least one
#           release without running it: SLURP jump or fast-forward),
#           "fast_forward", "blue_green", "in_place", "old_computes" (computes on the
#           current release are older than the target's nova accepts).
# ``phase``: preflight, control_plane or compute: where the handler runs.
# ``handled_by``: a module of this collection (stackhop.upgrade.X) or a role
#           task path (roles/<role>/...); "plan" = the planner acts on it itself.
# ---------------------------------------------------------------------------
QUIRKS = (
    {
        "id": "ovs_other_config",
        "into": "liberty", "when": "always", "component": "neutron", "phase": "compute",
        "description": "kilo leaves each qvo port's other_config empty; liberty's OVS "
                       "agent re-tags every port without net_uuid, network_type, "
                       "physical_network, segmentation_id and tag there, and VMs lose "
                       "traffic for seconds: write them before the agent upgrade.",
        "source": "DeNA (seed 000, Neutron compute node)",
        "handled_by": "stackhop.upgrade.ovs_other_config",
        # what the computes' rollback does about it (playbooks/rollback_computes.yml)
        "rollback": {"inverse": None,
                     "note": "none needed: the older agent ignores the keys written into each "
                             "port's other_config and writes its own"},
    },
    {
        "id": "conntrack_zone_pin",
        "into": "liberty", "when": "always", "component": "neutron", "phase": "compute",
        "description": "liberty gives every port its own conntrack zone while kilo kept "
                       "all connections in zone 0, so established connections are "
                       "dropped: pin zone 0 with a raw-table CT rule, an iptables-save "
                       "wrapper that keeps ' --zone 0', and /usr/local/sbin first in "
                       "rootwrap exec_dirs.",
        "source": "DeNA (seed 000, Neutron compute node)",
        "handled_by": "stackhop.upgrade.conntrack_zone_pin",
        "rollback": {"inverse": None,
                     "note": "none exists: kilo's agent keeps every connection in zone 0, the "
                             "pin stays harmless; remove chain stackhop-zone-pin by hand if wanted"},
    },
    {
        "id": "fail_mode_secure",
        "into": "liberty", "when": "always", "component": "neutron", "phase": "compute",
        "description": "neutron >= 7.2.0 sets fail_mode secure on the OVS bridges, which "
                       "flushes their flows when the new agent starts: set it "
                       "beforehand with the agent stopped, keeping the flows.",
        "source": "DeNA (seed 000, Neutron compute node)",
        "handled_by": "stackhop.upgrade.fail_mode_secure",
        "rollback": {"inverse": None, "again": True,
                     "note": "no inverse: fail_mode stays secure (the older agent sets it too) and "
                             "is set again with the agent stopped, so the bridges keep their flows"},
    },
    {
        "id": "br_int_bandwidth_table",
        "into": "epoxy", "when": "always", "component": "neutron", "phase": "compute",
        "description": "neutron 26 adds table 59 (BANDWIDTH_RATE_LIMIT) to br-int's "
                       "pipeline, and its agent points table 58 at it before giving it a "
                       "flow: when it starts, every VM packet of the node meets an empty "
                       "table for milliseconds and is dropped. Give table 59 its default "
                       "flow before the new agent starts.",
        "source": "stackhop lab, 2024.1 -> 2025.1: 1 to 3 ICMP requests at 250/s lost per "
                  "compute between qvo and the uplink (neutron's br_int.py "
                  "setup_default_table)",
        "handled_by": "stackhop.upgrade.ovs_default_flows",
        # the flows stackhop.upgrade.ovs_default_flows gives br-int
        "br_int_flows": [{"table": 59, "priority": 0, "actions": "goto_table:60"}],
        "rollback": {"inverse": None,
                     "note": "none needed: the older agent's table 58 flow (goto_table:60) replaces "
                             "the one into table 59 when it starts, and its stale-flow cleanup then "
                             "deletes table 59's flow: no packet meets an empty table"},
    },
    {
        "id": "nova_api_db",
        "into": "mitaka", "when": "always", "component": "nova", "phase": "control_plane",
        "description": "mitaka needs the nova_api database migrated too: run "
                       "'nova-manage api_db sync' as well as 'nova-manage db sync'.",
        "source": "DeNA (seed 000, Nova controller), HULK (seed 001)",
        "handled_by": "roles/nova_controller/tasks/migrate.yml",
    },
    {
        "id": "nova_neutron_domain_options",
        "into": "mitaka", "when": "always", "component": "nova", "phase": "control_plane",
        "description": "mitaka nova fails to boot servers unless the [neutron] section "
                       "of nova.conf has user_domain_name, project_domain_name and "
                       "project_name.",
        "source": "HULK (seed 001, 'neutron配置错误导致创建虚拟机失败')",
        "handled_by": "roles/nova_controller/templates/nova.conf.j2 and "
                      "roles/nova_compute/templates/nova.conf.j2",
    },
    {
        "id": "keystone_wsgi_scripts_mitaka",
        "into": "mitaka", "when": "always", "component": "keystone",
        "phase": "control_plane",
        "description": "mitaka serves keystone through keystone-wsgi-admin and "
                       "keystone-wsgi-public instead of /var/www/cgi-bin/keystone/main, "
                       "and keystone.conf names drivers by entry point ('sql') instead "
                       "of module path.",
        "source": "HULK (seed 001, keystone log warnings and M recommendation)",
        "handled_by": "roles/keystone/templates",
    },
    {
        "id": "nova_v21_endpoint",
        "into": "mitaka", "when": "always", "component": "nova", "phase": "control_plane",
        "description": "the compute endpoint must point to the v2.1 API; clients of the "
                       "old v2 endpoint break (found by HULK's API users, not the CLI).",
        "source": "HULK (seed 001, kilo->mitaka), NHN (seed 003, kilo->queens)",
        "handled_by": "roles/endpoint_switch",
    },
    {
        "id": "keystone_v2_client_removed",
        "into": "ocata", "when": "always", "component": "keystone",
        "phase": "control_plane",
        "description": "keystone v2 client support is gone in ocata: endpoints are "
                       "managed with the openstack client (keystone v3) only.",
        "source": "MCP (seed 004, mitaka->ocata)",
        "handled_by": "roles/endpoint_switch",
    },
    {
        "id": "nova_cells_v2",
        "into": "ocata", "when": "always", "component": "nova", "phase": "control_plane",
        "description": "cells v2 is mandatory in ocata: a nova_cell0 database, then "
                       "map_cell0, create_cell cell1, discover_hosts, map_instances, "
                       "between newton's and ocata's schema migrations.",
        "source": "MCP (seed 004, nova db sync sequence), NHN (seed 003)",
        "handled_by": "stackhop.upgrade.nova_cell_v2",
    },
    {
        "id": "placement_api_mandatory",
        "into": "ocata", "when": "always", "component": "nova",
        "phase": "control_plane",
        "description": "ocata needs the placement API (service, endpoint, load-balancer "
                       "entry) before nova-compute starts.",
        "source": "MCP (seed 004, 'Nova Placement API')",
        "handled_by": "roles/placement",
    },
    {
        "id": "cinder_v3_endpoint",
        "into": "ocata", "when": "always", "component": "cinder",
        "phase": "control_plane",
        "description": "ocata requires the cinder volumev3 endpoint; register it and keep "
                       "volumev2 pointing at the new service.",
        "source": "MCP (seed 004), NHN (seed 003, 'volumev3 앤드포인트 등록')",
        "handled_by": "roles/endpoint_switch",
    },
    {
        "id": "cinder_before_nova",
        "into": "queens", "when": "always", "component": "cinder",
        "phase": "control_plane",
        "description": "queens nova and neutron use cinder v3, so cinder is upgraded "
                       "before nova; the planner warns when the component order puts "
                       "nova first.",
        "source": "NHN (seed 003, 'Queens Nova/Neutron 에서 cinderv3 이용하므로 Cinder 부터')",
        "handled_by": "plan",
    },
    {
        "id": "keystone_v2_api_removed",
        "into": "queens", "when": "always", "component": "keystone",
        "phase": "control_plane",
        "description": "keystone deprecated the v2.0 API in mitaka for removal in "
                       "queens (authentication and EC2 excepted): every client and "
                       "service must authenticate with v3.",
        "source": "keystone 9.0.0 release note deprecate-v2-apis-894284c17be881d2",
        "handled_by": "roles/preflight (release notes acknowledgement) and roles/keystone",
    },
    {
        "id": "glance_v1_removed",
        "into": "rocky", "when": "always", "component": "glance",
        "phase": "control_plane",
        "description": "the Images API v1 is removed in glance 17.0.0: every v1 user must "
                       "move to v2, where is_public became visibility.",
        "source": "glance 17.0.0 release note rocky-rc-b0ea7628b7a74c96; NHN (seed 003)",
        "handled_by": "roles/preflight (release notes acknowledgement) and roles/glance",
    },
    {
        "id": "placement_extracted",
        "into": "stein", "when": "always", "component": "placement",
        "phase": "control_plane",
        "description": "placement becomes its own deliverable (openstack-placement) with "
                       "its own database; its data moves out of nova_api.",
        "source": "openstack/releases deliverables/stein/placement.yaml; placement "
                  "doc/source/admin/upgrade-to-stein.rst",
        "handled_by": "roles/placement",
    },
    {
        "id": "nova_too_old_compute",
        "since": "wallaby", "when": "old_computes", "component": "nova",
        "phase": "control_plane",
        "description": "the target's nova services refuse to start while computes older "
                       "than its oldest supported release exist (the previous SLURP "
                       "release since 2024.1, so a SLURP jump is fine): set [workarounds] "
                       "disable_compute_service_check_for_ffu = True on the control "
                       "services for the window and remove it once every compute runs "
                       "the target release.",
        "source": "nova 23.0.0 release note prevent-starting-services-with-old-compute; "
                  "nova/objects/service.py OLDEST_SUPPORTED_SERVICE_VERSION; "
                  "grenade-skip-level-always job (peers.md)",
        "handled_by": "roles/nova_controller/tasks/configure.yml",
    },
    {
        "id": "nova_status_old_compute",
        "since": "zed", "when": "old_computes", "component": "nova", "phase": "preflight",
        "description": "nova-status upgrade check fails (non-zero) while computes older "
                       "than the target's oldest supported release exist; on such a "
                       "fast-forward path that result is expected before the computes "
                       "are upgraded and is reported, not hidden.",
        "source": "nova 26.0.0 release note too-old-compute-check-code-7dbcde45cfd23394",
        "handled_by": "roles/preflight/tasks/upgrade_check.yml",
    },
    {
        "id": "keystone_wsgi_module",
        "into": "flamingo", "when": "always", "component": "keystone",
        "phase": "control_plane",
        "description": "keystone-wsgi-public and keystone-wsgi-admin are removed: WSGI "
                       "servers load keystone.wsgi.api:application (available since "
                       "2025.1).",
        "source": "keystone 28.0.0 release note remove-wsgi-scripts-615b97ee4d6e0de2; "
                  "27.0.0 add-keystone-wsgi-module",
        "handled_by": "roles/keystone",
    },
    {
        "id": "glance_wsgi_module",
        "into": "flamingo", "when": "always", "component": "glance",
        "phase": "control_plane",
        "description": "the glance-wsgi-api script is removed: WSGI servers load "
                       "glance.wsgi.api.",
        "source": "glance 31.0.0 release note remove-wsgi-script-1b6bcc68eba5ef0a",
        "handled_by": "roles/glance",
    },
    {
        "id": "nova_wsgi_module",
        "into": "gazpacho", "when": "always", "component": "nova",
        "phase": "control_plane",
        "description": "nova-api-wsgi and nova-metadata-wsgi are removed: WSGI servers "
                       "load nova.wsgi.osapi_compute and nova.wsgi.metadata (available "
                       "since 2024.2).",
        "source": "nova 33.0.0 release note remove-wsgi-scripts-577090db75ecbade; "
                  "30.0.0 add-nova-wsgi-module",
        "handled_by": "roles/nova_controller",
    },
    {
        "id": "nova_online_migrations_each_release",
        "into": None, "when": "fast_forward", "component": "nova",
        "phase": "control_plane",
        "description": "run each intermediate release's online_data_migrations to the "
                       "end before the next release's db sync (leftover rows break later "
                       "syncs); archive/purge deleted rows first, it takes time in "
                       "proportion to the instances.",
        "source": "MCP (seed 004, sequence), NHN (seed 003, 'DB purge 추천'); peers.md "
                  "pain point 6",
        "handled_by": "roles/nova_controller/tasks/migrate.yml",
    },
    {
        "id": "rabbitmq_no_double_jump",
        "into": None, "when": "skip_level", "component": "rabbitmq",
        "phase": "preflight",
        "description": "RabbitMQ does not support jumping two versions, so a skip-level "
                       "OpenStack upgrade may need an intermediate RabbitMQ upgrade; "
                       "4.0 needs 3.13 first and mirrored queues moved to quorum queues.",
        "source": "peers.md: kolla-ansible operating-kolla.rst, openstack-ansible "
                  "major-upgrades.rst",
        "handled_by": "roles/preflight (acknowledgement)",
    },
    {
        "id": "rabbitmq_erlang_match",
        "into": None, "when": "always", "component": "rabbitmq", "phase": "preflight",
        "description": "keep Erlang at the version the RabbitMQ release supports: "
                       "HULK's newest-Erlang install made RabbitMQ's memory grow without "
                       "bound after the upgrade.",
        "source": "HULK (seed 001, 'rabbitmq 问题')",
        "handled_by": "roles/preflight (acknowledgement)",
    },
    {
        "id": "nova_rpc_pin",
        "into": None, "when": "always", "component": "nova", "phase": "control_plane",
        "description": "old computes talk to new control services only with "
                       "[upgrade_levels] compute pinned (auto), or with nova control "
                       "and compute upgraded together.",
        "source": "HULK (seed 001, RPC version mismatch); peers.md (KA, OSA "
                  "compute=auto)",
        "handled_by": "roles/nova_controller/tasks/configure.yml",
    },
    {
        "id": "shared_client_libraries",
        "into": None, "when": "in_place", "component": "nova", "phase": "control_plane",
        "description": "nova, neutron and glance on one controller share oslo and client "
                       "libraries: upgrading one in place breaks the others, so they are "
                       "upgraded in the same window.",
        "source": "HULK (seed 001, '组件依赖问题')",
        "handled_by": "plan",
    },
    {
        "id": "keystone_all_nodes",
        "into": None, "when": "always", "component": "keystone",
        "phase": "control_plane",
        "description": "tokens issued by the old keystone fail on the new one: upgrade "
                       "every keystone node together, then keystone-manage token_flush.",
        "source": "CERN (seed 002, Keystone)",
        "handled_by": "roles/keystone",
    },
    {
        "id": "neutron_dhcp_agent_drain",
        "into": None, "when": "blue_green", "component": "neutron",
        "phase": "control_plane",
        "description": "set the old DHCP agent admin-state-down, wait until its dnsmasq "
                       "processes are gone, stop it, then admin-state-up so the new agent "
                       "binds the networks.",
        "source": "DeNA (seed 000, Neutron controller)",
        "handled_by": "roles/neutron_controller",
    },
    {
        "id": "cinder_volume_host",
        "into": None, "when": "blue_green", "component": "cinder",
        "phase": "control_plane",
        "description": "volumes.host holds the old controller's name (HOST@backend#pool): "
                       "set a host= alias in cinder.conf, rewrite the column with "
                       "cinder-manage volume update_host, remove the old services.",
        "source": "DeNA (seed 000, Cinder), NHN (seed 003)",
        "handled_by": "roles/cinder",
    },
    {
        "id": "ironic_instance_host",
        "into": None, "when": "blue_green", "component": "ironic",
        "phase": "control_plane",
        "description": "nova instances.host and launched_on hold the old controller name "
                       "for ironic servers: rewrite them, copy /tftpboot and the ironic "
                       "image caches, and swap the controller in the aggregate.",
        "source": "DeNA (seed 000, Ironic)",
        "handled_by": "roles/control_plane/tasks/after_ironic.yml (stackhop.upgrade.ironic_host_move) "
                      "and state_files_ironic.yml",
    },
)

_QUIRK_WHEN = ("always", "skip_level", "fast_forward", "blue_green", "in_place",
               "old_computes")


def removed_list_items(component, target):
    """{(section, option): {item: why}} of the list items of ``component``'s options that the
    ``target`` release no longer accepts: those removed by it or any release before it (a
    removed name never comes back, and a file a resumed run already moved part of the way
    may still name it)."""
    order = [rel["number"] for rel in RELEASES]
    upto = order.index(get_release(target)["number"])
    removed = {}
    for number, options in sorted(REMOVED_LIST_ITEMS.get(component, {}).items(), key=lambda kv: order.index(kv[0])):
        if order.index(number) <= upto:
            for key, items in options.items():
                removed.setdefault(key, {}).update(items)
    return removed


def computes_too_old(current, target):
    """True when computes still on ``current`` are older than ``target``'s nova accepts."""
    cur = get_release(current)
    oldest = NOVA_OLDEST_COMPUTE.get(get_release(target)["codename"])
    return oldest is not None and cur["index"] < get_release(oldest)["index"]


def _check_quirks():
    seen = set()
    for quirk in QUIRKS:
        if quirk["id"] in seen:
            raise AssertionError("duplicate quirk %s" % quirk["id"])
        seen.add(quirk["id"])
        quirk.setdefault("into", None)
        quirk.setdefault("since", None)
        for key in ("into", "since"):
            if quirk[key] is not None:
                get_release(quirk[key])
        if quirk["when"] not in _QUIRK_WHEN:
            raise AssertionError("quirk %s: bad when %s" % (quirk["id"], quirk["when"]))


_check_quirks()


# ---------------------------------------------------------------------------
# Pre-flight checks (procedures.md §1). ``automated``: the preflight role runs it;
# otherwise it is an acknowledgement the operator gives with a variable.
# ---------------------------------------------------------------------------
PREFLIGHT_CHECKS = (
    {"id": "discovery", "automated": True, "source": "NHN, DeNA (packages, venvs)",
     "description": "what each host runs, read from the host (service_discovery): code "
                    "stackhop cannot tell, a component mixed across releases or installations, "
                    "or a release other than the current or target one stops the region"},
    {"id": "config_options", "automated": True, "source": "HULK, MCP (config diffed per release)",
     "description": "each service's config files (as discovery found them) against the target "
                    "release's own option metadata: options it no longer declares, with the "
                    "release that removed them, and the renames the upgrade applies"},
    {"id": "db_grants", "automated": True, "source": "HULK",
     "description": "each service database user may ALTER, DROP, CREATE and INDEX "
                    "its databases"},
    {"id": "upgrade_check", "automated": True, "source": "oslo.upgradecheck; KA, MCP",
     "description": "<service>-status upgrade check from the target release's code "
                    "(0 ok, 1 warning, 2 failure, 255 error)"},
    {"id": "schema_revisions", "automated": True, "source": "HULK",
     "description": "no alembic revision in a service database that the target "
                    "release does not know (locally altered schema)"},
    {"id": "ovs_cleanup_state", "automated": True, "source": "DeNA",
     "description": "neutron-ovs-cleanup has run (active) on every compute"},
    {"id": "control_reachable", "automated": True, "source": "HULK",
     "description": "neutron-server and RabbitMQ reachable from every compute"},
    {"id": "no_transitional_state", "automated": True, "source": "NHN",
     "description": "no server, volume or port in a transitional state"},
    {"id": "free_disk", "automated": True, "source": "CERN, DeNA",
     "description": "free disk on the dump directory for every database dump"},
    {"id": "version_consistency", "automated": True, "source": "HULK, COU",
     "description": "the same package or venv versions on every host of a role"},
    {"id": "saved_inventories", "automated": True, "source": "CERN",
     "description": "servers, volumes, ports, networks and agents saved for the "
                    "after-comparison"},
    {"id": "release_notes_read", "automated": False, "source": "HULK, MCP",
     "description": "release notes of every release on the path read and config "
                    "options diffed"},
    {"id": "config_management_paused", "automated": False, "source": "CERN",
     "description": "config management (puppet) and monitoring auto-restart disabled "
                    "for the window"},
)


# ---------------------------------------------------------------------------
# The hop planner.
# ---------------------------------------------------------------------------
def upgrade_path(current, target):
    """The path from ``current`` to ``target``.

    Returns a dict:
      mode: "direct" (N -> N+1), "slurp" (SLURP -> next SLURP, skipping one
            release) or "fast_forward" (everything else: every intermediate
            release's schema migrations in order, services started on the target);
      releases: every release the databases pass through, current first;
      migrations: the releases whose migrations run, in order;
      skipped: releases passed over without running their migrations (SLURP);
      hops: [{from, to}] the steps between consecutive migration releases.
    """
    cur = get_release(current)
    tgt = get_release(target)
    if tgt["index"] == cur["index"]:
        raise ReleaseModelError(
            "Current and target release are both %s: there is nothing to upgrade; set "
            "stackhop_target_release to a later release." % label(cur))
    if tgt["index"] < cur["index"]:
        raise ReleaseModelError(
            "Refusing to go from %s back to %s: that is a downgrade, which OpenStack "
            "database migrations cannot do; restore the backup taken before the "
            "upgrade instead (playbooks/rollback.yml)." % (label(cur), label(tgt)))
    between = RELEASES[cur["index"] + 1:tgt["index"]]
    if not between:
        mode, migrations, skipped = "direct", [tgt], []
    elif cur["slurp"] and tgt["slurp"] and len(between) == 1:
        mode, migrations, skipped = "slurp", [tgt], list(between)
    else:
        mode, migrations, skipped = "fast_forward", list(between) + [tgt], []
    steps = [cur] + migrations
    return {
        "current": _brief(cur),
        "target": _brief(tgt),
        "mode": mode,
        "releases": [_brief(r) for r in RELEASES[cur["index"]:tgt["index"] + 1]],
        "migrations": [_brief(r) for r in migrations],
        "skipped": [_brief(r) for r in skipped],
        "hops": [{"from": _brief(a), "to": _brief(b)} for a, b in zip(steps, steps[1:])],
    }


def check_release(current, target):
    """The release whose upgrade checks the pre-flight runs. oslo.upgradecheck's checks are
    written for release N+1's code on release N's database, and a SLURP release's for the
    previous SLURP's too; in a fast-forward the target's code cannot read a schema several
    releases old. So: from a SLURP release, the next SLURP release when the path reaches it
    (the skip-level jump upstream tests); else the first release whose migrations run (the
    target itself when it is the next release).

    Not the non-SLURP release in between: every 2024.2 neutron-status (neutron 25.0.0 to
    25.2.3) dies on SQLAlchemy 2 in its networking-ovn revision check (a plain string given
    to Session.execute; 26.0.0 wraps it in text()), measured on 2024.1 -> 2025.2."""
    path = upgrade_path(current, target)
    numbers = [m["number"] for m in path["migrations"]]
    cur = get_release(current)
    if cur["slurp"]:
        for rel in RELEASES[cur["index"] + 1:]:
            if rel["slurp"]:
                if rel["number"] in numbers:
                    return rel["number"]
                break
    return numbers[0]


def _brief(rel):
    return {"codename": rel["codename"], "number": rel["number"], "slurp": rel["slurp"]}


def applicable_quirks(current, target, strategy="blue_green", components=None):
    """Quirks that apply to the path current -> target, oldest first."""
    path = upgrade_path(current, target)
    cur = get_release(current)
    tgt = get_release(target)
    skip_level = path["mode"] != "direct"
    wanted = set(components) if components else None
    result = []
    for quirk in QUIRKS:
        if quirk["into"] is not None:
            into = get_release(quirk["into"])
            if not cur["index"] < into["index"] <= tgt["index"]:
                continue
        if quirk["since"] is not None \
                and tgt["index"] < get_release(quirk["since"])["index"]:
            continue
        cond = quirk["when"]
        if cond == "skip_level" and not skip_level:
            continue
        if cond == "fast_forward" and path["mode"] != "fast_forward":
            continue
        if cond == "old_computes" and not computes_too_old(current, target):
            continue
        if cond in ("blue_green", "in_place") and cond != strategy:
            continue
        if wanted is not None and quirk["component"] in COMPONENTS \
                and quirk["component"] not in wanted:
            continue
        item = dict(quirk)
        if quirk["into"]:
            item["applies_at"] = label(get_release(quirk["into"]))
        elif quirk["since"]:
            item["applies_at"] = "targets from %s on" % label(get_release(quirk["since"]))
        else:
            item["applies_at"] = "every hop"
        result.append(item)
    result.sort(key=lambda q: get_release(q["into"])["index"] if q["into"] else 999)
    return result


# ---------------------------------------------------------------------------
# The plan: what plan.yml prints (components with steps, quirks, pre-flight,
# compute batches per AZ).
# ---------------------------------------------------------------------------
# Each component's schema migrations of ONE release, in the order its control-plane role
# runs them (roles/<role>/tasks/migrate.yml, module db_migrate, from a temporary config
# that holds only the database URLs): ``command`` in the release's venv's bin/, run as
# ``command --config-file <config> *args``; ``sections`` names the config section whose
# ``connection`` is each database's URL; ``config`` is any other option the command
# needs; ``since`` the first release that has the step; ``cells``: one command migrates
# several cell databases, the main one from its config and the others through their
# mappings in nova_api (``--local_cell`` limits it to its config's database, from
# ``local_cell_since``). The plan (component_steps) and the test-upgrade on the backup's
# copies (copy_migrations.py) read it.
SCHEMA_SYNC = {
    "keystone": [{"command": "keystone-manage", "args": ["db_sync"],
                  "sections": {"keystone": "database"}}],
    "glance": [{"command": "glance-manage", "args": ["db_sync"],
                "sections": {"glance": "database"}}],
    "placement": [{"command": "placement-manage", "args": ["db", "sync"],
                   "sections": {"placement": "placement_database"}}],
    "nova": [{"command": "nova-manage", "args": ["api_db", "sync"], "since": "mitaka",
              "sections": {"nova_api": "api_database"}},
             {"command": "nova-manage", "args": ["db", "sync"], "cells": True,
              "local_cell_since": "ocata",
              "sections": {"nova": "database", "nova_cell0": "database"}}],
    "neutron": [{"command": "neutron-db-manage", "args": ["upgrade", "heads"],
                 "config": [("DEFAULT", "core_plugin", "ml2")],
                 "sections": {"neutron": "database"}}],
    "cinder": [{"command": "cinder-manage", "args": ["db", "sync"],
                "sections": {"cinder": "database"}}],
    "ironic": [{"command": "ironic-dbsync", "args": ["upgrade"],
                "sections": {"ironic": "database"}}],
}
# Each release's online data migrations, after its schema migrations (nova_controller;
# ironic: roles/ironic, tasks/migrate.yml).
ONLINE_MIGRATIONS = {"nova": "nova-manage db online_data_migrations",
                     "ironic": "ironic-dbsync online_data_migrations"}


def schema_sync_steps(component, release):
    """The schema migration steps (SCHEMA_SYNC entries) of ``component`` that ``release``
    has, in order: none for placement before it left nova (stein), nova's api_db sync
    only from mitaka."""
    rel = get_release(release)
    if component not in SCHEMA_SYNC:
        raise ReleaseModelError(
            "Unknown component %r: use one of %s." % (component, ", ".join(COMPONENTS)))
    if component == "placement" and rel["versions"]["placement"] is None:
        return []
    return [dict(step) for step in SCHEMA_SYNC[component]
            if "since" not in step or rel["index"] >= get_release(step["since"])["index"]]


# The control plane's phases in the order the executor (roles/control_plane/tasks/
# component.yml) runs them and the report records them; a component's own steps come
# after the common ones.
CONTROL_PLANE_PHASES = ("prepare", "stop", "backup", "load", "migrate", "copy_state", "deploy", "smoke",
                        "switch", "converge", "smoke_writes", "retire", "cleanup", "agents",
                        "expand", "data", "drain", "enable", "contract", "online", "unpin")
# The rolling strategy's order (roles/control_plane/tasks/rolling.yml): the schema grows
# once before the first node restarts, each node in turn leaves the load balancer, moves
# to the target and comes back, and what the old release still needed goes after the last.
ROLLING_PHASES = ("backup", "expand", "data", "drain", "prepare", "stop", "deploy", "smoke", "enable",
                  "contract", "online", "converge", "unpin", "cleanup", "agents")
# The paths on which a node of release N serves beside one of the target, on the schema the
# target expanded: one release, or a SLURP release to the next one (what upstream tests).
ROLLING_MODES = ("direct", "slurp")


def _migrate_commands(component, rel):
    cmds = [" ".join([step["command"]] + step["args"])
            for step in schema_sync_steps(component, rel["codename"])]
    if component in ONLINE_MIGRATIONS:
        cmds.append(ONLINE_MIGRATIONS[component])
    return cmds


# nova-manage db archive_deleted_rows before each release's online data migrations
# (stackhop.upgrade.nova_archive_deleted_rows; nova_controller_archive_* in the role).
NOVA_ARCHIVE_DEFAULTS = {"archive": True, "max_rows": 1000, "purge": False, "before": "",
                         "all_cells": False}


def nova_archive_step(release, settings=None):
    """What the nova archive runs with ``release``'s nova-manage, for the plan and the role.

    ``settings`` holds archive, max_rows, purge, before and all_cells (the role's
    nova_controller_archive_* variables; missing keys take NOVA_ARCHIVE_DEFAULTS).
    Options a release's nova-manage lacks are not passed: before ocata the module loops
    one batch a call instead of --until-complete; --before and --all-cells exist from
    train, so with either set the archive is skipped in older releases (it would archive
    more than asked for); purge exists from rocky and is skipped before.
    Returns {"run", "until_complete", "purge", "commands": [str], "note"}.
    """
    opts = dict(NOVA_ARCHIVE_DEFAULTS)
    opts.update(dict((k, v) for k, v in (settings or {}).items() if v is not None))
    index = get_release(release)["index"]
    since = dict((name, get_release(name)["index"]) for name in ("ocata", "rocky", "train"))
    result = {"run": bool(opts["archive"]), "until_complete": index >= since["ocata"],
              "purge": bool(opts["purge"]) and index >= since["rocky"], "commands": [],
              "note": None}
    if not result["run"]:
        return result
    if (opts["before"] or opts["all_cells"]) and index < since["train"]:
        result.update({"run": False, "purge": False,
                       "note": "archive skipped: --before and --all-cells need nova-manage "
                               "of train or later"})
        return result
    args = "--verbose --max_rows %d" % int(opts["max_rows"])
    args += " --before %s" % opts["before"] if opts["before"] else ""
    args += " --all-cells" if opts["all_cells"] else ""
    if result["until_complete"]:
        result["commands"].append("nova-manage db archive_deleted_rows %s --until-complete"
                                  % args)
    else:
        result["commands"].append("nova-manage db archive_deleted_rows %s, once a batch "
                                  "until nothing is archived" % args)
    if result["purge"]:
        result["commands"].append("nova-manage db purge --verbose %s%s" % (
            "--before %s" % opts["before"] if opts["before"] else "--all",
            " --all-cells" if opts["all_cells"] else ""))
    elif opts["purge"]:
        result["note"] = "purge skipped: nova-manage db purge exists from rocky"
    return result


def rolling_check(current, target):
    """Refuse a rolling upgrade on a path where an old node cannot serve on the target's
    schema: the services support one release beside the next (and a SLURP release beside
    the next SLURP release), not a fast-forward across several."""
    path = upgrade_path(current, target)
    if path["mode"] not in ROLLING_MODES:
        raise ReleaseModelError(
            "control_plane_strategy rolling keeps %s serving beside %s on the target's schema, "
            "which the services support across one release or one SLURP jump, not %s's %d "
            "releases of migrations; use blue_green or in_place for this path, or upgrade in "
            "rolling steps of one release." % (
                label(get_release(current)), label(get_release(target)), path["mode"].replace("_", "-"),
                len(path["migrations"])))
    return path


SCHEMA_STEPS = ("sync", "expand", "data", "contract")


def schema_args(component, step="sync"):
    """The arguments (after ``--config-file <config>``) of ``component``'s migration command
    for one schema step: ``sync`` its whole schema sync (SCHEMA_SYNC), ``expand``/``data``/
    ``contract`` the rolling strategy's (components.py ``rolling``). [] when the step runs
    nothing for it (keystone has no data step; nova, placement and cinder only add, so their
    contract is empty and their expand is their sync). For one-command components only:
    nova's steps are its role's schema tasks."""
    if step not in SCHEMA_STEPS:
        raise ReleaseModelError("Schema step %r is unknown: use one of %s." % (step, ", ".join(SCHEMA_STEPS)))
    if component not in SCHEMA_SYNC:
        raise ReleaseModelError("Unknown component %r: use one of %s." % (component, ", ".join(COMPONENTS)))
    sync = SCHEMA_SYNC[component]
    if len(sync) != 1:
        raise ReleaseModelError(
            "%s's schema sync is %d commands, run by its role's own tasks; it has no single "
            "command for the step %s." % (component, len(sync), step))
    if step == "sync":
        return list(sync[0]["args"])
    value = components.component(component)["rolling"][step]
    if value == "sync":
        return list(sync[0]["args"])
    if len(value) > 1:
        raise ReleaseModelError("%s's %s step is %d commands; a role runs one." % (component, step, len(value)))
    return list(value[0]) if value else []


def _schema_text(component, args_list, release):
    """``neutron-db-manage upgrade --expand (neutron 2025.1 code)`` for the plan."""
    command = SCHEMA_SYNC[component][0]["command"]
    return "%s (%s %s code)" % (", ".join("%s %s" % (command, " ".join(args)) for args in args_list),
                                component, release)


def _rolling_steps(component, path):
    """The steps of a rolling upgrade of ``component`` (ROLLING_PHASES)."""
    entry = components.component(component)
    rolling = entry["rolling"]
    target = path["target"]["number"]
    dbs = list(entry["databases"])
    steps = [{"action": "backup",
              "text": "dump database%s %s (single transaction, binlog position) while every node serves"
                      % ("s" if len(dbs) > 1 else "", ", ".join(dbs))}]
    for mig in path["migrations"]:
        rel = get_release(mig["codename"])
        if rolling["expand"] == "sync":
            for step in schema_sync_steps(component, rel["codename"]):
                steps.append({"action": "expand", "release": rel["number"],
                              "text": "%s (%s %s code; its migrations only add, the old nodes keep serving)"
                                      % (" ".join([step["command"]] + step["args"]), component,
                                         rel["versions"][component] or rel["versions"]["nova"])})
        else:
            steps.append({"action": "expand", "release": rel["number"],
                          "text": _schema_text(component, rolling["expand"], rel["number"])
                          + ", the old nodes keep serving"})
        if rolling["data"]:
            steps.append({"action": "data", "release": rel["number"],
                          "text": _schema_text(component, rolling["data"], rel["number"])})
    if rolling["offline_check"]:
        steps.append({"action": "expand",
                      "text": "%s: when a contract revision is pending, every %s node stops for it "
                              "(a write and read pause, measured in the report); none from 2024.1 to 2025.1"
                              % (" ".join(rolling["offline_check"]), component)})
    each = "each controller in turn (stackhop_controllers' order)"
    steps += [
        {"action": "drain", "text": "%s: drain it from the load balancer's %s backend (no new request), "
                                    "wait until its open connections end" % (each, component)},
        {"action": "prepare", "text": "write %s %s's configs and units there" % (component, target)},
        {"action": "stop", "text": "stop %s (%s) there" % (component, ", ".join(entry["units"]))},
        {"action": "deploy", "text": "start %s %s there" % (component, target)},
        {"action": "smoke", "text": "smoke test on the node's own address: %s" % entry["smoke_summary"]},
        {"action": "enable", "text": "put it back into the load balancer"},
    ]
    if rolling["contract"]:
        steps.append({"action": "contract",
                      "text": "%s once no node runs the old release" % _schema_text(component, rolling["contract"], target)})
    if rolling["online"]:
        steps.append({"action": "online",
                      "text": "%s online_data_migrations to the end (%s %s code, "
                              "stackhop.upgrade.online_data_migrations)" % (
                                  rolling["online"]["command"] + ("" if component == "ironic" else " db"),
                                  component, target)})
    steps.append({"action": "converge",
                  "text": "converge %s on every node, the API served: the role's steps that need no window "
                          "(keystone's bootstrap, catalogue entries, nova's cells)" % component})
    if rolling["rpc_pins"]:
        steps.append({"action": "unpin",
                      "text": "restart %s on each controller in turn, drained as above, so its services lift "
                              "the RPC versions they pinned to the old release" % component})
    return steps


def network_nodes_apart(strategy, network_hosts=None, old_hosts=None, new_hosts=None):
    """Whether some network node's agents are upgraded by a step of their own (neutron's
    ``agents``): a network node that is not a controller the component's deploy step
    upgrades in place of it (blue_green: the new controllers; in_place and rolling: the
    controllers). The deploy step of a controller that is also a network node upgrades its
    agents with its server. ``network_hosts`` None: the inventory is not known, so the
    step stays in."""
    if network_hosts is None:
        return True
    deployed = set(new_hosts or []) if strategy == "blue_green" else set(old_hosts or [])
    return any(host not in deployed for host in network_hosts)


def component_steps(component, path, strategy, quirks, nova_archive=None, db_move=None,
                    apart_network_nodes=True):
    """The ordered steps of one component for this path and strategy: what the executor
    runs, each step's ``action`` the phase it runs in (CONTROL_PLANE_PHASES, as the
    report records it), and ``quirk`` notes on how a hop's quirk is handled.

    ``nova_archive``: the settings of nova_archive_step (None: its defaults).
    ``db_move``: the new database server's name when the database moves with a blue-green
    upgrade (db_move.database_move; None or '': it stays where it is).
    ``apart_network_nodes``: network_nodes_apart of the inventory (False: the agents are
    upgraded with their controller's deploy step, no step of their own)."""
    entry = components.component(component)
    if strategy == "rolling":
        steps = _rolling_steps(component, path)
        _own_and_quirk_steps(steps, component, strategy, quirks, apart_network_nodes)
        return steps
    steps = []
    blue_green = strategy == "blue_green"
    new = "the new controller" if blue_green else "the controller"
    old = "the old controller" if blue_green else "the controller"
    dbs = list(entry["databases"])
    moved = bool(db_move) and blue_green
    on_new_db = " on the new database server" if moved else ""
    if blue_green:
        # the API's window then holds only what needs the old service stopped
        steps.append({"action": "prepare", "text": "write %s %s's configs and units on %s, not started, while "
                                                   "the old controller still serves" % (
                                                       component, path["target"]["number"], new)})
        if entry["state_dirs"]:
            steps.append({"action": "prepare", "text": "copy %s from the old controller while it serves "
                                                       "(the window copies only what changed since)"
                                                       % ", ".join(entry["state_dirs"])})
    steps.append({"action": "stop", "text": "stop %s (%s) on %s" % (
        component, ", ".join(entry["units"]), old)})
    steps.append({"action": "backup",
                  "text": "dump database%s %s (single transaction, binlog position)%s"
                          % ("s" if len(dbs) > 1 else "", ", ".join(dbs),
                             " on the old database server, which is only read from now on"
                             if moved else "")})
    if moved:
        steps.append({"action": "load",
                      "text": "load the dump into the new database server %s (databases %s "
                              "created, the service accounts and their grants copied from the "
                              "old server), every table's checksum compared with the dump's"
                              % (db_move, ", ".join(dbs))})
        for stored in entry["db_urls"]:
            steps.append({"action": "load",
                          "text": "point the database URLs in %s.%s.%s at the new database "
                                  "server (stackhop.upgrade.db_stored_urls)"
                                  % (stored["database"], stored["table"], stored["column"])})
    quirk_ids = set(q["id"] for q in quirks)
    for mig in path["migrations"]:
        rel = get_release(mig["codename"])
        if component == "placement" and rel["versions"]["placement"] is None:
            continue
        if component == "nova" and rel["codename"] == "ocata" and "nova_cells_v2" in quirk_ids:
            steps.append({"action": "migrate", "release": rel["number"],
                          "text": "cells v2 before ocata's schema: map_cell0, create_cell "
                                  "cell1, discover_hosts, map_instances "
                                  "(stackhop.upgrade.nova_cell_v2)"})
        for cmd in _migrate_commands(component, rel):
            if component == "nova" and cmd.endswith("online_data_migrations"):
                archive = nova_archive_step(rel["codename"], nova_archive)
                for arch in archive["commands"]:
                    steps.append({"action": "migrate", "release": rel["number"],
                                  "text": "%s (nova %s code, stackhop.upgrade."
                                          "nova_archive_deleted_rows)"
                                          % (arch, rel["versions"]["nova"])})
                if archive["note"]:
                    steps.append({"action": "migrate", "release": rel["number"],
                                  "text": "%s (nova %s code)" % (archive["note"],
                                                                 rel["versions"]["nova"])})
            steps.append({"action": "migrate", "release": rel["number"],
                          "text": "%s (%s %s code)%s" % (cmd, component,
                                                         rel["versions"][component]
                                                         or rel["versions"]["nova"], on_new_db)})
    if blue_green and entry["state_dirs"]:
        steps.append({"action": "copy_state",
                      "text": "copy %s from the old controller" % ", ".join(entry["state_dirs"])})
    steps.append({"action": "deploy", "text": "start %s %s on %s%s" % (
        component, path["target"]["number"], new,
        ", its database connection on the new database server" if moved else "")})
    steps.append({"action": "smoke", "text": "smoke test: %s" % entry["smoke_summary"]})
    if blue_green:
        steps.append({"action": "switch",
                      "text": "switch the %s endpoint to the new controller" % component})
        steps.append({"action": "converge",
                      "text": "converge %s on the new controller (what needs no window: bootstrap, catalogue "
                              "entries, cells), the API already served there" % component})
    if entry["smoke_writes"]:
        steps.append({"action": "smoke_writes",
                      "text": "smoke test's writes through the service address (%s), out of the window "
                              "(control_plane_smoke_writes_after_switch)" % entry["smoke_writes"]})
    if blue_green:
        steps.append({"action": "retire",
                      "text": "stop and disable %s's units on the old controller" % component})
    _own_and_quirk_steps(steps, component, strategy, quirks, apart_network_nodes)
    return steps


def _own_and_quirk_steps(steps, component, strategy, quirks, apart_network_nodes):
    for own in components.component(component)["own_steps"]:
        if own.get("apart_network_nodes") and not apart_network_nodes:
            continue
        if strategy in own["strategies"]:
            steps.append({"action": own["phase"], "text": own["text"]})
    for quirk in quirks:
        if quirk["component"] == component and quirk["phase"] == "control_plane" \
                and quirk["handled_by"] != "plan":
            steps.append({"action": "quirk", "quirk": quirk["id"],
                          "text": "%s: %s" % (quirk["id"], quirk["handled_by"])})


def control_plane_phases(component, current, target, strategy, db_move=None, apart_network_nodes=True):
    """The phases the executor runs for ``component`` on this hop, in order: those of
    component_steps (the plan), without the quirk notes. ``db_move``,
    ``apart_network_nodes``: as component_steps."""
    if strategy not in ("blue_green", "in_place", "rolling"):
        raise ReleaseModelError(
            "stackhop_control_plane_strategy is %r: use blue_green, in_place or rolling." % (strategy,))
    path = rolling_check(current, target) if strategy == "rolling" else upgrade_path(current, target)
    phases = []
    for step in component_steps(component, path, strategy, [], db_move=db_move,
                                apart_network_nodes=apart_network_nodes):
        if step["action"] != "quirk" and step["action"] not in phases:
            phases.append(step["action"])
    return phases


def compute_batches(hosts, canary_size=1, batch_percent=25, az_order=None):
    """Batches per AZ, canary first.

    ``hosts``: [{name, az, aggregate}]. AZs are taken smallest first (HULK: the
    smallest datacenter first) unless ``az_order`` names them. In each AZ the
    first batch is the canary (``canary_size`` hosts), then batches of
    ``batch_percent`` % of the AZ (at least one host), hosts of one aggregate
    (rack) kept together in name order.
    """
    if int(canary_size) < 1:
        raise ReleaseModelError(
            "stackhop_compute_canary_size is %s: set it to 1 or more." % canary_size)
    if not 0 < int(batch_percent) <= 100:
        raise ReleaseModelError(
            "stackhop_compute_batch_percent is %s: set it between 1 and 100."
            % batch_percent)
    by_az = {}
    for host in hosts:
        by_az.setdefault(host.get("az") or "nova", []).append(host)
    names = sorted(by_az, key=lambda a: (len(by_az[a]), a))
    if az_order:
        unknown = [a for a in az_order if a not in by_az]
        if unknown:
            raise ReleaseModelError(
                "stackhop_az_order names %s, which has no compute in this region: use "
                "the AZs of the inventory (%s)." % (", ".join(unknown), ", ".join(names)))
        names = list(az_order) + [a for a in names if a not in az_order]
    result = []
    for az in names:
        members = sorted(by_az[az], key=lambda h: (h.get("aggregate") or "", h["name"]))
        size = max(1, -(-len(members) * int(batch_percent) // 100))
        batches = [{"canary": True, "hosts": [h["name"] for h in members[:int(canary_size)]]}]
        rest = members[int(canary_size):]
        while rest:
            batches.append({"canary": False, "hosts": [h["name"] for h in rest[:size]]})
            rest = rest[size:]
        for number, batch in enumerate(batches, 1):
            batch["number"] = number
        result.append({"az": az, "hosts": len(members), "batches": batches})
    return result


# The computes' rollback (playbooks/rollback_computes.yml, before the control plane's):
# protections it always runs whatever the hop (neutron_compute's task ids).
ROLLBACK_PROTECTIONS = ("fail_mode_secure",)

ROLLBACK_COMPUTE_STEPS = (
    "the OVS agent: checks, every port's conntrack zone kept, stopped, fail_mode secure kept "
    "with the flows, release N's agent started (throttled as in the upgrade), alive with "
    "every port ACTIVE",
    "nova-compute: its service record lowered to release N's version (nova refuses to save "
    "a record older than the cell's minimum: ServiceTooOld), restarted on release N, up in nova",
    "Open vSwitch: never restarted; its upgraded packages stay (they serve release N's agent)",
    "stackhop's units and configs rendered for release N by their roles; an adopted "
    "compute's drop-ins removed and the files kept before the upgrade put back",
)


def compute_rollback(current, target, strategy="blue_green"):
    """What the computes' rollback from ``target`` back to ``current`` does: the hop's
    compute quirks, each with its inverse or why none exists, and the neutron_compute
    task ids it runs (``run``: the protections, then the inverses)."""
    quirks = [q for q in applicable_quirks(current, target, strategy) if q["phase"] == "compute"]
    rows, run = [], list(ROLLBACK_PROTECTIONS)
    for quirk in quirks:
        back = quirk.get("rollback") or {"inverse": None, "note": "none exists"}
        rows.append({"id": quirk["id"], "inverse": back["inverse"], "note": back["note"]})
        for task in [back["inverse"]] + ([quirk["id"]] if back.get("again") else []):
            if task and task not in run:
                run.append(task)
    return {"from": _brief(get_release(target)), "to": _brief(get_release(current)),
            "steps": list(ROLLBACK_COMPUTE_STEPS), "quirks": rows, "run": run}


def build_plan(current, target, region, computes, strategy="blue_green",
               component_order=None, components=None, install_method="venv",
               canary_size=1, batch_percent=25, az=None, az_order=None, nova_archive=None,
               db_move=None, apart_network_nodes=True):
    """The whole plan as a dict (JSON-ready). Raises ReleaseModelError on bad input.

    ``nova_archive``: the nova archive settings (nova_archive_step), None for its defaults.
    ``db_move``: the new database server when the database moves (component_steps).
    ``apart_network_nodes``: network_nodes_apart of the inventory (component_steps)."""
    if strategy not in ("blue_green", "in_place", "rolling"):
        raise ReleaseModelError(
            "stackhop_control_plane_strategy is %r: use blue_green, in_place or rolling." % strategy)
    if strategy == "rolling":
        rolling_check(current, target)
    if install_method not in ("apt", "dnf", "venv"):
        raise ReleaseModelError(
            "stackhop_install_method is %r: use apt, dnf or venv." % install_method)
    if db_move and strategy != "blue_green":
        raise ReleaseModelError(
            "stackhop_db_new names %s but the control plane is upgraded %s; the database moves "
            "only in a blue_green upgrade: remove %s from stackhop_db_new or use blue_green."
            % (db_move, strategy, db_move))
    order = list(component_order or DEFAULT_COMPONENT_ORDER)
    unknown = [c for c in order if c not in COMPONENTS]
    if unknown:
        raise ReleaseModelError(
            "stackhop_component_order names %s: use components from %s."
            % (", ".join(unknown), ", ".join(COMPONENTS)))
    deployed = list(components) if components else list(order)
    order = [c for c in order if c in deployed]
    path = upgrade_path(current, target)
    cur = get_release(current)
    tgt = get_release(target)
    quirks = applicable_quirks(current, target, strategy, order)
    warnings = []
    ids = set(q["id"] for q in quirks)
    if "cinder_before_nova" in ids and "cinder" in order and "nova" in order \
            and order.index("nova") < order.index("cinder"):
        warnings.append("The path crosses queens, whose nova uses cinder v3, but "
                        "stackhop_component_order upgrades nova before cinder: move "
                        "cinder before nova.")
    if tgt["versions"].get("ironic") is None and "ironic" in order:
        warnings.append("The model does not know ironic's %s series yet: pin the ironic "
                        "version yourself or extend release_model.py." % label(tgt))
    comps = []
    for comp in order:
        if tgt["versions"][comp] is None:
            continue
        comps.append({
            "component": comp,
            "from_version": cur["versions"][comp] or (
                "in nova %s" % cur["versions"]["nova"]),
            "to_version": tgt["versions"][comp],
            "pip_spec": tgt["pip_specs"][comp],
            "steps": component_steps(comp, path, strategy, quirks, nova_archive, db_move,
                                     apart_network_nodes),
        })
    hosts = [h for h in computes if not az or h.get("az") == az]
    if az and not hosts:
        raise ReleaseModelError(
            "No compute in region %s is in availability zone %s: check stackhop_plan_az "
            "against the inventory's stackhop_az values." % (region, az))
    compute_quirks = [q for q in quirks if q["phase"] == "compute"]
    return {
        "region": region,
        "az": az,
        "current": path["current"],
        "target": path["target"],
        "mode": path["mode"],
        "path": path,
        "strategy": strategy,
        "db_move": db_move or None,
        "install_method": install_method,
        "install": {
            "pip_specs": [tgt["pip_specs"][c] for c in order if tgt["pip_specs"][c]],
            "pip_pins": list(tgt["pip_pins"]),
            "exclude_newer": tgt["exclude_newer"],
            "per_release": [
                {"release": m["number"],
                 "exclude_newer": get_release(m["codename"])["exclude_newer"],
                 "pip_specs": [get_release(m["codename"])["pip_specs"][c] for c in order
                               if get_release(m["codename"])["pip_specs"][c]],
                 "pip_pins": list(get_release(m["codename"])["pip_pins"])}
                for m in path["migrations"]],
        },
        "preflight": [dict(c) for c in PREFLIGHT_CHECKS],
        "components": comps,
        "quirks": quirks,
        "compute_quirks": [q["id"] for q in compute_quirks],
        "compute_batches": compute_batches(hosts, canary_size, batch_percent, az_order),
        "compute_rollback": compute_rollback(current, target, strategy),
        "warnings": warnings,
    }


def compute_estimate_markdown(estimate):
    """The plan's lines of the compute phase's estimated duration (compute_cost.estimate)."""
    if not estimate or not estimate["azs"]:
        return []
    model = estimate["model"]
    out = ["- Compute phase, estimated: %s (%d hosts in %d batches; waits at approval gates "
           "not counted)" % (compute_cost.duration_text(estimate["total_s"]), estimate["hosts"],
                             estimate["batches"])]
    for az in estimate["azs"]:
        out.append("    - AZ %s: %s (%d hosts, %d batches)" % (
            az["az"], compute_cost.duration_text(az["seconds"]), az["hosts"], az["batches"]))
    pause = (", a pause of %g s after every batch but the last" % estimate["batch_pause_s"]
             if estimate["batch_pause_s"] else "")
    out.append("    - model: %g s + %g s per batch + %g s per host%s; from %s" % (
        model["fixed_s"], model["per_batch_s"], model["per_host_s"], pause, model["source"]))
    return out


def plan_markdown(plan):
    """The plan as a Markdown step tree (the way ``cou plan`` prints its steps)."""
    out = []
    scope = "region %s" % plan["region"] + (", AZ %s" % plan["az"] if plan["az"] else "")
    out.append("# Upgrade plan for %s: %s (%s) -> %s (%s)" % (
        scope, plan["current"]["number"], plan["current"]["codename"],
        plan["target"]["number"], plan["target"]["codename"]))
    out.append("")
    mode = {"direct": "direct upgrade (N -> N+1)",
            "slurp": "direct skip-level upgrade (SLURP -> next SLURP)",
            "fast_forward": "fast-forward upgrade: every intermediate release's "
                            "migrations in order"}[plan["mode"]]
    out.append("- Path: %s" % mode)
    out.append("    - " + " -> ".join("%s (%s)" % (r["number"], r["codename"])
                                      for r in plan["path"]["releases"]))
    for rel in plan["path"]["skipped"]:
        out.append("    - skipped: %s (%s), no migrations of its own" % (
            rel["number"], rel["codename"]))
    for mig in plan["path"]["migrations"]:
        out.append("    - migrations of %s (%s)" % (mig["number"], mig["codename"]))
    if plan.get("discovered") is not None:
        out.append("- What runs now (read from the hosts)")
        for line in plan["discovered"] or ["no host read"]:
            out.append("    - %s" % line)
    if plan.get("config_changes") is not None:
        out.append("- Config changes, per host and file (read from the hosts with the option metadata of each staged release of the path)")
        for line in plan["config_changes"] or ["no config file checked"]:
            out.append("    - %s" % line)
    out.append("- Control plane strategy: %s; install method: %s" % (
        plan["strategy"], plan["install_method"]))
    if plan.get("db_move"):
        out.append("    - the databases move to the new database server %s, component by "
                   "component; the old server is only read, so a rollback switches back to it"
                   % plan["db_move"])
    if plan["install_method"] == "venv":
        for item in plan["install"]["per_release"]:
            out.append("    - venv %s: uv pip install --exclude-newer %s %s" % (
                item["release"], item["exclude_newer"], " ".join(
                    "'%s'" % s for s in item["pip_specs"] + item["pip_pins"])))
    out.append("- Pre-flight checks")
    for check in plan["preflight"]:
        note = "" if check["automated"] else "; acknowledged by the operator"
        out.append("    - %s: %s (%s%s)" % (check["id"], check["description"],
                                            check["source"], note))
    out.append("- Control plane, in order")
    for comp in plan["components"]:
        out.append("    - %s %s -> %s" % (comp["component"], comp["from_version"],
                                          comp["to_version"]))
        for step in comp["steps"]:
            out.append("        - %s" % step["text"])
    out.append("- Quirks that apply")
    if not plan["quirks"]:
        out.append("    - none")
    for quirk in plan["quirks"]:
        out.append("    - %s [%s, %s, at %s]: %s Source: %s. Handled by: %s." % (
            quirk["id"], quirk["component"], quirk["phase"], quirk["applies_at"],
            quirk["description"], quirk["source"], quirk["handled_by"]))
    out.append("- Compute nodes, AZ by AZ")
    if not plan["compute_batches"]:
        out.append("    - no compute in scope")
    for az in plan["compute_batches"]:
        out.append("    - AZ %s (%d hosts)" % (az["az"], az["hosts"]))
        for batch in az["batches"]:
            out.append("        - batch %d%s: %s" % (
                batch["number"], " (canary, then approval)" if batch["canary"] else "",
                ", ".join(batch["hosts"])))
            for quirk in plan["compute_quirks"]:
                out.append("            - %s" % quirk)
    out += compute_estimate_markdown(plan.get("compute_estimate"))
    back = plan.get("compute_rollback")
    if back:
        out.append("- Rollback of the computes to %s (playbooks/rollback.yml runs it before the "
                   "control plane's), in the same batches" % back["to"]["number"])
        for step in back["steps"]:
            out.append("    - %s" % step)
        for quirk in back["quirks"]:
            out.append("    - quirk %s: %s" % (quirk["id"], (
                "inverse %s; %s" % (quirk["inverse"], quirk["note"])) if quirk["inverse"] else quirk["note"]))
    if plan["warnings"]:
        out.append("- Warnings")
        for warning in plan["warnings"]:
            out.append("    - %s" % warning)
    return "\n".join(out) + "\n"
