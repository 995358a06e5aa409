"""AppTest of the Predict page: runs with tiny registered models, controls change what is
drawn, bad models and images are clear messages and the page stays usable (its runs:
``test_app_predict_runs.py``; beside the other pages: ``test_app_predict_pages.py``)."""

from __future__ import annotations

import json
import re

import keras  # noqa: F401  (a broken install fails here, not skips)
import pytest
from streamlit.testing.v1 import AppTest

from mcalc.explain.scoring import MAP_SCORE_RULE
from pages.state import SELECTED_MODEL_KEY
from tests.predict_fixtures import (
    APP,
    PAGE,
    assert_ok,
    image_figure,
    open_predict,
    press_run,
    settle,
    sidebar_popovers,
)

pytestmark = pytest.mark.slow  # AppTest runs that predict and explain: 9-48 s each


def test_page_runs_and_draws_prior_beside_recent_with_regions(page_env) -> None:
    at = open_predict()
    assert_ok(at)
    metrics = {m.label: m.value for m in at.metric}
    summary = " ".join(m.value for m in at.markdown)
    assert "**custom**" in summary and "weights **handmade**" in summary
    assert "sensitivity" in summary and "specificity" in summary
    # Each score names its image by side, view, round and exam year, as the panels do
    # (Browse's and Annotate's panel_label; it read "CC recent": no side, no year).
    assert float(metrics["L CC recent 2018 · calcification map score"]) > 0.9
    assert "Change in map score (recent − prior)" in metrics
    # The decision in a reader's words, with its threshold (it read "reads as **negative**").
    helps = {m.label: m.proto.help for m in at.metric}
    assert (
        "at or above the model's operating threshold (0.50): read as calcification"
        in helps["L CC recent 2018 · calcification map score"]
    )
    assert "negative" not in " ".join(helps.values())
    # The difference of the two scores as shown (it read "-0.000" under 0.489 and 0.489).
    prior, recent = (
        float(metrics[f"L CC {t} · calcification map score"]) for t in ("prior 2016", "recent 2018")
    )
    change = metrics["Change in map score (recent − prior)"]
    assert change == ("0.000" if prior == recent else f"{recent - prior:+.3f}"), change
    captions = " ".join(c.value for c in at.caption)
    assert f"Map score: {MAP_SCORE_RULE}, so an image reads positive exactly when" in captions
    assert "Decision threshold 0.50: default" in captions
    warnings = " ".join(w.value for w in at.warning)
    assert "synthetic" in warnings and "from scratch" in warnings
    # spot's card does not say where its test figures come from: not taken for this data's.
    assert "does not record the data its test figures were measured on" in warnings
    fig = image_figure(at)
    images = [t for t in fig["data"] if t["type"] == "image"]
    assert len(images) == 2 and all(t["source"].startswith("data:image/jpeg") for t in images)
    assert fig["layout"]["xaxis2"]["matches"] == "x"  # synchronised zoom
    # The panels' titles stand clear of the images' top edge (they sat on it).
    titles = [a for a in fig["layout"]["annotations"] if "map score" in a["text"]]
    assert len(titles) == 2 and all(a.get("yshift", 0) >= 4 for a in titles), titles  # px
    regions = [t for t in fig["data"] if t.get("name") in ("regions-1", "regions-2")]
    assert regions and regions[0]["customdata"][0][0].startswith("suspicious-1/CC_")
    assert any(t.get("name") == "colorbar" for t in fig["data"])
    # The regions table is drawn only while its section is open: closed (on arrival), the
    # run sends one expander and nothing inside it (a fresh tab's first data grid costs its
    # main thread 0.12-0.16 s); opened, a rerun lists the regions.
    closed = [e for e in at.expander if e.label == "Regions table"]
    assert len(closed) == 1 and not closed[0].children
    assert not [d for d in at.dataframe if "region" in d.value.columns]
    at.session_state["predict_regions_open"] = True
    at.run()
    assert_ok(at)
    tables = [d.value for d in at.dataframe]
    assert any("region" in t.columns and len(t) > 0 for t in tables)
    # The regions' centres name their unit, as the detections' caption and the change
    # tables do (the regions table said "row", "col" alone).
    shown = next(d for d in at.dataframe if "region" in d.value.columns)
    labels = {k: v.get("label") for k, v in json.loads(shown.proto.columns).items()}
    assert labels["row"] == "row (full-res px)" and labels["col"] == "col (full-res px)"
    side = json.loads(shown.proto.columns)["patch side (mm)"]  # not the finding's size
    assert "not the finding's size" in side["help"]
    # Its image named as the panels name it (it read "suspicious-1/CC_recent"); the key that
    # names a picked row's region is kept out of sight.
    assert set(shown.value["image"]) <= {"L CC prior 2016", "L CC recent 2018"}
    assert json.loads(shown.proto.columns)["key"]["hidden"] is True
    # Scores to 3 decimals, not 0.9849 above 0.979 (trailing zeros trimmed).
    assert json.loads(shown.proto.columns)["score"]["type_config"]["format"] == "%.3f"
    # The agreement table is drawn when its section is opened (a rerun of the result).
    assert not any("energy inside marks" in t.columns for t in tables)
    at.session_state["predict_agreement_open"] = True
    at.run()
    assert_ok(at)
    agreement = next(d.value for d in at.dataframe if "energy inside marks" in d.value.columns)
    assert set(agreement["image"]) == {"L CC prior 2016", "L CC recent 2018"}
    layer = at.selectbox(key="predict_layer")
    assert layer.value == "conv2" and "conv1" in layer.options[0]
    # The reading viewer instead of the figure: both images with their layers (the browser
    # side: tests/test_browser_predict.py).
    from pages.predict_viewer import PANELS_KEY
    from pages.state import PIXELS_SENT_KEY

    at.toggle(key="predict_use_viewer").set_value(True).run()
    assert_ok(at)
    assert not [el for el in at.get("plotly_chart") if "predict_fig" in el.proto.id]
    panels = at.session_state[PANELS_KEY][1]
    assert [p["key"] for p in panels] == ["suspicious-1/CC_prior", "suspicious-1/CC_recent"]
    # Titled by side, view, round and exam year, as Browse's panels (it read "CC prior").
    assert [p["label"] for p in panels] == ["L CC prior 2016", "L CC recent 2018"]
    # Pixels travel apart as binary, once per browser (a rerun sends none again).
    assert all("pixels" not in p and p["pixel_id"].startswith(p["key"]) for p in panels)
    assert [p[0] for p in at.session_state[PANELS_KEY][2]] == [p["pixel_id"] for p in panels]
    assert all(p["pixel_id"] in at.session_state[PIXELS_SENT_KEY] for p in panels)
    names = [[m["name"] for m in p["layers"]["maps"]] for p in panels]
    assert names == [["probability", "explanation"]] * 2
    assert panels[1]["layers"]["regions"][0]["rank"] == 1
    # Each box says whether the model calls it (the card names no threshold: 0.5, the
    # regions' own threshold), so that the viewer mutes those it does not.
    assert all(r["called"] for p in panels for r in p["layers"]["regions"])
    assert "0.50" in panels[1]["layers"]["below"]["label"]
    # Across rounds registers only when asked (a recent-only model): then in the background.
    from pages.predict_temporal import WORK_KEY as ACROSS_KEY

    assert ACROSS_KEY not in at.session_state
    assert not [el for el in at.get("plotly_chart") if "predict_temporal" in el.proto.id]
    settle(at.toggle(key="predict_temporal_on").set_value(True).run())
    assert_ok(at)
    assert [el for el in at.get("plotly_chart") if "predict_temporal_CC" in el.proto.id]
    assert any("status" in d.value.columns for d in at.dataframe)


def test_explanation_controls_change_the_overlay(page_env) -> None:
    at = open_predict()
    # The settings live in popovers (the browser builds their widgets only when opened),
    # each labelled with what is in force.
    groups = sidebar_popovers(at)
    assert {"predict_cam", "predict_layer", "predict_target", "predict_scope"} <= groups[
        "Explanation: Grad-CAM (Selvaraju 2017)"
    ]
    assert {"predict_opacity", "predict_cmap"} <= groups["Display: explanation map, opacity 0.6"]
    # Detections at the model's operating threshold by default (the card names none: 0.5).
    at_operating = groups["Detections: at the operating threshold, ≥ 0.50"]
    assert "predict_det_at_operating" in at_operating
    assert "predict_det_threshold" not in at_operating  # its own slider once turned off
    assert "predict_stride" in groups["Sliding window and agreement"]
    before = image_figure(at)["data"][0]["source"]
    at.slider(key="predict_opacity").set_value(0.0).run()
    assert_ok(at)
    assert "Display: explanation map, opacity 0" in sidebar_popovers(at)
    transparent = image_figure(at)["data"][0]["source"]
    assert transparent != before
    at.slider(key="predict_opacity").set_value(0.8).run()
    for method in ("gradcam++", "scorecam", "none", "gradcam"):
        at.selectbox(key="predict_cam").select(method).run()
        if method in ("gradcam++", "scorecam"):  # else cached: the map, the first settings
            press_run(at)
        assert_ok(at)
    at.selectbox(key="predict_layer").select("conv1").run()
    press_run(at)
    assert_ok(at)
    at.selectbox(key="predict_target").select("no-calcification").run()
    press_run(at)
    assert_ok(at)
    at.radio(key="predict_show").set_value("probability").run()
    assert_ok(at)
    assert "P(calcification)" in " ".join(c.value for c in at.caption)
    at.selectbox(key="predict_cmap").select("inferno").run()
    at.selectbox(key="predict_scope").select("regions").run()
    press_run(at)
    assert_ok(at)
    at.radio(key="predict_timepoint").set_value("recent").run()  # computed with the pair
    assert_ok(at)
    assert len([t for t in image_figure(at)["data"] if t["type"] == "image"]) == 1
    at.toggle(key="predict_case_all").set_value(True).run()
    assert not [m for m in at.metric if m.label.startswith("Case ")]  # not without asking
    at.button(key="predict_case_run").click().run()
    assert_ok(at)
    assert "Case suspicious-1" in {m.label for m in at.metric}


def test_selected_region_is_shown_at_full_resolution(page_env) -> None:
    at = open_predict()
    at.session_state["predict_region"] = ("suspicious-1/CC_recent", 1)
    at.run()
    assert_ok(at)
    crops = [el for el in at.get("plotly_chart") if "predict_crop_fig" in el.proto.id]
    assert crops
    spec = json.loads(crops[0].proto.spec)
    assert len([t for t in spec["data"] if t["type"] == "image"]) == 2
    # The region and the crops name their image as the panels do (it read the image's key).
    assert any("Region 1 of L CC recent 2018" in m.value for m in at.markdown)
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert titles == ["L CC prior 2016 · full resolution", "L CC recent 2018 · full resolution"]


def test_birads_model_scores_the_suspicious_class(page_env) -> None:
    at = open_predict("rand-birads")
    assert_ok(at)
    assert any(label.endswith("suspicious map score") for label in (m.label for m in at.metric))
    assert at.selectbox(key="predict_target").value == "suspicious"


@pytest.mark.parametrize(
    ("model", "message"), [("broken", "cannot load model"), ("mismatch", "does not match")]
)
def test_a_model_that_fails_to_load_or_fit_is_a_message(page_env, model, message) -> None:
    at = open_predict(model, case=False)
    assert_ok(at)
    assert not at.get("plotly_chart")
    errors = " ".join(e.value for e in at.error)
    assert "cannot be used here" in errors and message in errors
    at.selectbox(key="predict_model").select("spot").run()  # the page stays usable
    # Audit's verdict form opens on the model chosen here (pages/state.py).
    assert at.session_state[SELECTED_MODEL_KEY] == "spot"
    settle(at)  # nothing was shown yet: the page runs by itself
    assert_ok(at)
    assert not at.error and image_figure(at)


def test_an_image_without_breast_is_a_warning_and_the_other_is_shown(page_env, monkeypatch) -> None:
    import mcalc.explain.service as service
    from mcalc.explain.errors import NoBreastRegionError

    real = service.analyse_image

    def fake(loaded, mammogram, **kwargs):
        if kwargs["key"].endswith("_prior"):
            raise NoBreastRegionError("no breast region found in this image")
        return real(loaded, mammogram, **kwargs)

    monkeypatch.setattr(service, "analyse_image", fake)
    at = open_predict()
    assert_ok(at)
    assert any("no breast region" in w.value for w in at.warning)
    assert len([t for t in image_figure(at)["data"] if t["type"] == "image"]) == 1


def test_a_laterality_tag_that_contradicts_the_spreadsheet_is_said(
    page_env, app_env, monkeypatch
) -> None:
    """Browse said when a file's laterality tag contradicts the spreadsheet; Predict titled
    and hung the panel by the spreadsheet's side without a word (h/fixd2's open point).
    It says so for the images it shows, not for the case's others."""
    import pages.problems as problems
    from mcalc.dataset import open_dataset
    from mcalc.dataset.records import Problem

    case = next(c for c in open_dataset(app_env).cases if c.case_id == "suspicious-1")
    cc, mlo = case.image("CC", "recent"), case.image("MLO", "recent")
    assert cc is not None and mlo is not None
    other = "L" if case.laterality == "R" else "R"
    said = f"laterality tag says {other}, the spreadsheet says {case.laterality}"
    monkeypatch.setattr(
        problems,
        "laterality_problems",
        lambda index: (Problem(str(cc.image_path), said, "warning"),),
    )
    at = open_predict()
    assert_ok(at)
    [caption] = [c.value for c in at.caption if "laterality tag" in c.value]
    assert f"CC recent: the {said}" in caption and "titled and hung as" in caption
    at.radio(key="predict_view").set_value("MLO").run()
    assert not [c.value for c in at.caption if "laterality tag" in c.value]


def test_no_model_is_an_invitation_to_train(app_env, tmp_path, monkeypatch) -> None:
    (tmp_path / "empty").mkdir()  # a registry with no model yet (a missing one: an error)
    monkeypatch.setenv("MCALC_MODELS", str(tmp_path / "empty"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert_ok(at)
    assert any("Train page" in i.value for i in at.info)


def test_a_verdict_is_recorded(page_env, app_env, monkeypatch) -> None:
    from mcalc.config import get_settings
    from mcalc.store.audit import AuditStore, audit_table

    # Independent reads need accounts: without them (demo mode) the form says nothing is hidden.
    monkeypatch.setenv("MCALC_INDEPENDENT_READS", "on")
    at = open_predict()
    # The section is drawn only while open: closed, no form at all.
    assert not [t for t in at.text_input if t.key == "predict_reader_input"]
    at.session_state["predict_verdict_open"] = True  # the reader opens it
    at.run()
    at.text_input(key="predict_reader_input").input("Dr Test").run()
    assert_ok(at)
    assert any("Independent reads are set, but nobody is signed in" in c.value for c in at.caption)
    image = at.selectbox(key="predict_verdict_image")
    assert image.options == ["L CC prior 2016", "L CC recent 2018"]  # as the panels' titles
    image.select("suspicious-1/CC_recent")
    at.radio(key="predict_plausible").set_value("plausible")
    # No answer to "The score is" (the form has none chosen beforehand): nothing saved.
    assert at.radio(key="predict_verdict").value is None
    at.button(key="FormSubmitter:predict_verdict_form-Save verdict").click().run()
    assert_ok(at)
    assert any("nothing was saved" in e.value for e in at.error)
    assert not AuditStore(get_settings().store_dir).verdicts("spot")
    at.radio(key="predict_verdict").set_value("agree")
    # The reader calls two of the image's regions (numbered as in the viewer), one a miss;
    # the others left empty are not judged.
    asked = [r for r in at.radio if r.key.startswith("predict_region_call_")]
    assert len(asked) >= 3 and all(r.value == "not judged" for r in asked)
    assert asked[0].label.startswith("Region 1 · score 0.")
    asked[0].set_value("calcification")
    asked[1].set_value("not calcification")
    at.button(key="FormSubmitter:predict_verdict_form-Save verdict").click().run()
    assert_ok(at)
    assert any("Saved: Dr Test on L CC recent 2018 with spot" in s.value for s in at.success)
    # The card recorded, in words (not its key=value line).
    words = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "**Architecture:** custom" in words and "**Input:** patches of" in words
    assert "architecture=" not in words
    # The form keeps what was recorded, and the saved record is shown.
    assert at.radio(key="predict_plausible").value == "plausible"
    summary = audit_table(get_settings(), "spot")
    assert summary.n_verdicts == 1 and summary.plausible_rate == 1.0
    (v,) = AuditStore(get_settings().store_dir).verdicts("spot")
    shown = at.session_state["predict_saved_verdict"]
    assert shown["regions"] == "2 judged: 1 calcification, 1 not"
    assert [(c.rank, c.call) for c in v.regions] == [(1, "calcification"), (2, "not calcification")]
    assert v.regions[0].score >= v.regions[1].score and v.disagrees  # a region called a miss
    # Each call keeps the box shown (what pairs two readers' calls on one region).
    for c in v.regions:
        assert c.box is not None and c.box[0] <= c.center[0] <= c.box[1], c
        assert c.box[2] <= c.center[1] <= c.box[3], c
    assert (summary.regions_judged, summary.regions_confirmed_rate) == (2, 0.5)
    ctx = v.context
    assert ctx is not None and ctx.method == "gradcam" and ctx.layer and ctx.target
    assert ctx.threshold == 0.5 and ctx.model_fingerprint not in ("", "unknown")
    assert "stride" in ctx.map_settings and "tolerance_mm" in ctx.map_settings
    # The card recorded whole, as JSON (it was a key=value line, Python's notation inside).
    assert json.loads(v.model_card)["architecture"] == "custom"
    picture = AuditStore(get_settings().store_dir).snapshot_path(v)
    assert picture.is_file() and picture.read_bytes()[:4] == b"\x89PNG"
    # The picture judged has the map's colour bar and key under the image (the map alone,
    # blended by its heat, left a sharp Grad-CAM a few coloured pixels), and the regions
    # boxed and numbered as the reader called them.
    import cv2

    from tests.test_explain_display import bar_rows

    rgb = cv2.cvtColor(cv2.imread(str(picture)), cv2.COLOR_BGR2RGB)
    assert bar_rows(rgb, "jet"), "no colour bar under the judged picture"
    # The same reader's other tab saves on this image meanwhile: the next save here is
    # refused with that verdict shown (it replaced it without a word), then saved on top
    # when the reader chooses theirs.
    from mcalc.store.audit import record_verdict

    who = {"model_id": "spot", "image_key": "suspicious-1/CC_recent", "reader": "Dr Test"}
    tab_b = [{"rank": 1, "center": [9, 9], "score": 0.5, "call": "unsure"}]
    record_verdict(get_settings(), **who, agree=False, comment="tab B", base_version=1,
                   regions=tab_b)  # fmt: skip
    at.button(key="FormSubmitter:predict_verdict_form-Save verdict").click().run()
    assert_ok(at)
    assert any("was **not saved**" in e.value and '"tab B"' in e.value for e in at.error)
    assert any("regions: 1 judged: 1 unsure, comment" in e.value for e in at.error)
    at.button(key="predict_conflict_mine").click().run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    latest = AuditStore(get_settings().store_dir).latest(*who.values())
    assert (latest.version, latest.score_verdict, latest.comment) == (3, "agree", "")
    # The Audit page shows the picture that verdict was about, with its context.
    at.switch_page("pages/audit.py").run()
    assert_ok(at)
    assert any(type(e).__name__ == "Image" for e in at.main), "the judged picture is shown"
    assert any("Grad-CAM" in c.value for c in at.caption)  # the method by its name
    # The map's settings in words, not a Python dict.
    captions = " ".join(c.value for c in at.caption)
    assert "{'" not in captions and "stride" in captions and "mm" in captions
    said = " ".join(m.value for m in at.markdown)
    assert re.search(r"\*\*agree\*\* with score \d\.\d{3} \(", said), said  # 3 decimals
    # ... and makes the case report from there.
    at.button(key="audit_report_make").click().run()
    assert_ok(at)
    assert not at.error
    assert [b for b in at.get("download_button") if "report of suspicious-1" in b.proto.label]


def test_no_verdict_on_a_result_of_other_settings(page_env) -> None:
    """The last result stays on screen after the model or a setting changes (until Run): a
    verdict then would record one model's card with the other result's score."""
    at = open_predict()
    at.session_state["predict_verdict_open"] = True  # the verdict section opened
    at.toggle(key="predict_regions_at_operating").set_value(False).run()
    at.slider(key="predict_threshold").set_value(0.3).run()
    assert_ok(at)
    assert any("Not computed yet" in i.value for i in at.info)
    # Same model, case and view: the note says which setting the result on screen had
    # (it read "Not computed yet for X ... The result below is still that of X").
    assert any("made with region threshold 0.5 (now 0.3)" in i.value for i in at.info), [
        i.value for i in at.info
    ]
    assert any("not the one of `spot` with these settings" in i.value for i in at.info)
    assert not [t for t in at.text_input if t.key == "predict_reader_input"]  # no form
    press_run(at)
    assert not any("not the one of" in i.value for i in at.info)
    at.text_input(key="predict_reader_input").input("Dr Test").run()
    assert at.selectbox(key="predict_verdict_image") is not None


def test_detections_are_marked_and_listed(page_env) -> None:
    at = open_predict()
    markers = [t for t in image_figure(at)["data"] if t.get("name", "").startswith("detections-")]
    assert markers and all(t["marker"]["symbol"] == "diamond-open" for t in markers)
    # The table is drawn only while its section is open: closed, the run sends the browser
    # one expander and nothing inside it (each element costs the page a render there).
    closed = [e for e in at.expander if e.label == "Detections table"]
    assert len(closed) == 1 and not closed[0].children
    assert not [d for d in at.dataframe if "detection" in d.value.columns]
    assert not [m for m in at.markdown if "non-maximum suppression" in m.value]
    at.session_state["predict_detections_open"] = True
    at.run()
    assert_ok(at)
    shown = next(d for d in at.dataframe if "detection" in d.value.columns)
    table = shown.value
    assert json.loads(shown.proto.columns)["score"]["type_config"]["format"] == "%.3f"
    assert len(table) == sum(len(t["customdata"]) for t in markers)
    assert (table["score"] >= 0.5).all() and set(table["image"]) <= {
        "L CC prior 2016",
        "L CC recent 2018",
    }
    # Settings of the detections change the drawing only: no run.
    at.toggle(key="predict_det_at_operating").set_value(False).run()
    at.slider(key="predict_det_threshold").set_value(1.0).run()
    assert_ok(at)
    assert not [t for t in image_figure(at)["data"] if t.get("name", "").startswith("detections-")]
    assert any("No detection at this threshold" in c.value for c in at.caption)
    at.toggle(key="predict_detections").set_value(False).run()
    assert not [d for d in at.dataframe if "detection" in d.value.columns]


def test_a_one_round_collection_is_read_without_a_missing_prior_warning(
    page_env, monkeypatch, tmp_path
) -> None:
    """A public collection's manifest has recent images only: "prior and recent" (the
    default) warned "CC prior: this case has no such image" on every case; then the
    Timepoint choice still offered "prior", which shows nothing (a user check, 6
    December): its one round is shown, greyed, and one caption says why."""
    from tests.convert_fixtures import make_region_manifest

    monkeypatch.setenv("MCALC_DATA", str(make_region_manifest(tmp_path / "regions")))
    monkeypatch.setenv("MCALC_AUTH", "off")
    at = open_predict(case=False)
    assert_ok(at)
    assert not [w.value for w in at.warning if "no such image" in w.value]
    assert [r.key for r in at.radio if r.label == "Exam"] == ["predict_timepoint_only"]
    only = at.radio(key="predict_timepoint_only")
    assert only.options == ["recent"] and only.value == "recent" and only.disabled
    assert "This collection has one exam per case: recent images only." in [
        c.value for c in at.caption
    ]
    assert not any("has one exam:" in c.value for c in at.caption)  # said once
    assert [m.label for m in at.metric if "map score" in m.label] == [
        "L CC recent · calcification map score"  # the side; no exam year in the manifest
    ]
    # "prior" asked for anyway (kept from a two-round collection, or by Batch's "open in
    # Predict"): the recent image, no warning, no exception.
    at.session_state["predict_timepoint"] = "prior"
    at.run()
    settle(at)
    assert_ok(at)
    assert not [w.value for w in at.warning if "no such image" in w.value]
    assert [m.label for m in at.metric if "map score" in m.label] == [
        "L CC recent · calcification map score"
    ]


def test_a_collection_of_mlo_images_only_opens_on_mlo(page_env, monkeypatch, tmp_path) -> None:
    """mini-MIAS has MLO films only, of one round: the View choice stood on CC and the page
    said "c1 has one screening round: the CC prior exam does not exist" and the same of the
    CC recent exam (a view missing, not a round), with nothing to analyse."""
    from tests.convert_fixtures import make_region_manifest

    data = make_region_manifest(tmp_path / "mias", (("MLO",), ("MLO",)))
    monkeypatch.setenv("MCALC_DATA", str(data))
    monkeypatch.setenv("MCALC_AUTH", "off")
    at = open_predict(case=False)
    assert_ok(at)
    view = at.radio(key="predict_view")
    assert view.options == ["MLO"] and view.value == "MLO"  # the views the collection has
    said = [c.value for c in at.caption if "c1 " in c.value or "one exam" in c.value]
    assert said == ["This collection has one exam per case: recent images only."], said
    assert not [w.value for w in at.warning if "no such image" in w.value]
    assert [m.label for m in at.metric if "map score" in m.label] == [
        "L MLO recent · calcification map score"
    ]


def test_a_case_without_the_chosen_view_shows_the_one_it_has(page_env, monkeypatch, tmp_path):
    """A case of one view (a CBIS-DDSM case of CC alone, here MLO alone) in a collection
    of both: Predict shows the view it has and says so once; the next case of both views
    opens on the reader's view again."""
    from tests.convert_fixtures import make_region_manifest

    data = make_region_manifest(tmp_path / "mixed", (("MLO",), ("CC", "MLO")))
    monkeypatch.setenv("MCALC_DATA", str(data))
    monkeypatch.setenv("MCALC_AUTH", "off")
    at = open_predict(case=False)
    assert_ok(at)
    view = at.radio(key="predict_view")
    assert view.options == ["CC", "MLO"] and view.value == "MLO"
    said = [c.value for c in at.caption if "c1 " in c.value]
    # The round is said once, by the Timepoint choice (the collection has one).
    assert said == ["c1 has no CC image: its MLO is shown."], said
    assert [m.label for m in at.metric if "map score" in m.label] == [
        "L MLO recent · calcification map score"
    ]
    at.selectbox(key="predict_case").set_value("c2").run()
    settle(at)
    assert_ok(at)
    assert at.radio(key="predict_view").value == "CC"  # the reader's view, kept
    assert [m.label for m in at.metric if "map score" in m.label] == [
        "L CC recent · calcification map score"
    ]


def test_a_flat_models_note_is_a_warning_by_the_scores_and_on_the_verdict_form(
    page_env, app_env, tmp_path, monkeypatch
) -> None:
    """The walk of 7 December 2026: a model scoring every patch 0.500 was said so in a grey
    caption under the viewer and tables; the verdict form offered its score and regions to
    judge without a word."""
    import numpy as np

    from tests.explain_fixtures import register, spot_model

    flat = spot_model()
    flat.get_layer("head_output").set_weights(
        [np.zeros((4, 2), np.float32), np.zeros(2, np.float32)]
    )  # softmax(0, 0): 0.5 for every patch
    register(tmp_path / "models", "flat", flat)
    monkeypatch.setenv("MCALC_MODELS", str(tmp_path / "models"))
    at = open_predict("flat")
    assert_ok(at)

    def warned() -> list[str]:
        return [w.value for w in at.warning if "same probability of calcification" in w.value]

    assert len(warned()) == 1 and "L CC prior 2016" in warned()[0]  # by the scores, each image
    at.session_state["predict_verdict_open"] = True
    at.run()
    at.text_input(key="predict_reader_input").input("Dr Test").run()
    assert_ok(at)
    assert len(warned()) == 2, warned()  # and on the form, for the image it judges
    assert warned()[1].startswith("L CC recent 2018: ")
