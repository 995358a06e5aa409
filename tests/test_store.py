"""The readers' store: round trips, history, restore/undo, atomicity, conflicts, bad folders."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from mcalc.store import (
    ImageMarks,
    MarkStore,
    StoreConflictError,
    StoreError,
    StoreReadError,
    StoreWriteError,
    VersionedStore,
    merge_marks,
    safe_name,
    same_marks,
    undo_one_edit,
)
from tests.unprivileged import run_unprivileged

KEY = "suspicious-3/CC_recent"


@pytest.fixture
def store(tmp_path) -> MarkStore:
    return MarkStore(tmp_path / "store")


def _marks(n: int = 2, reader: str = "ann") -> ImageMarks:
    m = ImageMarks(KEY, reader, image_shape=(100, 80))
    for i in range(n):
        m = m.add_point(10 + i, 20 + i, "suspicious", comment=f"p{i}")
    return m


def test_round_trip_keeps_every_field(store):
    m = _marks(2).add_region("cluster", [(1, 1), (1, 9), (9, 9), (9, 1)], "benign", "c")
    m = m.with_comment("dense breast")
    assert store.save(m, base_version=0) == 1
    state = store.load(KEY, "ann")
    assert state.version == 1 and state.marks == m
    assert state.marks.points[0].reader == "ann" and state.marks.points[0].created_at.endswith("Z")
    # Stored as open, readable JSON.
    doc = json.loads(store.records.path_for((KEY, "ann")).read_text())
    assert (
        doc["format"] == "mcalc-record" and doc["versions"][0]["payload"]["points"][0]["row"] == 10
    )


def test_empty_record_is_version_zero(store):
    state = store.load(KEY, "bob")
    assert state.version == 0 and state.marks.is_empty
    assert store.history(KEY, "bob") == [] and store.undo_target(KEY, "bob") is None


def test_history_restore_and_undo(store):
    v1 = store.save(_marks(1), base_version=0)
    v2 = store.save(_marks(2), base_version=v1)
    v3 = store.save(_marks(3), base_version=v2)
    assert [h.n_points for h in store.history(KEY, "ann")] == [1, 2, 3]
    # Restore = a new version equal to the old one.
    v4 = store.restore(KEY, "ann", 1, base_version=v3)
    assert v4 == 4 and store.load(KEY, "ann").marks == store.version(KEY, "ann", 1)
    assert store.history(KEY, "ann")[-1].action == "restore"
    # Restoring a version equal to the current one (1, as 4 is) writes nothing.
    assert store.restore(KEY, "ann", 1, base_version=v4) == v4
    assert len(store.history(KEY, "ann")) == 4
    # Undo undoes the last saved edit; a save of two edits is undone one edit at a time,
    # then the state it was saved on (version 4, a copy of 1) comes back, then empty.
    v5 = store.save(
        store.load(KEY, "ann").marks.add_point(30, 30).add_point(31, 31), base_version=v4
    )
    assert store.undo_target(KEY, "ann") == 4
    v6 = store.undo(KEY, "ann", base_version=v5)
    after = store.load(KEY, "ann").marks
    assert [(p.row, p.col) for p in after.points] == [(10, 20), (30, 30)]
    assert store.history(KEY, "ann")[-1].action == "undo"
    v7 = store.undo(KEY, "ann", base_version=v6)
    assert store.load(KEY, "ann").marks.points == store.version(KEY, "ann", 1).points
    store.undo(KEY, "ann", base_version=v7)
    assert store.load(KEY, "ann").marks.points == ()
    assert len(store.history(KEY, "ann")) == 8  # nothing ever removed from the history


def test_undo_steps_back_one_edit_of_any_kind(store):
    """Move, relabel, outline and comment in one save: four undos, one edit each."""
    base = _marks(2)
    v1 = store.save(base, base_version=0)
    a, b = (p.id for p in base.points)
    edited = base.add_point(50, 50, "benign")
    edited = edited.move_point(a, 40, 40)
    edited = edited.edit(b, label="benign")
    edited = edited.add_region("cluster", [(1, 1), (1, 9), (9, 9)], "uncertain")
    edited = edited.remove(edited.points[2].id).with_comment("dense")  # added then deleted
    v = store.save(edited, base_version=v1)
    seen = []
    for _ in range(4):
        v = store.undo(KEY, "ann", base_version=v)
        m = store.load(KEY, "ann").marks
        seen.append((m.comment, len(m.points), len(m.regions), m.find(a).row, m.find(b).label))
    assert seen == [
        ("", 2, 1, 40, "benign"),  # the comment (no time stamp) first
        ("", 2, 0, 40, "benign"),  # then the newest: the outline
        ("", 2, 0, 40, "suspicious"),
        ("", 2, 0, 10, "suspicious"),
    ]
    assert store.load(KEY, "ann").marks.points == base.points
    assert store.history(KEY, "ann")[-1].note == "undo of version 1"
    assert store.undo_target(KEY, "ann") == 0


def test_undo_one_edit_walks_to_the_previous_marks():
    before = _marks(1)
    after = before.add_point(30, 30).add_point(40, 40)
    one = undo_one_edit(after, before)
    assert [(p.row, p.col) for p in one.points] == [(10, 20), (30, 30)]
    assert same_marks(undo_one_edit(one, before), before)
    assert undo_one_edit(before, before) == before


def test_undo_back_to_empty_then_nothing_to_undo(store):
    v1 = store.save(_marks(1), base_version=0)
    v2 = store.undo(KEY, "ann", base_version=v1)
    assert store.load(KEY, "ann").marks.is_empty and v2 == 2
    with pytest.raises(ValueError, match="nothing to undo"):
        store.undo(KEY, "ann", base_version=v2)


def test_edits_move_remove_label(store):
    m = _marks(2)
    pid = m.points[0].id
    m2 = m.move_point(pid, 50, 40).edit(pid, label="benign", comment="moved").remove(m.points[1].id)
    assert (m2.points[0].row, m2.points[0].col, m2.points[0].label) == (50, 40, "benign")
    assert len(m2.points) == 1 and len(m.points) == 2  # the original is unchanged
    with pytest.raises(ValueError, match="outside the image"):
        m.add_point(200, 5)
    with pytest.raises(ValueError, match="label must be one of"):
        m.add_point(5, 5, "malignant")
    with pytest.raises(ValueError, match="at least 3 vertices"):
        m.add_region("roi", [(1, 1), (2, 2)])


@pytest.mark.parametrize("name", ["", "   ", "x" * 81, "a\x00b"])
def test_bad_reader_names_are_refused(name):
    with pytest.raises(ValueError, match="reader name"):
        ImageMarks(KEY, name)


@pytest.mark.parametrize(
    "key, reader",
    [
        ("../../etc/passwd", "ann"),
        (KEY, "../../../tmp/evil"),
        ("/abs/path", "a/b\\c"),
        ("..", ".."),
    ],
)
def test_paths_never_leave_the_store(store, key, reader):
    path = store.records.path_for((key, reader)).resolve()
    assert store.records.folder.resolve() in path.parents
    store.save(ImageMarks(key, reader).add_point(1, 1), base_version=0)
    assert store.load(key, reader).version == 1


def test_similar_names_do_not_collide():
    assert safe_name("a/b") != safe_name("a_b") != safe_name("a b")


def test_crash_in_os_replace_leaves_previous_version(store, monkeypatch):
    store.save(_marks(1), base_version=0)
    path = store.records.path_for((KEY, "ann"))
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError(errno.EIO, "simulated power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StoreWriteError, match="Nothing was changed on disk"):
        store.save(_marks(2), base_version=1)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert store.load(KEY, "ann").version == 1
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_save_removes_what_a_killed_write_left_in_its_folder(store):
    """A process killed between an atomic write's temporary file and its rename leaves a
    hidden ``.NAME.XXXXXXXX.tmp``; until 6 December 2026 nothing removed them. The next save
    in that folder removes those older than an hour, never a younger one (a concurrent
    writer's own), nor any other hidden file."""
    folder = store.records.path_for((KEY, "ann")).parent
    folder.mkdir(parents=True)
    old = [folder / ".ann.json.k3_9zq0a.tmp", folder / ".bob.json.abcdefgh.tmp"]
    young, other = folder / ".ann.json.live0001.tmp", folder / ".notes.tmp"
    for path in [*old, young, other]:
        path.write_bytes(b"half a record")
    two_hours_ago = time.time() - 7200
    for path in [*old, other]:
        os.utime(path, (two_hours_ago, two_hours_ago))
    store.save(_marks(2, reader="cid"), base_version=0)  # another reader, the same folder
    assert not any(p.exists() for p in old)
    assert young.exists() and other.exists()
    assert store.load(KEY, "cid").version == 1


def test_crash_mid_write_leaves_previous_version(store, monkeypatch):
    """The process dies after half the bytes were written: the record is untouched."""
    store.save(_marks(1), base_version=0)
    path = store.records.path_for((KEY, "ann"))
    before = path.read_bytes()
    real_fsync = os.fsync

    class Killed(BaseException):
        pass

    def die(fd):
        os.ftruncate(fd, 17)  # a torn, half-written temp file
        raise Killed

    monkeypatch.setattr(os, "fsync", die)
    with pytest.raises(Killed):
        store.save(_marks(3), base_version=1)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert path.read_bytes() == before
    assert store.save(_marks(2), base_version=1) == 2


def test_conflict_keeps_both_and_tells(store):
    start = store.load(KEY, "ann")
    a = start.marks.add_point(1, 1)
    b = start.marks.add_point(2, 2)
    store.save(a, base_version=start.version)
    with pytest.raises(StoreConflictError) as info:
        store.save(b, base_version=start.version)
    err = info.value
    assert err.stored_version == 1 and err.base_version == 0
    assert "NOT lost" in str(err) and err.conflict_path.is_file()
    assert store.load(KEY, "ann").marks == a  # not overwritten
    (copy,) = store.conflicts(KEY, "ann")
    assert store.conflict_marks(copy) == b
    merged = merge_marks(b, store.load(KEY, "ann").marks)
    store.save(merged, base_version=1, action="merge")
    assert {p.row for p in store.load(KEY, "ann").marks.points} == {1, 2}
    store.dismiss_conflict(copy)
    assert store.conflicts(KEY, "ann") == []


def _writer(root: str, reader: str, n: int, results: list) -> None:
    store = MarkStore(Path(root))
    conflicts = 0
    for i in range(n):
        while True:
            state = store.load(KEY, "shared")
            marks = state.marks.add_point(i, len(reader), comment=reader)
            try:
                store.save(marks, base_version=state.version)
                break
            except StoreConflictError:
                conflicts += 1
    results.append(conflicts)


def test_two_threads_at_once_lose_no_update(tmp_path):
    results: list[int] = []
    threads = [
        threading.Thread(target=_writer, args=(str(tmp_path), name, 15, results))
        for name in ("ann", "bobby")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = MarkStore(tmp_path).load(KEY, "shared")
    assert len(final.marks.points) == 30  # every add survived
    assert final.version == 30
    assert len(MarkStore(tmp_path).conflicts(KEY, "shared")) == sum(results)


def _process_writer(root: str, reader: str, n: int, queue) -> None:
    out: list[int] = []
    _writer(root, reader, n, out)
    queue.put(out[0])


def test_two_processes_at_once_lose_no_update(tmp_path, monkeypatch):
    # AppTest, run earlier in this pytest process, leaves the app script as __main__; a
    # spawned child would re-run it (generating the demo set in the repository). Give the
    # children a bare __main__ so they import only what they need.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_writer, args=(str(tmp_path), name, 10, queue))
        for name in ("ann", "bobby")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    final = MarkStore(tmp_path).load(KEY, "shared")
    assert len(final.marks.points) == 20 and final.version == 20


def test_read_only_store_is_a_clear_error_and_nothing_changes(store, monkeypatch):
    store.save(_marks(1), base_version=0)
    path = store.records.path_for((KEY, "ann"))
    before = path.read_bytes()

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(StoreWriteError, match="read-only") as info:
        store.save(_marks(2), base_version=1)
    assert "kept in this session" in str(info.value)
    monkeypatch.undo()
    assert path.read_bytes() == before


def test_read_only_folder_for_real():
    def check(folder: Path) -> None:  # as nobody: root ignores folder permissions
        root = folder / "ro"
        root.mkdir()
        root.chmod(0o555)
        try:
            with pytest.raises(StoreWriteError):
                MarkStore(root).save(_marks(1), base_version=0)
        finally:
            root.chmod(0o755)

    run_unprivileged(check)


def test_full_disk_is_a_clear_error(store, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StoreWriteError, match="disk is full"):
        store.save(_marks(1), base_version=0)
    monkeypatch.undo()
    assert store.load(KEY, "ann").version == 0


def test_corrupt_record_is_reported_and_never_overwritten(store):
    store.save(_marks(1), base_version=0)
    path = store.records.path_for((KEY, "ann"))
    path.write_text("{not json")
    with pytest.raises(StoreReadError, match="not readable JSON"):
        store.load(KEY, "ann")
    with pytest.raises(StoreReadError):
        store.save(_marks(2), base_version=1)
    assert path.read_text() == "{not json"


def test_a_cut_short_record_gives_back_its_whole_versions_and_is_kept_aside(store):
    """A reader's record cut short (a full disk, a copy stopped) left the image read-only
    for good, its history out of reach: the whole versions before the cut are taken back
    into a new record and the damaged file is kept aside, byte for byte."""
    for n in (1, 2, 3):
        store.save(_marks(n), base_version=n - 1)
    path = store.records.path_for((KEY, "ann"))
    text = path.read_text(encoding="utf-8")
    cut = text[: text.index('"number": 3') + 20]
    path.write_text(cut, encoding="utf-8")
    with pytest.raises(StoreReadError):
        store.load(KEY, "ann")
    kept, aside = store.recover(KEY, "ann")
    assert kept == 2 and aside.read_text(encoding="utf-8") == cut
    assert aside.parent == path.parent and aside.name.startswith(path.name + ".damaged-")
    state = store.load(KEY, "ann")
    assert state.version == 2 and [(p.row, p.col) for p in state.marks.points] == [
        (10, 20),
        (11, 21),
    ]
    assert [h.action for h in store.history(KEY, "ann")] == ["save", "save"]
    assert store.save(_marks(4), base_version=2) == 3
    assert [r.marks.reader for r in store.all_current()] == ["ann"]  # the copy is not a record
    # A readable record is not "recovered"; nor one of a newer schema (an older mcalc).
    with pytest.raises(StoreError, match="can be read"):
        store.recover(KEY, "ann")
    path.write_text(json.dumps({"format": "x", "schema": 99}), encoding="utf-8")
    with pytest.raises(StoreError, match="not cut short"):
        store.recover(KEY, "ann")
    assert json.loads(path.read_text(encoding="utf-8"))["schema"] == 99
    # A byte damaged in a comment of version 2 (not UTF-8 there; the JSON still whole):
    # version 1, the one before it, back, not version 2 with the comment changed.
    raw = text.encode("utf-8")
    at = raw.index(b'"p1"') + 1
    path.write_bytes(raw[:at] + b"\xff" + raw[at + 1 :])
    assert store.recover(KEY, "ann")[0] == 1 and store.load(KEY, "ann").version == 1


def test_readers_and_all_current(store):
    store.save(_marks(1, "ann"), base_version=0)
    store.save(_marks(2, "bob"), base_version=0)
    store.save(ImageMarks("normal-1/MLO_prior", "ann").add_point(3, 3), base_version=0)
    assert store.readers(KEY) == ["ann", "bob"]
    assert len(list(store.all_current())) == 3
    mine = list(store.all_current(reader="ann"))
    assert sorted(s.marks.image_key for s in mine) == sorted([KEY, "normal-1/MLO_prior"])
    assert [s.marks.reader for s in store.all_current(image_key=KEY)] in (
        ["ann", "bob"],
        ["bob", "ann"],
    )


def test_one_image_or_one_reader_reads_only_its_files(store, monkeypatch):
    """Annotate asks for one image's readers on every rerun: the other records stay unread."""
    for n in range(5):
        store.save(ImageMarks(f"other-{n}/CC_recent", "carl").add_point(3, 3), base_version=0)
    store.save(_marks(1, "ann"), base_version=0)
    store.save(_marks(1, "bob"), base_version=0)
    read = []
    real = store.records._read
    monkeypatch.setattr(
        store.records, "_read", lambda path, parts: read.append(path) or real(path, parts)
    )
    assert store.readers(KEY) == ["ann", "bob"] and len(read) == 2
    read.clear()
    assert [s.marks.image_key for s in store.all_current(reader="ann")] == [KEY] and len(read) == 1


def test_versioned_store_append_mode(tmp_path):
    vs = VersionedStore(tmp_path, "audits")
    vs.save(("m", "img", "ann"), {"a": 1}, base_version=None, saved_by="ann")
    vs.save(("m", "img", "ann"), {"a": 2}, base_version=None, saved_by="ann")
    rec = vs.load(("m", "img", "ann"))
    assert rec.version == 2 and rec.get(1).payload == {"a": 1}
    with pytest.raises(ValueError, match="plain JSON"):
        vs.save(("m", "img", "ann"), {"a": float("nan")}, base_version=None, saved_by="ann")
