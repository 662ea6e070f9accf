# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stackhop contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The component catalogue: what stackhop knows about each OpenStack component it
upgrades, in one place. Roles and playbooks read it through the filter
``stackhop.upgrade.component_facts``; the release model (release_model.py) reads its
package names and databases and stays the authority on what changes from one release
to the next.

Adding a component is one entry here (and the role that deploys it).

Fields of an entry:

* ``role``: the collection's role that deploys and upgrades it (None: not deployable yet).
* ``package``: its name on PyPI.
* ``user``: the system user (and group) its services run as, as Debian's and RDO's
  packages name it; configs are root:<user> 0640, state and logs <user>'s.
* ``service_type``: its type in keystone's catalogue (and in openstacksdk's overrides).
* ``units``: the control plane's systemd units, those that move in a blue-green upgrade.
* ``primary_units``: the unit whose command line names the release a node runs (the
  first one present).
* ``agent_units``: units of a network node, upgraded in place where they run.
* ``compute_units``: units of a compute node.
* ``service_records``: the binaries that keep a record in its service list (a
  blue-green move removes the old node's).
* ``databases``: the databases its schema migrations touch.
* ``config_files``: the files its services, ``-manage`` and ``-status`` commands read,
  its main file first (derived view ``config_file``: that one).
* ``revision_dirs``: per database, its alembic ``versions`` folders below site-packages
  (where a release's revisions are read from, without running its code).
* ``db_urls``: database URLs it keeps in a table of its own databases (nova's cell
  mappings: ``database``, ``table``, its ``key`` column and the URL ``column``); when the
  database moves to a new server they are pointed at it there (stackhop.upgrade.db_stored_urls).
* ``port``, ``version_path``: where its API answers an unauthenticated version document.
* ``endpoint_path``: the path of its endpoint in the catalogue, under ``port``.
* ``logs``: its log files (globs).
* ``state_dirs``: files a blue-green move copies to the new node (keys, images).
* ``smoke``: whether the smoke test has checks for it; ``smoke_summary``: what they
  check, as the plan prints it; ``smoke_writes``: what its checks that create and delete
  do (empty: none), run after the endpoint switch.
* ``wsgi_config``: where its WSGI application reads its configuration when a WSGI server
  (uwsgi, Apache) runs it without ``--config-file``: the directory from ``dir_env``
  (default ``dir``; None: oslo.config's default search instead), the files ``files`` in it
  or those ``files_env`` lists (``;``-separated). None: oslo.config's default search. Read
  from each project's WSGI module (nova.api.openstack.wsgi_app, keystone.server.flask.core,
  placement.wsgi, glance.common.wsgi_app, neutron.server); stackhop's discovery uses it.
* ``rootwrap_conf``: its oslo.rootwrap config, whose ``exec_dirs`` decide which
  ``privsep-helper`` (hence which release's privileged code) its root helper runs; None:
  it runs nothing as root.
* ``uwsgi_options``: per unit, the uwsgi settings its code needs whatever the operator's
  ini says; a unit moved onto a venv gets them on its command line after the ini (uwsgi
  takes the last value), the ini itself is kept.
* ``code_of_units``: units of this component that run another component's code and read
  that component's options (ironic's nova-compute-ironic is nova-compute): {unit: component}.
* ``rolling``: how the rolling strategy changes its schema while its other nodes serve:
  ``expand`` (before the first node restarts: lists of the migration command's arguments,
  or ``sync`` for the component's own schema sync when its migrations only add),
  ``data`` (after expand: data migrations that contract needs), ``contract`` (after the
  last node), ``online`` (the service and command whose online data migrations run
  after the last node, None: none), ``offline_check`` (the command, from the release's venv, that exits 1
  when a contract step needs every node stopped) and ``rpc_pins`` (its services pin RPC
  versions to the oldest running one: every node restarts once more after the last).
* ``own_steps``: the control-plane steps of this component after the common ones
  (``phase`` as the report records it, the ``strategies`` it runs in, the plan's text;
  ``apart_network_nodes``: only when a network node is not a controller the component's
  deploy step upgrades, release_model.network_nodes_apart).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

# DeNA's order (procedures.md section 2), with placement where KA and grenade put it:
# after keystone and glance, before nova.
ORDER = ("keystone", "glance", "placement", "nova", "neutron", "cinder", "ironic")

CATALOGUE = {
    "keystone": {
        "role": "keystone",
        "package": "keystone",
        "user": "keystone",
        "service_type": "identity",
        "units": ["keystone"],
        "primary_units": ["keystone"],
        "agent_units": [],
        "compute_units": [],
        "service_records": [],
        "databases": ["keystone"],
        "config_files": ["/etc/keystone/keystone.conf"],
        "revision_dirs": {"keystone": ["keystone/common/sql/migrations/versions"]},
        "db_urls": [],
        "port": 5000,
        "version_path": "/v3",
        "endpoint_path": "/v3",
        "logs": ["/var/log/keystone/*.log"],
        "state_dirs": ["/etc/keystone/fernet-keys", "/etc/keystone/credential-keys"],
        "smoke": True,
        "smoke_summary": "token issue and user list against the new node",
        "smoke_writes": "",
        "rootwrap_conf": None,
        "wsgi_config": {"dir_env": "OS_KEYSTONE_CONFIG_DIR", "dir": None,
                        "files_env": "OS_KEYSTONE_CONFIG_FILES", "files": ["keystone.conf"]},
        "uwsgi_options": {},
        "code_of_units": {},
        # How the rolling strategy changes the schema while the other nodes serve (keystone's
        # expand/contract branches; its db_sync --migrate is a no-op since alembic).
        "rolling": {"expand": [["db_sync", "--expand"]], "data": [], "contract": [["db_sync", "--contract"]],
                    "online": None, "offline_check": [], "rpc_pins": False},
        "own_steps": [{"phase": "cleanup", "strategies": ["blue_green", "in_place", "rolling"],
                       "text": "flush expired tokens where the release stores them (keystone-manage token_flush)"}],
    },
    "glance": {
        "role": "glance",
        "package": "glance",
        "user": "glance",
        "service_type": "image",
        "units": ["glance-api"],
        "primary_units": ["glance-api"],
        "agent_units": [],
        "compute_units": [],
        "service_records": [],
        "databases": ["glance"],
        "config_files": ["/etc/glance/glance-api.conf"],
        "revision_dirs": {"glance": ["glance/db/sqlalchemy/alembic_migrations/versions"]},
        "db_urls": [],
        "port": 9292,
        "version_path": "/",
        "endpoint_path": "",
        "logs": ["/var/log/glance/*.log"],
        "state_dirs": ["/var/lib/glance/images"],
        "smoke": True,
        "smoke_summary": "image list",
        "smoke_writes": "an image's upload, download and delete",
        "rootwrap_conf": "/etc/glance/rootwrap.conf",
        "wsgi_config": {"dir_env": "OS_GLANCE_CONFIG_DIR", "dir": "/etc/glance", "files_env": None,
                        "files": ["glance-api-paste.ini", "glance-image-import.conf", "glance-api.conf"]},
        "uwsgi_options": {},
        "code_of_units": {},
        # glance-manage's zero-downtime sequence: contract refuses to run before the data migration
        "rolling": {"expand": [["db", "expand"]], "data": [["db", "migrate"]], "contract": [["db", "contract"]],
                    "online": None, "offline_check": [], "rpc_pins": False},
        "own_steps": [],
    },
    "placement": {
        "role": "placement",
        "package": "openstack-placement",
        "user": "placement",
        "service_type": "placement",
        "units": ["placement-api"],
        "primary_units": ["placement-api"],
        "agent_units": [],
        "compute_units": [],
        "service_records": [],
        "databases": ["placement"],
        "config_files": ["/etc/placement/placement.conf"],
        "revision_dirs": {"placement": ["placement/db/sqlalchemy/alembic/versions"]},
        "db_urls": [],
        "port": 8778,
        "version_path": "/",
        "endpoint_path": "",
        "logs": ["/var/log/placement/*.log"],
        "state_dirs": [],
        "smoke": True,
        "smoke_summary": "resource provider list",
        "smoke_writes": "",
        "rootwrap_conf": None,
        "wsgi_config": {"dir_env": "OS_PLACEMENT_CONFIG_DIR", "dir": None, "files_env": None,
                        "files": ["placement.conf"]},
        "uwsgi_options": {},
        "code_of_units": {},
        # placement's migrations only add (its sync runs while old nodes serve)
        "rolling": {"expand": [["db", "sync"]], "data": [], "contract": [],
                    "online": {"service": "placement", "command": "placement-manage"}, "offline_check": [], "rpc_pins": False},
        "own_steps": [],
    },
    "nova": {
        "role": "nova_controller",
        "package": "nova",
        "user": "nova",
        "service_type": "compute",
        # the console proxies and the metadata API run where the operator put them (a
        # distribution's packages); a unit not on the host is passed over
        "units": ["nova-api", "nova-conductor", "nova-scheduler", "nova-api-metadata", "nova-novncproxy",
                  "nova-spicehtml5proxy", "nova-serialproxy"],
        "primary_units": ["nova-api"],
        "agent_units": [],
        "compute_units": ["nova-compute"],
        "service_records": ["nova-conductor", "nova-scheduler"],
        "databases": ["nova_api", "nova", "nova_cell0"],
        "config_files": ["/etc/nova/nova.conf"],
        "revision_dirs": {"nova_api": ["nova/db/api/migrations/versions"],
                          "nova": ["nova/db/main/migrations/versions"],
                          "nova_cell0": ["nova/db/main/migrations/versions"]},
        # cell0's and each cell's database URL, read by nova from nova_api
        "db_urls": [{"database": "nova_api", "table": "cell_mappings", "key": "uuid",
                     "column": "database_connection"}],
        "port": 8774,
        "version_path": "/",
        "endpoint_path": "/v2.1",
        "logs": ["/var/log/nova/*.log"],
        "state_dirs": [],
        "smoke": True,
        "smoke_summary": "servers and images detail",
        "smoke_writes": "",
        "rootwrap_conf": "/etc/nova/rootwrap.conf",
        "wsgi_config": {"dir_env": "OS_NOVA_CONFIG_DIR", "dir": "/etc/nova", "files_env": "OS_NOVA_CONFIG_FILES",
                        "files": ["api-paste.ini", "nova.conf"]},
        "uwsgi_options": {},
        "code_of_units": {},
        # nova's schema migrations only add; its data moves online once every node runs the
        # target, and the RPC versions its services pinned to the oldest one are lifted by a restart
        "rolling": {"expand": "sync", "data": [], "contract": [],
                    "online": {"service": "nova", "command": "nova-manage"}, "offline_check": [], "rpc_pins": True},
        "own_steps": [{"phase": "cleanup", "strategies": ["blue_green"],
                       "text": "remove the old controller's conductor and scheduler records from the service list"}],
    },
    "neutron": {
        "role": "neutron_controller",
        "package": "neutron",
        "user": "neutron",
        "service_type": "network",
        # neutron-server until 2024.2; neutron-api (uwsgi) and its RPC and periodic
        # workers from 2025.1 on
        "units": ["neutron-server", "neutron-api", "neutron-rpc-server", "neutron-periodic-workers"],
        "primary_units": ["neutron-api", "neutron-server"],
        "agent_units": ["neutron-openvswitch-agent", "neutron-dhcp-agent", "neutron-l3-agent",
                        "neutron-metadata-agent"],
        "compute_units": ["neutron-openvswitch-agent"],
        "service_records": [],
        "databases": ["neutron"],
        "config_files": ["/etc/neutron/neutron.conf", "/etc/neutron/plugins/ml2/ml2_conf.ini"],
        "revision_dirs": {"neutron": ["neutron/db/migration/alembic_migrations/versions"]},
        "db_urls": [],
        "port": 9696,
        "version_path": "/",
        "endpoint_path": "",
        "logs": ["/var/log/neutron/*.log"],
        "state_dirs": [],
        "smoke": True,
        "smoke_summary": "network list",
        "smoke_writes": "",
        "rootwrap_conf": "/etc/neutron/rootwrap.conf",
        "wsgi_config": {"dir_env": "OS_NEUTRON_CONFIG_DIR", "dir": "/etc/neutron",
                        "files_env": "OS_NEUTRON_CONFIG_FILES",
                        "files": ["neutron.conf", "plugins/ml2/ml2_conf.ini"]},
        # neutron's API code is eventlet-patched: with several uwsgi threads per worker a
        # request's greenlet is resumed on another thread and never answered ("cannot
        # switch to a different thread"; Debian's ini has threads = 32). Seen on 2024.1.
        "uwsgi_options": {"neutron-api": {"threads": "1"}},
        "code_of_units": {},
        # expand with servers running; a pending contract revision needs every server stopped
        # (neutron-db-manage has_offline_migrations says so; none from 2024.1 to 2025.1)
        "rolling": {"expand": [["upgrade", "--expand"]], "data": [], "contract": [["upgrade", "--contract"]],
                    "online": None, "offline_check": ["neutron-db-manage", "has_offline_migrations"], "rpc_pins": False},
        "own_steps": [{"phase": "agents", "strategies": ["blue_green", "in_place", "rolling"],
                       "apart_network_nodes": True,
                       "text": "upgrade the DHCP and OVS agents in place on each network node that is not the new controller; "
                               "the DHCP agent drained first (DeNA: admin-state-down until its dnsmasq processes "
                               "are gone, stop, admin-state-up), then started on the target and waited for until "
                               "dnsmasq serves each of its networks again"}],
    },
    "cinder": {
        "role": "cinder",
        "package": "cinder",
        "user": "cinder",
        "service_type": "block-storage",
        "units": ["cinder-api", "cinder-scheduler", "cinder-volume"],
        "primary_units": ["cinder-api"],
        "agent_units": [],
        "compute_units": [],
        "service_records": ["cinder-scheduler", "cinder-volume", "cinder-backup"],
        "databases": ["cinder"],
        "config_files": ["/etc/cinder/cinder.conf"],
        "revision_dirs": {"cinder": ["cinder/db/migrations/versions"]},
        "db_urls": [],
        "port": 8776,
        "version_path": "/",
        "endpoint_path": "/v3/%(project_id)s",
        "logs": ["/var/log/cinder/*.log"],
        "state_dirs": [],
        "smoke": True,
        "smoke_summary": "volumes detail, all tenants",
        "smoke_writes": "a volume's create and delete",
        "rootwrap_conf": "/etc/cinder/rootwrap.conf",
        "wsgi_config": None,
        "uwsgi_options": {},
        "code_of_units": {},
        # cinder's migrations only add; online data migrations after, pins lifted by a restart
        "rolling": {"expand": "sync", "data": [], "contract": [],
                    "online": {"service": "cinder", "command": "cinder-manage"}, "offline_check": [], "rpc_pins": True},
        # rolling keeps the host name each node's services run under: nothing to move
        "own_steps": [{"phase": "cleanup", "strategies": ["blue_green", "in_place"],
                       "text": "move volumes and services to the cinder host alias (cinder-manage volume "
                               "update_host) and remove the old nodes' service records"}],
    },
    "ironic": {
        "role": "ironic",
        "package": "ironic",
        "user": "ironic",
        "service_type": "baremetal",
        # nova-compute-ironic: nova-compute with nova's ironic driver, on the controller
        # beside ironic (roles/ironic): it moves with ironic in a blue-green upgrade, and the
        # bare-metal instances' host fields follow it (quirk ironic_instance_host)
        "units": ["ironic-api", "ironic-conductor", "nova-compute-ironic"],
        "primary_units": ["ironic-api"],
        "agent_units": [],
        "compute_units": [],
        "service_records": ["ironic-conductor"],
        "databases": ["ironic"],
        "config_files": ["/etc/ironic/ironic.conf"],
        "revision_dirs": {"ironic": ["ironic/db/sqlalchemy/alembic/versions"]},
        "db_urls": [],
        "port": 6385,
        "version_path": "/",
        "endpoint_path": "",
        "logs": ["/var/log/ironic/*.log", "/var/log/nova/nova-compute-ironic.log"],
        "state_dirs": ["/tftpboot", "/var/lib/ironic/images", "/var/lib/ironic/master_images"],
        "smoke": True,
        "smoke_summary": "node list with a microversion (1.46 on), each node's provision state",
        "smoke_writes": "",
        "rootwrap_conf": "/etc/ironic/rootwrap.conf",
        # ironic.api.wsgi parses no --config-file under a WSGI server: oslo.config's default
        # search (/etc/ironic/ironic.conf)
        "wsgi_config": None,
        "uwsgi_options": {},
        "code_of_units": {"nova-compute-ironic": "nova"},
        # ironic-dbsync upgrade only adds; its online data migrations after the last node
        "rolling": {"expand": "sync", "data": [], "contract": [],
                    "online": {"service": "ironic", "command": "ironic-dbsync"}, "offline_check": [], "rpc_pins": True},
        "own_steps": [{"phase": "cleanup", "strategies": ["blue_green"],
                       "text": "move the bare-metal instances to the new nova-compute-ironic (DeNA): nova's "
                               "instances.host and launched_on and the ironic compute nodes' host rewritten "
                               "from the old controller to the new one, the new host added to the old one's "
                               "aggregates and the old one removed, the old nova-compute record deleted"}],
    },
}

FIELDS = tuple(sorted(CATALOGUE["keystone"]))


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _config_dir(c):
    """The directory of a component's main config file."""
    return c["config_files"][0].rsplit("/", 1)[0]


def _root_helper(c):
    """How a service that runs as its own user gets root, as Debian's packages set it up:
    ``sudo <package>-rootwrap <rootwrap.conf>`` (the root_helper the service's config
    names), the sudoers rule that allows exactly that, the release's filters in
    rootwrap.d; oslo.privsep contexts start ``privsep-helper`` through the same rootwrap.
    None for a component that runs nothing as root."""
    conf = c["rootwrap_conf"]
    if not conf:
        return None
    wrapper = "%s-rootwrap" % c["package"]
    return {"user": c["user"], "rootwrap": wrapper, "conf": conf,
            "filters_dir": conf.rsplit("/", 1)[0] + "/rootwrap.d",
            "command": "sudo %s %s" % (wrapper, conf),
            "sudoers": "/etc/sudoers.d/stackhop-%s" % c["package"]}


# Views of an entry that several roles read in the same shape.
DERIVED = {
    # an unauthenticated GET that answers while the API is up (api_probe, rollback)
    "api": lambda c: {"port": c["port"], "path": c["version_path"]},
    # the catalogue endpoint under the node's address (endpoint_switch)
    "endpoint": lambda c: {"port": c["port"], "path": c["endpoint_path"]},
    # what verify scans for deprecations, errors and tracebacks
    "log_scan": lambda c: {"files": list(c["logs"]),
                           "units": _unique(c["units"] + c["agent_units"] + c["compute_units"])},
    # the root helper of a service that runs as its own user (service_unit's root_helper)
    "root_helper": _root_helper,
    # the file its -manage commands read (--config-file)
    "config_file": lambda c: c["config_files"][0],
    # the directory of its configuration (what a backup archives)
    "config_dir": _config_dir,
    # its state files outside that directory (keystone's keys live in it)
    "state_dirs_outside_config": lambda c: [
        d for d in c["state_dirs"] if not d.startswith(_config_dir(c) + "/")],
}


class UnknownComponent(ValueError):
    """A name that is not in the catalogue."""


def names(deployable=False):
    """The components in upgrade order; only those a role deploys when ``deployable``."""
    return [n for n in ORDER if not deployable or CATALOGUE[n]["role"]]


def component(name):
    """The catalogue entry of ``name``; UnknownComponent names the known ones."""
    try:
        return CATALOGUE[name]
    except (KeyError, TypeError):
        raise UnknownComponent("Unknown component %r: use one of %s." % (name, ", ".join(ORDER)))


def facts(wanted, field, deployable=False, flat=False):
    """{component: value of ``field``} for the components ``wanted`` (a list of names,
    or ``all``: every one in upgrade order, with ``deployable`` only those a role
    deploys), in the order given; ``field`` is an entry's field or a derived view (api,
    endpoint, log_scan). Each value is a fresh copy. With ``flat``: the values as one
    list instead (a list value's items in it), each once, in that order, empty ones left
    out: every database, package or unit of the components."""
    if field not in FIELDS and field not in DERIVED:
        raise ValueError("Unknown component field %r: use one of %s."
                         % (field, ", ".join(FIELDS + tuple(sorted(DERIVED)))))
    if wanted == "all":
        wanted = names(deployable)
    if isinstance(wanted, str) or not isinstance(wanted, (list, tuple)):
        raise ValueError("Components must be a list of names or 'all', not %r." % (wanted,))
    out = {}
    for name in wanted:
        entry = component(name)
        out[name] = copy.deepcopy(DERIVED[field](entry) if field in DERIVED else entry[field])
    if flat:
        return _unique(item for value in out.values()
                       for item in (value if isinstance(value, list) else [value])
                       if item not in (None, "", [], {}))
    return out
