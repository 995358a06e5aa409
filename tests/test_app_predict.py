"""AppTest of the Predict page: runs with tiny registered models, controls change what is
drawn, bad models and images are clear messages and the page stays usable."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import keras  # noqa: F401  (a broken install fails here, not skips)
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_pages import record_viewer_pixels
from tests.explain_fixtures import register, spot_model

pytestmark = pytest.mark.slow  # AppTest runs that predict and explain: 9-48 s each

APP = "../app.py"
PAGE = "pages/predict.py"


@pytest.fixture(scope="module")
def registry_dir(tmp_path_factory) -> Path:
    """``spot`` (hand-made detector), ``rand-birads``, a folder whose model file is corrupt
    and one whose model does not match its card's patch size."""
    from tests.explain_fixtures import random_model

    root = tmp_path_factory.mktemp("predict-page") / "models"
    register(root, "spot", spot_model())
    register(root, "rand-birads", random_model(3), task="birads")
    broken = register(root, "broken", spot_model())
    (broken / "model.keras").write_bytes(b"not a keras archive")
    mismatch = register(root, "mismatch", spot_model(48))
    card = json.loads((mismatch / "card.json").read_text())
    card["patch"]["size"] = 32
    (mismatch / "card.json").write_text(json.dumps(card))
    return root


@pytest.fixture
def page_env(app_env, registry_dir, monkeypatch) -> Path:
    monkeypatch.setenv("MCALC_MODELS", str(registry_dir))
    return registry_dir


def _settle(at: AppTest, timeout: float = 120) -> AppTest:
    """Wait for the page's background run (if any) to end, then rerun to show its result."""
    from pages.predict_run import WORK_KEY
    from pages.predict_temporal import WORK_KEY as ACROSS_KEY

    for _ in range(20):
        pending = []
        with contextlib.suppress(KeyError):
            pending.append(at.session_state[WORK_KEY][0])
        try:  # the section across rounds registers in the background too
            across = at.session_state[ACROSS_KEY][1]
            if across.running or at.get("progress"):
                pending.append(across)
        except KeyError:
            pass
        if not pending:
            return at
        for work in pending:
            assert work.wait(timeout), "the background run did not finish"
        at.run()
    raise AssertionError("the page kept running")


def _run(at: AppTest) -> AppTest:
    """Press Run (the settings changed) and wait for the result."""
    at.button(key="predict_run").click().run()
    return _settle(at)


def _open(model: str = "spot", timeout: float = 120, *, case: bool = True) -> AppTest:
    """Predict on ``model`` (and suspicious-1), first visit: the page runs by itself."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.session_state["predict_model"] = model
    at.session_state["predict_use_viewer"] = False  # the classic figure (the viewer: below)
    if case:
        at.session_state["predict_case"] = "suspicious-1"
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]  # the visit's own run too
    return _settle(at)


def _popovers(at: AppTest) -> dict[str, set[str]]:
    """The sidebar's popovers: label -> keys of the widgets inside."""
    out: dict[str, set[str]] = {}

    def keys(node) -> set[str]:
        found = {getattr(node, "key", None)} - {None}
        for child in getattr(node, "children", {}).values():
            found |= keys(child)
        return found

    def walk(node) -> None:
        if getattr(node, "type", None) == "popover":
            out[node.proto.popover.label] = {k for k in keys(node) if k.startswith("predict_")}
            return
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.sidebar)
    return out


def _figure(at: AppTest, key_part: str = "predict_fig") -> dict:
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if any(t.get("type") == "image" for t in spec["data"]) and key_part in el.proto.id:
            return spec
    raise AssertionError("no image figure drawn")


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_page_runs_and_draws_prior_beside_recent_with_regions(page_env) -> None:
    at = _open()
    _ok(at)
    metrics = {m.label: m.value for m in at.metric}
    summary = " ".join(m.value for m in at.markdown)
    assert "**custom**" in summary and "weights **handmade**" in summary
    assert "sensitivity" in summary and "specificity" in summary
    assert float(metrics["CC recent · calcification map score"]) > 0.9
    assert "Change in map score (recent − prior)" in metrics
    captions = " ".join(c.value for c in at.caption)
    assert "Map score: mean of the top 3 patch probabilities" in captions
    assert "Decision threshold 0.50: default" in captions
    warnings = " ".join(w.value for w in at.warning)
    assert "synthetic" in warnings and "from scratch" in warnings
    fig = _figure(at)
    images = [t for t in fig["data"] if t["type"] == "image"]
    assert len(images) == 2 and all(t["source"].startswith("data:image/jpeg") for t in images)
    assert fig["layout"]["xaxis2"]["matches"] == "x"  # synchronised zoom
    regions = [t for t in fig["data"] if t.get("name") in ("regions-1", "regions-2")]
    assert regions and regions[0]["customdata"][0][0].startswith("suspicious-1/CC_")
    assert any(t.get("name") == "colorbar" for t in fig["data"])
    tables = [d.value for d in at.dataframe]
    assert any("region" in t.columns and len(t) > 0 for t in tables)
    # The regions' centres name their unit, as the detections' caption and the change
    # tables do (the regions table said "row", "col" alone).
    shown = next(d for d in at.dataframe if "region" in d.value.columns)
    labels = {k: v.get("label") for k, v in json.loads(shown.proto.columns).items()}
    assert labels["row"] == "row (full-res px)" and labels["col"] == "col (full-res px)"
    # The agreement table is drawn when its section is opened (a rerun of the result).
    assert not any("energy inside marks" in t.columns for t in tables)
    at.session_state["predict_agreement_open"] = True
    at.run()
    _ok(at)
    assert any("energy inside marks" in d.value.columns for d in at.dataframe)
    layer = at.selectbox(key="predict_layer")
    assert layer.value == "conv2" and "conv1" in layer.options[0]
    # The reading viewer instead of the figure: both images with their layers (the browser
    # side: tests/test_browser_predict.py).
    from pages.predict_viewer import PANELS_KEY
    from pages.state import PIXELS_SENT_KEY

    at.toggle(key="predict_use_viewer").set_value(True).run()
    _ok(at)
    assert not [el for el in at.get("plotly_chart") if "predict_fig" in el.proto.id]
    panels = at.session_state[PANELS_KEY][1]
    assert [p["key"] for p in panels] == ["suspicious-1/CC_prior", "suspicious-1/CC_recent"]
    # Pixels travel apart as binary, once per browser (a rerun sends none again).
    assert all("pixels" not in p and p["pixel_id"].startswith(p["key"]) for p in panels)
    assert [p[0] for p in at.session_state[PANELS_KEY][2]] == [p["pixel_id"] for p in panels]
    assert all(p["pixel_id"] in at.session_state[PIXELS_SENT_KEY] for p in panels)
    names = [[m["name"] for m in p["layers"]["maps"]] for p in panels]
    assert names == [["probability", "explanation"]] * 2
    assert panels[1]["layers"]["regions"][0]["rank"] == 1
    # Across rounds registers only when asked (a recent-only model): then in the background.
    from pages.predict_temporal import WORK_KEY as ACROSS_KEY

    assert ACROSS_KEY not in at.session_state
    assert not [el for el in at.get("plotly_chart") if "predict_temporal" in el.proto.id]
    _settle(at.toggle(key="predict_temporal_on").set_value(True).run())
    _ok(at)
    assert [el for el in at.get("plotly_chart") if "predict_temporal_CC" in el.proto.id]
    assert any("status" in d.value.columns for d in at.dataframe)


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

    at = _open()
    at.toggle(key="predict_use_viewer").set_value(True).run()
    _ok(at)
    ids = {p["pixel_id"] for p in at.session_state[PANELS_KEY][1]}
    assert len(ids) == 2 and ids <= set(_viewer_pixels(at))
    at.run()  # mounted: it holds them
    _ok(at)
    assert not ids & set(_viewer_pixels(at))
    at.switch_page("pages/home.py").run()
    assert not at.get("component_instance")
    at.session_state["predict_use_viewer"] = True  # _open's choice is the session's
    at.switch_page(PAGE).run()
    _settle(at)
    _ok(at)
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
    _ok(at)
    return _settle(at)


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
    _ok(at)
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
    _ok(at)
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
    _settle(at)
    _ok(at)
    after = points()
    assert after[rec.key] == [] and after.keys() == before.keys()


def test_browse_predict_this_case_opens_predict_on_it_with_its_own_choices(page_env) -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state["predict_model"] = "spot"
    at.session_state["predict_view"] = "MLO"  # the reader's choice on Predict, kept
    at.session_state["browse_case_id"] = "suspicious-2"
    at.switch_page("pages/browse.py").run()
    _ok(at)
    at.button(key="browse_predict").click().run()
    _ok(at)
    assert [t.value for t in at.title] == ["Predict and explain"]
    assert at.selectbox(key="predict_case").value == "suspicious-2"
    assert at.radio(key="predict_view").value == "MLO"
    _settle(at)
    _ok(at)


def test_predict_opens_on_the_readers_case_and_audit_follows_predicts_case(page_env) -> None:
    """Predict opens on the case the reader was on in Browse (it opened on the first case)
    or Audit (it kept its own); a case picked on Predict is the one Audit then opens on
    (it kept its own image, of another case). pages.state.CASE_KEY."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state["predict_model"] = "spot"
    at.session_state["browse_case_id"] = "suspicious-2"
    at.switch_page("pages/browse.py").run()
    _ok(at)
    at.switch_page(PAGE).run()
    _ok(at)
    assert at.selectbox(key="predict_case").value == "suspicious-2"
    _settle(at)
    other = next(o for o in at.selectbox(key="predict_case").options if o != "suspicious-2")
    at.selectbox(key="predict_case").set_value(other).run()
    _settle(at)
    _ok(at)
    at.session_state["annotate_reader"] = "Ann"  # named on another page
    at.switch_page("pages/audit.py").run()
    _ok(at)
    assert at.selectbox(key="audit_image").value == f"{other}/CC_recent"
    # A case picked on Audit: Predict opens on it (its view and timepoint kept).
    third = next(o for o in at.selectbox(key="audit_image").options if not o.startswith(other))
    at.selectbox(key="audit_image").set_value(third).run()
    at.switch_page(PAGE).run()
    _ok(at)
    assert at.selectbox(key="predict_case").value == third.split("/")[0]
    _settle(at)
    _ok(at)


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
    _ok(at)
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
    ("slider", "predict_det_threshold", 0.7),
    ("number_input", "predict_stride", 8),
    ("number_input", "predict_topk", 5),
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
    at = _open(case=False)
    other = at.selectbox(key="predict_case").options[2]  # not the first case
    at.selectbox(key="predict_case").set_value(other).run()
    _settle(at)
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
        _ok(at)
        chosen[key] = getattr(at, kind)(key=key).value
        assert chosen[key] != first, f"{key}: {first!r} is its default, choose another"
    at.toggle(key="predict_detections").set_value(False).run()  # hides its two settings
    _settle(at)
    _ok(at)
    at.switch_page("pages/home.py").run()
    _ok(at)
    at.switch_page(PAGE).run()
    _settle(at)
    _ok(at)
    assert at.selectbox(key="predict_case").value == other
    assert at.toggle(key="predict_detections").value is False
    at.toggle(key="predict_detections").set_value(True).run()
    _ok(at)
    kept = {key: getattr(at, kind)(key=key).value for kind, key, _ in CHOICES}
    assert kept == chosen
    # Another model's classes: a kept target it does not have gives way to its own default.
    at.selectbox(key="predict_model").set_value("spot").run()
    _ok(at)
    assert at.selectbox(key="predict_target").value == "calcification"


def test_explanation_controls_change_the_overlay(page_env) -> None:
    at = _open()
    # The settings live in popovers (the browser builds their widgets only when opened),
    # each labelled with what is in force.
    groups = _popovers(at)
    assert {"predict_cam", "predict_layer", "predict_target", "predict_scope"} <= groups[
        "Explanation: Grad-CAM (Selvaraju 2017)"
    ]
    assert {"predict_opacity", "predict_cmap"} <= groups["Display: explanation map, opacity 0.6"]
    assert "predict_det_threshold" in groups["Detections: score ≥ 0.5"]
    assert "predict_stride" in groups["Sliding window and agreement"]
    before = _figure(at)["data"][0]["source"]
    at.slider(key="predict_opacity").set_value(0.0).run()
    _ok(at)
    assert "Display: explanation map, opacity 0" in _popovers(at)
    transparent = _figure(at)["data"][0]["source"]
    assert transparent != before
    at.slider(key="predict_opacity").set_value(0.8).run()
    for method in ("gradcam++", "scorecam", "none", "gradcam"):
        at.selectbox(key="predict_cam").select(method).run()
        if method in ("gradcam++", "scorecam"):  # else cached: the map, the first settings
            _run(at)
        _ok(at)
    at.selectbox(key="predict_layer").select("conv1").run()
    _run(at)
    _ok(at)
    at.selectbox(key="predict_target").select("no-calcification").run()
    _run(at)
    _ok(at)
    at.radio(key="predict_show").set_value("probability").run()
    _ok(at)
    assert "P(calcification)" in " ".join(c.value for c in at.caption)
    at.selectbox(key="predict_cmap").select("inferno").run()
    at.selectbox(key="predict_scope").select("regions").run()
    _run(at)
    _ok(at)
    at.radio(key="predict_timepoint").set_value("recent").run()  # computed with the pair
    _ok(at)
    assert len([t for t in _figure(at)["data"] if t["type"] == "image"]) == 1
    at.toggle(key="predict_case_all").set_value(True).run()
    assert not [m for m in at.metric if m.label.startswith("Case ")]  # not without asking
    at.button(key="predict_case_run").click().run()
    _ok(at)
    assert "Case suspicious-1" in {m.label for m in at.metric}


def test_selected_region_is_shown_at_full_resolution(page_env) -> None:
    at = _open()
    at.session_state["predict_region"] = ("suspicious-1/CC_recent", 1)
    at.run()
    _ok(at)
    crops = [el for el in at.get("plotly_chart") if "predict_crop_fig" in el.proto.id]
    assert crops
    spec = json.loads(crops[0].proto.spec)
    assert len([t for t in spec["data"] if t["type"] == "image"]) == 2
    assert any("Region 1 of suspicious-1/CC_recent" in m.value for m in at.markdown)


def test_birads_model_scores_the_suspicious_class(page_env) -> None:
    at = _open("rand-birads")
    _ok(at)
    assert any(label.endswith("suspicious map score") for label in (m.label for m in at.metric))
    assert at.selectbox(key="predict_target").value == "suspicious"


@pytest.mark.parametrize(
    ("model", "message"), [("broken", "cannot load model"), ("mismatch", "does not match")]
)
def test_a_model_that_fails_to_load_or_fit_is_a_message(page_env, model, message) -> None:
    at = _open(model, case=False)
    _ok(at)
    assert not at.get("plotly_chart")
    errors = " ".join(e.value for e in at.error)
    assert "cannot be used here" in errors and message in errors
    at.selectbox(key="predict_model").select("spot").run()  # the page stays usable
    _settle(at)  # nothing was shown yet: the page runs by itself
    _ok(at)
    assert not at.error and _figure(at)


def test_an_image_without_breast_is_a_warning_and_the_other_is_shown(page_env, monkeypatch) -> None:
    import mcalc.explain.service as service
    from mcalc.explain.errors import NoBreastRegionError

    real = service.analyse_image

    def fake(loaded, mammogram, **kwargs):
        if kwargs["key"].endswith("_prior"):
            raise NoBreastRegionError("no breast region found in this image")
        return real(loaded, mammogram, **kwargs)

    monkeypatch.setattr(service, "analyse_image", fake)
    at = _open()
    _ok(at)
    assert any("no breast region" in w.value for w in at.warning)
    assert len([t for t in _figure(at)["data"] if t["type"] == "image"]) == 1


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
    _ok(at)
    assert at.selectbox(key="predict_model").value == wanted
    at.selectbox(key="predict_model").select(first).run()
    assert at.selectbox(key="predict_model").value == first


def test_no_model_is_an_invitation_to_train(app_env, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MCALC_MODELS", str(tmp_path / "empty"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(PAGE)
    at.run()
    _ok(at)
    assert any("Train page" in i.value for i in at.info)


def test_a_verdict_is_recorded(page_env, app_env) -> None:
    from mcalc.config import get_settings
    from mcalc.store.audit import AuditStore, audit_table

    at = _open()
    at.text_input(key="predict_reader_input").input("Dr Test").run()
    _ok(at)
    at.selectbox(key="predict_verdict_image").select("suspicious-1/CC_recent")
    at.radio(key="predict_plausible").set_value("plausible")
    # No answer to "The score is" (the form has none chosen beforehand): nothing saved.
    assert at.radio(key="predict_verdict").value is None
    at.button(key="FormSubmitter:predict_verdict_form-Save verdict").click().run()
    _ok(at)
    assert any("nothing was saved" in e.value for e in at.error)
    assert not AuditStore(get_settings().store_dir).verdicts("spot")
    at.radio(key="predict_verdict").set_value("agree")
    at.button(key="FormSubmitter:predict_verdict_form-Save verdict").click().run()
    _ok(at)
    assert any("Saved: Dr Test on suspicious-1/CC_recent" in s.value for s in at.success)
    # The card recorded, in words (not its key=value line).
    words = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "**Architecture:** custom" in words and "**Input:** patches of" in words
    assert "architecture=" not in words
    # The form keeps what was recorded, and the saved record is shown.
    assert at.radio(key="predict_plausible").value == "plausible"
    summary = audit_table(get_settings(), "spot")
    assert summary.n_verdicts == 1 and summary.plausible_rate == 1.0
    (v,) = AuditStore(get_settings().store_dir).verdicts("spot")
    ctx = v.context
    assert ctx is not None and ctx.method == "gradcam" and ctx.layer and ctx.target
    assert ctx.threshold == 0.5 and ctx.model_fingerprint not in ("", "unknown")
    assert "stride" in ctx.map_settings and "tolerance_mm" in ctx.map_settings
    assert not v.model_card.endswith("…") and "architecture=" in v.model_card
    picture = AuditStore(get_settings().store_dir).snapshot_path(v)
    assert picture.is_file() and picture.read_bytes()[:4] == b"\x89PNG"
    # The Audit page shows the picture that verdict was about, with its context.
    at.switch_page("pages/audit.py").run()
    _ok(at)
    assert any(type(e).__name__ == "Image" for e in at.main), "the judged picture is shown"
    assert any("gradcam" in c.value for c in at.caption)
    # The map's settings in words, not a Python dict.
    captions = " ".join(c.value for c in at.caption)
    assert "{'" not in captions and "stride" in captions and "mm" in captions
    said = " ".join(m.value for m in at.markdown)
    assert re.search(r"\*\*agree\*\* with score \d\.\d{3} \(", said), said  # 3 decimals
    # ... and makes the case report from there.
    at.button(key="audit_report_make").click().run()
    _ok(at)
    assert not at.error
    assert [b for b in at.get("download_button") if "report of suspicious-1" in b.proto.label]


def test_no_verdict_on_a_result_of_other_settings(page_env) -> None:
    """The last result stays on screen after the model or a setting changes (until Run): a
    verdict then would record one model's card with the other result's score."""
    at = _open()
    at.slider(key="predict_threshold").set_value(0.3).run()
    _ok(at)
    assert any("Not computed yet" in i.value for i in at.info)
    # Same model, case and view: the note says which setting the result on screen had
    # (it read "Not computed yet for X ... The result below is still that of X").
    assert any("made with region threshold 0.5 (now 0.3)" in i.value for i in at.info), [
        i.value for i in at.info
    ]
    assert any("not the one of `spot` with these settings" in i.value for i in at.info)
    assert not [t for t in at.text_input if t.key == "predict_reader_input"]  # no form
    _run(at)
    assert not any("not the one of" in i.value for i in at.info)
    at.text_input(key="predict_reader_input").input("Dr Test").run()
    assert at.selectbox(key="predict_verdict_image") is not None


def _keys(at: AppTest) -> set[str]:
    """The image keys of the regions on the overlay figure."""
    return {
        c[0]
        for t in _figure(at)["data"]
        if t.get("name", "").startswith("regions-")
        for c in t.get("customdata") or []
    }


def test_a_new_view_runs_by_itself_a_setting_waits_for_run_a_cached_result_shows_at_once(
    page_env,
) -> None:
    from pages.predict_run import WORK_KEY

    at = _open()
    assert all("/CC_" in k for k in _keys(at))
    at.radio(key="predict_view").set_value("MLO").run()
    _ok(at)
    # The choice is the action: no Run asked, its run started by itself (the CC result
    # stays on screen meanwhile: the cancel test below, with a slow analysis).
    assert not any("Not computed yet" in i.value for i in at.info)
    _settle(at)
    assert _keys(at) and all("/MLO_" in k for k in _keys(at))
    # Back to CC: from the results cache, at once (no run, no button).
    at.radio(key="predict_view").set_value("CC").run()
    _ok(at)
    assert WORK_KEY not in at.session_state
    assert all("/CC_" in k for k in _keys(at))
    assert not [b for b in at.button if b.key == "predict_run"]
    # Another setting: nothing runs until Run; the CC result stays, named, with a Run button.
    at.slider(key="predict_threshold").set_value(0.3).run()
    _ok(at)
    assert WORK_KEY not in at.session_state
    assert any("Not computed yet" in i.value and "CC" in i.value for i in at.info)
    _run(at)
    assert all("/CC_" in k for k in _keys(at))


def test_cancel_stops_the_run_and_leaves_the_last_result(page_env, monkeypatch) -> None:
    import time

    import mcalc.explain.service as service
    import pages.predict_run as predict_run
    from pages.predict_run import WORK_KEY

    # The choice's own run waits that long for its analysis, then the progress poll does.
    monkeypatch.setattr(predict_run, "WAIT_MAX_S", 0.5)
    at = _open()
    real = service.analyse_image

    def slow(loaded, mammogram, **kwargs):
        if kwargs.get("progress") is None:  # the page's look into the cache
            return real(loaded, mammogram, **kwargs)
        for i in range(400):  # reports progress, as the real sliding window does
            kwargs["progress"](i, 400, "slow patches")
            time.sleep(0.05)
        return real(loaded, mammogram, **kwargs)

    monkeypatch.setattr(service, "analyse_image", slow)
    at.radio(key="predict_view").set_value("MLO").run()  # runs by itself
    _ok(at)
    work = at.session_state[WORK_KEY][0]
    assert work.running and at.get("progress")
    assert all("/CC_" in k for k in _keys(at))  # the last result stays meanwhile
    at.button(key="predict_cancel").click().run()
    assert work.wait(30) and work.state == "cancelled"
    at.run()
    _ok(at)
    assert any("Run cancelled" in i.value for i in at.info)
    assert all("/CC_" in k for k in _keys(at))
    assert [b for b in at.button if b.key == "predict_run"]  # and it can be run again
    # Another case while a run goes on: the choice stops that run first; the new one waits
    # for it (never two at once, nothing queued behind).
    at.button(key="predict_run").click().run()
    work = at.session_state[WORK_KEY][0]
    other = next(o for o in at.selectbox(key="predict_case").options if o != "suspicious-1")
    at.selectbox(key="predict_case").set_value(other).run()
    queued = at.session_state[WORK_KEY][0]
    assert queued is not work and other in str(queued.key)
    assert work.wait(30) and work.state == "cancelled"
    at.button(key="predict_cancel").click().run()
    assert queued.wait(30) and queued.state == "cancelled"


def test_detections_are_marked_and_listed(page_env) -> None:
    at = _open()
    markers = [t for t in _figure(at)["data"] if t.get("name", "").startswith("detections-")]
    assert markers and all(t["marker"]["symbol"] == "diamond-open" for t in markers)
    # The table is drawn only while its section is open: closed, the run sends the browser
    # one expander and nothing inside it (each element costs the page a render there).
    closed = [e for e in at.expander if e.label == "Detections table"]
    assert len(closed) == 1 and not closed[0].children
    assert not [d for d in at.dataframe if "detection" in d.value.columns]
    assert not [m for m in at.markdown if "non-maximum suppression" in m.value]
    at.session_state["predict_detections_open"] = True
    at.run()
    _ok(at)
    table = next(d.value for d in at.dataframe if "detection" in d.value.columns)
    assert len(table) == sum(len(t["customdata"]) for t in markers)
    assert (table["score"] >= 0.5).all() and set(table["image"]) <= {
        "suspicious-1/CC_prior",
        "suspicious-1/CC_recent",
    }
    # Settings of the detections change the drawing only: no run.
    at.slider(key="predict_det_threshold").set_value(1.0).run()
    _ok(at)
    assert not [t for t in _figure(at)["data"] if t.get("name", "").startswith("detections-")]
    assert any("No detection at this threshold" in c.value for c in at.caption)
    at.toggle(key="predict_detections").set_value(False).run()
    assert not [d for d in at.dataframe if "detection" in d.value.columns]


def test_a_waiting_run_redraws_its_progress_only_when_it_changes(monkeypatch) -> None:
    """The first visit's wait (no limit) sends the bar at most every PROGRESS_EVERY_S and
    only when its value or text changed: each element sent makes the browser render the
    whole page again (a redraw every 0.15 s kept a first visit's main thread busy)."""
    import threading

    import pages.predict_run as predict_run
    from mcalc.progress import BackgroundWork

    class Bar:
        def __init__(self) -> None:
            self.sent: list[tuple[float, str]] = []

        def progress(self, frac: float, text: str) -> None:
            self.sent.append((frac, text))

        def empty(self) -> None:
            pass

    gate, step = threading.Event(), threading.Event()

    def work(report) -> int:
        report(1, 4, "image 1")
        step.wait(5)
        report(2, 4, "image 2")  # one change halfway
        gate.wait(5)
        return 1

    job = BackgroundWork(work).start()
    monkeypatch.setattr(job, "elapsed", lambda: 0.0)  # the text's seconds stay the same
    monkeypatch.setattr(predict_run.st, "rerun", lambda: None)
    meta = predict_run.Shown(key="k", title="m · c · CC", records={}, labels={},
                             laterality=None, view="CC")  # fmt: skip
    bar = Bar()
    while job.snapshot() != (1, 4, "image 1"):  # the bar as drawn before the wait
        job.wait(0.01)
    threading.Timer(0.8, step.set).start()
    threading.Timer(1.6, gate.set).start()
    predict_run.Pending(job, meta, bar, bar).finish()
    # 1.6 s of waiting in 0.15 s steps: 10 redraws before; now the one change only.
    assert [frac for frac, _ in bar.sent] == [0.5]
    assert bar.sent[0][1] == "Computing m · c · CC: image 2 · 0 s"


def test_the_case_analysed_at_start_and_the_next_analysed_ahead_are_drawn_without_a_run(
    app_env, tmp_path, monkeypatch
) -> None:
    """The warm-up's analysis of the case Predict opens with lands under the very key the
    page asks for on a first visit (drawn from the cache, no run), with the registry's
    default model (not a quick try listed first), and with a result drawn the page
    analyses the next case of its list ahead, which its choice then finds."""
    import threading

    import mcalc.explain.runs as runs
    import mcalc.models.warmup as warmup
    from mcalc.explain.ahead import AheadSlot
    from mcalc.models.registry import list_models, set_default_model
    from mcalc.present import pixels
    from mcalc.present.fullres import encode_fullres
    from pages import predict_run
    from pages.common import viewer_pixels_ahead
    from pages.predict_run import AUTO_KEY, SHOWN_KEY

    root = register(tmp_path / "models", "spot", spot_model()).parent
    register(root, "a-quick-try", spot_model())  # listed first (same date, name order)
    assert list_models(root).models[0].id == "a-quick-try"
    set_default_model(root, "spot", role="researcher")
    monkeypatch.setenv("MCALC_MODELS", str(root))
    monkeypatch.setenv("MCALC_ANALYSE_AHEAD", "1")
    for name, value in (("_MODELS", {}), ("_WANTED", []), ("_ASKED", threading.Event())):
        monkeypatch.setattr(warmup, name, value)
    slot = AheadSlot()
    monkeypatch.setattr(runs, "AHEAD", slot)
    monkeypatch.setattr(predict_run, "NEXT_AHEAD_DELAY_S", 0.0)
    key = warmup.warm_up_model(root)
    assert key is not None and key[0] == str(root.resolve() / "spot")
    opening = warmup.analyse_opening(key, str(app_env), pixels_ahead=viewer_pixels_ahead)
    assert opening is not None and opening.wait(120) and opening.state == "done"
    # Its viewer's pixels were encoded ahead too: the first visit encodes none.
    encoded: list[int] = []

    def encode(values, level=1):
        encoded.append(1)
        return encode_fullres(values, level)

    monkeypatch.setattr(pixels, "encode_fullres", encode)  # every page's encoder

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.run()
    _ok(at)
    assert at.selectbox(key="predict_model").value == "spot"
    assert "predict_make_default" not in [b.key for b in at.button]  # it is the default
    assert AUTO_KEY not in at.session_state  # no run started: the cached result drawn
    (viewer,) = [c for c in at.get("component_instance") if "panels" in c.proto.json_args]
    sent = json.loads(viewer.proto.json_args)["pixels"]
    assert len(sent) == 2 and all(a.bytes for a in viewer.proto.special_args) and encoded == []
    assert at.session_state[SHOWN_KEY].key == opening.key
    assert at.session_state[SHOWN_KEY].analysis is opening.result
    ahead = slot.work
    assert ahead is not None and ahead is not opening
    assert ahead.wait(120) and ahead.state == "done"
    ids = at.selectbox(key="predict_case").options
    at.selectbox(key="predict_case").set_value(ids[1]).run()
    _ok(at)
    assert AUTO_KEY not in at.session_state
    assert at.session_state[SHOWN_KEY].key == ahead.key
    assert at.session_state[SHOWN_KEY].analysis is ahead.result


def test_a_new_case_is_drawn_by_a_rerun_of_the_result_only(page_env, monkeypatch) -> None:
    """The run of a reader's choice waits for its analysis, then reruns the result's
    fragment alone (not the whole page: its widgets, status and layout stay as sent):
    one run of the page per choice, the new result drawn."""
    import pages.common as common

    at = _open()
    pages_run = []
    frame = common.frame
    monkeypatch.setattr(common, "frame", lambda *a, **k: (pages_run.append(1), frame(*a, **k))[1])
    at.radio(key="predict_view").set_value("MLO").run()
    _ok(at)
    assert _keys(at) and all("/MLO_" in k for k in _keys(at))  # drawn, no rerun asked
    assert not at.get("progress") and not [b for b in at.button if b.key == "predict_cancel"]
    assert len(pages_run) == 1  # the choice's run only (a page rerun before: 2)


def test_a_cancelled_note_goes_once_that_requests_result_is_on_screen(
    page_env, monkeypatch
) -> None:
    """A run cancelled as its analysis ended (or one whose result the analysis ahead made
    meanwhile) leaves its result in the cache: once that result is drawn, "Run cancelled"
    no longer describes the screen and is not shown."""
    import threading

    import mcalc.explain.runs as runs
    import pages.predict_run as predict_run
    from pages.predict_run import WORK_KEY

    monkeypatch.setattr(predict_run, "WAIT_MAX_S", 0.3)
    at = _open()
    real = runs.analyse_case
    release = threading.Event()

    def late(loaded, images, settings, progress=None, **kwargs):
        case = real(loaded, images, settings, None, **kwargs)  # no report: not cancellable
        if progress is not None:  # the run (not the page's cache lookup) ends after Cancel
            release.wait(30)
        return case

    monkeypatch.setattr(runs, "analyse_case", late)
    at.radio(key="predict_view").set_value("MLO").run()  # runs by itself
    work = at.session_state[WORK_KEY][0]
    at.button(key="predict_cancel").click().run()
    release.set()
    assert work.wait(60) and work.state == "cancelled"
    at.run()
    _ok(at)
    assert _keys(at) and all("/MLO_" in k for k in _keys(at))  # its result, from the cache
    assert not any("Run cancelled" in i.value for i in at.info)


def test_the_case_score_button_goes_once_clicked(page_env) -> None:
    at = _open()
    at.toggle(key="predict_case_all").set_value(True).run()
    assert [b for b in at.button if b.key == "predict_case_run"]
    at.button(key="predict_case_run").click().run()
    _ok(at)
    assert "Case suspicious-1" in {m.label for m in at.metric}
    assert not [b for b in at.button if b.key == "predict_case_run"]
    assert not any("Not computed yet: the model runs" in c.value for c in at.caption)


def test_a_new_cases_viewer_layers_are_made_in_its_runs_thread(page_env, monkeypatch) -> None:
    """The maps' grids the viewer gets as layers (and the detections) are made in the
    analysis' own thread as it ends, so that the page's run drawing the result only mirrors
    and sends them (on main the script made them after the analysis: 70-170 ms of a cold
    case on the 2-core machine under load)."""
    import threading

    import mcalc.present.reading_overlays as ro
    from pages.predict_viewer import PANELS_KEY

    at = _open()
    at.toggle(key="predict_use_viewer").set_value(True).run()
    _ok(at)
    made: list[str] = []
    real = ro.map_grid
    monkeypatch.setattr(
        ro,
        "map_grid",
        lambda *a, **k: (made.append(threading.current_thread().name), real(*a, **k))[1],
    )
    at.radio(key="predict_view").set_value("MLO").run()  # a new view: its run, then drawn
    _ok(at)
    panels = at.session_state[PANELS_KEY][1]
    assert panels and all("MLO" in p["key"] for p in panels), [p["key"] for p in panels]
    names = [m["name"] for p in panels for m in p["layers"]["maps"]]
    assert names.count("probability") == len(panels)
    # One grid per image and map, all made off the page's script thread, none again.
    assert len(made) == len(names), made
    assert not any("ScriptRunner" in name for name in made), made


def test_a_one_round_collection_is_read_without_a_missing_prior_warning(
    page_env, monkeypatch, tmp_path
) -> None:
    """A public collection's manifest has recent images only: "prior and recent" (the
    default) warned "CC prior: this case has no such image" on every case."""
    from tests.convert_fixtures import make_region_manifest

    monkeypatch.setenv("MCALC_DATA", str(make_region_manifest(tmp_path / "regions")))
    monkeypatch.setenv("MCALC_AUTH", "off")
    at = _open(case=False)
    _ok(at)
    assert not [w.value for w in at.warning if "no such image" in w.value]
    assert any("c1 has one screening round" in c.value for c in at.caption)
    assert [m.label for m in at.metric if "map score" in m.label] == [
        "CC recent · calcification map score"
    ]
    at.radio(key="predict_timepoint").set_value("prior").run()  # asked for: said plainly
    _ok(at)
    assert any("CC prior: this case has no such image." in w.value for w in at.warning)
