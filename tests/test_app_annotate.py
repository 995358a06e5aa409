"""AppTest for the Annotate and Audit pages: name, clicks, save, undo, conflicts, bad store."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from mcalc.cache import ImageCache
from mcalc.dataset import open_dataset
from mcalc.plural import counted
from mcalc.present.reading import image_names
from mcalc.store import ImageMarks, MarkStore
from mcalc.store.placement import breast_region
from mcalc.viewer import DisplayOptions, prepare_view
from tests.app_pages import (  # noqa: F401  (fixtures)
    app_env_sharing_images,
    choices_after_another_page,
    images_cache,
    record_viewer_pixels,
)

pytestmark = pytest.mark.slow  # AppTest edit sessions: 9-24 s each

APP = "../app.py"


def _page(page: str, reader: str | None = "Ann") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(page)
    # These tests drive the classic (server-side) marking figure; the browser viewer has
    # its own tests in test_browser_viewer.py.
    at.session_state["annotate_use_viewer"] = False
    at.run()
    if reader is not None:
        at.text_input(key=f"{page.split('/')[-1][:-3]}_reader_input").input(reader).run()
    return at


@pytest.fixture
def first_image(app_env, tmp_path):
    """Key, display shape and a display point inside the breast of the page's first image."""
    index = open_dataset(app_env)
    rec = index.cases[0].image("CC", "recent")
    view = prepare_view(ImageCache(tmp_path / "c"), rec, DisplayOptions(show_annotations=False))
    region = breast_region(view)
    r, c = np.argwhere(region).mean(axis=0) / view.scale
    return rec.key, view.full_shape, (float(r), float(c)), view


def _click(at: AppTest, row: float, col: float) -> AppTest:
    at.session_state["annotate_pending_click"] = (row, col)
    return at.run()


def _messages(at: AppTest) -> str:
    return " ".join(
        e.value for kind in ("error", "warning", "info", "success") for e in getattr(at, kind)
    )


@pytest.mark.parametrize("page", ["pages/annotate.py", "pages/audit.py"])
def test_pages_run_and_ask_for_a_name(app_env, page):
    at = _page(page, reader=None)
    assert not at.exception, [e.value for e in at.exception]
    assert any("Type your name" in i.value for i in at.info)


def test_name_then_image_with_click_layer(app_env):
    at = _page("pages/annotate.py")
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t.get("name") for t in spec["data"]]
    assert "click-layer" in names and spec["data"][0]["type"] == "image"
    assert at.session_state["annotate_reader"] == "Ann"


def test_click_adds_mark_then_save_undo_and_history(app_env, first_image):
    key, _, (r, c), _ = first_image
    at = _page("pages/annotate.py")
    _click(at, r, c)
    assert not at.exception
    assert "Added a suspicious calcification" in _messages(at)
    assert any("1 calcification," in m.value for m in at.markdown)
    # The marks table heads its coordinates with their unit (it read "row", "col").
    marks_table = next(d for d in at.dataframe if "annotate_marks_table" in (d.proto.id or ""))
    labels = {k: v.get("label") for k, v in json.loads(marks_table.proto.columns).items()}
    assert labels["row"] == "row (full-res px)" and labels["col"] == "col (full-res px)", labels
    at.button(key="annotate_save").click().run()
    assert "Saved as version 1" in _messages(at)
    store = MarkStore(_store_dir())
    state = store.load(key, "Ann")
    assert state.version == 1 and len(state.marks.points) == 1
    # Export and import: drawn only while opened (then the downloads are made).
    assert not any(t.label.startswith("DICOM SEG") for t in at.toggle)
    at.session_state["annotate_exchange_open"] = True
    at.run()
    # The marks as a DICOM SEG (built on request): a download, no error caption.
    at.toggle(key="annotate_seg_on").set_value(True).run()
    labels = [b.proto.label for b in at.get("download_button")]
    assert not at.exception and "DICOM SEG" in labels, [e.value for e in at.exception]
    # A second click, then undo: back to one mark, unsaved edit gone.
    _click(at, r + 3, c + 3)
    assert any("2 calcifications" in m.value for m in at.markdown)
    at.button(key="annotate_undo").click().run()
    assert any("1 calcification," in m.value for m in at.markdown)
    # Undo with nothing unsaved goes back one saved version (as a new version).
    at.button(key="annotate_undo").click().run()
    assert store.load(key, "Ann").version == 2 and store.load(key, "Ann").marks.points == ()


def test_undo_after_save_undoes_one_edit_at_a_time(app_env, first_image):
    """Three marks, one save, then Undo: 2 marks, then 1 (not all three at once)."""
    key, _, _, view = first_image
    inside = np.argwhere(breast_region(view)) / view.scale
    at = _page("pages/annotate.py")
    for r, c in inside[[len(inside) // 4, len(inside) // 2, 3 * len(inside) // 4]]:
        _click(at, float(r), float(c))
    assert any("3 calcifications" in m.value for m in at.markdown)
    at.button(key="annotate_save").click().run()
    store = MarkStore(_store_dir())
    assert store.load(key, "Ann").version == 1
    for n in (2, 1):
        at.button(key="annotate_undo").click().run()
        assert not at.exception
        assert any(f"{counted(n, 'calcification')}," in m.value for m in at.markdown), n
        assert len(store.load(key, "Ann").marks.points) == n
    assert [h.n_points for h in store.history(key, "Ann")] == [3, 2, 1]


def _queued_viewer_events(monkeypatch) -> list[dict]:
    """The reading viewer's events as the test gives them: each run takes the last one
    appended to the returned list (if any) as the viewer's new event."""
    from pages import viewer_component

    events: list[dict] = []
    real = viewer_component.new_event

    def one_event(event, widget):
        return events.pop() if widget == "annotate_viewer" and events else real(event, widget)

    monkeypatch.setattr(viewer_component, "new_event", one_event)
    return events


def _store_dir() -> Path:
    return Path(os.environ["MCALC_STORE"])  # set by the app_env fixture


def test_clicks_outside_the_image_or_breast_add_nothing(app_env, first_image):
    _, (h, w), _, view = first_image
    at = _page("pages/annotate.py")
    _click(at, h + 40, w / 2)
    assert "outside the image" in _messages(at)
    region = breast_region(view)
    rr, cc = np.argwhere(~region)[len(np.argwhere(~region)) // 2] / view.scale
    _click(at, float(rr), float(cc))
    assert "outside the breast" in _messages(at)
    assert any("0 calcifications" in m.value for m in at.markdown)
    assert not at.exception


def test_two_sessions_conflict_is_shown_and_merged(app_env, first_image):
    key, _, (r, c), _ = first_image
    a = _page("pages/annotate.py")
    b = _page("pages/annotate.py")
    _click(a, r, c)
    _click(b, r + 5, c + 5)
    a.button(key="annotate_save").click().run()
    b.button(key="annotate_save").click().run()
    assert any("NOT lost" in e.value for e in b.error)
    assert MarkStore(_store_dir()).conflicts(key, "Ann")
    b.button(key="annotate_conflict_merge").click().run()
    final = MarkStore(_store_dir()).load(key, "Ann")
    assert final.version == 2 and len(final.marks.points) == 2


def test_viewer_saves_from_two_tabs_conflict_instead_of_dropping_the_first(
    app_env, first_image, monkeypatch
):
    """Two tabs of one reader on the reading viewer, both opened on version 0. A saves a
    mark (version 1); B, whose browser still holds version 0, saves another. B's page had
    followed the store to version 1 and took the browser's marks as an edit of it: "Saved
    as version 2." with B's mark alone, A's gone, no conflict copy (a user check in
    Chromium). B's save names the version its browser loaded: kept as a conflict copy,
    with the choice; merged, both marks are stored."""

    key, _, (r, c), view = first_image
    events = _queued_viewer_events(monkeypatch)

    def viewer_tab() -> AppTest:
        at = _page("pages/annotate.py")
        at.session_state["annotate_use_viewer"] = True
        return at.run()

    def panel(at: AppTest) -> dict:
        (viewer,) = at.get("component_instance")
        return next(p for p in json.loads(viewer.proto.json_args)["panels"] if p["key"] == key)

    def save(at: AppTest, base: int, dr: float, seq: str) -> AppTest:
        row, col = (v * view.scale for v in (r + dr, c + dr))
        mark = {"id": f"new-{seq}", "row": row, "col": col, "label": "benign"}
        events.append({"type": "save", "panel": key, "base": base, "marks": [mark], "seq": seq})
        return at.run()

    a, b = viewer_tab(), viewer_tab()
    save(a, 0, 0, "a-1")
    assert MarkStore(_store_dir()).load(key, "Ann").version == 1
    save(b, 0, 5, "b-1")  # B's browser loaded version 0
    assert not b.exception, [e.value for e in b.exception]
    stored = MarkStore(_store_dir()).load(key, "Ann")
    assert stored.version == 1 and len(stored.marks.points) == 1  # A's mark still there
    assert any("NOT lost" in e.value for e in b.error)
    assert MarkStore(_store_dir()).conflicts(key, "Ann")
    assert panel(a)["marks_base"] == 1  # what each browser's save names
    # B's browser shows its own mark, as not saved yet, until the reader chooses.
    assert len(panel(b)["marks"]) == 1 and panel(b)["marks_unsaved"]
    b.button(key="annotate_conflict_merge").click().run()
    final = MarkStore(_store_dir()).load(key, "Ann")
    assert final.version == 2 and len(final.marks.points) == 2
    assert panel(b)["marks_base"] == 2 and len(panel(b)["marks"]) == 2
    assert not panel(b)["marks_unsaved"]


def test_viewer_undo_with_nothing_unsaved_undoes_the_last_saved_edit(
    app_env, first_image, monkeypatch
):
    """Ctrl+Z in the viewer after a save did nothing, while the page's Undo undid the saved
    edit: the viewer's Undo with nothing unsaved now asks the page for the same (a new
    version), unless a newer version was saved since the viewer loaded its own."""

    key, _, (r, c), view = first_image
    events = _queued_viewer_events(monkeypatch)
    at = _page("pages/annotate.py")
    at.session_state["annotate_use_viewer"] = True
    mark = {"id": "new-1", "row": r * view.scale, "col": c * view.scale, "label": "benign"}
    events.append({"type": "save", "panel": key, "base": 0, "marks": [mark], "seq": "s"})
    at.run()
    assert MarkStore(_store_dir()).load(key, "Ann").version == 1
    events.append({"type": "undo", "panel": key, "base": 0, "seq": "u-stale"})
    at.run()  # the viewer's copy is older than version 1: nothing undone
    assert MarkStore(_store_dir()).load(key, "Ann").version == 1
    assert any("Nothing undone" in w.value for w in at.warning)
    events.append({"type": "undo", "panel": key, "base": 1, "seq": "u"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    state = MarkStore(_store_dir()).load(key, "Ann")
    assert state.version == 2 and not state.marks.points
    assert any("Last saved edit undone" in m.value for m in at.success)


def test_in_the_viewer_its_save_marks_is_the_one_save_with_the_pages_comment(
    app_env, first_image, monkeypatch
):
    """Annotate in the reading viewer had two saves: the page's *Save* wrote the page's
    edits alone, and the browser, loading that version, dropped the marks placed in the
    viewer and not saved (checked in Chromium: a comment and *Save*, "Saved as version 1.",
    "Save marks (2)" became "Save marks (0)"). The viewer's *Save marks* is the one save:
    the page draws no other, tells the viewer it holds unsaved edits (its button is green
    then) and says where they are saved; the viewer's save stores them with its marks."""
    key, _, (r, c), view = first_image
    events = _queued_viewer_events(monkeypatch)
    at = _page("pages/annotate.py")
    at.session_state["annotate_use_viewer"] = True
    at.run()

    def panel() -> dict:
        (viewer,) = at.get("component_instance")
        return next(p for p in json.loads(viewer.proto.json_args)["panels"] if p["key"] == key)

    at.text_input(key=f"annotate_image_comment_{key}").input("dense, look again").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "annotate_save" not in {b.key for b in at.button}
    assert panel()["marks_unsaved"]
    said = " ".join(c.value for c in at.caption)
    assert "unsaved changes on this page: the viewer's **Save marks** (Ctrl+S)" in said, said
    mark = {"id": "new-1", "row": r * view.scale, "col": c * view.scale, "label": "benign"}
    events.append({"type": "save", "panel": key, "base": 0, "marks": [mark], "seq": "s"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    stored = MarkStore(_store_dir()).load(key, "Ann")
    assert stored.version == 1 and len(stored.marks.points) == 1
    assert stored.marks.comment == "dense, look again"
    assert not panel()["marks_unsaved"] and "annotate_save" not in {b.key for b in at.button}


def test_the_viewers_save_in_the_comments_own_run_stores_the_comment(
    app_env, first_image, monkeypatch
):
    """The comment's text and the viewer's save reach the server in one run (Ctrl+S from
    the comment field gives the field its text and saves at once; a click on *Save marks*
    right after typing): the save was handled before the field's text was taken, so the
    version held the marks without the comment, which stayed unsaved on the page."""
    key, _, (r, c), view = first_image
    events = _queued_viewer_events(monkeypatch)
    at = _page("pages/annotate.py")
    at.session_state["annotate_use_viewer"] = True
    at.run()
    at.text_input(key=f"annotate_image_comment_{key}").input("grouped, look again")
    mark = {"id": "new-1", "row": r * view.scale, "col": c * view.scale, "label": "benign"}
    events.append({"type": "save", "panel": key, "base": 0, "marks": [mark], "seq": "s"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    stored = MarkStore(_store_dir()).load(key, "Ann")
    assert stored.version == 1 and len(stored.marks.points) == 1
    assert stored.marks.comment == "grouped, look again"  # it was "" (left unsaved)
    assert any("Saved as version 1" in m.value for m in at.success)


def test_read_only_store_keeps_the_edit_and_offers_it(app_env, first_image, monkeypatch):
    key, _, (r, c), _ = first_image
    at = _page("pages/annotate.py")
    _click(at, r, c)

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    at.button(key="annotate_save").click().run()
    assert not at.exception
    assert any("Not saved" in e.value and "read-only" in e.value for e in at.error)
    assert at.session_state["annotate_work"][(key, "Ann")].marks.points  # still there
    assert any(b.proto.label.startswith("Download unsaved") for b in at.get("download_button"))


def _downloads(monkeypatch) -> dict[str, bytes]:
    """Every download button's file from now on, by file name (the bytes the browser gets:
    Streamlit's media storage is where ``st.download_button`` puts them)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    got: dict[str, bytes] = {}
    real = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        if filename and isinstance(path_or_data, bytes):
            got[filename] = path_or_data
        return real(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return got


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.get("file_uploader")[0].set_value((name, data, "application/json"))
    return at.run()


def test_marks_json_download_imports_back_on_another_machine(
    app_env, first_image, tmp_path, monkeypatch
):
    """Annotate's Marks JSON download, given to its import (on a machine with an empty
    store), restores the same marks; importing it again doubles nothing. It was refused
    ("this is a marks JSON ..., which import does not read")."""
    key, (h, w), (r, c), _ = first_image
    marks = (
        ImageMarks(key, "Ann", image_shape=(h, w))
        .add_point(r, c, "suspicious", "linear branching")
        .add_point(r + 4, c + 4, "benign")
        .add_region("cluster", [(r - 9, c - 9), (r - 9, c + 9), (r + 9, c + 9)], "suspicious")
        .with_comment("BI-RADS 4B")
    )
    MarkStore(_store_dir()).save(marks, base_version=0)
    saved = MarkStore(_store_dir()).load(key, "Ann").marks
    files = _downloads(monkeypatch)
    at = _page("pages/annotate.py")
    at.session_state["annotate_exchange_open"] = True
    at.run()
    name = f"{key.replace('/', '_')}_Ann_marks.json"
    assert name in files, sorted(files)
    # All of one's marks, as stored, to move them all (made when clicked).
    assert "All marks JSON" in [b.proto.label for b in at.get("download_button")]
    download = files[name]

    other = tmp_path / "other-machine"
    monkeypatch.setenv("MCALC_STORE", str(other))
    at = _page("pages/annotate.py")
    at.session_state["annotate_exchange_open"] = True
    at.run()
    assert any("0 calcifications" in m.value for m in at.markdown)
    _upload(at, name, download)
    assert not at.exception and not at.error, [e.value for e in at.error]
    said = _messages(at).replace("\\", "")  # said as typed: Markdown's characters escaped
    assert f"{name}: 2 points and 1 region on 1 image, no problem found" in said
    at.button(key="annotate_import").click().run()
    assert f"Imported into 1 record: {key} (Ann, version 1)." in _messages(at)
    # The image comment came along and the field shows it: the field's own old (empty)
    # text, taken as an edit, cleared it and left the image with unsaved edits.
    assert at.text_input(key=f"annotate_image_comment_{key}").value == "BI-RADS 4B"
    assert not at.session_state["annotate_work"][(key, "Ann")].dirty
    assert MarkStore(other).load(key, "Ann").marks == saved
    assert any("2 calcifications" in m.value for m in at.markdown)  # the page shows them
    at.button(key="annotate_import").click().run()  # the same file again
    assert "the store already holds every mark of" in _messages(at)
    assert len(MarkStore(other).history(key, "Ann")) == 1

    # A file of marks made on another image of this key (another size): refused, named,
    # nothing written.
    payload = json.loads(download)
    payload["image_shape"] = [h + 10, w]
    _upload(at, "other.json", json.dumps(payload).encode())
    errors = " ".join(e.value for e in at.error).replace("\\", "")
    assert f"wrong size for {key}: the file says {h + 10}x{w}, the image is {h}x{w}" in errors
    assert "nothing was imported" in errors
    assert "annotate_import" not in [b.key for b in at.button]
    assert len(MarkStore(other).history(key, "Ann")) == 1


def test_selected_marks_fields_follow_a_restore_and_a_store_change(app_env, first_image):
    """The selected mark's label and comment show the mark as it is now after a restore of
    an older version or a save made elsewhere (an import): they kept the text they were
    first given (Streamlit keeps a keyed field's value whatever its ``value=``), so the
    page showed a comment the mark no longer had and offered Apply to write it back."""
    key, (h, w), (r, c), _ = first_image
    store = MarkStore(_store_dir())
    v1 = ImageMarks(key, "Ann", image_shape=(h, w)).add_point(r, c, "suspicious", "first")
    store.save(v1, base_version=0)
    mark_id = v1.points[0].id
    store.save(v1.edit(mark_id, label="benign", comment="second"), base_version=1)
    at = _page("pages/annotate.py")
    at.session_state["annotate_work"][(key, "Ann")].select(mark_id)
    at.session_state["annotate_history_open"] = True
    at.run()
    comment, label = f"annotate_sel_comment_{mark_id}", f"annotate_sel_label_{mark_id}"
    assert (at.text_input(key=comment).value, at.selectbox(key=label).value) == (
        "second",
        "benign",
    )
    at.selectbox(key="annotate_restore_pick").select(1).run()
    at.button(key="annotate_restore").click().run()
    assert "Version 1 restored as version 3." in _messages(at)
    assert not at.exception
    assert (at.text_input(key=comment).value, at.selectbox(key=label).value) == (
        "first",
        "suspicious",
    )
    assert "annotate_sel_apply" not in [b.key for b in at.button]
    # Saved elsewhere (another tab, an import): the session follows, so do the fields.
    store.save(v1.edit(mark_id, comment="third"), base_version=3)
    at.run()
    assert at.text_input(key=comment).value == "third"
    # A version without the mark, then one with it again: its fields start from the mark.
    store.save(v1.remove(mark_id), base_version=4)
    at.run()
    assert comment not in [t.key for t in at.text_input]
    store.save(v1.edit(mark_id, comment="back"), base_version=5)
    at.run()
    at.session_state["annotate_work"][(key, "Ann")].select(mark_id)
    at.run()
    assert at.text_input(key=comment).value == "back"
    assert "annotate_sel_apply" not in [b.key for b in at.button]


def test_audit_verdict_and_table(app_env):
    names = image_names(open_dataset(app_env))
    at = _page("pages/audit.py")
    at.selectbox(key="audit_model").select("another model (type its id)").run()
    at.text_input(key="audit_model_typed").input("cnn-1").run()
    at.radio(key="audit_verdict").set_value("disagree").run()
    at.text_area(key="audit_comment").input("misses the cluster").run()
    at.button(key="audit_save").click().run()
    assert not at.exception
    image = at.selectbox(key="audit_image").value
    # The image in words (case, side, view, round, exam year), not its key.
    assert any(f"Verdict saved for cnn-1 on {names[image]} " in s.value for s in at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images reviewed"] == "1" and metrics["Agree with score"] == "0%"
    # The page shows no explanation: unless the reader says otherwise it is not judged
    # (it read "plausible", counted as a 100% plausible rate), and the verdict, saved just
    # now without a picture, is not said to predate pictures.
    assert metrics["Plausible explanations"] == "n/a"
    infos = " ".join(i.value for i in at.info)
    assert "recorded without one" in infos and "(recorded before pictures" not in infos
    # Saved again: the verdict's picker keeps its option's words (the browser kept an
    # option's old text: it named v1 beside v2's answers); the version is said beside.
    before = list(at.selectbox(key="audit_judged").options)
    assert before == [f"{names[image]} · Ann"]
    assert any(c.value.startswith("Version 1, recorded ") for c in at.caption)
    at.text_area(key="audit_comment").input("misses the cluster at 2 o'clock").run()
    at.button(key="audit_save").click().run()
    assert list(at.selectbox(key="audit_judged").options) == before
    assert any(c.value.startswith("Version 2, recorded ") for c in at.caption)
    assert any("2 o'clock" in c.value for c in at.caption)
    # The tables' headers are words, not the record's keys ("image_key", "score_verdict").
    assert at.dataframe
    for grid in at.dataframe:
        labels = {k: v.get("label") for k, v in json.loads(grid.proto.columns).items()}
        assert labels["image_key"] == "image" and labels["score_verdict"] == "the score is"
        assert labels["recorded_at"] == "recorded (UTC)", labels
        assert set(grid.value["image_key"]) == {names[image]}  # the key in words


def test_audit_shows_a_small_cached_thumbnail_of_the_image_judged(app_env, monkeypatch, tmp_path):
    """Beside the verdict form, the image the verdict is about: downsampled (at most
    256 px a side, a JPEG of a few kB), made once (a rerun neither decodes nor windows the
    image again), and another image picked shows that one. Audit showed no image at all."""
    import io

    from PIL import Image
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    import mcalc.viewer

    images: list[bytes] = []
    real_store = MemoryMediaFileStorage.load_and_get_id

    def spy_store(self, path_or_data, mimetype, kind, filename=None):
        if mimetype == "image/jpeg" and isinstance(path_or_data, bytes):
            images.append(path_or_data)
        return real_store(self, path_or_data, mimetype, kind, filename)

    calls: list[int] = []
    real_prepare = mcalc.viewer.prepare_view

    def spy_prepare(*args, **kwargs):
        calls.append(kwargs.get("max_side", 1024))
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy_store)
    monkeypatch.setattr(mcalc.viewer, "prepare_view", spy_prepare)
    # A cold cache: the thumbnail is made by this test's first run.
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    names = image_names(open_dataset(app_env))
    at = _page("pages/audit.py")
    image_key = at.selectbox(key="audit_image").value
    assert not at.exception, [e.value for e in at.exception]
    assert any(c.value.startswith(f"{names[image_key]}  \n256 px  \n") for c in at.caption)
    assert images, "no thumbnail sent"
    thumb = Image.open(io.BytesIO(images[-1]))
    assert max(thumb.size) <= 256 and len(images[-1]) < 40_000, (thumb.size, len(images[-1]))
    assert all(side <= 256 for side in calls), calls  # never the full preview or image
    made = len(calls)
    at.run()
    assert len(calls) == made  # a rerun: the cached thumbnail
    other = next(k for k in names if k != image_key)
    at.selectbox(key="audit_image").select(other).run()
    assert any(c.value.startswith(f"{names[other]}  \n256 px") for c in at.caption)


def test_audit_saves_no_verdict_the_reader_did_not_give(app_env):
    """ "The score is" starts unanswered and Save refuses until it is answered: it started
    on "right (agree)", so a reader who never clicked recorded agreement."""
    from mcalc.config import get_settings
    from mcalc.store.audit import AuditStore

    at = _page("pages/audit.py")
    at.selectbox(key="audit_model").select("another model (type its id)").run()
    at.text_input(key="audit_model_typed").input("cnn-1").run()
    assert at.radio(key="audit_verdict").value is None
    at.button(key="audit_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("nothing was saved" in e.value for e in at.error)
    assert AuditStore(get_settings().store_dir).verdicts("cnn-1") == []
    at.radio(key="audit_verdict").set_value("agree").run()
    at.button(key="audit_save").click().run()
    assert any("Verdict saved for cnn-1" in s.value for s in at.success)


def test_audit_form_starts_blank_on_the_next_image_after_a_save(app_env):
    """A verdict saved, the next image's form is blank: it kept the score, answers and
    comment saved for the last image, which a reader then saved with the next one's.
    Unsaved, the form is kept (test_audit_keeps_the_model_image_and_unsaved_verdict...)."""
    at = _page("pages/audit.py")
    images = at.selectbox(key="audit_image").options
    at.number_input(key="audit_score_input").set_value(0.8).run()
    at.radio(key="audit_verdict").set_value("disagree").run()
    # (No explanation question to answer: Audit shows no map, test_app_audit.)
    at.text_area(key="audit_comment").input("benign, round").run()
    at.button(key="audit_save").click().run()
    assert any("The form starts blank on another image." in s.value for s in at.success)
    assert at.text_area(key="audit_comment").value == "benign, round"  # still shown
    at.selectbox(key="audit_image").set_value(images[5]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="audit_score_input").value is None
    assert at.radio(key="audit_verdict").value is None  # no answer chosen beforehand
    assert at.radio(key="audit_plausible").value == "not judged"
    assert at.text_area(key="audit_comment").value == ""
    # What the reader writes now is kept, as before.
    at.text_area(key="audit_comment").input("two foci").run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/audit.py").run()
    assert at.text_area(key="audit_comment").value == "two foci"


def test_annotate_keeps_the_readers_view_and_tools_and_takes_browses_case(app_env):
    """Back from another page, Annotate showed the CC view and the default tools again
    (Streamlit forgets a widget's value when a run does not draw it). The case is Browse's
    on purpose: the reader comes from the case they looked at."""
    choices = [
        ("selectbox", "annotate_view", "MLO"),
        ("selectbox", "annotate_timepoint", "prior"),
        ("toggle", "annotate_show_dataset", False),
        ("toggle", "annotate_overlay", True),
        ("toggle", "annotate_invert", True),
        ("radio", "annotate_tool", "region"),
        ("radio", "annotate_label", "uncertain"),
        ("radio", "annotate_region_kind", "roi"),
        ("toggle", "annotate_snap", False),
    ]
    at = _page("pages/annotate.py")
    ids = at.selectbox(key="annotate_case").options
    at.selectbox(key="annotate_case").set_value(ids[1]).run()
    at.session_state["browse_case_id"] = ids[2]  # the case Browse shows
    at.session_state["annotate_exchange_open"] = True  # as a click on the section does
    at.run()
    assert "annotate_seg_on" in [t.key for t in at.toggle]  # drawn: the section is open
    kept = choices_after_another_page(at, "pages/annotate.py", choices)
    assert kept == {key: value for _, key, value in choices}
    assert at.selectbox(key="annotate_case").value == ids[2]
    assert "annotate_seg_on" in [t.key for t in at.toggle]  # the section is still open


def test_audit_keeps_the_model_image_and_unsaved_verdict_across_pages(app_env):
    at = _page("pages/audit.py")
    image = [r.key for r in open_dataset(app_env).images()][3]  # the options are in words
    choices = [
        ("selectbox", "audit_model", "another model (type its id)"),
        ("text_input", "audit_model_typed", "cnn-1"),
        ("selectbox", "audit_image", image),
        # What the reader wrote before looking at the image elsewhere (it was lost).
        ("number_input", "audit_score_input", 0.7),
        ("radio", "audit_verdict", "disagree"),
        ("text_area", "audit_comment", "misses the cluster at 2 o'clock"),
    ]
    kept = choices_after_another_page(at, "pages/audit.py", choices)
    assert kept == {key: value for _, key, value in choices}


def test_audit_follows_the_readers_case_and_the_other_pages_follow_it(app_env):
    """A reader on a case in Browse who goes to Audit finds that case's image there (it
    kept its own first image: another case); a case picked in Audit is the one Browse and
    Annotate then show."""
    at = _page("pages/audit.py")
    first = at.selectbox(key="audit_image").value
    assert first.endswith("/CC_recent")
    ids = [c.case_id for c in open_dataset(app_env).cases]
    at.switch_page("pages/browse.py").run()
    assert any(m.value.startswith(f"Case **{ids[0]}**") for m in at.markdown)
    at.button(key="browse_next").click().run()
    at.button(key="browse_next").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.value.startswith(f"Case **{ids[2]}**") for m in at.markdown)
    at.switch_page("pages/audit.py").run()
    assert at.selectbox(key="audit_image").value == f"{ids[2]}/CC_recent"
    # Another view and exam of the same case is the reader's to pick, and kept.
    at.selectbox(key="audit_image").set_value(f"{ids[2]}/MLO_prior").run()
    at.switch_page("pages/browse.py").run()
    at.switch_page("pages/audit.py").run()
    assert at.selectbox(key="audit_image").value == f"{ids[2]}/MLO_prior"
    # Annotate's case becomes Audit's, in the view and exam the reader had there.
    at.switch_page("pages/annotate.py").run()
    assert at.selectbox(key="annotate_case").value == ids[2]
    at.selectbox(key="annotate_case").set_value(ids[4]).run()
    at.switch_page("pages/audit.py").run()
    assert at.selectbox(key="audit_image").value == f"{ids[4]}/MLO_prior"
    # And back: a case picked in Audit is the one Browse and Annotate show.
    at.selectbox(key="audit_image").set_value(f"{ids[1]}/CC_recent").run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("pages/browse.py").run()
    assert at.session_state["browse_case_id"] == ids[1]
    assert any(m.value.startswith(f"Case **{ids[1]}**") for m in at.markdown)
    at.switch_page("pages/annotate.py").run()
    assert at.selectbox(key="annotate_case").value == ids[1]


@pytest.mark.parametrize("move, step", [("next", 1), ("previous", -1)])
def test_annotate_viewers_next_and_previous_case_open_it_here_and_on_audit(
    app_env, monkeypatch, move, step
):
    """The viewer's Case ▶ / ◀ Case (N / P) on Annotate: the page opens on that case, and so
    does Audit. It raised StreamlitWidgetAlreadyInstantiatedError (the case picker's key was
    set after the picker was drawn)."""

    at = _page("pages/annotate.py")
    at.session_state["annotate_use_viewer"] = True
    ids = at.selectbox(key="annotate_case").options
    at.selectbox(key="annotate_case").set_value(ids[2]).run()
    events = _queued_viewer_events(monkeypatch)
    events.append({"type": move, "seq": "test-1"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not events and at.selectbox(key="annotate_case").value == ids[2 + step]
    at.switch_page("pages/audit.py").run()
    assert at.selectbox(key="audit_image").value == f"{ids[2 + step]}/CC_recent"


def test_viewer_marking_says_where_marks_are_added(app_env):
    """With the reading viewer, the empty marks table names the viewer's Mark tool and its
    Save marks, not the classic figure's *Add calcification*, which is not on screen; the
    save state does not say "all saved" of marks it cannot see."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/annotate.py").run()
    at.text_input(key="annotate_reader_input").input("Vee").run()
    assert not at.exception, [e.value for e in at.exception]
    captions = " ".join(c.value for c in at.caption)
    assert "*Mark* (A) in the viewer's toolbar" in captions and "Save marks" in captions
    assert "Add calcification" not in captions
    # The page cannot see the viewer's unsaved marks: it does not claim "all saved", nor
    # "nothing unsaved here" (said under a viewer holding unsaved marks, a radiologist's walk
    # of 7 December 2026): it speaks of the page, and says how the viewer shows its own.
    assert "Version 0 · no unsaved edits on this page" in captions, captions
    assert "green while any are not" in captions
    assert "all saved" not in captions and "nothing unsaved here" not in captions
    # Nor does its export or agreement count them without a word: a user check placed two
    # marks and found "no calcification points to export" under "including unsaved edits".
    at.session_state["annotate_exchange_open"] = True
    at.session_state["annotate_agreement_open"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    notes = [c.value for c in at.caption if "count here once saved" in c.value]
    assert len(notes) == 2 and "*Save marks*" in notes[0]
    heads = " ".join(m.value for m in at.markdown)
    assert "(yours, saved and unsaved on this page)" in heads
    assert "including unsaved edits" not in heads


def test_viewer_hides_the_datasets_marks_and_draws_only_its_own_controls(app_env):
    """In the reading viewer, *Show the dataset's own marks* hid nothing, and the red
    overlay and CLAHE, which only the classic figure draws, were offered and changed
    nothing. The toggle now takes the dataset's markers and outlines off both panels; the
    classic figure's controls come with that figure."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/annotate.py").run()
    at.text_input(key="annotate_reader_input").input("Dee").run()

    def panels() -> list[dict]:
        (viewer,) = at.get("component_instance")
        return json.loads(viewer.proto.json_args)["panels"]

    def toggles() -> set[str]:
        return {t.key for t in at.toggle}

    assert len(panels()) == 2 and any(p["points"] for p in panels())
    assert not {"annotate_overlay", "annotate_clahe"} & toggles()
    at.toggle(key="annotate_show_dataset").set_value(False).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(panels()) == 2
    assert all(p["points"] == [] and p["outlines"] == [] for p in panels())
    at.toggle(key="annotate_use_viewer").set_value(False).run()  # the classic figure
    assert {"annotate_overlay", "annotate_clahe"} <= toggles()


def test_a_region_annotation_is_outlined_in_the_viewer_and_counted_by_region(
    app_env, monkeypatch, tmp_path
):
    """An image annotated with a region (a CBIS-DDSM ROI, a VinDr box, a MIAS circle): the
    viewer's panel carried no trace of it (the reading viewer drew nothing), and agreement
    with the dataset read "dataset 0", precision 0.00, recall n/a whatever the reader
    marked (a user check, 6 December). The panel now carries the region's outline, hidden
    with the dataset's marks, and agreement counts the reader's marks inside the region."""
    from tests.convert_fixtures import make_region_manifest

    data = make_region_manifest(tmp_path / "regions")
    monkeypatch.setenv("MCALC_DATA", str(data))
    monkeypatch.setenv("MCALC_AUTH", "off")
    rec = open_dataset(data).cases[0].images[0]
    # One mark inside the disk (radius 30 around (120, 90)), one far outside it.
    marks = ImageMarks(rec.key, "Rho", image_shape=(256, 200))
    marks = marks.add_point(120, 95, "suspicious").add_point(40, 30, "benign")
    MarkStore(_store_dir()).save(marks, base_version=0)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/annotate.py").run()
    at.text_input(key="annotate_reader_input").input("Rho").run()
    assert not at.exception, [e.value for e in at.exception]

    def panels() -> list[dict]:
        (viewer,) = at.get("component_instance")
        return json.loads(viewer.proto.json_args)["panels"]

    (panel,) = panels()
    assert panel["points"] == [] and len(panel["region_outlines"]) == 1
    assert len(panel["region_outlines"][0]) >= 8
    at.session_state["annotate_agreement_open"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(m.value for m in at.markdown)
    assert "The dataset's annotation of this image is 1 region" in said, said
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["dataset regions"] == "1" and metrics["Inside a region"] == "1", metrics
    assert metrics["Share inside"] == "0.50" and metrics["Regions found"] == "1.00", metrics
    assert "Precision" not in metrics
    (table,) = [d.value for d in at.dataframe if "nearest_other_mm" in d.value.columns]
    assert list(table["side"]) == ["Rho: outside every region"]
    at.toggle(key="annotate_show_dataset").set_value(False).run()
    assert not at.exception, [e.value for e in at.exception]
    assert panels()[0]["region_outlines"] == []


def test_viewer_keeps_unsaved_marks_when_the_name_is_cleared_or_corrected(app_env, first_image):
    """The viewer reloads its marks from the page (dropping the unsaved ones) whenever
    ``marks_version`` changes. It changed with the reader's name: a name cleared and typed
    again, or a typo corrected, wiped the marks placed in the browser without a word
    (checked in Chromium: "Save marks (2)" became "Save marks (0)"). It changes now only
    with the stored marks shown: another reader's, a save."""
    key, _, (r, c), _ = first_image
    stored = _page("pages/annotate.py", reader="Kept")  # a reader with marks stored here
    _click(stored, r, c)
    stored.button(key="annotate_save").click().run()
    assert MarkStore(_store_dir()).load(key, "Kept").version == 1

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/annotate.py").run()

    def name(text: str) -> tuple[int, str | None]:
        at.text_input(key="annotate_reader_input").input(text).run()
        assert not at.exception, [e.value for e in at.exception]
        (viewer,) = at.get("component_instance")
        args = json.loads(viewer.proto.json_args)
        assert args["case_key"] == key
        # The panel says marking only where marks can be placed (no name: it said so too).
        (label,) = [p["label"] for p in args["panels"] if p["key"] == key]
        assert ("· marking" in label) == (args["editable"] is not None), label
        assert args["editable"] is not None or "give your name" in label, label
        return args["marks_version"], args["editable"]

    first, editable = name("Dr Tpyo")
    assert editable == key
    assert name(" ") == (first, None)  # cleared: the browser keeps what it holds
    assert name("Dr Tpyo") == (first, key)
    assert name("Dr Typo") == (first, key)  # corrected, nothing stored under either name
    assert name("Kept")[0] != first  # the marks Kept stored: the browser shows them


def test_annotate_after_browse_sends_no_pixels_of_its_case(app_env, monkeypatch):
    """Annotate opens on Browse's case; its two panels (the image and its other round) are
    images Browse sent, under the same ids (mcalc.present.pixels): the tab keeps them, one
    record per session says so, and Annotate's viewer gets ids alone."""
    import json

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.session_state["browse_case_id"] = "suspicious-1"
    drawn = record_viewer_pixels(monkeypatch)
    at.switch_page("pages/browse.py").run()
    assert not at.exception, [e.value for e in at.exception]
    browse = {i for key, ids in drawn if key == "browse_viewer" for i in ids}
    before = len(drawn)
    at.switch_page("pages/annotate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="annotate_case").value == "suspicious-1"
    (viewer,) = [c for c in at.get("component_instance") if "panels" in c.proto.json_args]
    ids = [p["pixel_id"] for p in json.loads(viewer.proto.json_args)["panels"]]
    assert len(ids) == 2 and set(ids) <= browse, (ids, sorted(browse))
    mine = [ids for key, ids in drawn[before:] if key == "annotate_viewer"]
    assert mine and not any(mine), f"Annotate sent pixels again: {mine}"


def _path(at: AppTest, key: str) -> tuple[int, ...]:
    """Where the widget ``key`` is in the page (its block indices from the root): the
    place its element is sent to, and the place the browser compares it at."""

    def walk(node: object, path: tuple[int, ...]) -> tuple[int, ...] | None:
        if getattr(getattr(node, "proto", None), "id", "").endswith(f"-{key}") or (
            getattr(node, "key", None) == key
        ):
            return path
        for i, child in getattr(node, "children", {}).items():
            found = walk(child, (*path, i))
            if found is not None:
                return found
        return None

    found = walk(at._tree, ())
    assert found is not None, f"no widget {key!r} on the page"
    return found


def _flashing_page() -> None:
    import streamlit as st

    from pages.annotate_shared import flash, show_flash

    if st.button("Save", key="save"):
        flash("success", "Saved as version 1.")
    show_flash()
    st.caption("Under the message")
    st.button("Undo", key="undo")


def test_a_saves_message_moves_nothing_under_it(app_env):
    """The browser compares each element a run sends with the one at the same place and
    draws again those that differ: a save's message ("Saved as version 1.") put in the
    page above Annotate's save buttons, marks and expanders moved each of them one place
    down (and back on the next run), so a save's run drew them all again (issue 15). The
    message has a place of its own on every run."""
    at = AppTest.from_function(_flashing_page, default_timeout=30).run()
    before = _path(at, "undo")
    at.button(key="save").click().run()
    assert [s.value for s in at.success] == ["Saved as version 1."]
    assert _path(at, "undo") == before
    at.run()  # the message gone
    assert not at.success and _path(at, "undo") == before


def test_annotates_case_picker_is_the_same_element_on_the_run_after_a_page_switch(app_env):
    """The case picker's value, set through the session only when it differed from the
    reader's case (the first run after a page switch), went into that run's element and
    not the next one's: the run after a return to Annotate (the first save) sent the picker
    again, and the browser drew it again (issue 15). Set on every run: one element."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/annotate.py").run()
    first = at.selectbox(key="annotate_case").proto
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="annotate_case").proto == first


def test_a_one_round_collection_offers_only_its_views_and_round(app_env, monkeypatch, tmp_path):
    """Annotate offered CC and MLO, prior and recent, on a collection of CC images of one
    round: "prior" (or "MLO") only said "Case c1 has no CC prior image" and stopped the
    page (a user check, 6 December). Only what the collection has is offered now, the
    round greyed with why; a view or exam chosen with another collection gives way."""
    from tests.convert_fixtures import make_region_manifest

    monkeypatch.setenv("MCALC_DATA", str(make_region_manifest(tmp_path / "regions")))
    monkeypatch.setenv("MCALC_AUTH", "off")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.session_state["annotate_view"] = "MLO"  # chosen with a two-round collection
    at.session_state["annotate_timepoint"] = "prior"
    at.switch_page("pages/annotate.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [w.value for w in at.warning if "has no" in w.value]
    assert at.selectbox(key="annotate_view").options == ["CC"]
    exam = at.selectbox(key="annotate_timepoint")
    assert exam.options == ["recent"] and exam.value == "recent" and exam.proto.disabled
    assert "This collection has one exam per case." in [c.value for c in at.caption]


def test_a_damaged_record_leaves_the_image_shown_not_editable(app_env, first_image):
    """A reader's marks file damaged from outside stopped the page under its error: the
    image and the dataset's marks were not drawn either (the crash check of 6 December).
    The error stays; the viewer shows the image, with nothing editable."""
    key, *_ = first_image
    MarkStore(_store_dir()).save(ImageMarks(key, "Ann").add_point(10, 10), base_version=0)
    (record,) = [p for p in _store_dir().rglob("*.json") if "Ann" in p.name or "ann" in p.name]
    record.write_text(record.read_text()[:40])
    at = _page("pages/annotate.py")
    at.session_state["annotate_use_viewer"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be read" in e.value and str(record) in e.value for e in at.error)
    (viewer,) = at.get("component_instance")
    args = json.loads(viewer.proto.json_args)
    (panel,) = [p for p in args["panels"] if p["key"] == key]
    assert args["editable"] is None
    # Its label said "· marking" over an image nothing could be placed on.
    assert "marking" not in panel["label"] and "unreadable" in panel["label"], panel["label"]
    # The reader takes back what the file still holds (here nothing whole: an empty record)
    # and marks again; the damaged file stays beside it, byte for byte (it was theirs to
    # lose: only "move it aside" was said, which a reader cannot do).
    damaged = record.read_bytes()
    at.button(key=f"annotate_recover_{key}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (aside,) = record.parent.glob(record.name + ".damaged-*")
    assert aside.read_bytes() == damaged
    assert not at.error, [e.value for e in at.error]
    (viewer,) = at.get("component_instance")
    assert json.loads(viewer.proto.json_args)["editable"] == key
    assert any(str(aside) in s.value and "0 version" in s.value for s in at.success)


def test_independent_reads_offer_another_readers_marks_once_ones_own_are_saved(
    app_env, tmp_path, monkeypatch
):
    """With MCALC_INDEPENDENT_READS=on, signed-in rita could compare with bob's marks on an
    image before marking it herself (a user check as two readers, 6 December 2026)."""
    from mcalc.access import UsersFile
    from mcalc.config import get_settings
    from tests.app_pages import APP

    users = UsersFile(tmp_path / "users.yaml", bcrypt_rounds=4)
    users.add("rita", "reader", password="correct-horse-9")
    monkeypatch.setenv("MCALC_USERS", str(users.path))
    monkeypatch.setenv("MCALC_INDEPENDENT_READS", "on")
    rec = open_dataset(app_env).cases[0].image("CC", "recent")
    assert rec is not None
    store = MarkStore(get_settings().store_dir)
    shape = prepare_view(ImageCache(tmp_path / "c"), rec, DisplayOptions()).full_shape
    store.save(
        ImageMarks(rec.key, "bob", image_shape=shape).add_point(40, 40, "benign"), base_version=0
    )
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/annotate.py")
    at.run()
    at.text_input[0].input("rita")
    at.text_input[1].input("correct-horse-9")
    at.button[0].click()
    at.session_state["annotate_use_viewer"] = False
    at.session_state["annotate_agreement_open"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="annotate_against").options == ["dataset annotation"]
    assert any("other readers' marks on an image are hidden" in c.value for c in at.caption)
    store.save(
        ImageMarks(rec.key, "rita", image_shape=shape).add_point(50, 50, "benign"), base_version=0
    )
    at.run()
    assert at.selectbox(key="annotate_against").options == ["dataset annotation", "bob"]


def test_an_import_files_text_is_shown_as_typed_not_as_markdown(app_env, first_image):
    """An import's report quotes the file: a points CSV whose image key was
    '![x](http://host/t.png)' drew that image in the error box, and the browser of the
    reader who uploaded it fetched the address (seen in Chromium, 7 December 2026)."""
    from markdown_it import MarkdownIt

    beacon = "![x](http://attacker.example/t.png) [here](http://attacker.example)"
    at = _page("pages/annotate.py")
    at.session_state["annotate_exchange_open"] = True
    at.run()
    _upload(at, "marks.csv", f"image_key,row,col\n{beacon},10,10\n".encode())
    assert not at.exception, [e.value for e in at.exception]
    (said,) = [e.value for e in at.error]
    drawn = MarkdownIt("commonmark").render(said)
    assert "<img" not in drawn and "<a " not in drawn, drawn
    assert "attacker.example/t.png" in said.replace("\\", "")
    assert "<li>" in drawn  # the report's problems are still a list


@pytest.mark.parametrize("kind", ["save", "undo"])
def test_a_viewer_event_whose_base_is_no_number_is_ignored_and_logged(
    app_env, first_image, monkeypatch, caplog, kind
):
    """``int(event["base"])`` raised ValueError in the reader's session for a save or an
    undo naming ``base: "abc"`` (the viewer sends a number or null): logged and ignored."""
    key, _, (r, c), view = first_image
    events = _queued_viewer_events(monkeypatch)
    at = _page("pages/annotate.py")
    at.session_state["annotate_use_viewer"] = True
    mark = {"id": "new-1", "row": r * view.scale, "col": c * view.scale, "label": "benign"}
    events.append({"type": kind, "panel": key, "base": "abc", "marks": [mark], "seq": "s"})
    with caplog.at_level("WARNING", logger="mcalc.present.reading"):
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert MarkStore(_store_dir()).load(key, "Ann").version == 0  # nothing saved or undone
    assert any("'abc' is not a version number" in m for m in caplog.messages)
