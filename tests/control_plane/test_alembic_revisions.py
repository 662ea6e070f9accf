"""alembic_revisions: a release's migration graph read from files, and where a database stands."""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils.alembic_revisions import (
    RevisionError, applied, compare, heads, progress_line, read_graph)


def _write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(body)
    return path


@pytest.fixture
def versions(tmp_path):
    """A branchy graph: base -> a -> (expand e1, contract c1), e1 -> e2."""
    _write(tmp_path, "base.py", "revision = 'base'\ndown_revision = None\n")
    _write(tmp_path, "a.py", '"""doc"""\nrevision = "a"\ndown_revision = "base"\n')
    sub = tmp_path / "expand"
    sub.mkdir()
    _write(sub, "e1.py", "revision: str = 'e1'\ndown_revision = 'a'\nbranch_labels = ('expand',)\n")
    _write(sub, "e2.py", "revision = 'e2'\ndown_revision = ('e1',)\n")
    _write(tmp_path, "c1.py", "revision = 'c1'\ndown_revision = 'a'\n")
    _write(tmp_path, "helper.py", "def revision():\n    return 'not-a-revision'\n")
    _write(tmp_path, "notes.txt", "revision = 'ignored'\n")
    return tmp_path


def test_graph_and_heads(versions):
    graph = read_graph([str(versions)])
    assert graph == {"base": [], "a": ["base"], "e1": ["a"], "e2": ["e1"], "c1": ["a"]}
    assert heads(graph) == ["c1", "e2"]


@pytest.mark.parametrize("recorded, state, unknown", [
    ([], "empty", []),
    (["a"], "behind", []),
    (["c1", "e1"], "behind", []),
    (["e2", "c1"], "at_head", []),
    (["e2", "c1", "zz_newer"], "past", ["zz_newer"]),
    (["zz_newer"], "past", ["zz_newer"]),
])
def test_compare(versions, recorded, state, unknown):
    assert compare(recorded, read_graph([str(versions)])) == (state, unknown)


def test_missing_dir_names_the_fix(tmp_path):
    with pytest.raises(RevisionError, match="does not exist: install the release's code"):
        read_graph([str(tmp_path / "nope")])


def test_bad_file_names_the_fix(tmp_path):
    _write(tmp_path, "bad.py", "revision = (\n")
    with pytest.raises(RevisionError, match="is not valid Python"):
        read_graph([str(tmp_path)])


def test_applied_follows_every_branch_down(versions):
    graph = read_graph([str(versions)])
    assert applied(graph, []) == set()
    assert applied(graph, ["a"]) == {"base", "a"}
    assert applied(graph, ["e2", "c1"]) == set(graph)
    assert applied(graph, ["e1", "zz_unknown"]) == {"base", "a", "e1"}


def test_progress_line_counts_the_revisions_applied(versions):
    graph = read_graph([str(versions)])
    line = progress_line("nova 2025.1", ["nova", "nova_cell0"], graph,
                         {"nova": ["a"], "nova_cell0": []}, {"nova": ["e1"], "nova_cell0": []}, 12.4)
    assert line == ("nova 2025.1: nova 3 of 5 revisions (1 this run, at e1); "
                    "nova_cell0 0 of 5 revisions (0 this run), 12 s")


def test_depends_on_is_built_on_as_glance_chains_expand_and_contract(tmp_path):
    """glance 2024.1: each contract revision depends_on its release's expand, which no
    revision has as down_revision. Alembic records only 2024_1_contract01 once both ran, so
    the expand is below it, not a head (a deployed region's `deploy.yml --check` said
    "glance behind" and would have run db_sync again)."""
    for rev, down, dep in (("zed_expand01", None, None), ("zed_contract01", None, "zed_expand01"),
                           ("2023_1_expand01", "zed_expand01", None),
                           ("2023_1_contract01", "zed_contract01", "2023_1_expand01"),
                           ("2024_1_expand01", "2023_1_expand01", None),
                           ("2024_1_contract01", "2023_1_contract01", "2024_1_expand01")):
        _write(tmp_path, rev + ".py", "revision = %r\ndown_revision = %r\nbranch_labels = None\ndepends_on = %r\n"
               % (rev, down, dep))
    graph = read_graph([str(tmp_path)])
    assert graph["2024_1_contract01"] == ["2023_1_contract01", "2024_1_expand01"]
    assert heads(graph) == ["2024_1_contract01"]
    assert compare(["2024_1_contract01"], graph) == ("at_head", [])
    assert compare(["2023_1_contract01"], graph) == ("behind", [])
    assert len(applied(graph, ["2024_1_contract01"])) == 6
