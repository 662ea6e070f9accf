"""plugins/filter/state_files.py: which of keystone's keys travel into the window."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.filter.state_files import files_differing

OLD = [{"path": "/etc/keystone/fernet-keys/0", "checksum": "a"},
       {"path": "/etc/keystone/fernet-keys/1", "checksum": "b"},
       {"path": "/etc/keystone/fernet-keys/2", "checksum": "c"}]


def test_keys_copied_before_the_stop_need_no_copy_in_the_window():
    assert files_differing(OLD, list(OLD)) == []


def test_a_rotation_since_the_first_pass_copies_the_changed_and_new_keys():
    new = [dict(OLD[0], checksum="z"), OLD[1]]  # 0 rotated (staged key promoted), 2 added
    assert files_differing(OLD, new) == ["/etc/keystone/fernet-keys/0", "/etc/keystone/fernet-keys/2"]
    assert files_differing(OLD, []) == sorted(e["path"] for e in OLD)
    assert files_differing(OLD, None) == sorted(e["path"] for e in OLD)


def test_an_unread_checksum_always_travels():
    assert files_differing([{"path": "/k/0"}], [{"path": "/k/0"}]) == ["/k/0"]


def test_something_else_than_finds_files_is_one_sentence():
    with pytest.raises(AnsibleFilterError, match="pass its .files"):
        files_differing({"files": OLD}, [])
