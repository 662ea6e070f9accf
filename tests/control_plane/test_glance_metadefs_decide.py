"""glance_metadefs' decisions: what of the metadefs files the database lacks."""

from __future__ import annotations

import json

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import StackhopError
from ansible_collections.stackhop.upgrade.plugins.modules.glance_metadefs import (
    count_missing,
    missing_metadefs,
    read_metadef_files,
)


def entries(properties=(), objects=(), tags=(), resource_types=()):
    return {"properties": set(properties), "objects": set(objects), "tags": set(tags),
            "resource_types": set(resource_types)}


WANT = {"OS::Compute::Libvirt": entries(["hw_boot_menu", "os_command_line"], [], [],
                                        ["OS::Glance::Image"]),
        "OS::Software::DBMS": entries([], ["MySQL"], ["db"], ["OS::Glance::Image", "OS::Cinder::Volume"])}


def test_an_empty_catalog_lacks_every_namespace_with_all_it_holds():
    missing = missing_metadefs(WANT, {}, merge=True)
    assert missing["OS::Compute::Libvirt"] == {
        "namespace": True, "properties": ["hw_boot_menu", "os_command_line"], "objects": [],
        "tags": [], "resource_types": ["OS::Glance::Image"]}
    assert count_missing(missing) == {"namespaces": 2, "properties": 2, "objects": 1, "tags": 1,
                                      "resource_types": 3}


def test_a_complete_catalog_lacks_nothing_and_extra_entries_are_kept():
    have = {"OS::Compute::Libvirt": entries(["hw_boot_menu", "os_command_line", "site_prop"], [], [],
                                            ["OS::Glance::Image"]),
            "OS::Software::DBMS": entries([], ["MySQL"], ["db"], ["OS::Glance::Image", "OS::Cinder::Volume"]),
            "Site::Own": entries(["x"])}
    assert missing_metadefs(WANT, have, merge=True) == {}
    assert count_missing({}) == {"namespaces": 0, "properties": 0, "objects": 0, "tags": 0,
                                 "resource_types": 0}


def test_merge_adds_what_a_release_added_to_an_existing_namespace_and_without_merge_nothing():
    have = {"OS::Compute::Libvirt": entries(["hw_boot_menu"], [], [], ["OS::Glance::Image"]),
            "OS::Software::DBMS": entries([], ["MySQL"], ["db"], ["OS::Glance::Image", "OS::Cinder::Volume"])}
    assert missing_metadefs(WANT, have, merge=True) == {"OS::Compute::Libvirt": {
        "namespace": False, "properties": ["os_command_line"], "objects": [], "tags": [],
        "resource_types": []}}
    # glance skips a namespace that exists unless --merge
    assert missing_metadefs(WANT, have, merge=False) == {}
    assert missing_metadefs(WANT, {}, merge=False).keys() == WANT.keys()


def test_files_are_read_as_glance_reads_them(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({
        "namespace": "OS::A", "properties": {"p1": {}, "p2": {}}, "objects": [{"name": "o"}],
        "tags": [{"name": "t"}], "resource_type_associations": [{"name": "OS::Nova::Flavor"}]}))
    (tmp_path / "README").write_text("not read")
    assert read_metadef_files(str(tmp_path)) == {"OS::A": entries(["p1", "p2"], ["o"], ["t"], ["OS::Nova::Flavor"])}
    assert read_metadef_files(str(tmp_path / "a.json")).keys() == {"OS::A"}


@pytest.mark.parametrize("content,words", [
    ("{not json", "cannot be read as JSON"),
    (json.dumps({"properties": {}}), "names no namespace"),
])
def test_a_broken_file_fails_naming_it(tmp_path, content, words):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(StackhopError) as err:
        read_metadef_files(str(tmp_path))
    assert words in err.value.msg and "bad.json" in err.value.msg


def test_a_missing_or_empty_directory_fails_with_the_fix(tmp_path):
    with pytest.raises(StackhopError, match="does not exist; set path"):
        read_metadef_files(str(tmp_path / "nowhere"))
    with pytest.raises(StackhopError, match="holds no .json file; set path"):
        read_metadef_files(str(tmp_path))
