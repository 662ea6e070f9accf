"""Tempest in the verify phase: the tempest.conf a region gets, the results read from
subunit2csv, the before/after comparison, its table, the report's tempest entry, and which
saved run a re-run of the upgrade keeps."""

from __future__ import annotations

import json

import pytest

from ansible_collections.stackhop.upgrade.plugins.filter.tempest import tempest_results_kept, tempest_table
from ansible_collections.stackhop.upgrade.plugins.module_utils import tempest as t
from ansible_collections.stackhop.upgrade.plugins.plugin_utils import upgrade_report as model

UP = {"state": "up", "status": "enabled"}


def region(**extra):
    facts = {
        "region": "RegionOne",
        "services": ["identity", "compute", "image", "network", "placement", "block-storage", "volumev3"],
        "auth": {"auth_url": "http://10.20.0.101:5000", "username": "admin", "project_name": "admin",
                 "user_domain_name": "Default", "project_domain_name": "Default"},
        "images": [{"id": "img-deb", "name": "debian", "status": "active"},
                   {"id": "img-cir", "name": "cirros-0.6", "status": "active"},
                   {"id": "img-q", "name": "queued", "status": "queued"}],
        "flavors": [{"id": "f2", "name": "m1.small", "ram": 2048, "vcpus": 1, "disk": 20},
                    {"id": "f1", "name": "m1.lab", "ram": 128, "vcpus": 1, "disk": 1}],
        "networks": [{"id": "n1", "name": "tenant-vx", "external": False, "shared": False},
                     {"id": "n3", "name": "provider-vlan100", "external": False, "shared": True},
                     {"id": "n2", "name": "public", "external": True}],
        "network_extensions": ["router", "security-group", "agent"],
        "compute_services": [dict(UP, binary="nova-compute", host="cmp1"), dict(UP, binary="nova-compute", host="cmp2"),
                             dict(UP, binary="nova-conductor", host="ctl")],
        "volume_services": [dict(UP, binary="cinder-scheduler", host="ctl")],
    }
    facts.update(extra)
    return facts


def test_conf_follows_the_region():
    decided = t.decide(region(), {"workspace": "/var/lib/stackhop/tempest/r1"})
    s = decided["sections"]
    assert s["identity"]["uri_v3"] == "http://10.20.0.101:5000/v3"
    # no cinder-volume up: no volume backend, cinder absent for tempest (its tests skip)
    assert s["service_available"] == {"cinder": "false", "neutron": "true", "glance": "true", "swift": "false",
                                      "nova": "true", "horizon": "false"}
    assert any("no cinder-volume" in n for n in decided["notes"])
    assert "volume" not in s
    assert s["compute"]["image_ref"] == "img-cir" and s["compute"]["image_ref_alt"] == "img-deb"
    assert s["compute"]["flavor_ref"] == "f1" and s["compute"]["flavor_ref_alt"] == "f2"
    assert s["compute"]["min_compute_nodes"] == "2"
    assert s["compute-feature-enabled"]["live_migration"] == "true"
    assert s["network"]["public_network_id"] == "n2" and s["network"]["floating_network_name"] == "public"
    assert s["network-feature-enabled"]["api_extensions"] == "agent,router,security-group"
    assert s["DEFAULT"]["log_dir"] == "/var/lib/stackhop/tempest/r1/logs"
    assert "admin_password" not in s["auth"]


def test_volume_backend_turns_cinder_on_and_overrides_come_last():
    facts = region(volume_services=[dict(UP, binary="cinder-volume", host="ctl@lvm"),
                                    dict(UP, binary="cinder-backup", host="ctl")])
    decided = t.decide(facts, {"overrides": {"compute-feature-enabled": {"resize": False}, "volume": {"x": [1, 2]}}})
    s = decided["sections"]
    assert s["service_available"]["cinder"] == "true" and s["volume-feature-enabled"]["backup"] == "true"
    assert s["compute-feature-enabled"]["resize"] == "false" and s["volume"]["x"] == "1,2"


def test_missing_image_or_named_flavor_is_one_sentence_with_the_fix():
    with pytest.raises(t.TempestConfError, match="region RegionOne has no active image .* set verify_tempest_image"):
        t.decide(region(images=[]))
    with pytest.raises(t.TempestConfError, match="flavor m1.huge was not found in region RegionOne; .*verify_tempest_flavor"):
        t.decide(region(), {"flavor": "m1.huge"})
    with pytest.raises(t.TempestConfError, match="admin_password"):
        t.decide(region(), {"overrides": {"auth": {"admin_password": "x"}}})


def test_without_l3_servers_use_a_shared_network():
    decided = t.decide(region(network_extensions=["agent", "security-group"]))
    s = decided["sections"]
    assert s["auth"]["create_isolated_networks"] == "false"
    assert s["network-feature-enabled"]["floating_ips"] == "false"
    assert s["compute"]["fixed_network_name"] == "provider-vlan100"
    assert any("no router extension" in n for n in decided["notes"])
    assert "fixed_network_name" not in t.decide(region())["sections"]["compute"]


def test_absent_services_and_no_external_network():
    facts = region(services=["identity", "image"], networks=[])
    decided = t.decide(facts)
    assert decided["sections"]["service_available"]["nova"] == "false"
    assert "compute" not in decided["sections"] and "network" not in decided["sections"]
    facts = region(networks=[{"id": "n1", "name": "tenant", "external": False}])
    assert "public_network_id" not in t.decide(facts)["sections"]["network"]


def test_render_puts_the_password_only_in_auth():
    text = t.render({"auth": {"admin_username": "admin"}, "compute": {"image_ref": "i"}}, "s3cret")
    assert text.startswith("[auth]\nadmin_username = admin\nadmin_password = s3cret\n")
    assert "[compute]\nimage_ref = i\n" in text
    assert "admin_password" not in t.render({"auth": {}})


EVENTS = [
    ("tempest.api.compute.servers.test_create_server.ServersTestJSON.test_list_servers[id-1,smoke]", "inprogress"),
    ("tempest.api.compute.servers.test_create_server.ServersTestJSON.test_list_servers[id-1,smoke]", "success"),
    ("tempest.api.image.v2.test_images_metadefs_resource_types.MetadataResourceTypesTest."
     "test_basic_meta_def_resource_type_association[id-2,smoke]", "fail"),
    ("tempest.api.volume.test_volumes_get.VolumesGetTestJSON.test_volume_create_get_update_delete[id-3,smoke]", "skip"),
    ("tempest.scenario.test_server_basic_ops.TestServerBasicOps.test_server_basic_ops[id-4,smoke]", "success"),
    ("tempest.api.identity.admin.v3.test_users.UsersV3TestJSON.test_list_users[id-5,smoke]", "uxsuccess"),
    ("tempest.api.network.test_ports.PortsTestJSON.test_list_ports[id-6,smoke]", "exists"),
]


def test_results_per_service():
    tests = t.results(EVENTS)
    assert tests["tempest.api.compute.servers.test_create_server.ServersTestJSON.test_list_servers"] == "passed"
    assert t.counts(tests) == {
        "cinder": {"passed": 0, "failed": 0, "skipped": 1}, "glance": {"passed": 0, "failed": 1, "skipped": 0},
        "keystone": {"passed": 0, "failed": 1, "skipped": 0}, "nova": {"passed": 1, "failed": 0, "skipped": 0},
        "scenario": {"passed": 1, "failed": 0, "skipped": 0}}
    assert t.service_of("setUpClass (tempest.api.network.test_ports.PortsTestJSON)") == "neutron"


def test_subunit_stream_is_read_with_python_subunit():
    subunit = pytest.importorskip("subunit")
    import io
    buf = io.BytesIO()
    out = subunit.StreamResultToBytes(buf)
    for test_id, status in [("tempest.api.compute.X.test_a[id-1,smoke]", "success"),
                            ("setUpClass (tempest.api.network.P)", "fail")]:
        out.status(test_id=test_id, test_status="inprogress")
        out.status(test_id=test_id, test_status=status)
    assert t.subunit_events(buf.getvalue()) == [
        ("tempest.api.compute.X.test_a[id-1,smoke]", "success"), ("setUpClass (tempest.api.network.P)", "fail")]


def test_compare_names_what_passed_before_and_fails_after():
    before = {"a.B.test_1": "passed", "a.B.test_2": "passed", "a.B.test_3": "failed", "c.D.test_4": "passed",
              "e.F.test_5": "passed", "g.H.test_6": "passed"}
    after = {"a.B.test_1": "passed", "a.B.test_2": "failed", "a.B.test_3": "passed", "e.F.test_5": "skipped",
             "setUpClass (g.H)": "failed"}
    diff = t.compare(before, after)
    assert diff["regressions"] == [
        {"test": "a.B.test_2", "before": "passed", "after": "failed"},
        {"test": "c.D.test_4", "before": "passed", "after": "did not run"},
        {"test": "g.H.test_6", "before": "passed", "after": "failed (setUpClass)"}]
    assert diff["passed_then_skipped"] == ["e.F.test_5"] and diff["fixed"] == ["a.B.test_3"]
    # another selection after (verify_tempest_regex): a test it did not select is not missing
    assert [r["test"] for r in t.compare(before, after, missing=False)["regressions"]] == ["a.B.test_2", "g.H.test_6"]
    # a test that failed before and fails after is not a regression
    assert t.compare({"x.Y.z": "failed"}, {"x.Y.z": "failed"})["regressions"] == []
    sentence = t.regression_sentence(diff["regressions"][:1], "ctl-new")
    assert sentence.startswith("tempest: 1 test(s) passed before the upgrade and fail after it on ctl-new: "
                               "a.B.test_2 (failed); fix the region")


def _result(regressions=()):
    before = {"nova": {"passed": 20, "failed": 0, "skipped": 1}, "glance": {"passed": 5, "failed": 1, "skipped": 0}}
    after = {"nova": {"passed": 20 - len(regressions), "failed": len(regressions), "skipped": 1},
             "glance": {"passed": 5, "failed": 1, "skipped": 0}}
    return {"version": "47.0.0", "table": t.table(before, after), "regressions": list(regressions),
            "seconds": 610.4, "before_seconds": "580.2", "compared": True}


def test_table_before_and_after():
    text = tempest_table(_result())
    assert "| glance | 5 / 1 / 0 | 5 / 1 / 0 |" in text and "| **all** | 25 / 1 / 1 | 25 / 1 / 1 |" in text
    assert "Tempest ran 580 s before and 610 s after the upgrade." in text
    assert "No test that passed before fails after." in text
    text = tempest_table(_result([{"test": "tempest.api.compute.X.test_y", "after": "failed"}]))
    assert "Passed before, fail after (1):\n- tempest.api.compute.X.test_y (failed)" in text
    assert "nothing compared" in tempest_table({"table": t.table(None, {"nova": {"passed": 1}}), "compared": False})


def test_report_takes_the_run_after_and_renders_it(tmp_path):
    record = dict(_result([{"test": "tempest.api.compute.X.test_y", "before": "passed", "after": "failed"}]),
                  kind="tempest", phase="after", host="ctl-new", compared="True")
    before = {"kind": "tempest", "phase": "before", "seconds": "580.2", "table": [], "host": "ctl-old"}
    probes = [model.normalize_probe(before, "set_stats"), model.normalize_probe(record, "set_stats")]
    report = model.merge(str(tmp_path), [], probes)
    assert report["tempest"]["compared"] is True and report["tempest"]["host"] == "ctl-new"
    assert report["tempest"]["regressions"][0]["test"] == "tempest.api.compute.X.test_y"
    assert report["api"] == [] and report["dataplane"] == []
    summary = model.markdown_summary(report)
    assert "| nova | 20 / 0 / 1 | 19 / 1 / 1 |" in summary and "Passed before, fail after (1)" in summary
    html = model.render_html(report)
    assert "Tempest before and after the upgrade" in html and "tempest.api.compute.X.test_y (failed)" in html
    # only the run before (verify not reached yet): its counts as the before column
    report = model.merge(str(tmp_path), [], [model.normalize_probe(dict(before, table=[
        {"service": "nova", "before": None, "after": {"passed": 3, "failed": 0, "skipped": 0}}]), "x")])
    assert report["tempest"]["table"] == [{"service": "nova", "before": {"passed": 3, "failed": 0, "skipped": 0},
                                           "after": None}]
    assert "| **all** | 3 / 0 / 0 | - |" in model.markdown_summary(report)
    assert "Saved for the verify phase" in model.markdown_summary(report)
    with pytest.raises(model.ProbeError, match="phase"):
        model.normalize_probe({"kind": "tempest", "phase": "during"}, "x.json")


SAVED = {"label": "before", "upgrade_id": "dc1-2024.1-to-2025.1",
         "tests": {"tempest.api.compute.servers.test_list_servers.ListServers.test_list": "passed"}}


@pytest.mark.parametrize("saved, upgrade_id, kept", [
    (SAVED, "dc1-2024.1-to-2025.1", True),              # a re-run of the same upgrade
    (json.dumps(SAVED), "dc1-2024.1-to-2025.1", True),   # as the file's text (slurp)
    (SAVED, "dc1-2025.1-to-2025.2", False),             # the next upgrade runs tempest again
    (SAVED, "", False),                                 # without an id nothing is kept
    (dict(SAVED, tests={}), "dc1-2024.1-to-2025.1", False),  # a run that ran nothing
    ("", "dc1-2024.1-to-2025.1", False),                # no file
    ("{not json", "dc1-2024.1-to-2025.1", False),       # a broken file is run again
])
def test_a_rerun_keeps_only_its_own_run_before_the_upgrade(saved, upgrade_id, kept):
    assert t.results_kept(saved, upgrade_id) is kept
    assert tempest_results_kept(saved, upgrade_id) is kept


def test_results_kept_filter_refuses_what_is_not_a_results_file():
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match="tempest_results_kept expects"):
        tempest_results_kept(["a list"], "dc1")
