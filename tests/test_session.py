"""mcalc.store.session.EditSession: edits, undo, discard, save, conflicts, a refused store."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from mcalc.store import ImageMarks, MarkStore
from mcalc.store.session import EditSession
from mcalc.viewer import ImageView
from tests.viewer_fixtures import tiny_view

KEY = "case-1/CC_recent"
SHAPE = (100, 80)


@pytest.fixture
def store(tmp_path) -> MarkStore:
    return MarkStore(tmp_path)


def _open(store: MarkStore, reader: str = "ann") -> EditSession:
    return EditSession.open(store, KEY, reader, SHAPE)


def _view(flipped: bool = True) -> ImageView:
    return tiny_view(flipped, key=KEY, full_shape=SHAPE, with_calcification=False)


def _ids(s: EditSession) -> list[str]:
    return [m.id for m in s.marks.all_marks]


# --------------------------------------------------------------------------- edits

EDITS = [
    ("add", lambda s: s.add_point(10, 20, "benign"), (2, 0, "")),
    ("move", lambda s: s.move_point("p0", 30, 40), (1, 0, "")),
    ("delete", lambda s: s.delete("p0"), (0, 0, "")),
    ("label", lambda s: s.relabel("p0", label="suspicious"), (1, 0, "")),
    (
        "region",
        lambda s: s.add_region("cluster", [(1, 1), (1, 9), (9, 9)], "uncertain"),
        (1, 1, ""),
    ),
    ("comment", lambda s: s.set_comment("dense breast"), (1, 0, "dense breast")),
]


@pytest.mark.parametrize("name, action, expected", EDITS, ids=[e[0] for e in EDITS])
def test_edit_changes_the_working_copy_only(store, name, action, expected):
    store.save(
        ImageMarks(KEY, "ann", image_shape=SHAPE).add_point(50, 50, mark_id="p0"), base_version=0
    )
    s = _open(store)
    action(s)
    assert (len(s.marks.points), len(s.marks.regions), s.marks.comment) == expected
    assert s.dirty and s.can_undo_locally
    assert store.load(KEY, "ann").marks == s.saved  # nothing written before save
    s.undo()
    assert not s.dirty and s.marks == s.saved


def test_edit_details_and_selection(store):
    s = _open(store)
    pid = s.add_point(10, 20, "benign")
    assert s.selected == pid
    s.move_point(pid, 30, 40)
    s.relabel(pid, label="suspicious", comment="irregular")
    p = s.marks.points[0]
    assert (p.row, p.col, p.label, p.comment) == (30, 40, "suspicious", "irregular")
    s.delete(pid)
    assert s.selected is None and not s.marks.points
    s.select("no-such-mark")
    assert s.selected is None


BAD_EDITS = [
    ("outside the image", lambda s: s.add_point(500, 5, "benign"), ValueError),
    ("unknown label", lambda s: s.add_point(5, 5, "malignant"), ValueError),
    ("two-vertex region", lambda s: s.add_region("roi", [(1, 1), (2, 2)], "benign"), ValueError),
    ("unknown mark", lambda s: s.delete("nope"), KeyError),
    ("other image", lambda s: s.edit(ImageMarks("case-2/CC_recent", "ann")), ValueError),
]


@pytest.mark.parametrize("name, action, error", BAD_EDITS, ids=[e[0] for e in BAD_EDITS])
def test_a_refused_edit_changes_nothing(store, name, action, error):
    s = _open(store)
    with pytest.raises(error):
        action(s)
    assert not s.dirty and not s.can_undo_locally


# --------------------------------------------------------------------------- undo, discard


def test_undo_unsaved_edits_one_by_one(store):
    s = _open(store)
    s.add_point(10, 10, "benign")
    s.add_point(20, 20, "benign")
    result = s.undo()
    assert result.status == "local" and len(s.marks.points) == 1 and s.dirty
    s.undo()
    assert not s.marks.points and not s.dirty and not s.can_undo_locally


def test_undo_after_save_undoes_one_saved_edit_at_a_time(store):
    s = _open(store)
    for r in (10, 20, 30):
        s.add_point(r, r, "benign")
    assert s.save().version == 1
    for n, version in ((2, 2), (1, 3)):
        result = s.undo()
        assert result.status == "saved" and result.version == version
        assert "saved as version" in result.message
        assert len(s.marks.points) == n and not s.dirty and s.base == version
    assert [h.n_points for h in store.history(KEY, "ann")] == [3, 2, 1]


def test_undo_with_nothing_to_undo_is_an_error(store):
    s = _open(store)
    assert s.undo_target() is None
    result = s.undo()
    assert result.status == "error" and "Cannot undo" in result.message


def test_discard_is_itself_undoable(store):
    s = _open(store)
    s.add_point(10, 10, "benign")
    s.save()
    s.add_point(20, 20, "benign")
    s.discard()
    assert len(s.marks.points) == 1 and not s.dirty
    s.undo()
    assert len(s.marks.points) == 2 and s.dirty


# --------------------------------------------------------------------------- save, conflicts


def test_save_writes_a_version_and_clears_the_undo(store):
    s = _open(store)
    s.add_point(10, 10, "benign")
    result = s.save()
    assert (result.status, result.version, result.message, result.kind) == (
        "saved",
        1,
        "Saved as version 1.",
        "success",
    )
    assert not s.dirty and not s.can_undo_locally and s.base == 1
    assert store.load(KEY, "ann").marks.points == s.marks.points


def test_stale_save_is_a_conflict_that_keeps_the_edit(store):
    a, b = _open(store), _open(store)
    a.add_point(10, 10, "benign")
    b.add_point(50, 50, "suspicious")
    assert a.save().ok
    result = b.save()
    assert result.status == "conflict" and not result.ok and result.kind == "error"
    assert "NOT lost" in (b.conflict or "") and result.conflict_path is not None
    assert result.conflict_path.exists() and store.conflicts(KEY, "ann")
    assert b.dirty and len(b.marks.points) == 1 and b.base == 0


RESOLVE = [("merge", 2, 2), ("mine", 2, 1), ("load", 1, 1)]


@pytest.mark.parametrize("how, version, n_points", RESOLVE, ids=[r[0] for r in RESOLVE])
def test_resolve_conflict(store, how, version, n_points):
    a, b = _open(store), _open(store)
    a.add_point(10, 10, "benign")
    b.add_point(50, 50, "suspicious")
    a.save()
    b.save()
    result = b.resolve(how)
    assert result.ok and b.conflict is None and not b.dirty
    assert store.load(KEY, "ann").version == version == b.base
    assert len(b.marks.points) == n_points == len(store.load(KEY, "ann").marks.points)


def test_read_only_store_reports_and_keeps_the_edit(store, monkeypatch):
    s = _open(store)
    s.add_point(10, 10, "benign")

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    result = s.save()
    assert result.status == "error" and "Not saved" in result.message
    assert "read-only" in result.message and s.conflict is None
    assert s.dirty and len(s.marks.points) == 1 and s.base == 0 and s.can_undo_locally
    monkeypatch.undo()
    assert s.save().version == 1  # the kept edit saves once the store is writable


def test_restore_an_old_version(store):
    s = _open(store)
    s.add_point(10, 10, "benign")
    s.save()
    s.add_point(20, 20, "benign")
    s.save()
    result = s.restore(1)
    assert result.version == 3 and "Version 1 restored as version 3" in result.message
    assert len(s.marks.points) == 1 and s.base == 3
    again = s.restore(1)  # version 1 is what version 3 holds: nothing to write
    assert again.status == "local" and again.version is None and s.base == 3
    assert "Version 1 is the same as the current version 3" in again.message
    s.add_point(30, 30, "benign")
    assert s.restore(1).status == "error"  # unsaved edits first


def test_follow_store_only_when_nothing_is_unsaved(store):
    a, b = _open(store), _open(store)
    a.add_point(10, 10, "benign")
    a.save()
    assert b.follow_store() and b.base == 1 and len(b.marks.points) == 1
    assert not b.follow_store()
    b.add_point(20, 20, "benign")
    a.add_point(30, 30, "benign")
    a.save()
    assert not b.follow_store() and b.base == 1 and len(b.marks.points) == 2


def test_open_sizes_unsized_stored_marks(store):
    store.save(ImageMarks(KEY, "ann").add_point(5, 5), base_version=0)
    s = _open(store)
    assert s.marks.image_shape == SHAPE and s.base == 1 and not s.dirty


# --------------------------------------------------------------------------- clicks

REGION = np.zeros((50, 40), bool)
REGION[5:45, 0:30] = True  # the breast, preview scale, display orientation

CLICKS = [
    # name, tool, click (display), expected kind, text, points after
    ("add inside", "add", (20, 10), "success", "Added a benign", 1),
    ("add outside the image", "add", (150, 10), "warning", "outside the image", 0),
    ("add outside the breast", "add", (20, 75), "warning", "outside the breast", 0),
    ("move with nothing selected", "edit", (20, 10), "info", "Click on one of your marks", 0),
]


@pytest.mark.parametrize("name, tool, click, kind, text, n", CLICKS, ids=[c[0] for c in CLICKS])
def test_click(store, name, tool, click, kind, text, n):
    s = _open(store)
    fb = s.click(_view(), REGION, *click, tool=tool, label="benign", hit_radius=2.0)
    assert fb.kind == kind and text in fb.text and len(s.marks.points) == n


def test_click_places_in_file_coordinates_then_selects_and_moves(store):
    s = _open(store)
    view = _view(flipped=True)
    s.click(view, REGION, 20, 10, tool="add", label="benign", hit_radius=2.0)
    p = s.marks.points[0]
    assert (p.row, p.col) == (20, 69)  # mirrored: display col 10 is file col 69
    s.select(None)
    fb = s.click(view, REGION, 20.5, 10.5, tool="add", label="benign", hit_radius=2.0)
    assert "selected it instead" in fb.text and s.selected == p.id and len(s.marks.points) == 1
    fb = s.click(view, REGION, 30, 12, tool="edit", label="benign", hit_radius=2.0)
    assert fb.kind == "success" and (s.marks.points[0].row, s.marks.points[0].col) == (30, 67)


def test_click_snaps_in_file_coordinates(store):
    s = _open(store)
    seen = []

    def snap(row, col):
        seen.append((row, col))
        return row + 1, col - 1

    s.click(_view(flipped=True), None, 20, 10, tool="add", label="benign", hit_radius=2, snap=snap)
    assert seen == [(20, 69)] and (s.marks.points[0].row, s.marks.points[0].col) == (21, 68)


def test_draw_region_in_display_coordinates(store):
    s = _open(store)
    fb = s.draw_region(_view(flipped=True), "roi", [(1, 1), (1, 9), (9, 9)], "uncertain")
    assert fb.kind == "success" and s.marks.regions[0].polygon == ((1, 78), (1, 70), (9, 70))
    fb = s.draw_region(_view(), "roi", [(1, 1), (2, 2)], "uncertain")
    assert fb.kind == "warning" and "Cannot add that region" in fb.text


# --------------------------------------------------------------------------- browser saves


def test_set_points_applies_a_browser_save_as_one_edit(store):
    s = _open(store)
    a = s.add_point(10, 10, "benign")
    b = s.add_point(20, 20, "benign")
    c = s.add_point(30, 30, "benign")
    s.save()
    changed = s.set_points(
        [
            (a, 10.2, 10.1, "benign"),  # within tolerance: unchanged
            (b, 25, 22, "suspicious"),  # moved and relabelled
            (None, 40, 41, "uncertain"),  # new
        ]  # c is missing: deleted
    )
    assert changed == 4
    pts = {p.id: p for p in s.marks.points}
    assert set(pts) - {a, b} and c not in pts and len(pts) == 3
    assert (pts[a].row, pts[a].col) == (10, 10)
    assert (pts[b].row, pts[b].col, pts[b].label) == (25, 22, "suspicious")
    edited = s.marks
    s.undo()  # one unsaved edit: one undo brings the three first marks back
    assert sorted(p.id for p in s.marks.points) == sorted([a, b, c])
    s.edit(edited)
    assert s.save().status == "saved"
    assert len(store.load(KEY, "ann").marks.points) == 3


def test_a_copy_edited_from_an_older_version_is_a_conflict_not_a_save_over_the_newer(store):
    """Two browser tabs of one reader: A saves version 1; B's session follows it (Annotate's
    page does on every run) while B's browser still holds version 0 and a new mark. Saved as
    an edit of version 1, B's copy deleted A's mark (version 2 held B's alone). Read against
    version 0, the copy is a conflict: kept aside, both marks once merged."""
    a, b = _open(store), _open(store)
    a.add_point(10, 10, "benign")
    assert a.save().version == 1
    assert b.follow_store() and b.base == 1  # B's page ran again
    result = b.save_copy([(None, 50, 50, "suspicious")], base=0)
    assert result.status == "conflict" and "NOT lost" in (b.conflict or "")
    assert store.load(KEY, "ann").version == 1 and len(store.conflicts(KEY, "ann")) == 1
    assert b.dirty and b.base == 0 and [p.row for p in b.marks.points] == [50]
    assert b.resolve("merge").version == 2
    assert sorted(p.row for p in store.load(KEY, "ann").marks.points) == [10, 50]


def test_save_copy_of_the_sessions_version_saves_and_an_unchanged_copy_writes_nothing(store):
    s = _open(store)
    p = s.add_point(10, 10, "benign")
    s.save()
    assert s.save_copy([(p, 10, 10, "benign")], base=1).status == "local"
    assert s.save_copy([(p, 10, 10, "benign"), (None, 20, 20, "uncertain")], base=1).version == 2
    # A copy of version 1 as it was, after version 2: nothing to keep, the session stays.
    result = s.save_copy([(p, 10, 10, "benign")], base=1)
    assert result.status == "local" and "version 2" in result.message and s.base == 2
    assert s.save_copy([(p, 10, 10, "benign")], base=7).status == "error"  # no version 7
    assert store.load(KEY, "ann").version == 2 and s.base == 2 and not s.conflict


@pytest.mark.parametrize(
    "points, error",
    [([("nope", 1, 1, "benign")], KeyError), ([(None, 500, 1, "benign")], ValueError)],
)
def test_set_points_refuses_bad_marks_and_changes_nothing(store, points, error):
    s = _open(store)
    before = s.marks
    with pytest.raises(error):
        s.set_points(points)
    assert s.marks == before


def test_set_points_with_outlines_adds_relabels_and_deletes_regions_in_one_edit(store):
    s = _open(store)
    keep = s.add_region("cluster", [(1, 1), (1, 9), (9, 9)], "benign")
    gone = s.add_region("roi", [(2, 2), (2, 8), (8, 8)], "uncertain")
    p = s.add_point(5, 5, "benign")
    s.save()
    changed = s.set_points(
        [(p, 5, 5, "benign")],
        outlines=[
            (keep, "cluster", [(1, 1), (1, 9), (9, 9)], "suspicious"),  # relabelled
            (None, "roi", [(10, 10), (10, 20), (20, 20)], "uncertain"),  # new
        ],  # ``gone`` is missing: deleted
    )
    assert changed == 3
    regions = {r.id: r for r in s.marks.regions}
    assert gone not in regions and regions[keep].label == "suspicious" and len(regions) == 2
    s.undo()  # one edit
    assert {r.id for r in s.marks.regions} == {keep, gone}
    with pytest.raises(KeyError):
        s.set_points([(p, 5, 5, "benign")], outlines=[("nope", "roi", [(1, 1)] * 3, "benign")])
