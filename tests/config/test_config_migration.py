"""config_migration.plan: renames from deprecated_opts, unknown options, settings, overrides."""

from __future__ import annotations

import difflib

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils.config_migration import (
    MigrationError,
    plan,
    public_edits,
    render_value,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.ini_edit import IniText, apply_edits


def opt(dest, deprecated=(), multi=False, secret=False, removal=False, since=None):
    return {"name": dest, "dest": dest, "multi": multi, "secret": secret,
            "deprecated_opts": [{"group": g, "name": n} for g, n in deprecated],
            "deprecated_for_removal": removal, "deprecated_since": since}


def meta(groups):
    return {"format": 1, "groups": groups}


# A source release with [DEFAULT] osapi_max_limit still its own option (deprecated), a
# target where it moved to [api] max_limit; quota_cores moved to [quota] cores.
SOURCE = meta({
    "DEFAULT": {"debug": opt("debug"), "osapi_max_limit": opt("osapi_max_limit"),
                "old_flag": opt("old_flag", removal=True, since="2023.1"),
                "quota_cores": opt("quota_cores")},
    "quota": {"cores": opt("cores", deprecated=[("DEFAULT", "quota_cores")])},
})
TARGET = meta({
    "DEFAULT": {"debug": opt("debug"), "transport_url": opt("transport_url", secret=True),
                "going": opt("going", removal=True, since="2024.1")},
    "api": {"max_limit": opt("max_limit", deprecated=[("DEFAULT", "osapi_max_limit")])},
    "quota": {"cores": opt("cores", deprecated=[("DEFAULT", "quota_cores")])},
    "libvirt": {"cpu_models": opt("cpu_models", deprecated=[(None, "cpu_model")], multi=True)},
    "keystone_authtoken": {"auth_type": opt("auth_type"), "www_authenticate_uri": opt("x")},
})

FILE = """[DEFAULT]
# operator comment
debug = true
osapi_max_limit = 500
quota_cores = 40
old_flag = 1
going = soon
typo_optoin = 3

[quota]
cores = 64

[libvirt]
cpu_model = Haswell

[keystone_authtoken]
auth_type = password
password = s3cret
"""


def run(text=FILE, releases=None, **kw):
    releases = releases or [("2023.1", SOURCE), ("2024.1", TARGET)]
    result = plan(IniText(text).assignments(), releases, **kw)
    return result, apply_edits(text, result["edits"])


def test_rename_moves_value_to_new_group_and_name():
    result, after = run()
    assert {(r["from"], r["to"], r["kept_existing"]) for r in result["renamed"]} == {
        ("DEFAULT/osapi_max_limit", "api/max_limit", False),
        ("DEFAULT/quota_cores", "quota/cores", True),
        ("libvirt/cpu_model", "libvirt/cpu_models", False),
    }
    doc = IniText(after)
    assert doc.values("api", "max_limit") == ["500"]
    assert doc.values("DEFAULT", "osapi_max_limit") == []
    assert doc.values("libvirt", "cpu_models") == ["Haswell"]
    assert "[api]\nmax_limit = 500\n" in after


def test_rename_keeps_the_operators_new_value_and_drops_the_old():
    result, after = run()
    doc = IniText(after)
    assert doc.values("quota", "cores") == ["64"]
    assert doc.values("DEFAULT", "quota_cores") == []
    edit = [e for e in result["edits"] if e["option"] == "quota_cores"][0]
    assert edit["action"] == "remove" and "already sets" in edit["reason"]


def test_unknown_options_reported_with_the_release_that_removed_them_and_kept():
    result, after = run()
    unknown = {(u["section"], u["option"]): u for u in result["unknown"]}
    assert set(unknown) == {("DEFAULT", "old_flag"), ("DEFAULT", "typo_optoin")}
    assert unknown[("DEFAULT", "old_flag")]["removed_in"] == "2024.1"
    assert unknown[("DEFAULT", "old_flag")]["last_known"] == "2023.1"
    assert "deprecated since 2023.1" in unknown[("DEFAULT", "old_flag")]["message"]
    assert unknown[("DEFAULT", "typo_optoin")]["removed_in"] is None
    assert all(u["action"] == "kept" for u in result["unknown"])
    assert "old_flag = 1\n" in after and "typo_optoin = 3\n" in after


def test_remove_policy_deletes_unknown_but_never_auth_plugin_options():
    result, after = run(unknown_policy="remove")
    assert "old_flag" not in after and "typo_optoin" not in after
    assert "password = s3cret" in after
    assert [(u["section"], u["option"]) for u in result["unverified"]] == [
        ("keystone_authtoken", "password")]


def test_deprecated_for_removal_is_a_warning():
    result, _after = run()
    assert [(d["option"], d["since"]) for d in result["deprecated"]] == [("going", "2024.1")]


def test_everything_else_is_byte_identical():
    _result, after = run()
    diff = [line for line in difflib.unified_diff(FILE.splitlines(True),
                                                  after.splitlines(True), n=0)
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert diff == ["-osapi_max_limit = 500\n", "-quota_cores = 40\n",
                    "-cpu_model = Haswell\n", "+cpu_models = Haswell\n",
                    "+\n", "+[api]\n", "+max_limit = 500\n"]


def test_second_run_plans_nothing():
    _result, after = run()
    again = plan(IniText(after).assignments(), [("2023.1", SOURCE), ("2024.1", TARGET)])
    assert again["edits"] == []


def test_chain_of_renames_over_several_releases():
    r1 = meta({"a": {"one": opt("one")}})
    r2 = meta({"a": {"two": opt("two", deprecated=[(None, "one")])}})
    r3 = meta({"b": {"three": opt("three", deprecated=[("a", "two")])}})
    result, after = run("[a]\none = 1\n", releases=[("r1", r1), ("r2", r2), ("r3", r3)])
    assert [(r["from"], r["to"], r["release"]) for r in result["renamed"]] == [
        ("a/one", "a/two", "r2"), ("a/two", "b/three", "r3")]
    assert after == "[a]\n\n[b]\nthree = 1\n"
    assert "a/one is renamed a/two in r2" in result["edits"][0]["reason"]


def test_settings_then_overrides_and_null_removes():
    result, after = run(settings={"DEFAULT": {"debug": False, "transport_url": "rabbit://u:p@h/"}},
                        overrides={"DEFAULT": {"debug": True, "going": None},
                                   "libvirt": {"cpu_models": ["A", "B"]},
                                   "api": {"max_limit": 500}})
    doc = IniText(after)
    assert doc.values("DEFAULT", "debug") == ["true"]
    assert doc.values("DEFAULT", "going") == []
    assert doc.values("libvirt", "cpu_models") == ["A", "B"]
    kinds = [(e["kind"], e["option"], e["values"]) for e in result["edits"]
             if e["kind"] != "rename"]
    assert ("setting", "debug", ["false"]) in kinds and ("override", "debug", ["true"]) in kinds
    assert not [k for k in kinds if k[1] == "max_limit"]     # same as the renamed value
    shown = public_edits(result["edits"])
    assert [e["values"] for e in shown if e["option"] == "transport_url"] == [["********"]]


def test_override_given_by_deprecated_name_goes_to_new_name():
    result, after = run("[DEFAULT]\n", overrides={"DEFAULT": {"osapi_max_limit": 9}})
    assert IniText(after).values("api", "max_limit") == ["9"]
    assert "deprecated name" in result["edits"][0]["reason"]


def test_render_value():
    assert render_value(True) == ["true"]
    assert render_value([1, 2]) == ["1,2"]
    assert render_value([1, 2], multi=True) == ["1", "2"]
    assert render_value(3) == ["3"]


def test_bad_inputs():
    with pytest.raises(MigrationError):
        plan([], [])
    with pytest.raises(MigrationError):
        plan([], [("t", {"no": "groups"})])
    with pytest.raises(MigrationError):
        plan([], [("t", TARGET)], unknown_policy="delete")
    with pytest.raises(MigrationError):
        plan([], [("t", TARGET)], overrides={"DEFAULT": "x"})


def test_option_before_any_section_is_reported():
    result, after = run("stray = 1\n[DEFAULT]\ndebug = 1\n")
    assert [u["option"] for u in result["unknown"]] == ["stray"]
    assert after == "stray = 1\n[DEFAULT]\ndebug = 1\n"


def test_removed_list_items_leave_the_rest_of_the_list_in_its_order():
    text = "[filter_scheduler]\nenabled_filters = AvailabilityZoneFilter, ComputeFilter,ImagePropertiesFilter\n"
    target = meta({"filter_scheduler": {"enabled_filters": opt("enabled_filters")}})
    removed = {("filter_scheduler", "enabled_filters"): {"AvailabilityZoneFilter": "gone in 2023.2"}}
    result, after = run(text, releases=[("2022.2", target), ("2024.1", target)], removed_items=removed)
    assert IniText(after).values("filter_scheduler", "enabled_filters") == ["ComputeFilter,ImagePropertiesFilter"]
    edit = result["edits"][-1]
    assert (edit["kind"], edit["reason"]) == ("removed_value", "gone in 2023.2")
    # a second pass, and a list without the item, change nothing
    again, dummy = run(after, releases=[("2022.2", target), ("2024.1", target)], removed_items=removed)
    assert again["edits"] == []
    # the operator's override still wins
    forced, after = run(text, releases=[("2022.2", target), ("2024.1", target)], removed_items=removed,
                        overrides={"filter_scheduler": {"enabled_filters": "ComputeFilter"}})
    assert IniText(after).values("filter_scheduler", "enabled_filters") == ["ComputeFilter"]


def test_a_backend_section_reads_its_options_from_the_template_groups():
    """cinder's [DEFAULT] enabled_backends names sections whose options the code declares
    under [backend_defaults] and [backend] (the metadata has no [fake] group)."""
    cinder = meta({
        "DEFAULT": {"enabled_backends": opt("enabled_backends")},
        "backend": {"backend_host": opt("backend_host")},
        "backend_defaults": {"volume_driver": opt("volume_driver"),
                             "volume_backend_name": opt("volume_backend_name"),
                             "target_helper": opt("target_helper", deprecated=[(None, "iscsi_helper")])},
    })
    text = ("[DEFAULT]\nenabled_backends = fake, lvm:lvm\n\n[fake]\nvolume_driver = x.Fake\n"
            "volume_backend_name = fake\nbackend_host = cinder\niscsi_helper = tgtadm\n\n"
            "[other]\nvolume_driver = y\n")
    result, after = run(text, releases=[("2024.1", cinder), ("2025.1", cinder)])
    # the backend's options are declared; a section no list names is not a backend
    assert [(u["section"], u["option"]) for u in result["unknown"]] == [("other", "volume_driver")]
    # a rename of a template option stays in the backend's section
    assert [(r["from"], r["to"]) for r in result["renamed"]] == [("fake/iscsi_helper", "fake/target_helper")]
    assert "[fake]\nvolume_driver = x.Fake\nvolume_backend_name = fake\nbackend_host = cinder\n" in after
    assert "target_helper = tgtadm" in after and "iscsi_helper" not in after
