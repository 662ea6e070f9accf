"""config_migrate against real releases' code: nova 2024.1 and keystone 2024.1 -> 2025.2.

The option metadata is dumped from the cached venvs by the collection's helper; the
renames the tests expect are the ones that code declares (asserted first, so a changed
release fails here rather than silently testing nothing). The migrated files are read
back by the venvs' own oslo.config.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.control_plane.conftest import KEYSTONE
from tests.lib.openstack_venv import NOVA_2024_1

REPO = Path(__file__).resolve().parents[2]
HELPER = REPO / "plugins" / "module_utils" / "oslo_options_dump.py"
SECRETS = ("Sup3rS3cret", "DbS3cret", "KsS3cret")

# A hand-kept nova.conf: comments, tuning, a repeated key, an option nova 2024.1 declares
# as a deprecated name of another ([DEFAULT] osapi_max_limit -> [api] max_limit), one whose
# new name the operator already set ([DEFAULT] quota_cores, with [quota] cores), and
# options 2024.1 no longer has ([DEFAULT] use_neutron, [DEFAULT] firewall_driver).
NOVA_CONF = """# /etc/nova/nova.conf - kept by hand on ctl-1 since Queens.
# Do not let config management rewrite this file!

[DEFAULT]
# Tuning for the 40-core controllers
osapi_compute_workers = 16
metadata_workers=8
# Limit API pages (kept from Pike)
osapi_max_limit = 500
quota_cores = 40
use_neutron = true
firewall_driver = nova.virt.firewall.NoopFirewallDriver
transport_url = rabbit://nova:Sup3rS3cret@ctl-1:5672/
my_ip = 10.1.0.11
#debug = false

[api_database]
connection = mysql+pymysql://nova:DbS3cret@ctl-1/nova_api

[Quota]
# per-project defaults agreed with the tenants
instances = 50
cores = 64

[libvirt]
virt_type = kvm
cpu_mode = host-model

[pci]
alias = {"vendor_id":"10de", "product_id":"1eb8", "device_type":"type-PCI", "name":"t4"}
alias = {"vendor_id":"10de", "product_id":"20b0", "device_type":"type-PF", "name":"a100"}

[keystone_authtoken]
auth_type = password
auth_url = http://ctl-1:5000
username = nova
password = KsS3cret
"""

KEYSTONE_CONF = """[DEFAULT]
# keystone.conf of ctl-1
max_token_size = 255

[catalog]
driver = templated
template_file = /etc/keystone/default_catalog.templates

[token]
expiration = 7200
revocation_cache_time = 1800
"""


def dump(venv, *namespaces):
    argv = [str(Path(venv) / "bin" / "python"), "-I", "-"]
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    proc = subprocess.run(argv, input=HELPER.read_text(), capture_output=True, text=True,
                          check=True, timeout=300)
    return json.loads(proc.stdout)


def oslo_reads(venv, conf, group, name, opt_class="StrOpt"):
    """The value the venv's own oslo.config reads for group/name from conf."""
    code = ("import sys; from oslo_config import cfg; c = cfg.ConfigOpts(); "
            "c.register_opt(getattr(cfg, %r)(%r), group=%r); "
            "c(['--config-file', sys.argv[1]], default_config_files=[]); "
            "print(repr(getattr(getattr(c, %r), %r)))" % (opt_class, name, group, group, name))
    proc = subprocess.run([str(Path(venv) / "bin" / "python"), "-c", code, str(conf)],
                          capture_output=True, text=True, check=True, timeout=120)
    return proc.stdout.strip()


def changed_lines(before, after):
    return [line for line in difflib.unified_diff(before.splitlines(True),
                                                  after.splitlines(True), n=0)
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def no_secret(result):
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr, "a password leaked"


@pytest.fixture(scope="module")
def nova_venv(cached_venv):
    return cached_venv(*NOVA_2024_1)


@pytest.fixture(scope="module")
def nova_meta(nova_venv):
    return dump(nova_venv)


def test_nova_metadata_is_from_the_code(nova_meta):
    groups = nova_meta["groups"]
    assert nova_meta["errors"] == {}
    assert "nova.conf" in nova_meta["namespaces"]
    assert {"group": "DEFAULT", "name": "osapi_max_limit"} in \
        groups["api"]["max_limit"]["deprecated_opts"]
    assert {"group": "DEFAULT", "name": "quota_cores"} in groups["quota"]["cores"]["deprecated_opts"]
    assert "osapi_max_limit" not in groups["DEFAULT"]
    assert "use_neutron" not in groups["DEFAULT"]
    assert groups["DEFAULT"]["transport_url"]["secret"] is True
    assert groups["DEFAULT"]["transport_url"]["default"] is None


def test_nova_conf_migrates_to_2024_1(ansible_module, nova_venv, tmp_path):
    conf = tmp_path / "nova.conf"
    conf.write_text(NOVA_CONF)
    os.chmod(conf, 0o640)
    args = {"path": str(conf),
            "releases": [{"name": "2024.1", "python": str(nova_venv / "bin" / "python")}]}

    # check mode with diff: every edit reported, nothing written
    stat = conf.stat()
    checked = ansible_module("config_migrate", args, check=True, diff=True)
    assert not checked.failed, checked.get("msg")
    assert checked["changed"] is True
    assert conf.read_text() == NOVA_CONF and conf.stat().st_mtime_ns == stat.st_mtime_ns
    assert "+max_limit = 500\n" in checked["unified_diff"]
    assert "-osapi_max_limit = 500\n" in checked["unified_diff"]
    assert "-quota_cores = 40\n" in checked["unified_diff"]
    assert "transport_url = ********" in checked["diff"]["before"]
    no_secret(checked)

    result = ansible_module("config_migrate", args, diff=True)
    assert not result.failed, result.get("msg")
    assert result["changed"] is True
    no_secret(result)
    after = conf.read_text()
    assert {(r["from"], r["to"], r["kept_existing"]) for r in result["renamed"]} == {
        ("DEFAULT/osapi_max_limit", "api/max_limit", False),
        ("DEFAULT/quota_cores", "quota/cores", True)}
    unknown = {(u["section"], u["option"]): u for u in result["unknown"]}
    assert set(unknown) == {("DEFAULT", "use_neutron"), ("DEFAULT", "firewall_driver")}
    assert all(u["action"] == "kept" for u in unknown.values())
    assert "declared by no release on the path (2024.1)" in unknown[
        ("DEFAULT", "use_neutron")]["message"]
    # keystone_authtoken's username/password come from the auth plugin: not "unknown"
    assert {(u["section"], u["option"]) for u in result["unverified"]} >= {
        ("keystone_authtoken", "password")}
    assert [e["reason"] for e in result["edits"] if e["option"] == "max_limit"] == [
        "DEFAULT/osapi_max_limit is renamed api/max_limit in 2024.1 "
        "(deprecated_opts of api/max_limit)"]

    # everything else byte for byte; the file keeps its mode; nova's oslo.config reads it
    assert changed_lines(NOVA_CONF, after) == [
        "-osapi_max_limit = 500\n", "-quota_cores = 40\n",
        "+\n", "+[api]\n", "+max_limit = 500\n"]
    assert oct(conf.stat().st_mode & 0o7777) == oct(0o640)
    assert conf.stat().st_uid == stat.st_uid and conf.stat().st_gid == stat.st_gid
    assert oslo_reads(nova_venv, conf, "api", "max_limit", "IntOpt") == "500"
    assert oslo_reads(nova_venv, conf, "quota", "cores", "IntOpt") == "64"
    assert not [n for n in conf.parent.iterdir() if n.name != "nova.conf"], "temp file left"

    again = ansible_module("config_migrate", args)
    assert not again.failed, again.get("msg")
    assert again["changed"] is False and again["edits"] == []
    assert conf.read_text() == after


def test_nova_overrides_and_remove_policy(ansible_module, nova_venv, nova_meta, tmp_path):
    meta = tmp_path / "nova-2024.1.json"
    meta.write_text(json.dumps(nova_meta))
    conf = tmp_path / "nova.conf"
    conf.write_text(NOVA_CONF)
    result = ansible_module("config_migrate", {
        "path": str(conf), "unknown_policy": "remove",
        "releases": [{"name": "2024.1", "metadata": str(meta)}],
        "settings": {"upgrade_levels": {"compute": "auto"}},
        "overrides": {"DEFAULT": {"osapi_compute_workers": 24},
                      "pci": {"alias": ['{"name":"t4"}']}}})
    assert not result.failed, result.get("msg")
    after = conf.read_text()
    assert "use_neutron" not in after and "firewall_driver" not in after
    assert "password = KsS3cret\n" in after
    assert "osapi_compute_workers = 24\n" in after
    assert after.count("alias = ") == 1 and 'alias = {"name":"t4"}\n' in after
    assert after.endswith("password = KsS3cret\n\n[api]\nmax_limit = 500\n\n"
                          "[upgrade_levels]\ncompute = auto\n")
    kinds = {e["kind"] for e in result["edits"]}
    assert kinds == {"rename", "unknown", "setting", "override"}


def test_keystone_2024_1_to_2025_2_names_the_release_that_removed_an_option(
        ansible_module, cached_venv, tmp_path):
    venvs = {rel: cached_venv(*spec) for rel, spec in KEYSTONE.items()}
    old = dump(venvs["2024.1"], "keystone")["groups"]
    new = dump(venvs["2025.2"], "keystone")["groups"]
    assert "template_file" in old["catalog"] and "template_file" not in new["catalog"]
    assert {"group": "token", "name": "revocation_cache_time"} in \
        new["revoke"]["cache_time"]["deprecated_opts"]
    conf = tmp_path / "keystone.conf"
    conf.write_text(KEYSTONE_CONF)
    result = ansible_module("config_migrate", {
        "path": str(conf), "namespaces": ["keystone"],
        "releases": [{"name": rel, "python": str(venvs[rel] / "bin" / "python")}
                     for rel in ("2024.1", "2025.2")]})
    assert not result.failed, result.get("msg")
    assert [(u["section"], u["option"], u["removed_in"], u["last_known"])
            for u in result["unknown"]] == [("catalog", "template_file", "2025.2", "2024.1")]
    assert "catalog/template_file was removed in 2025.2" in result["unknown"][0]["message"]
    assert [(r["from"], r["to"]) for r in result["renamed"]] == [
        ("token/revocation_cache_time", "revoke/cache_time")]
    assert changed_lines(KEYSTONE_CONF, conf.read_text()) == [
        "-revocation_cache_time = 1800\n", "+\n", "+[revoke]\n", "+cache_time = 1800\n"]
    assert len(result["executed_commands"]) == 2


def test_bad_python_is_one_sentence(ansible_module, tmp_path):
    conf = tmp_path / "x.conf"
    conf.write_text("[DEFAULT]\n")
    result = ansible_module("config_migrate", {
        "path": str(conf), "releases": [{"name": "2024.1", "python": str(tmp_path / "nope")}]})
    assert result.failed and "is not an executable" in result["msg"]
    result = ansible_module("config_migrate", {
        "path": str(tmp_path / "missing.conf"),
        "releases": [{"name": "2024.1", "python": "/usr/bin/python3"}]})
    assert result.failed and "does not exist" in result["msg"]


def sample_configs(venv, namespaces):
    argv = [str(Path(venv) / "bin" / "oslo-config-generator")]
    for namespace in namespaces:
        argv += ["--namespace", namespace]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300).stdout


def uncomment(sample):
    """Every commented default of a generated sample made a real setting."""
    out = []
    for line in sample.splitlines(True):
        if line.startswith("#") and " = " in line and not line.startswith("# "):
            out.append(line[1:])
        else:
            out.append(line)
    return "".join(out)


def test_real_samples_round_trip_and_parse_as_oslo(nova_venv, cached_venv, tmp_path):
    from ansible_collections.stackhop.upgrade.plugins.module_utils.ini_edit import IniText
    keystone = cached_venv(*KEYSTONE["2025.2"])
    corpus = {"nova": sample_configs(nova_venv, ["nova.conf", "oslo.messaging", "oslo.db",
                                                 "keystonemiddleware.auth_token"]),
              "keystone": sample_configs(keystone, ["keystone", "oslo.log", "oslo.policy"])}
    corpus.update({name + "-set": uncomment(text) for name, text in list(corpus.items())})
    for name, text in corpus.items():
        assert len(text) > 50000, name
        assert IniText(text).render() == text, name
    # our reading of the uncommented sample equals oslo.config's own parser
    code = ("import json, sys; from oslo_config import cfg; s = {}; "
            "cfg.ConfigParser(sys.argv[1], s).parse(); "
            "print(json.dumps({g: {k: v for k, v in o.items()} for g, o in s.items()}))")
    text = corpus["nova-set"]
    path = tmp_path / "nova-sample-set.conf"
    path.write_text(text)
    proc = subprocess.run([str(nova_venv / "bin" / "python"), "-c", code, str(path)],
                          capture_output=True, text=True, check=True, timeout=120)
    # oslo.config also lists sections without options ([devices]); they set nothing
    theirs = {group: opts for group, opts in json.loads(proc.stdout).items() if opts}
    ours = {}
    for assignment in IniText(text).assignments():
        ours.setdefault(assignment.section, {}).setdefault(assignment.key, []).append(
            assignment.value)
    assert len(ours["DEFAULT"]) > 100
    assert ours == theirs


def _fake_service(site, name, zone_default):
    """A distribution ``name`` whose options register on the global CONF at import, as
    the services' do; two of them declare [DEFAULT] default_availability_zone differently,
    as nova and cinder do."""
    pkg = site / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "opts.py").write_text(
        "from oslo_config import cfg\n"
        "ZONE = cfg.StrOpt('default_availability_zone', default=%r)\n"
        "OWN = cfg.StrOpt('%s_only')\n"
        "cfg.CONF.register_opts([ZONE, OWN])\n\n\n"
        "def list_opts():\n    return [(None, [ZONE, OWN])]\n" % (zone_default, name))
    dist = site / ("%s-1.0.dist-info" % name)
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % name.replace("_", "-"))
    (dist / "entry_points.txt").write_text("[oslo.config.opts]\n%s = %s.opts:list_opts\n" % (name, name))


def test_services_sharing_one_python_load_apart(nova_venv, tmp_path):
    """Two services in one Python (a venv with every service, Debian's system Python):
    imported together their options collide on the global CONF; the helper loads each
    service named with --isolate-dist in a process of its own, so both are read, and
    --exclude-dist leaves another service's options out of this file's."""
    site = tmp_path / "site"
    _fake_service(site, "svc_one", "nova")
    _fake_service(site, "svc_two", "cinder")
    python = str(Path(nova_venv) / "bin" / "python")
    env = dict(os.environ, PYTHONPATH=str(site))
    together = subprocess.run([python, "-c", "import svc_one.opts, svc_two.opts"], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert together.returncode != 0 and "DuplicateOptError" in together.stderr

    def helper(*args):
        proc = subprocess.run([python, "-", "--namespace", "svc_one", "--namespace", "svc_two"] + list(args),
                              input=HELPER.read_text(), env=env, capture_output=True, text=True,
                              check=True, timeout=300)
        return json.loads(proc.stdout)

    shared = helper()                      # one process: the second service fails
    assert shared["namespaces"] == ["svc_one"] and "DuplicateOptError" in shared["errors"]["svc_two"]
    apart = helper("--isolate-dist", "svc-one", "--isolate-dist", "svc_two")
    assert apart["errors"] == {} and apart["namespaces"] == ["svc_one", "svc_two"]
    assert {"svc_one_only", "svc_two_only", "default_availability_zone"} <= set(apart["groups"]["DEFAULT"])

    # every namespace of the venv, as config_migrate reads them: nova is a service too
    proc = subprocess.run([python, "-", "--exclude-dist", "svc-two", "--isolate-dist", "svc_one",
                           "--isolate-dist", "svc_two", "--isolate-dist", "nova"], input=HELPER.read_text(), env=env,
                          capture_output=True, text=True, check=True, timeout=300)
    alone = json.loads(proc.stdout)
    assert "svc_two" in alone["excluded"] and "svc_one" in alone["namespaces"]
    assert "svc_two_only" not in alone["groups"]["DEFAULT"] and "svc_one_only" in alone["groups"]["DEFAULT"]
    assert "nova.conf" in alone["namespaces"] and alone["errors"] == {}


def test_metadata_dir_reads_each_release_once(ansible_module, nova_venv, tmp_path):
    """Several files of one service: with metadata_dir the release's code is asked once,
    and the second file's result is the same as without the cache. Check mode reads the
    cache but never writes it."""
    first, second = tmp_path / "nova.conf", tmp_path / "nova-compute.conf"
    first.write_text(NOVA_CONF)
    second.write_text(NOVA_CONF)
    cache = tmp_path / "metadata"
    python = str(nova_venv / "bin" / "python")
    args = {"releases": [{"name": "2024.1", "python": python}], "component": "nova", "metadata_dir": str(cache)}
    checked = ansible_module("config_migrate", dict(args, path=str(first)), check=True)
    assert not checked.failed and not cache.exists()
    one = ansible_module("config_migrate", dict(args, path=str(first)))
    two = ansible_module("config_migrate", dict(args, path=str(second)), check=True)
    plain = ansible_module("config_migrate", {"path": str(second), "component": "nova",
                                              "releases": args["releases"]}, check=True)
    assert not (one.failed or two.failed or plain.failed), (one.get("msg"), two.get("msg"), plain.get("msg"))
    assert [c.split()[0] for c in one["executed_commands"]] == [python]
    assert two["executed_commands"] == []
    assert len(list(cache.glob("2024.1-*.json"))) == 1 and oct(cache.stat().st_mode & 0o777) == "0o700"
    assert (two["edits"], two["unknown"], two["renamed"]) == (plain["edits"], plain["unknown"], plain["renamed"])


def test_paths_share_the_releases_metadata(ansible_module, nova_venv, tmp_path):
    """Several files of one service in one call: each release's code is asked once, each
    file gets its own result and diff."""
    first, second = tmp_path / "nova.conf", tmp_path / "nova-compute.conf"
    first.write_text(NOVA_CONF)
    second.write_text("[DEFAULT]\ncompute_driver = fake.FakeDriver\n")
    python = str(nova_venv / "bin" / "python")
    result = ansible_module("config_migrate", {"paths": [str(first), str(second)], "component": "nova",
                                               "releases": [{"name": "2024.1", "python": python}]},
                            check=True, diff=True)
    assert not result.failed, result.get("msg")
    assert len(result["executed_commands"]) == 1 and result["changed"] is True
    one, two = result["files"]
    assert (one["path"], one["changed"], two["path"], two["changed"]) == (str(first), True, str(second), False)
    assert "+max_limit = 500\n" in one["unified_diff"] and two["unified_diff"] == "" and two["unknown"] == []
    assert first.read_text() == NOVA_CONF
    both = ansible_module("config_migrate", {"path": str(first), "paths": [str(second)],
                                             "releases": [{"name": "2024.1", "python": python}]}, check=True)
    assert both.failed and "mutually exclusive" in both["msg"]
