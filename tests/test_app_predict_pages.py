"""AppTest of Predict beside the other pages: the pixels the browser holds are not sent
again, the reader's case and model go from page to page, the reader's choices are kept."""

from __future__ import annotations

import json

import keras  # noqa: F401  (a broken install fails here, not skips)
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_pages import record_viewer_pixels
from tests.predict_fixtures import (
    APP,
    PAGE,
    assert_ok,
    open_predict,
    settle,
)

pytestmark = pytest.mark.slow  # AppTest runs that predict and explain: 9-48 s each


def _viewer_pixels(at: AppTest) -> dict[str, int]:
    """The pixels the reading viewer's render carries: id -> bytes of it in the blob."""
    (viewer,) = [c for c in at.get("component_instance") if "panels" in c.proto.json_args]
    data = {a.key: a.bytes for a in viewer.proto.special_args}.get("pixels_data", b"")
    index = json.loads(viewer.proto.json_args)["pixels"]
    assert all(e["offset"] + e["length"] <= len(data) for e in index), (index, len(data))
    return {e["id"]: e["length"] for e in index}


def test_a_return_to_predict_sends_pixel_ids_alone(page_env) -> None:
    """A page switch unmounts the viewer, but the browser tab keeps the images' bytes
    (the viewer's pixels.ts): the first draw back on Predict names them without sending
    them again, as a draw with the viewer mounted does."""
    from pages.predict_viewer import PANELS_KEY

    at = open_predict()
    at.toggle(key="predict_use_viewer").set_value(True).run()
    assert_ok(at)
    ids = {p["pixel_id"] for p in at.session_state[PANELS_KEY][1]}
    assert len(ids) == 2 and ids <= set(_viewer_pixels(at))
    at.run()  # mounted: it holds them
    assert_ok(at)
    assert not ids & set(_viewer_pixels(at))
    at.switch_page("pages/home.py").run()
    assert not at.get("component_instance")
    at.session_state["predict_use_viewer"] = True  # open_predict's choice is the session's
    at.switch_page(PAGE).run()
    settle(at)
    assert_ok(at)
    assert {p["pixel_id"] for p in at.session_state[PANELS_KEY][1]} == ids
    assert not ids & set(_viewer_pixels(at)), f"sent again: {_viewer_pixels(at)}"


def _browse_ids(at: AppTest) -> list[str]:
    """The pixel ids of the panels Browse's viewer shows."""
    (viewer,) = [c for c in at.get("component_instance") if "panels" in c.proto.json_args]
    return [p["pixel_id"] for p in json.loads(viewer.proto.json_args)["panels"]]


def _predict_visit(at: AppTest) -> AppTest:
    at.session_state["predict_model"] = "spot"
    at.session_state["predict_use_viewer"] = True
    at.session_state["predict_case"] = "suspicious-1"
    at.switch_page(PAGE).run()
    assert_ok(at)
    return settle(at)


def test_predict_after_browse_on_its_case_sends_no_pixels(page_env, monkeypatch) -> None:
    """The pages name an image's pixels alike (mcalc.present.pixels) and share the record of
    what the tab holds (the viewer's pixels.ts keeps every image across page switches):
    Predict's first visit on the case Browse showed sends ids alone, in its draw of the
    images and in its result's."""
    from pages.predict_viewer import PANELS_KEY

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state["browse_case_id"] = "suspicious-1"
    drawn = record_viewer_pixels(monkeypatch)
    at.switch_page("pages/browse.py").run()
    assert_ok(at)
    browse = _browse_ids(at)
    assert len(browse) == 4 and set(browse) <= set(drawn[-1][1])  # sent by Browse
    before = len(drawn)
    _predict_visit(at)
    predict = [p["pixel_id"] for p in at.session_state[PANELS_KEY][1]]
    assert len(predict) == 2 and set(predict) <= set(browse)  # the CC pair, named alike
    mine = [ids for key, ids in drawn[before:] if key == "predict_viewer"]
    assert mine, "Predict drew no viewer"
    assert not [ids for ids in mine if ids], f"Predict sent pixels again: {mine}"
    # The tab let one go (its keep is bounded): the viewer asks, the shared record forgets
    # it (as Predict's _on_viewer_event does), and Predict's next draw sends it alone.
    from pages.state import PIXELS_SENT_KEY

    at.session_state[PIXELS_SENT_KEY].forget(predict[:1])
    before = len(drawn)
    at.run()
    assert_ok(at)
    assert [ids for key, ids in drawn[before:] if key == "predict_viewer"] == [predict[:1]]


def test_a_changed_annotation_file_redraws_the_viewers_marks(
    page_env, tiny_demo, tmp_path, monkeypatch
) -> None:
    """The pixel id leaves the annotation out (the values are the same): the viewer's
    panels, kept per pixel id, must still follow the annotation file's marks."""
    import os
    import shutil

    import cv2

    from mcalc.dataset import open_dataset
    from pages.predict_viewer import PANELS_KEY

    demo = tmp_path / "demo"
    shutil.copytree(tiny_demo, demo)  # the shared tiny set stays as it is
    monkeypatch.setenv("MCALC_DEMO_DIR", str(demo))
    rec = open_dataset(demo).case("suspicious-1").image("CC", "recent")
    assert rec is not None and rec.annotation_path is not None
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    _predict_visit(at)

    def points() -> dict[str, list]:
        return {p["key"]: p["points"] for p in at.session_state[PANELS_KEY][1]}

    before = points()
    assert before[rec.key], "the recent CC has annotated calcifications"
    blank = cv2.imread(str(rec.annotation_path)) * 0  # the radiologist's marks taken away
    cv2.imwrite(str(rec.annotation_path), blank)
    st = rec.annotation_path.stat()
    os.utime(rec.annotation_path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    at.run()
    settle(at)
    assert_ok(at)
    after = points()
    assert after[rec.key] == [] and after.keys() == before.keys()


def test_browse_predict_this_case_opens_predict_on_it_with_its_own_choices(page_env) -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state["predict_model"] = "spot"
    at.session_state["predict_view"] = "MLO"  # the reader's choice on Predict, kept
    at.session_state["browse_case_id"] = "suspicious-2"
    at.switch_page("pages/browse.py").run()
    assert_ok(at)
    at.button(key="browse_predict").click().run()
    assert_ok(at)
    assert [t.value for t in at.title] == ["Predict and explain"]
    assert at.selectbox(key="predict_case").value == "suspicious-2"
    assert at.radio(key="predict_view").value == "MLO"
    settle(at)
    assert_ok(at)


def test_predict_opens_on_the_readers_case_and_audit_follows_predicts_case(page_env) -> None:
    """Predict opens on the case the reader was on in Browse (it opened on the first case)
    or Audit (it kept its own); a case picked on Predict is the one Audit then opens on
    (it kept its own image, of another case). pages.state.CASE_KEY."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state["predict_model"] = "spot"
    at.session_state["browse_case_id"] = "suspicious-2"
    at.switch_page("pages/browse.py").run()
    assert_ok(at)
    at.switch_page(PAGE).run()
    assert_ok(at)
    assert at.selectbox(key="predict_case").value == "suspicious-2"
    settle(at)
    other = next(o for o in at.selectbox(key="predict_case").options if o != "suspicious-2")
    at.selectbox(key="predict_case").set_value(other).run()
    settle(at)
    assert_ok(at)
    at.session_state["annotate_reader"] = "Ann"  # named on another page
    at.switch_page("pages/audit.py").run()
    assert_ok(at)
    assert at.selectbox(key="audit_image").value == f"{other}/CC_recent"
    # A case picked on Audit: Predict opens on it (its view and timepoint kept).
    # The options read as words ("normal-2 · L CC prior 2011"), the value is the key.
    third = next(o for o in at.selectbox(key="audit_image").options if not o.startswith(other))
    at.selectbox(key="audit_image").set_value(third).run()
    case = at.selectbox(key="audit_image").value.split("/")[0]
    assert third.startswith(f"{case} · ")
    at.switch_page(PAGE).run()
    assert_ok(at)
    assert at.selectbox(key="predict_case").value == case
    settle(at)
    assert_ok(at)


def test_browse_after_predict_sends_only_the_images_predict_did_not(page_env, monkeypatch) -> None:
    """The other way round: Browse on the case whose CC pair Predict showed sends the MLO
    pair alone."""
    from pages.predict_viewer import PANELS_KEY

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    drawn = record_viewer_pixels(monkeypatch)
    _predict_visit(at)
    predict = {p["pixel_id"] for p in at.session_state[PANELS_KEY][1]}
    assert len(predict) == 2 and predict <= {i for key, ids in drawn for i in ids}
    before = len(drawn)
    at.session_state["browse_case_id"] = "suspicious-1"
    at.switch_page("pages/browse.py").run()
    assert_ok(at)
    browse = _browse_ids(at)
    assert len(browse) == 4 and predict <= set(browse)
    carried = {i for _, ids in drawn[before:] for i in ids} & set(browse)
    assert carried == set(browse) - predict, sorted(carried)


#: Every choice a reader makes on Predict, and a value other than its default:
#: (AppTest accessor, key, value). Settings that only change what is drawn and settings
#: of the analysis (a change of which waits for Run) alike.
CHOICES = [
    ("selectbox", "predict_model", "rand-birads"),
    ("radio", "predict_view", "MLO"),
    ("radio", "predict_timepoint", "recent"),
    ("selectbox", "predict_cam", "gradcam++"),
    ("selectbox", "predict_target", None),  # None: another option than the default
    ("selectbox", "predict_layer", None),
    ("selectbox", "predict_scope", "regions"),
    ("radio", "predict_show", "probability"),
    ("slider", "predict_opacity", 0.3),
    ("selectbox", "predict_cmap", "inferno"),
    ("toggle", "predict_marks", False),
    ("toggle", "predict_mask", True),
    ("number_input", "predict_det_distance", 2.5),
    ("toggle", "predict_det_at_operating", False),
    ("slider", "predict_det_threshold", 0.7),
    ("number_input", "predict_stride", 8),
    ("toggle", "predict_regions_at_operating", False),
    ("slider", "predict_threshold", 0.3),
    ("number_input", "predict_max_regions", 4),
    ("number_input", "predict_tolerance", 2.0),
    ("toggle", "predict_use_viewer", True),
    ("toggle", "predict_case_all", True),
]


def test_the_readers_choices_survive_another_page(page_env) -> None:
    """Streamlit forgets a widget's value when a run does not draw it: a reader who looked
    at Browse came back to Predict's first case, and to the default method, opacity,
    sliding window... Every choice is kept across pages (widgets with a default of their
    own among them: the target class, the layer, the detections' toggle)."""
    at = open_predict(case=False)
    other = at.selectbox(key="predict_case").options[2]  # not the first case
    at.selectbox(key="predict_case").set_value(other).run()
    settle(at)
    chosen = {}
    for kind, key, value in CHOICES:
        widget = getattr(at, kind)(key=key)
        first = widget.value
        if value is None:  # the options are shown formatted: another one, by its place
            shown = widget.format_func(first)
            widget.select_index(next(i for i, o in enumerate(widget.options) if o != shown))
            at.run()
        else:
            widget.set_value(value).run()
        assert_ok(at)
        chosen[key] = getattr(at, kind)(key=key).value
        assert chosen[key] != first, f"{key}: {first!r} is its default, choose another"
    at.toggle(key="predict_detections").set_value(False).run()  # hides its two settings
    settle(at)
    assert_ok(at)
    at.switch_page("pages/home.py").run()
    assert_ok(at)
    at.switch_page(PAGE).run()
    settle(at)
    assert_ok(at)
    assert at.selectbox(key="predict_case").value == other
    assert at.toggle(key="predict_detections").value is False
    at.toggle(key="predict_detections").set_value(True).run()
    assert_ok(at)
    kept = {key: getattr(at, kind)(key=key).value for kind, key, _ in CHOICES}
    assert kept == chosen
    # Another model's classes: a kept target it does not have gives way to its own default.
    at.selectbox(key="predict_model").set_value("spot").run()
    assert_ok(at)
    assert at.selectbox(key="predict_target").value == "calcification"


def test_the_model_another_page_selected_is_preselected_once(page_env) -> None:
    """Train's "Open <model> on the Predict page" opens that model, not the first one,
    even when Predict was open before; the reader's own choice afterwards sticks."""
    from pages.state import SELECTED_MODEL_KEY

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.run()
    first = at.selectbox(key="predict_model").value
    wanted = "rand-birads" if first != "rand-birads" else "spot"
    at.session_state[SELECTED_MODEL_KEY] = wanted
    at.run()
    assert_ok(at)
    assert at.selectbox(key="predict_model").value == wanted
    at.selectbox(key="predict_model").select(first).run()
    assert at.selectbox(key="predict_model").value == first
