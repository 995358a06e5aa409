"""AppTest: the Audit form shows the score a model already computed for the image, and
fills the score field with it; it says so when none was computed (the page runs nothing)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mcalc.batch.table import to_table, write_results
from mcalc.config import get_settings
from mcalc.dataset import open_dataset
from mcalc.explain.results import model_key
from mcalc.jobs.batch import batch_root, run_name
from mcalc.models.registry import list_models
from mcalc.present.reading import image_names
from mcalc.store.audit import AuditStore
from mcalc.synthetic.scale import repeated_index
from pages.state import SELECTED_MODEL_KEY
from tests.app_pages import (  # noqa: F401  (fixtures)
    APP,
    app_env_sharing_images,
    choices_after_another_page,
    images_cache,
    open_page,
)

pytestmark = pytest.mark.slow  # AppTest runs of the app's frame

PAGE = "pages/audit.py"
FIND = "audit_image_find"


def test_audit_shows_and_prefills_a_batch_runs_score_and_says_when_there_is_none(app_env):
    card = next(c for c in list_models(get_settings().models_dir).models if c.id == "demo-custom")
    image = "suspicious-1/CC_recent"
    settings = json.dumps({"sliding": {"stride": 16, "dense": True}, "cam": None})
    row = {"image_key": image, "score": 0.8125, "predicted": "calcification",
           "model_key": model_key(card), "settings": settings,
           "finished_at": "2026-12-05T10:00:00+00:00"}  # fmt: skip
    run = run_name("demo-custom", app_env)
    write_results(batch_root(get_settings()) / run, to_table([row]))

    at = open_page(PAGE, 60)
    at.text_input(key="audit_reader_input").input("Dr. Test").run()
    at.selectbox(key="audit_model").set_value("demo-custom").run()
    at.selectbox(key="audit_image").set_value(image).run()
    assert not at.exception, [e.value for e in at.exception]
    # The image in words, as Browse's and Predict's panels name it (it read the key,
    # "suspicious-1/CC_recent": no side, no exam year), in the picker too.
    name = "suspicious-1 · L CC recent 2018"
    assert name in at.selectbox(key="audit_image").options
    assert any(c.value.startswith(f"{name}  \n256 px") for c in at.caption)
    (said,) = [i.value for i in at.info if "from batch run" in i.value]
    assert said == (
        f"demo-custom on {name}: score 0.812 (calcification), from batch run `{run}` at "
        "2026-12-05T10:00:00+00:00; settings: stride 16 px · dense inference · explanation none."
    )
    assert at.number_input(key="audit_score_input").value == 0.8125
    assert "From the computed result above." in [c.value for c in at.caption]
    # Saved, the verdict records the decision shown with that score (it said "decision
    # shown n/a" beside "score 0.812 (calcification)" on the form).
    at.radio(key="audit_verdict").set_value("agree").run()
    at.button(key="audit_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (saved,) = AuditStore(get_settings().store_dir).verdicts("demo-custom")
    assert (saved.score, saved.predicted) == (0.8125, "calcification")

    # The reader's own score stays; another image with no result clears a prefilled one.
    other = "suspicious-1/CC_prior"
    at.selectbox(key="audit_image").set_value(other).run()
    assert at.number_input(key="audit_score_input").value is None
    assert any(
        c.value.startswith(
            "No score of `demo-custom` for suspicious-1 · L CC prior 2016 has been computed yet"
        )
        for c in at.caption
    )
    at.number_input(key="audit_score_input").set_value(0.3).run()
    at.selectbox(key="audit_image").set_value(image).run()
    assert at.number_input(key="audit_score_input").value == 0.3


def _audit_on_a_batch_row(app_env, image: str, **row: str):  # type: ignore[no-untyped-def]
    """Audit opened by "Dr. Test" on demo-custom's ``image``, whose score (0.8125,
    calcification) comes from a batch row of the model (``row``: more columns)."""
    card = next(c for c in list_models(get_settings().models_dir).models if c.id == "demo-custom")
    done = {"image_key": image, "score": 0.8125, "predicted": "calcification",
            "model_key": model_key(card), "settings": "{}",
            "finished_at": "2026-12-05T10:00:00+00:00", **row}  # fmt: skip
    write_results(batch_root(get_settings()) / run_name("demo-custom", app_env), to_table([done]))
    at = open_page(PAGE, 60)
    at.text_input(key="audit_reader_input").input("Dr. Test").run()
    at.selectbox(key="audit_model").set_value("demo-custom").run()
    at.selectbox(key="audit_image").set_value(image).run()
    return at


def test_a_reader_calls_the_regions_of_the_computed_result_on_audit(app_env):
    """Audit's form offers the regions of the result whose score it shows (a batch row's
    top regions), "not judged" until called, and saves the calls with the verdict (rank,
    centre, score and box as shown); a score the reader typed, or an image without a
    computed result, has no regions to call."""
    image = "suspicious-1/CC_recent"
    regions = [
        {"rank": 1, "score": 0.8125, "center": [300.0, 200.5], "box": [268, 332, 168, 232]},
        {"rank": 2, "score": 0.61, "center": [90.0, 40.0], "box": [58, 122, 8, 72]},
    ]
    at = _audit_on_a_batch_row(app_env, image, top_regions=json.dumps(regions))

    def asked():  # type: ignore[no-untyped-def]
        return [r for r in at.radio if r.key.startswith("audit_region_call_")]

    assert [(r.label, r.value) for r in asked()] == [
        ("Region 1 · score 0.812 · row 300, col 200", "not judged"),
        ("Region 2 · score 0.610 · row 90, col 40", "not judged"),
    ]
    # The thumbnail boxes and numbers them (only then).
    boxed = "suspicious-1 · L CC recent 2018  \n256 px · regions numbered"
    assert any(c.value.startswith(boxed) for c in at.caption)
    at.number_input(key="audit_score_input").set_value(0.5).run()  # another result's score
    assert not asked() and not any(c.value.startswith(boxed) for c in at.caption)
    at.number_input(key="audit_score_input").set_value(0.8125).run()
    asked()[1].set_value("not calcification").run()
    at.radio(key="audit_verdict").set_value("agree").run()
    at.button(key="audit_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (saved,) = AuditStore(get_settings().store_dir).verdicts("demo-custom")
    assert [c.to_dict() for c in saved.regions] == [
        {"rank": 2, "center": [90.0, 40.0], "score": 0.61, "call": "not calcification",
         "box": [58, 122, 8, 72]}
    ]  # fmt: skip
    assert saved.disagrees  # a region called a miss: to look at again
    # Another image, no computed result: no region to call; back on the image after the
    # save, its regions start "not judged" again, as the rest of the form starts blank.
    at.selectbox(key="audit_image").set_value("suspicious-1/CC_prior").run()
    assert not asked() and not at.exception
    at.selectbox(key="audit_image").set_value(image).run()
    assert [r.value for r in asked()] == ["not judged", "not judged"]


def test_a_verdict_on_a_computed_result_keeps_the_thumbnail_the_form_showed(app_env):
    """A verdict saved on Audit's form on a computed result keeps the picture the form
    showed (the image's thumbnail, the result's regions boxed and numbered), shown under
    *What a verdict was about*; one on a score typed in (no computed result) keeps none.
    Both kept none, and the section said "No picture was kept" under a form that had just
    shown the boxed image (a user walk, 7 December 2026)."""
    import cv2
    import numpy as np

    from mcalc.cache import ImageCache
    from mcalc.present.map_display import boxed_preview
    from mcalc.viewer import DisplayOptions, prepare_view

    image = "suspicious-1/CC_recent"
    regions = [{"rank": 1, "score": 0.8125, "center": [300.0, 200.5], "box": [268, 332, 168, 232]}]
    at = _audit_on_a_batch_row(app_env, image, top_regions=json.dumps(regions))
    at.radio(key="audit_verdict").set_value("agree").run()
    at.button(key="audit_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    store = AuditStore(get_settings().store_dir)
    (saved,) = store.verdicts("demo-custom")
    kept = store.snapshot_path(saved)
    assert kept.is_file(), "no picture kept with a verdict on a computed result"
    rgb = cv2.cvtColor(cv2.imread(str(kept)), cv2.COLOR_BGR2RGB)
    (rec,) = [r for r in open_dataset(str(app_env)).images() if r.key == image]
    view = prepare_view(ImageCache(None), rec, DisplayOptions(show_annotations=False), max_side=256)
    assert max(rgb.shape[:2]) == 256 and not np.array_equal(rgb, view.preview)  # boxed
    assert np.array_equal(rgb, boxed_preview(view, [("1", (268, 332, 168, 232))]))
    shown = [i for i in at.get("image") if "as Dr. Test saw it" in str(i.proto)]
    assert shown and not [i.value for i in at.info if i.value.startswith("No picture")]

    # A score typed in on an image without a computed result: no picture, and it says so.
    at.selectbox(key="audit_image").set_value("suspicious-1/CC_prior").run()
    at.number_input(key="audit_score_input").set_value(0.3).run()
    at.radio(key="audit_verdict").set_value("disagree").run()
    at.button(key="audit_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    typed = store.latest("demo-custom", "suspicious-1/CC_prior", "Dr. Test")
    assert typed is not None and not store.snapshot_path(typed).exists()
    assert at.selectbox(key="audit_judged").value == "suspicious-1/CC_prior|Dr. Test"
    assert [i.value for i in at.info if i.value.startswith("No picture was kept")]


def test_audit_shows_a_new_or_changed_batch_run_at_once(app_env):
    """The page keeps the listing of the model's run folders (one stat a rerun): a run
    made after it was listed, and a run's table replaced, show on the next rerun."""
    card = next(c for c in list_models(get_settings().models_dir).models if c.id == "demo-custom")
    image = "suspicious-1/CC_recent"

    def row(score: float, when: str) -> dict:
        return {"image_key": image, "score": score, "predicted": "calcification",
                "model_key": model_key(card), "settings": "{}", "finished_at": when}  # fmt: skip

    root = batch_root(get_settings())
    first = run_name("demo-custom", app_env)
    write_results(root / first, to_table([row(0.8125, "2026-12-05T10:00:00+00:00")]))
    then = time.time() - 60
    os.utime(root, (then, then))  # listed a minute after its last change: kept

    at = open_page(PAGE, 60)
    at.text_input(key="audit_reader_input").input("Dr. Test").run()
    at.selectbox(key="audit_model").set_value("demo-custom").run()
    at.selectbox(key="audit_image").set_value(image).run()

    def said() -> str:
        (text,) = [i.value for i in at.info if "from batch run" in i.value]
        return text

    assert f"score 0.812 (calcification), from batch run `{first}`" in said()
    at.run()  # a rerun from the listing kept
    assert f"from batch run `{first}`" in said()

    second = run_name("demo-custom", app_env / "other")
    write_results(root / second, to_table([row(0.5, "2026-12-05T11:00:00+00:00")]))
    at.run()
    assert f"score 0.500 (calcification), from batch run `{second}`" in said()

    write_results(root / first, to_table([row(0.25, "2026-12-05T12:00:00+00:00")]))
    at.run()
    assert f"score 0.250 (calcification), from batch run `{first}`" in said()


def _large_index(root, n_cases: int):  # type: ignore[no-untyped-def]
    """``root``'s dataset with one of its 4-image cases repeated ``n_cases`` times (real
    files, so the thumbnail reads one)."""
    return repeated_index(open_dataset(root), n_cases)


def test_audit_narrows_a_large_collection_before_the_pick(app_env, monkeypatch):
    """Audit offered every image of the collection in one picker (20,000 options, 640 kB a
    rerun to the browser): now at most 200, narrowed by words and by the reader's audit of
    the model, with a note saying so; the picked image's key is what is kept and saved."""
    from pages import common

    index = _large_index(app_env, 300)  # 1,200 images
    monkeypatch.setattr(common, "current_index", lambda: index)
    at = open_page(PAGE, 60)
    at.text_input(key="audit_reader_input").input("Dr. Test").run()
    picker = at.selectbox(key="audit_image")
    assert len(picker.options) == 200 and picker.value == "case-00000/CC_recent"
    captions = [c.value for c in at.caption]
    assert "Showing 200 of 1,200 matching images: type to narrow." in captions

    at.text_input(key="audit_image_find").input("case-00250 mlo").run()
    side = index.cases[0].laterality
    names = [f"case-00250 · {side} MLO {tp}" for tp in ("prior", "recent")]
    opened = at.selectbox(key="audit_image")
    assert opened.value == "case-00000/CC_recent"  # the image open stays, on top
    assert [o.split(" 20")[0] for o in opened.options[1:]] == names  # less the year
    opened.set_value("case-00250/MLO_recent").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["browse_case_id"] == "case-00250"  # the case, for every page
    assert len(at.selectbox(key="audit_image").options) == 2  # all it matches, no other

    at.selectbox(key="audit_model").select("another model (type its id)").run()
    at.text_input(key="audit_model_typed").input("cnn-1").run()
    at.radio(key="audit_verdict").set_value("agree").run()
    at.button(key="audit_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (saved,) = AuditStore(get_settings().store_dir).verdicts("cnn-1")
    assert saved.image_key == "case-00250/MLO_recent"  # the key, not the words

    at.text_input(key="audit_image_find").input("case-00250").run()
    at.selectbox(key="audit_image_show").set_value("unaudited").run()
    left = at.selectbox(key="audit_image").options
    assert len(left) == 4 and left[0].startswith("case-00250 · ") and "MLO recent" in left[0]
    # The open image (audited) on top, then the case's three others.
    assert sum("MLO recent" in o for o in left) == 1
    at.selectbox(key="audit_image").set_value("case-00250/CC_prior").run()
    at.selectbox(key="audit_image_show").set_value("audited").run()
    assert at.selectbox(key="audit_image").options[1:] == [o for o in left if "MLO recent" in o]
    # The words and the filter stay while the reader looks at another page.
    kept = choices_after_another_page(
        at, PAGE, [("text_input", FIND, "case-00251"), ("selectbox", "audit_image_show", "all")]
    )
    assert kept == {FIND: "case-00251", "audit_image_show": "all"}


def test_audit_shows_only_the_images_the_model_scored(app_env):
    """*Show: Scored by the model*: the images a batch run of the model scored (the
    image open on top when it is not one of them)."""
    card = next(c for c in list_models(get_settings().models_dir).models if c.id == "demo-custom")
    scored = ["suspicious-1/CC_prior", "suspicious-1/MLO_recent"]
    rows = [{"image_key": k, "score": 0.5, "predicted": "calcification",
             "model_key": model_key(card), "settings": "{}",
             "finished_at": "2026-12-05T10:00:00+00:00"} for k in scored]  # fmt: skip
    write_results(batch_root(get_settings()) / run_name("demo-custom", app_env), to_table(rows))
    at = open_page(PAGE, 60)
    at.text_input(key="audit_reader_input").input("Dr. Test").run()
    at.selectbox(key="audit_model").set_value("demo-custom").run()
    at.selectbox(key="audit_image").set_value(scored[1]).run()
    at.selectbox(key="audit_image_show").set_value("scored").run()
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="audit_image")
    names = image_names(open_dataset(app_env))
    assert picker.options == [names[k] for k in scored] and picker.value == scored[1]
    assert "2 of 24 images match the filter, all shown" in " ".join(c.value for c in at.caption)


def test_audit_offers_the_models_scored_images_highest_score_first(app_env):
    """*Show: Scored by the model* listed the images in the index's order: an auditor
    checks the highest scores first. The note says the order."""
    card = next(c for c in list_models(get_settings().models_dir).models if c.id == "demo-custom")
    names = image_names(open_dataset(app_env))
    scored = {"normal-1/CC_prior": 0.2, "suspicious-1/CC_prior": 0.9,
              "suspicious-1/MLO_recent": 0.5}  # fmt: skip
    rows = [{"image_key": k, "score": s, "predicted": "calcification",
             "model_key": model_key(card), "settings": "{}",
             "finished_at": "2026-12-05T10:00:00+00:00"} for k, s in scored.items()]  # fmt: skip
    write_results(batch_root(get_settings()) / run_name("demo-custom", app_env), to_table(rows))
    at = open_page(PAGE, 60)
    at.text_input(key="audit_reader_input").input("Dr. Test").run()
    at.selectbox(key="audit_model").set_value("demo-custom").run()
    at.selectbox(key="audit_image").set_value("suspicious-1/MLO_recent").run()
    at.selectbox(key="audit_image_show").set_value("scored").run()
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="audit_image")
    best_first = ["suspicious-1/CC_prior", "suspicious-1/MLO_recent", "normal-1/CC_prior"]
    assert picker.options == [names[k] for k in best_first]
    assert picker.value == "suspicious-1/MLO_recent"  # the image open stays picked
    # The filter's own label says the order, before the reader picks it.
    show = at.selectbox(key="audit_image_show")
    assert show.format_func("scored") == "Scored by the model, highest first"
    total = len(names)
    assert f"3 of {total} images match the filter, all shown, highest score first." in [
        c.value for c in at.caption
    ]
    # The image open, not scored, stays on top; the scored follow, best first.
    at.selectbox(key="audit_image_show").set_value("all").run()
    at.selectbox(key="audit_image").set_value("normal-1/MLO_recent").run()
    at.selectbox(key="audit_image_show").set_value("scored").run()
    assert at.selectbox(key="audit_image").options == [
        names[k] for k in ["normal-1/MLO_recent", *best_first]
    ]


def test_audit_narrows_the_verdicts_of_a_model_before_the_pick(app_env, monkeypatch):
    """*What a verdict was about* offered every verdict of the model in one picker: now at
    most 200, narrowed by words of the image's name and the reader's, with a note."""
    from mcalc.store.audit import record_verdict

    # Images of another dataset than the demo's: shown with accounts off (demo mode hides
    # them, test_demo_mode_shows_no_verdict_of_another_dataset).
    monkeypatch.setenv("MCALC_AUTH", "off")

    for i in range(110):
        for reader in ("Ann", "Bob"):
            record_verdict(get_settings(), model_id="cnn-1", image_key=f"case-{i:05d}/CC_recent",
                           reader=reader, agree=bool(i % 2))  # fmt: skip
    at = open_page(PAGE, 60)
    at.selectbox(key="audit_table_model").set_value("cnn-1").run()
    picker = at.selectbox(key="audit_judged")
    assert len(picker.options) == 200 and picker.options[0] == "case-00000/CC_recent · Ann"
    captions = [c.value for c in at.caption]
    assert "Showing 200 of 220 matching verdicts: type to narrow." in captions
    at.text_input(key="audit_judged_find").input("case-00105 bob").run()
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="audit_judged")
    # The verdict open stays on top (its words beside it), then the one matching.
    assert picker.options == ["case-00000/CC_recent · Ann", "case-00105/CC_recent · Bob"]
    picker.set_value("case-00105/CC_recent|Bob").run()
    assert any(c.value.endswith("by Bob") for c in at.caption)
    assert "**agree** with score n/a" in " ".join(m.value for m in at.markdown)
    assert at.selectbox(key="audit_judged").options == ["case-00105/CC_recent · Bob"]
    assert "1 of 220 verdicts matches the filter, all shown." in [c.value for c in at.caption]
    # The words stay while the reader looks at another page, as the image picker's do.
    kept = choices_after_another_page(at, PAGE, [("text_input", "audit_judged_find", "bob")])
    assert kept == {"audit_judged_find": "bob"}


def test_a_verdict_saved_meanwhile_in_another_tab_is_not_replaced_silently(app_env):
    """The same reader's second tab saved a verdict on the image after this form opened:
    this save is refused with the stored verdict shown, then saved on top when the reader
    chooses theirs (the later save replaced the other one without a word)."""
    image = "suspicious-1/CC_recent"
    at = _audit_on_a_batch_row(app_env, image)
    at.radio(key="audit_verdict").set_value("agree").run()
    at.text_area(key="audit_comment").input("tab A").run()

    from mcalc.store.audit import record_verdict

    store = AuditStore(get_settings().store_dir)
    who = {"model_id": "demo-custom", "image_key": image, "reader": "Dr. Test"}
    record_verdict(get_settings(), **who, agree=False, comment="tab B", base_version=0)
    at.button(key="audit_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (refused,) = [e.value for e in at.error]
    assert "was **not saved**: Dr. Test saved version 1" in refused and '"tab B"' in refused
    assert store.latest(*who.values()).comment == "tab B"  # kept
    assert not at.success

    at.button(key="audit_conflict_mine").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    latest = store.latest(*who.values())
    assert (latest.version, latest.comment, latest.score_verdict) == (2, "tab A", "agree")
    assert any("(version 2)" in s.value for s in at.success)
    # On top of its own save, the next save goes through without a word.
    at.text_area(key="audit_comment").input("tab A, again").run()
    at.button(key="audit_save").click().run()
    assert not at.error and store.latest(*who.values()).version == 3


def test_a_verdict_saved_on_the_form_is_the_one_shown_below(app_env):
    """*What a verdict was about* went on showing another reader's verdict after a save on
    the form (the first of the picker), not the one just saved (a user walk, 7 December)."""
    from mcalc.store.audit import record_verdict

    image = "suspicious-1/CC_recent"
    record_verdict(get_settings(), model_id="demo-custom", image_key=image, reader="Ann",
                   agree=True)  # fmt: skip
    at = _audit_on_a_batch_row(app_env, image)
    assert at.selectbox(key="audit_judged").value == f"{image}|Ann"
    at.radio(key="audit_verdict").set_value("disagree").run()
    at.button(key="audit_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="audit_judged").value == f"{image}|Dr. Test"
    assert any(c.value.endswith(r"by Dr\. Test") for c in at.caption)  # markdown-escaped
    # The reader's own choice stays theirs on the next runs.
    at.selectbox(key="audit_judged").set_value(f"{image}|Ann").run()
    at.run()
    assert at.selectbox(key="audit_judged").value == f"{image}|Ann"


def test_the_form_says_the_readers_current_verdict_that_a_save_replaces(app_env):
    """The form starts blank on an image its reader has judged: a save replaced their
    verdict (its region calls too) with nothing said that there was one."""
    from mcalc.store.audit import record_verdict

    image = "suspicious-1/CC_recent"
    record_verdict(get_settings(), model_id="demo-custom", image_key=image, reader="Ann",
                   agree=False)  # fmt: skip
    at = _audit_on_a_batch_row(app_env, image)
    assert not [c.value for c in at.caption if c.value.startswith("Your verdict")]  # Ann's
    record_verdict(get_settings(), model_id="demo-custom", image_key=image, reader="Dr. Test",
                   agree=True, plausible=True)  # fmt: skip
    at = _audit_on_a_batch_row(app_env, image)
    assert not at.exception, [e.value for e in at.exception]
    (said,) = [c.value for c in at.caption if c.value.startswith("Your verdict")]
    assert said.startswith(
        "Your verdict on this image with `demo-custom` now: version 1 ("
    ) and said.endswith(
        "), **agree** with the score, explanation plausible, 0 region calls. Saving records "
        "what this form holds as a new version, which replaces it (every version is kept)."
    )


def test_the_current_verdict_named_above_the_form_is_the_one_just_saved(app_env, monkeypatch):
    """After a save the caption above the form named the version before it ("now: version
    1") beside the success line's "version 2", until the next rerun read the record again.
    It names the saved version in the save's own run, from the verdict just written: no
    read of the store for it then, nor on the reruns after."""
    image = "suspicious-1/CC_recent"
    at = _audit_on_a_batch_row(app_env, image)

    def current() -> list[str]:
        return [c.value for c in at.caption if c.value.startswith("Your verdict")]

    reads: list[str] = []
    real = AuditStore.latest

    def counted(self, model_id, image_key, reader):  # type: ignore[no-untyped-def]
        reads.append(image_key)
        return real(self, model_id, image_key, reader)

    monkeypatch.setattr(AuditStore, "latest", counted)
    assert not current()
    for version, answer in ((1, "agree"), (2, "disagree")):
        at.radio(key="audit_verdict").set_value(answer).run()
        reads.clear()
        at.button(key="audit_save").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(f"(version {version})" in s.value for s in at.success)
        (said,) = current()
        assert f"now: version {version} (" in said and f"**{answer}**" in said, said
        at.run()
        assert current() == [said] and not reads, reads


def test_a_damaged_verdict_file_is_said_above_the_audit_table(app_env):
    from mcalc.store.audit import record_verdict

    store = get_settings().store_dir
    for image in ("suspicious-1/CC_recent", "suspicious-1/MLO_recent"):
        record_verdict(store, model_id="demo-custom", image_key=image, reader="ann", agree=True)
    damaged = AuditStore(store).records.path_for(("demo-custom", "suspicious-1/CC_recent", "ann"))
    damaged.write_text('{"format": ')
    at = open_page(PAGE, 60)
    said = [w.value for w in at.warning if "cannot be read" in w.value]
    assert len(said) == 1 and damaged.name in said[0] and "move it aside" in said[0], said
    assert "Its reader can also recover the versions it still holds" in said[0], said
    assert ".." not in said[0], said
    # Its reader, on that image: said, and recovered with a button (every save failed and
    # "move it out of the store" was all a reader was told).
    at.text_input(key="audit_reader_input").input("ann").run()
    at.selectbox(key="audit_model").set_value("demo-custom").run()
    at.selectbox(key="audit_image").set_value("suspicious-1/CC_recent").run()
    assert any("Your verdict record on this image cannot be read" in e.value for e in at.error)
    at.button(key="audit_verdict_recover").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (aside,) = damaged.parent.glob(damaged.name + ".damaged-*")
    assert aside.read_text() == '{"format": '
    assert any("0 versions" in s.value and str(aside) in s.value for s in at.success)
    at.radio(key="audit_verdict").set_value("agree").run()
    at.button(key="audit_save").click().run()
    assert (
        not at.error
        and AuditStore(store).latest("demo-custom", "suspicious-1/CC_recent", "ann").version == 1
    )


def test_a_verdicts_comment_is_shown_as_typed_not_as_markdown(app_env, monkeypatch):
    """A reader's comment '![x](http://host/t.png)' was drawn as Markdown: the browser of
    whoever opened the verdict fetched that address (seen with Streamlit's own caption)."""
    from mcalc.store.audit import record_verdict

    monkeypatch.setenv("MCALC_AUTH", "off")  # an image of another dataset than the demo's

    beacon = "![x](http://attacker.example/t.png) see [here](http://attacker.example)"
    calls = [
        {"rank": 1, "center": [40, 60], "score": 0.9, "call": "calcification"},
        {"rank": 2, "center": [10, 20], "score": 0.7, "call": "unsure"},
    ]
    record_verdict(get_settings(), model_id="cnn-1", image_key="case-00001/CC_recent",
                   reader="Ann", agree=True, comment=beacon, regions=calls)  # fmt: skip
    at = open_page(PAGE, 60)
    at.selectbox(key="audit_table_model").set_value("cnn-1").run()
    assert not at.exception, [e.value for e in at.exception]
    (said,) = [c.value for c in at.caption if c.value.startswith("Comment:")]
    assert "](" not in said and "![" not in said
    assert said.replace("\\", "") == f"Comment: {beacon}"
    # The reader's region calls (Predict's form): with the verdict, and the model's rate
    # of confirmed regions ("unsure" left out of it).
    words = " ".join(m.value for m in at.markdown)
    assert "- region 1 (score 0.900, at row 40, col 60): calcification" in words, words
    assert "- region 2 (score 0.700, at row 10, col 20): unsure" in words
    confirmed = [m for m in at.metric if m.label == "Regions confirmed"]
    assert [m.value for m in confirmed] == ["100%"]
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download the region calls (CSV)" in labels, labels


def test_a_typed_model_id_is_refused_unless_a_registry_id_and_shown_as_typed(app_env, monkeypatch):
    """Audit's form takes a typed model id (a model not registered here): a reader typed
    '![x](http://host/m.png)', and every browser that opened Audit then fetched that
    address (the verdict's model card is under an expander named after the model; seen in
    Chromium, 7 December 2026). Such an id is refused (a registry id's characters only),
    and one stored before is shown as typed."""
    from markdown_it import MarkdownIt

    from mcalc.store.audit import AuditVerdict, record_verdict

    beacon = "![x](http://attacker.example/m.png)"
    with pytest.raises(ValueError, match="registry id"):
        record_verdict(get_settings(), model_id=beacon, image_key="normal-1/CC_recent",
                       reader="Ann", agree=True)  # fmt: skip
    # One stored before this check (written past it here): shown as typed.
    old = AuditVerdict(beacon, "normal-1/CC_recent", "Ann", score_verdict="agree")
    AuditStore(get_settings().store_dir).records.save(
        (beacon, old.image_key, old.reader), old.to_payload(), base_version=None, saved_by="Ann"
    )
    at = open_page(PAGE, 60)
    at.selectbox(key="audit_table_model").set_value(beacon).run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [e.label for e in at.expander if "attacker" in e.label]
    assert labels, [e.label for e in at.expander]
    for label in labels:
        drawn = MarkdownIt("commonmark").render(label)
        assert "<img" not in drawn and "<a " not in drawn, drawn


def test_demo_mode_shows_no_verdict_of_another_dataset(app_env, tmp_path, monkeypatch):
    """Demo mode (no account) showed every verdict of the store, with its reader, comment
    and the picture of the image judged: those of a real dataset (recorded with
    MCALC_AUTH=off, or from Python) to any visitor."""
    import numpy as np

    from mcalc.store.audit import record_verdict

    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "none.yaml"))
    record_verdict(get_settings(), model_id="cnn-1", image_key="REAL-0042/CC_recent",
                   reader="Dr Real", agree=True, comment="real case",
                   snapshot=np.full((8, 8, 3), 200, np.uint8))  # fmt: skip
    at = open_page(PAGE, 60)
    assert not at.exception, [e.value for e in at.exception]
    assert any("demo mode, no accounts" in c.value for c in at.sidebar.caption)
    assert not [k for k in ("audit_table_model", "audit_judged") if k in at.session_state]
    assert "1 verdict on other datasets is not shown in demo mode" in " ".join(
        c.value for c in at.caption
    )
    assert not at.get("image") and "Dr Real" not in str(at.main)


def test_independent_reads_hide_other_readers_verdicts_until_ones_own(
    app_env, tmp_path, monkeypatch
):
    """With MCALC_INDEPENDENT_READS=on, signed-in rita saw bob's verdicts (answers, comment,
    picture) under the audit table before recording her own (a user check as two readers,
    6 December 2026); after hers on an image, bob's on that image only."""
    import numpy as np

    from mcalc.access import UsersFile
    from mcalc.store.audit import record_verdict
    from tests.app_pages import shown

    users = UsersFile(tmp_path / "users.yaml", bcrypt_rounds=4)
    users.add("rita", "reader", password="correct-horse-9")
    monkeypatch.setenv("MCALC_USERS", str(users.path))
    monkeypatch.setenv("MCALC_INDEPENDENT_READS", "on")
    store = get_settings().store_dir
    cc, mlo = "suspicious-1/CC_recent", "suspicious-1/MLO_recent"
    for key in (cc, mlo):
        record_verdict(store, model_id="demo-custom", image_key=key, reader="bob", agree=False,
                       comment=f"bob-secret {key}", snapshot=np.zeros((8, 8, 3), np.uint8))  # fmt: skip
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(PAGE)
    at.run()
    at.text_input[0].input("rita")
    at.text_input[1].input("correct-horse-9")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    notes = " ".join(c.value for c in at.caption)
    assert "Independent reads: other readers' verdicts on an image are hidden" in notes
    assert "bob" not in str(at.main) and "audit_table_model" not in at.session_state
    assert not at.get("image") or all("bob" not in str(i) for i in at.get("image"))
    record_verdict(store, model_id="demo-custom", image_key=cc, reader="rita", agree=True)
    at.session_state["audit_agreement_open"] = True
    at.run()
    (every,) = [d for d in at.dataframe if "reader" in d.value.columns and len(d.value) == 2]
    assert sorted(zip(shown(every)["reader"], every.value["comment"], strict=True)) == [
        ("bob", f"bob-secret {cc}"),
        ("rita", ""),
    ]
    assert f"bob-secret {mlo}" not in str(at.main)
    assert [m.value for m in at.metric][:3] == ["1", "2", "2"]  # images, verdicts, readers
    # Agreement over what rita may see: bob & rita on the one image both judged, said to
    # rest on too few; bob's first reads and revisions are an admin's, not hers.
    (pair,) = [d.value for d in at.dataframe if "statistic" in d.value.columns]
    assert pair.iloc[0][["readers", "statistic", "images"]].tolist() == [
        "bob & rita", "Cohen's kappa", 1]  # fmt: skip
    assert any("Few images in common (as few as 1" in c.value for c in at.caption)
    assert "First reads" not in str(at.main) and "Revised verdicts" not in str(at.main)


def test_an_admin_sees_agreement_on_first_reads_and_the_revisions(app_env, tmp_path, monkeypatch):
    """Nobody blinded (no accounts: demo mode): kappa on the current verdicts and on the
    first reads, and the verdict revised after another reader's was recorded."""
    from mcalc.store.audit import record_verdict

    monkeypatch.setenv("MCALC_USERS", str(tmp_path / "none.yaml"))
    store = get_settings().store_dir
    kw = {"model_id": "demo-custom", "image_key": "suspicious-1/CC_recent"}
    call = {"rank": 1, "center": [40, 60], "score": 0.9}
    record_verdict(store, **kw, reader="ann", agree=False)
    record_verdict(store, **kw, reader="bob", agree=True,
                   regions=[{**call, "call": "calcification"}])  # fmt: skip
    record_verdict(
        store, **kw, reader="ann", agree=True, regions=[{**call, "call": "calcification"}]
    )  # revised, after bob's; fmt: skip
    at = open_page(PAGE, 60)
    assert not [d for d in at.dataframe if "statistic" in d.value.columns]  # closed: not made
    at.session_state["audit_agreement_open"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    tables = [d.value for d in at.dataframe if "statistic" in d.value.columns]
    assert [t.iloc[0]["raw agreement"] for t in tables] == ["100%", "0%"]  # current, first
    # Independent reads off (the default): every reader saw the others' verdicts on this
    # page before recording theirs, first reads included; the figures said nothing of it
    # (a radiologist's walk as two readers, 7 December 2026).
    said = " ".join(c.value for c in at.caption)
    assert "not independent" in said and "MCALC_INDEPENDENT_READS" in said, said
    (revised,) = [d.value for d in at.dataframe if "versions" in d.value.columns]
    assert revised[["reader", "revised after others were shown"]].values.tolist() == [
        ["ann", True]]  # fmt: skip
    # The flags the table is for before the answers: at 1400 px (Chromium) the last column,
    # "revised after others were shown", was cut off the right edge, behind a scroll.
    assert list(revised.columns[:4]) == [
        "image", "reader", "revised after others were shown", "answer changed"]  # fmt: skip
    # On the regions: the one region both called, alike now; ann's first read called none.
    at.radio(key="audit_agreement_question").set_value("regions").run()
    assert not at.exception, [e.value for e in at.exception]
    tables = [d.value for d in at.dataframe if "statistic" in d.value.columns]
    assert [t.iloc[0][["regions", "raw agreement"]].tolist() for t in tables] == [
        [1, "100%"], [0, "n/a"]]  # fmt: skip


def test_the_case_report_is_made_in_the_colour_map_chosen_beside_its_button(app_env, monkeypatch):
    """The app's report button always printed the report's default map (inferno) while the
    command line had ``report --cmap``: a presenter who showed another map on Predict got a
    report unlike the screen, with no say. The map is chosen beside the button now (the
    print-safe one unless changed) and handed to the report, whose download names it (that
    the PDF says its map: tests/test_report.py; the real report here cost 2-9 s)."""
    import mcalc.report
    from mcalc.report.case import REPORT_CMAP
    from mcalc.store.audit import record_verdict

    asked = []

    def report(data, case_id, **kwargs):
        asked.append((case_id, kwargs["model"], kwargs["cmap"]))
        return b"%PDF-"

    monkeypatch.setattr(mcalc.report, "case_report", report)
    image = "suspicious-1/CC_recent"
    record_verdict(get_settings(), model_id="demo-custom", image_key=image, reader="Ann",
                   agree=True)  # fmt: skip
    at = open_page(PAGE, 60)
    at.selectbox(key="audit_table_model").set_value("demo-custom").run()
    pick = at.selectbox(key="audit_report_cmap")
    assert pick.value == REPORT_CMAP and "grey" in pick.proto.help and "cyan" in pick.proto.help
    at.button(key="audit_report_make").click().run()
    at.selectbox(key="audit_report_cmap").set_value("viridis").run()
    at.button(key="audit_report_make").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert asked == [("suspicious-1", "demo-custom", m) for m in (REPORT_CMAP, "viridis")]
    labels = [b.proto.label for b in at.get("download_button") if "report of" in b.proto.label]
    assert labels == ["Download the viridis report of suspicious-1 (PDF)"], labels


def test_audit_opens_on_the_model_chosen_on_predict_and_predict_on_audits(app_env):
    """A reader judged demo-custom's results on Predict, then opened Audit: its form was on
    another model (its own default, else the newest) and offered that model's score."""
    registry = Path(os.environ["MCALC_MODELS"])
    shutil.copytree(registry / "demo-custom", registry / "demo-copy")
    card = registry / "demo-copy" / "card.json"
    card.write_text(card.read_text().replace('"id": "demo-custom"', '"id": "demo-copy"'))
    at = open_page(PAGE, 60)
    at.text_input(key="audit_reader_input").input("Dr. Test").run()
    shown = at.selectbox(key="audit_model").value
    other = "demo-copy" if shown == "demo-custom" else "demo-custom"
    at.session_state[SELECTED_MODEL_KEY] = other  # as Predict's picker leaves it
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="audit_model").value == other  # it stayed on `shown`
    at.selectbox(key="audit_model").set_value(shown).run()  # the reader's own choice
    assert at.selectbox(key="audit_model").value == shown  # sticks
    assert at.session_state[SELECTED_MODEL_KEY] == shown  # Predict opens on it


def test_audit_does_not_ask_about_an_explanation_it_does_not_show(app_env):
    """Audit's form shows the image without the model's map (its caption says so), yet
    asked "The explanation is plausible / implausible": a verdict saved so counted in the
    page's "Plausible explanations" and the case report's "explanation judged plausible",
    with its `explanation` column empty (a radiologist's walk, 7 December 2026). The
    question is shown answered "not judged" and cannot be changed; it says where the map is
    judged (Predict's verdict form, which draws it)."""
    image = "suspicious-1/CC_recent"
    at = _audit_on_a_batch_row(app_env, image)
    asked = at.radio(key="audit_plausible")
    assert asked.value == "not judged" and asked.disabled
    assert "Predict" in (asked.help or "")
    at.radio(key="audit_verdict").set_value("agree").run()
    at.button(key="audit_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (saved,) = AuditStore(get_settings().store_dir).verdicts("demo-custom")
    assert saved.explanation_plausible is None


def test_a_long_model_id_is_shown_whole_in_a_picker_of_the_pages_width(app_env):
    """A model id as `train` makes them (44 characters here) was cut in the form's picker, a
    column two fifths of the page wide: "efficientnet-calcification-20261207-22" on a
    projector's 1280 px at 125 % (266 px), the time and suffix that tell two runs apart
    hidden, and "Make efficientnet-calcification-202..." under it. The picker and its
    *Make default* button take the page's width (as the name field above), the image's
    pickers and thumbnail a row of columns under them."""
    registry = Path(os.environ["MCALC_MODELS"])
    long_id = "efficientnet-calcification-20261207-221530-2"
    shutil.copytree(registry / "demo-custom", registry / long_id)
    at = open_page(PAGE, 60)
    at.text_input(key="audit_reader_input").input("Dr. Test").run()
    at.selectbox(key="audit_model").set_value(long_id).run()
    assert not at.exception, [e.value for e in at.exception]
    in_columns = {w.key for c in at.columns for w in [*c.selectbox, *c.button]}
    assert "audit_image" in in_columns  # the image's row is still columns
    assert {"audit_model", "audit_make_default"}.isdisjoint(in_columns), in_columns
    assert at.button(key="audit_make_default").label == f"Make {long_id} the default model"
