"""Every collection and every controller-side Python package the collection uses is declared.

Scans roles/ and playbooks/ for every FQCN (modules and actions, filters ``| a.b.c`` and
``map('a.b.c')``, tests ``is a.b.c`` and ``select('a.b.c')``, lookups, roles) and plugins/
and roles/*/files/ for every third-party Python import; fails when a collection is missing
from galaxy.yml's dependencies or execution-environment.yml, or a Python package from
meta/ee-requirements.txt (the execution environment's Python requirements).
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
SELF = "stackhop.upgrade"
BUILTIN = {"ansible.builtin", "ansible.legacy"}

NAME = r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*"
# a task key (module, action, or `- role.name:` in a roles list)
KEY = re.compile(r"^\s*(?:-\s+)?(%s):" % NAME, re.M)
# `role: a.b.c` / `name: a.b.c` (include_role, import_role, roles lists): the whole value
ROLE = re.compile(r"^\s*(?:-\s+)?(?:role|name):\s*[\"']?(%s)[\"']?\s*$" % NAME, re.M)
FILTER = re.compile(r"\|\s*(%s)\b" % NAME)
TEST = re.compile(r"\bis\s+(?:not\s+)?(%s)\b" % NAME)
# Jinja calls that name a plugin in a quoted argument: the first one, the second for *attr
CALL = re.compile(r"\b(map|select|reject|selectattr|rejectattr|lookup|query|q)\(([^)]*)\)")
QUOTED = re.compile(r"[\"']([^\"']*)[\"']")
PLUGIN = re.compile(r"^%s$" % NAME)

# Python names that are no distribution: Python 2 fallbacks in try/except ImportError.
PY2 = {"urlparse", "ConfigParser", "Queue", "StringIO", "httplib", "urllib2"}
# Import names whose distribution is named otherwise.
DISTRIBUTION = {"openstack": "openstacksdk", "pymysql": "pymysql", "yaml": "pyyaml",
                "jinja2": "jinja2", "netaddr": "netaddr", "jmespath": "jmespath"}
# Imports of scripts that run in a release's own venv on the OpenStack node, not on the
# controller: file -> modules.
ON_THE_NODE = {"roles/nova_controller/files/nova_db_sync.py": {"nova"},
               # stackhop.upgrade.tempest_run runs with the tempest venv's Python on the node
               "plugins/module_utils/tempest.py": {"subunit", "testtools"},
               # stackhop.upgrade.nova_compute_versions pipes it to a nova release's Python on the node
               "plugins/module_utils/nova_services_dump.py": {"nova"},
               # stackhop.upgrade.nova_service_version pipes it to the control plane's nova Python
               "plugins/module_utils/nova_service_lower.py": {"nova"},
               # the dnf modules run with the managed host's Python, which has python3-dnf
               "plugins/modules/dnf_source.py": {"dnf"},
               "plugins/modules/dnf_upgrade.py": {"dnf"}}
# What ansible-core itself brings (installed by the execution environment's ansible_core).
WITH_ANSIBLE_CORE = {"pyyaml", "jinja2", "packaging", "cryptography", "resolvelib"}
# Python needs that no import shows: collection or plugin -> distribution.
NEEDS = {
    "openstack.cloud": "openstacksdk",          # its modules import openstack
    "community.mysql": "pymysql",               # its modules import pymysql
    "ansible.utils.ipaddr": "netaddr",
    "ansible.utils.ipwrap": "netaddr",
    "community.general.json_query": "jmespath",
}


def load(path):
    return yaml.safe_load((REPO / path).read_text())


def scanned_files():
    for top in ("roles", "playbooks"):
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and path.suffix in (".yml", ".yaml", ".j2"):
                yield path


@functools.lru_cache(maxsize=None)
def used_fqcns():
    """FQCN -> the files that use it (relative paths)."""
    found = {}
    for path in scanned_files():
        text = path.read_text()
        names = set()
        if path.suffix != ".j2":
            names |= set(KEY.findall(text)) | set(ROLE.findall(text))
        names |= set(FILTER.findall(text)) | set(TEST.findall(text))
        for call, args in CALL.findall(text):
            quoted = QUOTED.findall(args)
            position = 1 if call.endswith("attr") else 0
            if len(quoted) > position and PLUGIN.match(quoted[position]):
                names.add(quoted[position])
        for name in names:
            found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def used_collections():
    out = {}
    for name, files in used_fqcns().items():
        collection = name.rsplit(".", 1)[0]
        if collection not in BUILTIN and collection != SELF:
            out.setdefault(collection, set()).update("%s (%s)" % (f, name) for f in files)
    return out


def galaxy_dependencies():
    return load("galaxy.yml").get("dependencies") or {}


def ee_collections():
    ee = load("execution-environment.yml")
    return {c["name"]: c.get("version", "*") for c in ee["dependencies"]["galaxy"]["collections"]}


def ee_requirements():
    out = {}
    for line in (REPO / "meta" / "ee-requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            out[canonicalize_name(req.name)] = req
    return out


def python_files():
    yield from sorted((REPO / "plugins").rglob("*.py"))
    yield from sorted((REPO / "roles").glob("*/files/**/*.py"))


def third_party_imports():
    """Top-level module -> files importing it, for every module neither stdlib nor Ansible."""
    found = {}
    for path in python_files():
        rel = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".", 1)[0]
                if (top in sys.stdlib_module_names or top in PY2 or top == "__future__"
                        or top in ("ansible", "ansible_collections")
                        or top in ON_THE_NODE.get(rel, ())):
                    continue
                found.setdefault(top, set()).add(rel)
    return found


def test_the_scan_sees_every_kind_of_use():
    used = used_fqcns()
    for name, where in [
        ("community.general.dict_kv", "playbooks/upgrade_control_plane.yml"),     # map('...')
        ("ansible.utils.ipwrap", None),                                          # | filter
        ("ansible.utils.ip_address", "roles/endpoint_switch/tasks/dns.yml"),     # reject('test')
        ("community.mysql.mysql_query", None),                                   # module
        ("ansible.posix.synchronize", None),
        ("ansible.builtin.env", None),                                           # lookup('...')
        ("stackhop.upgrade.approval_gate", None),                                # role / module
    ]:
        assert name in used, "the scan no longer finds %s" % name
        if where:
            assert where in used[name]
    assert not any(n.endswith((".j2", ".gz", ".py")) for n in used), sorted(used)


def test_every_collection_used_is_declared_in_galaxy_yml_and_the_ee():
    used = used_collections()
    assert set(used) >= {"openstack.cloud", "community.mysql", "ansible.posix",
                         "community.general", "ansible.utils"}
    galaxy, ee = galaxy_dependencies(), ee_collections()
    for collection, where in sorted(used.items()):
        first = sorted(where)[0]
        assert collection in galaxy, \
            "%s is used (%s) but not in galaxy.yml's dependencies; add it there" % (collection, first)
        assert collection in ee, \
            "%s is used (%s) but not in execution-environment.yml's galaxy collections; add it there" \
            % (collection, first)


def test_galaxy_yml_and_the_ee_declare_the_same_collections_and_versions():
    assert galaxy_dependencies() == ee_collections()


def test_every_third_party_import_is_an_ee_requirement():
    imports = third_party_imports()
    assert "pymysql" in imports and "openstack" in imports      # the scan sees the real ones
    ee = ee_requirements()
    for module, files in sorted(imports.items()):
        dist = canonicalize_name(DISTRIBUTION.get(module, module))
        if dist in WITH_ANSIBLE_CORE:
            continue
        assert dist in ee, "%s imports %s but meta/ee-requirements.txt has no %s; add it there" \
            % (sorted(files)[0], module, dist)


def test_python_needs_of_the_collections_used_are_ee_requirements():
    used, ee = used_fqcns(), ee_requirements()
    collections = used_collections()
    for what, dist in NEEDS.items():
        if what in used or what in collections:
            assert canonicalize_name(dist) in ee, \
                "%s needs %s on the controller; add it to meta/ee-requirements.txt" % (what, dist)


def test_openstacksdk_keeps_its_pin_and_uv_is_there():
    ee = ee_requirements()
    assert not ee["openstacksdk"].specifier.contains(Version("4.15.0"))
    assert ee["openstacksdk"].specifier.contains(Version("4.14.0"))
    # roles/openstack_install runs the uv next to ansible-playbook's Python
    assert "ansible_playbook_python | dirname }}/uv" in \
        (REPO / "roles" / "openstack_install" / "defaults" / "main.yml").read_text()
    assert "uv" in ee


def test_the_ee_reads_this_requirements_file():
    ee = load("execution-environment.yml")
    assert ee["dependencies"]["python"] == "meta/ee-requirements.txt"
    assert load("meta/execution-environment.yml")["dependencies"]["python"] == "meta/ee-requirements.txt"
