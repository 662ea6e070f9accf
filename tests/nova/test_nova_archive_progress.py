"""nova_archive_deleted_rows' progress: the batches read from nova's progress dots as they
come, the line a follower prints, the batches left from the rows counted before."""

from __future__ import annotations

from ansible_collections.stackhop.upgrade.plugins.modules import nova_archive_deleted_rows as nad


def test_a_dot_is_a_batch_and_the_dot_of_complete_is_not():
    assert nad.batches_in_progress("") == 0
    assert nad.batches_in_progress("Archiving..") == 0
    assert nad.batches_in_progress("Archiving...") == 1
    assert nad.batches_in_progress("Archiving.....") == 3
    assert nad.batches_in_progress("Archiving.....complete\n") == 2
    assert nad.batches_in_progress("Archiving...complete\n+---") == 0
    assert nad.batches_in_progress("Archiving....stopped\n") == 1
    # the final count agrees with the parser of the whole output
    out = "Archiving......complete\n"
    assert nad.batches_in_progress(out) == nad.count_batches(out) == 3


def test_the_progress_line_with_rows_per_batch_and_with_dots_only():
    progress = nad.new_progress("dc1 2025.1", 2500, 1000)
    assert progress["batches_left"] == 3 and progress["line"].startswith(
        "nova archive_deleted_rows, dc1 2025.1: 0 batches, 0 rows archived in 0 s; about 3 batches")
    nad.add_archive_batch(progress, 1000, 4.2)
    assert progress["archived_total"] == 1000 and progress["batches_left"] == 2
    assert "1 batches, 1,000 rows archived in 4 s; about 2 batches left of 2,500" in progress["line"]
    dots = nad.new_progress("", None, 500)
    nad.add_archive_batch(dots, None, 2.0)
    nad.add_archive_batch(dots, None, 3.0)
    assert dots["line"] == ("nova archive_deleted_rows: 2 batches, up to 1,000 rows archived "
                            "in 3 s; the soft-deleted rows were not counted")
    nad.finish_progress(dots, 812, 2, 3.5)
    assert dots["done"] and dots["rows_known"] and dots["batches_left"] == 0
    assert dots["line"].endswith("2 batches, 812 rows archived in 4 s; done")


def test_more_batches_than_estimated_leave_none():
    progress = nad.new_progress("", 10, 5)
    for seconds in (1, 2, 3):
        nad.add_archive_batch(progress, 5, seconds)
    assert progress["batches_left"] == 0
