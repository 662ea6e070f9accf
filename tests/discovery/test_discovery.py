"""module_utils/discovery.py: what runs on a host, on host trees shaped as the real ones
are (Debian's packages with their init-script wrappers, openstack-ansible's venvs,
stackhop's, uwsgi), with /proc and the package database's answers in their real formats.
On the lab's real hosts: tests/lab/test_lab_region.py."""

from __future__ import annotations

import os

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import components as catalogue
from ansible_collections.stackhop.upgrade.plugins.module_utils import discovery
from ansible_collections.stackhop.upgrade.plugins.module_utils.discovery import HostFiles

PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
          "nova:x:64060:64060::/var/lib/nova:/usr/sbin/nologin\n"
          "keystone:x:64061:64061::/var/lib/keystone:/usr/sbin/nologin\n")
GROUP = "root:x:0:\nnova:x:64060:\nkeystone:x:64061:\n"


class Host:
    """A host's file tree under tmp_path."""

    def __init__(self, root):
        self.root = root
        self.files = HostFiles(str(root))
        self.write("/etc/passwd", PASSWD)
        self.write("/etc/group", GROUP)

    def write(self, path, text=""):
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def mkdir(self, path):
        (self.root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)

    def process(self, pid, argv, ppid=1, uid=0, environ=None, title=None):
        """/proc/PID as the kernel shows it; ``title``: what setproctitle left instead."""
        cmdline = title if title is not None else "\0".join(argv) + "\0"
        self.write("/proc/%d/cmdline" % pid, cmdline)
        self.write("/proc/%d/stat" % pid, "%d (%s) S %d 1 1 0 -1" % (pid, argv[0].rsplit("/", 1)[-1][:15], ppid))
        self.write("/proc/%d/status" % pid, "Name:\tx\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\n"
                   % ((uid,) * 8))
        self.write("/proc/%d/environ" % pid, "\0".join("%s=%s" % kv for kv in (environ or {}).items()))

    def venv(self, path, package, version, python="python3.11"):
        self.write(path + "/pyvenv.cfg", "home = /usr/bin\n")
        self.mkdir("%s/lib/%s/site-packages/%s-%s.dist-info" % (path, python, package, version))


def unit(unit_id, pid=0, active="active", exec_start="", user="", environment="", fragment=None):
    return {"Id": unit_id, "LoadState": "loaded", "ActiveState": active, "SubState": "running",
            "FragmentPath": fragment or "/etc/systemd/system/" + unit_id, "DropInPaths": "",
            "MainPID": str(pid), "User": user, "Group": "", "Environment": environment,
            "ExecStart": "{ path=%s ; argv[]=%s ; ignore_errors=no ; start_time=[n/a] ; "
                         "stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }"
                         % (exec_start.split(" ")[0], exec_start)}


def describe(host, unit_id, component, props, venv_root="/opt/stackhop/venvs"):
    return discovery.describe_unit(host.files, unit_id, component, props, venv_root, PASSWD, GROUP)


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


def test_debian_package_behind_its_init_script_wrapper(host):
    """Debian's units run ``/etc/init.d/nova-api systemd-start``; start-stop-daemon starts
    the service as nova; the code is python3-nova's egg-info (zed: nova 26)."""
    host.process(300, ["/bin/sh", "/etc/init.d/nova-api", "systemd-start"])
    host.process(301, ["/usr/bin/python3", "/usr/bin/nova-api", "--config-file=/etc/nova/nova.conf",
                       "--log-file=/var/log/nova/nova-api.log"], ppid=300, uid=64060)
    host.mkdir("/usr/lib/python3/dist-packages/nova-26.0.0.egg-info")
    host.write("/etc/nova/nova.conf", "[DEFAULT]\nlog_dir = /var/log/elsewhere\n")
    host.write("/usr/bin/nova-api", "#!/usr/bin/python3\n")
    record = describe(host, "nova-api.service", "nova", unit(
        "nova-api.service", 300, exec_start="/etc/init.d/nova-api systemd-start",
        fragment="/lib/systemd/system/nova-api.service"))
    assert (record["state"], record["pid"], record["user"], record["group"]) == ("running", 301, "nova", "nova")
    assert record["python_env"] == "system" and record["install_method"] is None
    assert (record["version"], record["release"], record["codename"]) == ("26.0.0", "2022.2", "zed")
    assert record["config_files"] == ["/etc/nova/nova.conf"] and record["config_source"] == "command line"
    # the command line's --log-file wins over the file's log_dir
    assert record["log_path"] == "/var/log/nova/nova-api.log"

    paths = discovery.package_paths([record])
    assert paths == ["/usr/lib/python3/dist-packages/nova-26.0.0.egg-info", "/lib/systemd/system/nova-api.service"]
    # dpkg-query -S and -W outputs as dpkg prints them
    owners = discovery.parse_dpkg_search(
        "python3-nova: /usr/lib/python3/dist-packages/nova-26.0.0.egg-info\n"
        "nova-api: /lib/systemd/system/nova-api.service\n")
    versions = discovery.parse_dpkg_versions("python3-nova\t2:26.0.0-3\nnova-api:all\t2:26.0.0-3\n")
    discovery.attach_packages([record], {p: (n, versions.get(n)) for p, n in owners.items()}, "apt")
    assert record["install_method"] == "apt"
    assert record["packages"] == {"python3-nova": "2:26.0.0-3", "nova-api": "2:26.0.0-3"}
    summary, problems = discovery.summarise("ctl1", [record])
    assert problems == []
    assert summary["nova"] == {"units": ["nova-api.service"], "running": ["nova-api.service"],
                               "state": "ok", "release": "2022.2", "install_method": "apt",
                               "python_env": "system", "managed_by": "package", "user": "nova",
                               "group": "nova", "packages": {"python3-nova": "2:26.0.0-3",
                                                             "nova-api": "2:26.0.0-3"},
                               "releases": ["2022.2"], "problems": []}


def test_openstack_ansible_venv_and_stackhop_venv(host):
    """A venv at any path is found from the interpreter the unit names (a venv's python is a
    link to the system's, so /proc/PID/exe would say /usr/bin)."""
    host.venv("/openstack/venvs/nova-29.0.1", "nova", "29.0.1", python="python3.10")
    host.venv("/opt/stackhop/venvs/2025.1", "nova", "31.0.0")
    host.process(40, ["/openstack/venvs/nova-29.0.1/bin/python", "/openstack/venvs/nova-29.0.1/bin/nova-conductor"])
    host.process(41, ["/opt/stackhop/venvs/2025.1/bin/python", "/opt/stackhop/venvs/2025.1/bin/nova-scheduler",
                      "--config-file", "/etc/nova/nova.conf"])
    osa = describe(host, "nova-conductor.service", "nova", unit("nova-conductor.service", 40))
    ours = describe(host, "nova-scheduler.service", "nova", unit("nova-scheduler.service", 41))
    assert (osa["install_method"], osa["managed_by"], osa["python_env"], osa["release"]) == (
        "venv", "other", "/openstack/venvs/nova-29.0.1", "2024.1")
    assert (ours["install_method"], ours["managed_by"], ours["release"]) == ("venv", "stackhop", "2025.1")
    assert discovery.package_paths([osa, ours]) == []


def test_mixed_releases_and_installations_are_one_sentence(host):
    host.venv("/opt/stackhop/venvs/2024.1", "nova", "29.0.1")
    host.mkdir("/usr/lib/python3/dist-packages/nova-26.0.0.egg-info")
    host.process(50, ["/usr/bin/python3", "/usr/bin/nova-api"], uid=64060)
    host.process(51, ["/opt/stackhop/venvs/2024.1/bin/python", "/opt/stackhop/venvs/2024.1/bin/nova-conductor"])
    api = describe(host, "nova-api.service", "nova", unit("nova-api.service", 50))
    conductor = describe(host, "nova-conductor.service", "nova", unit("nova-conductor.service", 51))
    discovery.attach_packages([api, conductor], {api["distribution"]: ("python3-nova", "2:26.0.0-3")}, "apt")
    summary, problems = discovery.summarise("ctl1", [api, conductor])
    assert summary["nova"]["state"] == "mixed" and summary["nova"]["release"] is None
    assert problems == [
        "On ctl1, nova is mixed: nova-api 2022.2 (apt python3-nova 2:26.0.0-3); nova-conductor "
        "2024.1 (venv /opt/stackhop/venvs/2024.1); upgrade or reinstall them to one release and "
        "one installation before the upgrade."]


def test_code_it_cannot_tell_is_unknown_with_what_was_found(host):
    """A container (kolla) or code outside any package database: named, not guessed."""
    host.process(60, ["/usr/bin/docker", "start", "-a", "nova_api"])
    host.mkdir("/usr/local/lib/python3.11/dist-packages/glance-28.0.1.dist-info")
    host.process(61, ["/usr/bin/python3", "/usr/local/bin/glance-api"])
    kolla = describe(host, "kolla-nova_api-container.service", "nova", unit("kolla-nova_api-container.service", 60))
    pip = describe(host, "glance-api.service", "glance", unit("glance-api.service", 61))
    discovery.attach_packages([kolla, pip], {}, "apt")
    summary, problems = discovery.summarise("ctl2", [kolla, pip])
    assert summary["nova"]["state"] == summary["glance"]["state"] == "unknown"
    assert problems == [
        "On ctl2, kolla-nova_api-container.service runs /usr/bin/docker in system, where no nova "
        "package metadata was found: point the unit at the service's installation, or name its "
        "units in extra_units.",
        "On ctl2, glance-api.service runs code from /usr/local/lib/python3.11/dist-packages/"
        "glance-28.0.1.dist-info, which no package manager owns and no virtualenv holds: "
        "reinstall it from packages or into a virtualenv before the upgrade."]


def test_a_release_the_model_does_not_know(host):
    host.venv("/srv/venv", "nova", "99.0.0")
    host.process(70, ["/srv/venv/bin/python", "/srv/venv/bin/nova-api"])
    record = describe(host, "nova-api.service", "nova", unit("nova-api.service", 70))
    assert record["release"] is None
    assert discovery.summarise("h", [record])[1] == [
        "On h, nova-api.service runs nova 99.0.0, which is no release stackhop knows: check the "
        "version, or extend the release model."]


@pytest.mark.parametrize("title, argv", [
    # neutron-server: setproctitle joined the command line into one string
    ("/opt/v/bin/python /opt/v/bin/neutron-server --config-file /etc/neutron/neutron.conf\0",
     ["/opt/v/bin/python", "/opt/v/bin/neutron-server", "--config-file", "/etc/neutron/neutron.conf"]),
    # neutron's agents: "NAME (command line)"
    ("neutron-dhcp-agent (/opt/v/bin/python /opt/v/bin/neutron-dhcp-agent --config-file /etc/neutron/dhcp_agent.ini)\0",
     ["/opt/v/bin/python", "/opt/v/bin/neutron-dhcp-agent", "--config-file", "/etc/neutron/dhcp_agent.ini"]),
    # cotyledon's master (oslo.service's threading backend: neutron-rpc-server from 2025.2; the
    # RPC server and agents of the region-in-place rehearsal were read as "in system" before)
    ("neutron-rpc-server: master process [/opt/v/bin/neutron-rpc-server --config-file /etc/neutron/neutron.conf]\0",
     ["/opt/v/bin/neutron-rpc-server", "--config-file", "/etc/neutron/neutron.conf"]),
    # an agent's title around cotyledon's
    ("neutron-dhcp-agent (neutron-dhcp-agent: master process [/opt/v/bin/neutron-dhcp-agent --config-file "
     "/etc/neutron/dhcp_agent.ini])\0",
     ["/opt/v/bin/neutron-dhcp-agent", "--config-file", "/etc/neutron/dhcp_agent.ini"]),
    # a plain argv with an argument holding a space stays as it is
    ("/usr/bin/python3\0/usr/bin/x\0--opt\0a b\0", ["/usr/bin/python3", "/usr/bin/x", "--opt", "a b"]),
])
def test_process_titles_set_by_the_services(host, title, argv):
    host.process(80, ["x"], title=title)
    assert discovery.proc_argv(host.files, 80) == argv


def test_uwsgi_run_by_a_venv_python_with_its_ini_env_and_home(host):
    """pip's uwsgi is a Python script (pyuwsgi): the server is argv[1]; the ini's env sets
    nova's config dir and its home the venv."""
    host.venv("/opt/api", "nova", "30.0.0")
    host.write("/etc/nova/nova-api-uwsgi.ini", "[uwsgi]\nhome = /opt/api\nenv = OS_NOVA_CONFIG_DIR=/srv/nova\n"
               "env = OTHER=1\nmodule = nova.wsgi.osapi_compute:application\n")
    host.write("/srv/nova/nova.conf", "[DEFAULT]\nlog_dir = /var/log/nova\n")
    host.write("/srv/nova/api-paste.ini", "")
    host.process(90, ["/usr/bin/python3", "/usr/local/bin/uwsgi", "--ini", "/etc/nova/nova-api-uwsgi.ini"])
    record = describe(host, "nova-api.service", "nova", unit("nova-api.service", 90))
    assert (record["python_env"], record["release"]) == ("/opt/api", "2024.2")
    assert record["config_files"] == ["/srv/nova/api-paste.ini", "/srv/nova/nova.conf"]
    assert record["config_source"] == "environment OS_NOVA_CONFIG_DIR"
    # oslo.log names the file after the program: uwsgi
    assert record["log_path"] == "/var/log/nova/uwsgi.log"


def test_wsgi_without_environment_falls_back_to_oslo_defaults(host):
    """keystone and placement read OS_*_CONFIG_DIR only when set; else oslo.config's search:
    ~/.keystone, ~, /etc/keystone, /etc for keystone.conf and the program's name, and the
    .conf.d directories' *.conf in order."""
    host.venv("/opt/stackhop/venvs/2024.1", "keystone", "25.0.0")
    host.write("/etc/keystone/keystone.conf", "[DEFAULT]\nlog_file = /var/log/keystone/keystone.log\n")
    host.write("/var/lib/keystone/uwsgi.conf", "")             # ~keystone/uwsgi.conf: the program's file
    host.write("/etc/keystone/keystone.conf.d/20-tls.conf", "")
    host.write("/etc/keystone/keystone.conf.d/10-ldap.conf", "")
    host.write("/etc/keystone/keystone.conf.d/notes.txt", "")
    host.process(95, ["/opt/stackhop/venvs/2024.1/bin/uwsgi", "--ini", "/etc/keystone/keystone-uwsgi.ini"], uid=64061)
    record = describe(host, "keystone.service", "keystone", unit("keystone.service", 95))
    assert record["config_files"] == [
        "/etc/keystone/keystone.conf", "/var/lib/keystone/uwsgi.conf",
        "/etc/keystone/keystone.conf.d/10-ldap.conf", "/etc/keystone/keystone.conf.d/20-tls.conf"]
    assert record["config_dirs"] == ["/etc/keystone/keystone.conf.d"]
    assert record["config_source"] == "oslo.config defaults of keystone/uwsgi"
    assert record["log_path"] == "/var/log/keystone/keystone.log"
    # with the variable in the unit's Environment: that directory's keystone.conf
    host.write("/srv/ks/keystone.conf")
    record = describe(host, "keystone.service", "keystone", unit(
        "keystone.service", 95, environment="PATH=/usr/bin OS_KEYSTONE_CONFIG_DIR=/srv/ks OS_PASSWORD=s3cret"))
    assert record["config_files"][0] == "/srv/ks/keystone.conf"
    assert record["config_source"] == "environment OS_KEYSTONE_CONFIG_DIR"


def test_a_stopped_unit_is_described_from_its_exec_start(host):
    host.venv("/opt/stackhop/venvs/2024.1", "cinder", "24.0.0")
    host.write("/etc/cinder/cinder.conf", "")
    record = describe(host, "cinder-scheduler.service", "cinder", unit(
        "cinder-scheduler.service", 0, active="inactive", user="cinder",
        exec_start="/opt/stackhop/venvs/2024.1/bin/python /opt/stackhop/venvs/2024.1/bin/cinder-scheduler "
                   "--config-file /etc/cinder/cinder.conf"))
    assert (record["state"], record["pid"], record["user"], record["group"]) == ("stopped", None, "cinder", "cinder")
    assert (record["release"], record["config_files"]) == ("2024.1", ["/etc/cinder/cinder.conf"])
    assert record["log_path"] is None          # no log file or directory: the journal
    absent = describe(host, "cinder-volume.service", "cinder", {"Id": "cinder-volume.service", "LoadState": "not-found"})
    summary, problems = discovery.summarise("h", [record, absent])
    assert (summary["cinder"]["state"], summary["cinder"]["units"], summary["cinder"]["running"]) == (
        "ok", ["cinder-scheduler.service"], [])
    assert problems == []


def test_parsers_of_systemctl_and_rpm():
    text = ("Id=nova-api.service\nLoadState=loaded\nExecStart={ path=/usr/bin/nova-api ; argv[]=/usr/bin/nova-api "
            "--config-dir /etc/nova ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; "
            "code=(null) ; status=0/0 }\n\nId=nova-compute.service\nLoadState=not-found\n")
    units = discovery.parse_systemctl_show(text)
    assert sorted(units) == ["nova-api.service", "nova-compute.service"]
    assert discovery.exec_start_argv(units["nova-api.service"]["ExecStart"]) == [
        "/usr/bin/nova-api", "--config-dir", "/etc/nova"]
    assert discovery.exec_start_argv("") == []
    paths = ["/usr/lib/python3.9/site-packages/nova-26.0.0-py3.9.egg-info", "/usr/lib/systemd/system/x.service"]
    out = ("python3-nova\t1:26.0.0-1.el9\n"
           "file /usr/lib/systemd/system/x.service is not owned by any package\n")
    assert discovery.parse_rpm_owners(paths, out) == {paths[0]: ("python3-nova", "1:26.0.0-1.el9")}
    assert discovery.parse_dpkg_search("diversion by x from: /usr/bin/y\nlibc6:amd64, libc6:i386: /lib/z\n") == {
        "/lib/z": "libc6:amd64"}


def test_rpm_egg_info_with_python_suffix_and_placement_name(host):
    host.mkdir("/usr/lib/python3.9/site-packages/nova-26.0.0-py3.9.egg-info")
    host.mkdir("/usr/lib/python3.9/site-packages/openstack_placement-8.0.0-py3.9.egg-info")
    sites = discovery.site_dirs_of(host.files, None)
    assert discovery.find_distribution(host.files, sites, "nova") == (
        "/usr/lib/python3.9/site-packages/nova-26.0.0-py3.9.egg-info", "26.0.0")
    assert discovery.find_distribution(host.files, sites, "openstack-placement")[1] == "8.0.0"
    assert discovery.find_distribution(host.files, sites, "cinder") == (None, None)


def test_secrets_never_come_back():
    assert discovery.mask_argv(["x", "--db-password", "p", "--token=t", "--config-file", "c"]) == [
        "x", "--db-password", "********", "--token=********", "--config-file", "c"]
    assert discovery.config_env({"HOME": "/h", "OS_PASSWORD": "p", "OS_NOVA_CONFIG_DIR": "/d",
                                 "DB_URL": "mysql://u:p@h/db"}) == {"HOME": "/h", "OS_NOVA_CONFIG_DIR": "/d"}


def test_units_wanted_come_from_the_catalogue_and_the_operator():
    units = discovery.units_wanted(["keystone", "neutron"], {"keystone": ["apache2"]})
    assert units[:2] == [("keystone.service", "keystone"), ("apache2.service", "keystone")]
    assert ("neutron-dhcp-agent.service", "neutron") in units
    assert all(set(catalogue.CATALOGUE[n]["wsgi_config"] or {}) <= {"dir_env", "dir", "files_env", "files"}
               for n in catalogue.ORDER)


# -- the plan's section and the pre-flight's rows ------------------------------------------

def _ok(release="2024.1", method="venv", env="/opt/stackhop/venvs/2024.1", managed="stackhop",
        user="root", packages=None):
    return {"state": "ok", "release": release, "install_method": method, "python_env": env,
            "managed_by": managed, "user": user, "group": user, "packages": packages or {},
            "units": ["x.service"], "running": ["x.service"]}


ABSENT = {"state": "absent", "release": None, "install_method": None, "python_env": None,
          "user": None, "group": None, "units": [], "running": []}


def test_preflight_rows_say_what_runs_or_what_stops_the_region():
    result = {"components": {"keystone": _ok(), "nova": _ok(), "ironic": ABSENT}, "problems": []}
    assert discovery.preflight_rows("ctl-old", result, "2024.1", "2025.1") == [{
        "check": "discovery", "host": "ctl-old", "target": "", "status": "ok",
        "message": "keystone, nova 2024.1 (venv /opt/stackhop/venvs/2024.1, stackhop's, as root:root); "
                   "not found: ironic"}]
    # a resumed upgrade: some components already at the target
    result["components"]["keystone"] = _ok("2025.1", env="/opt/stackhop/venvs/2025.1")
    assert [r["status"] for r in discovery.preflight_rows("ctl-new", result, "2024.1", "2025.1")] == ["ok"]
    # packages at zed while the inventory says 2024.1
    result["components"]["nova"] = _ok("2022.2", "apt", "system", "package", "nova",
                                       {"python3-nova": "2:26.0.0-3"})
    rows = discovery.preflight_rows("ctl-old", result, "2024.1", "2025.1")
    assert rows == [{"check": "discovery", "host": "ctl-old", "target": "nova", "status": "failure",
                     "message": "On ctl-old, nova runs 2022.2 (apt python3-nova 2:26.0.0-3, as nova:nova), but "
                                "the region is declared 2024.1 -> 2025.1 (stackhop_current_release, "
                                "stackhop_target_release): set them to what runs, or bring nova to 2024.1 first"}]


def test_preflight_rows_of_problems_a_failed_discovery_and_an_empty_target():
    mixed = dict(ABSENT, state="mixed", releases=["2022.2", "2024.1"], problems=["On h, nova is mixed: ..."])
    problems = {"components": {"nova": mixed}, "problems": mixed["problems"]}
    assert [(r["status"], r["message"]) for r in discovery.preflight_rows("h", problems, "2024.1", "2025.1")] == [
        ("failure", "On h, nova is mixed: ...")]
    # mixed between the current and the target release: the upgrade's own state, resumed
    midway = {"components": {"keystone": _ok(), "nova": dict(mixed, releases=["2024.1", "2025.1"])},
              "problems": mixed["problems"]}
    assert [(r["status"], r["message"]) for r in discovery.preflight_rows("h", midway, "2024.1", "2025.1")] == [
        ("ok", "keystone 2024.1 (venv /opt/stackhop/venvs/2024.1, stackhop's, as root:root); nova: mixed; "
               "midway between the releases (a resumed upgrade finishes it): nova part at 2024.1, part at 2025.1")]
    failed = {"failed": False, "msg": "systemctl show failed on h (System has not been booted with systemd): "
                                      "discovery reads systemd's units, so run it on a host booted with systemd."}
    rows = discovery.preflight_rows("h", failed, "2024.1", "2025.1")
    assert rows[0]["status"] == "failure" and rows[0]["message"].startswith("discovery failed on h: systemctl show")
    empty = {"components": {"nova": ABSENT, "keystone": ABSENT}, "problems": []}
    assert discovery.preflight_rows("ctl-new", empty, "2024.1", "2025.1", new_controller=True)[0]["message"] == (
        "nothing yet (the blue-green target gets its release during the upgrade); not found: nova, keystone")
    assert discovery.preflight_rows("cmp9", empty, "2024.1", "2025.1")[0]["message"] == (
        "nothing of OpenStack; not found: nova, keystone")


def test_plan_section_one_line_per_host_and_its_warnings():
    discovered = {
        "cmp1": {"components": {"nova": _ok("2023.2", "apt", "system", "package", "nova",
                                            {"python3-nova": "2:28.0.0-1"}), "keystone": ABSENT},
                 "problems": []},
        "ctl-old": {"components": {"keystone": _ok()}, "problems": ["On ctl-old, x."]},
        "ctl-new": {"failed": False, "msg": "unreachable"},
    }
    lines, warnings = discovery.plan_section(discovered, "2024.1", "venv")
    assert lines == ["cmp1: nova 2023.2 (apt python3-nova 2:28.0.0-1, as nova:nova)",
                     "ctl-new: not read (unreachable)",
                     "ctl-old: keystone 2024.1 (venv /opt/stackhop/venvs/2024.1, stackhop's, as root:root)"]
    assert warnings == ["On cmp1, nova runs 2023.2, not the current release 2024.1 the plan starts from.",
                        "On cmp1, nova is installed by apt, not venv as stackhop_install_method says.",
                        "On ctl-old, x."]


def test_stopped_components_are_said_stopped():
    """After a blue-green switch the old controller keeps its units, stopped."""
    result = {"components": {"keystone": dict(_ok(), running=[]), "neutron": _ok("2025.1", env="/v/2025.1", managed="x")},
              "problems": []}
    runs, absent = discovery.host_lines(result)
    assert runs == ("keystone 2024.1 (venv /opt/stackhop/venvs/2024.1, stackhop's, as root:root), stopped; "
                    "neutron 2025.1 (venv /v/2025.1, as root:root)")


def test_the_old_side_left_stopped_is_no_release_mismatch():
    """After a blue-green 2024.1 -> 2025.1, the old controller keeps its 2024.1 units,
    stopped: the next hop's pre-flight (2025.1 -> 2025.2) must not stop on them (the
    region-in-place rehearsal's in-place hop did), nor the plan warn."""
    result = {"components": {"keystone": dict(_ok(), running=[]), "neutron": _ok("2025.1", env="/v/2025.1")},
              "problems": []}
    rows = discovery.preflight_rows("ctl-old", result, "2025.1", "2025.2")
    assert [r["status"] for r in rows] == ["ok"] and "stopped" in rows[0]["message"]
    assert discovery.plan_section({"ctl-old": result}, "2025.1", "venv")[1] == []
    # the same component running 2024.1 is a mismatch
    result["components"]["keystone"]["running"] = ["keystone.service"]
    assert [r["status"] for r in discovery.preflight_rows("ctl-old", result, "2025.1", "2025.2")] == ["failure"]


def test_the_module_refuses_bad_input_and_a_host_without_systemd_in_one_sentence():
    """Bad input and this machine (systemctl present, systemd not PID 1) through the real
    module in ansible-playbook, check mode included: one sentence each, nothing changed."""
    from tests.lib.ansible_runner import run_module
    bad = run_module("service_discovery", {"components": ["nova", "swift"]}, check=True)
    assert bad.failed and not bad.get("changed")
    assert bad["msg"] == "Unknown component 'swift': use one of keystone, glance, placement, nova, neutron, cinder, ironic."
    if os.path.isdir("/run/systemd/system"):   # systemd is PID 1: the lab tests cover that case
        return
    no_systemd = run_module("service_discovery", {"components": ["nova"]})
    assert no_systemd.failed and not no_systemd.get("changed")
    assert no_systemd["msg"].startswith("systemctl show failed on ")
    assert no_systemd["msg"].endswith("discovery reads systemd's units, so run it on a host booted with systemd.")


def test_debian_neutron_api_under_uwsgi_with_pyargv_logto_and_every_units_packages(host):
    """Debian's neutron-api: uwsgi passes neutron's own arguments in one --pyargv string, and
    its ini's logto receives what oslo.log writes to standard error (seen on the Debian
    region, lab/inventory-debian); the component lists the packages of all its units."""
    host.process(600, ["/bin/sh", "/etc/init.d/neutron-api", "systemd-start"])
    host.process(601, ["/usr/bin/uwsgi_python311", "--http-socket", ":9696", "--ini",
                       "/etc/neutron/neutron-api-uwsgi.ini", "--pyargv",
                       "--config-dir=/etc/neutron/server.conf.d --config-file=/etc/neutron/neutron.conf "
                       "--config-file=/etc/neutron/plugins/ml2/ml2_conf.ini"], ppid=600, uid=64060)
    host.write("/etc/neutron/neutron-api-uwsgi.ini",
               "[uwsgi]\nplugins = python3\nlogto = /var/log/neutron/neutron-api.log\n"
               "wsgi-file = /usr/bin/neutron-api\n")
    host.write("/etc/neutron/neutron.conf", "[DEFAULT]\ncore_plugin = ml2\n")
    host.write("/etc/neutron/plugins/ml2/ml2_conf.ini", "[ml2]\n")
    host.write("/etc/neutron/server.conf.d/README", "")
    host.mkdir("/usr/lib/python3/dist-packages/neutron-21.0.0.egg-info")
    host.process(610, ["/usr/bin/python3", "/usr/bin/neutron-rpc-server", "--config-file=/etc/neutron/neutron.conf",
                       "--log-file=/var/log/neutron/neutron-rpc-server.log"], uid=64060)
    api = describe(host, "neutron-api.service", "neutron", unit("neutron-api.service", 600))
    rpc = describe(host, "neutron-rpc-server.service", "neutron", unit("neutron-rpc-server.service", 610))
    assert api["config_dirs"] == ["/etc/neutron/server.conf.d"]
    assert api["config_files"] == ["/etc/neutron/neutron.conf", "/etc/neutron/plugins/ml2/ml2_conf.ini"]
    assert api["config_source"] == "command line"
    assert api["log_path"] == "/var/log/neutron/neutron-api.log"
    api.update(install_method="apt", packages={"neutron-api": "2:21.0.0-7", "python3-neutron": "2:21.0.0-7"})
    rpc.update(install_method="apt", packages={"neutron-rpc-server": "2:21.0.0-7",
                                               "python3-neutron": "2:21.0.0-7"})
    summary, problems = discovery.summarise("ctl", [api, rpc])
    assert problems == [] and summary["neutron"]["packages"] == {
        "neutron-api": "2:21.0.0-7", "neutron-rpc-server": "2:21.0.0-7", "python3-neutron": "2:21.0.0-7"}
