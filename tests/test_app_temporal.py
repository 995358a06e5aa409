"""AppTest: Browse's temporal section registers the case and draws each mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mcalc.temporal.change import status_meaning
from tests.app_pages import shown

APP = "../app.py"


def _browse() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/browse.py")
    at.run()
    return at


def _temporal_figures(at: AppTest) -> list[dict]:
    """The figures whose second panel is a temporal one (by its title)."""
    figs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    marks = ("subtraction: ", "change map (", "flicker: registered", "swipe: registered")
    return [
        f
        for f in figs
        if any(m in a.get("text", "") for a in f["layout"].get("annotations", []) for m in marks)
    ]


@pytest.fixture(scope="module")
def registrations(tmp_path_factory) -> Path:
    """An image cache the module's tests that register the same case share (as every session
    of a server does): a case's two views register once (~2.5 CPU-s), not once per test.
    Point ``MCALC_CACHE`` at a sub-folder; tests whose registrations differ (a stage made to
    drop) use a sub-folder of their own."""
    return tmp_path_factory.mktemp("temporal-registrations")


def _viewer_args(at: AppTest) -> dict:
    (viewer,) = at.get("component_instance")
    return json.loads(viewer.proto.json_args)


def test_temporal_section_is_off_until_asked(app_env):
    at = _browse()
    assert not at.exception
    assert _temporal_figures(at) == []
    # Nothing registered before it is asked: the viewer only offers its Temporal button.
    assert _viewer_args(at)["temporal"] == {"views": [], "summary": "", "off": True}


@pytest.mark.slow  # registers both views of a case (about 7 s on 2 busy cores)
def test_the_viewer_gets_both_views_registered_with_the_summary(
    app_env, registrations, monkeypatch
):
    monkeypatch.setenv("MCALC_CACHE", str(registrations / "as-registered"))
    at = _browse()
    at.toggle(key="browse_temporal_on").set_value(True).run()
    assert not at.exception
    temporal = _viewer_args(at)["temporal"]
    assert [v["view"] for v in temporal["views"]] == ["CC", "MLO"]
    for v in temporal["views"]:
        assert v["registered"] and v["subtraction"] and len(v["to_prior"]) == 2 * v["grid"] ** 2
    assert "stable" in temporal["summary"] and "between exams" in temporal["summary"]
    text = " ".join(m.value for m in at.markdown)
    assert "Changes between exams" in text and temporal["summary"] in text
    captions = " ".join(c.value for c in at.caption)
    assert "similarity inside the breast" in captions
    # What "stable" and "grown" mean is said beside the table (a reader could not tell).
    assert status_meaning() in captions
    assert _temporal_figures(at) == []  # the plotly views are the simple viewer's fallback
    # The change tables: a calcification has no member count, a cluster no diameter; each
    # says "n/a" there (a grey "None" read as a value).
    grids = [d for d in at.dataframe if "members" in d.value.columns]
    tables = [shown(d) for d in grids]
    assert tables and all(t.notna().all().all() for t in tables)
    rows = [r for t in tables for r in t.to_dict("records")]
    calcs = [r for r in rows if r["kind"] == "calcification"]
    assert calcs and all(r["members"] == "n/a" and "→" in r["diameter (mm)"] for r in calcs)
    # Short headers (the table fits 1280 px wide), what they leave out in their tooltips.
    config = json.loads(grids[0].proto.columns)
    assert "full-resolution" in config["recent (px)"]["help"], config


@pytest.mark.slow  # registers both views of a case (about 7 s on 2 busy cores)
@pytest.mark.parametrize("mode", ["subtraction", "flicker"])
def test_the_simple_viewer_draws_each_mode_with_the_summary(
    app_env, registrations, monkeypatch, mode
):
    monkeypatch.setenv("MCALC_CACHE", str(registrations / "as-registered"))
    at = _browse()
    at.toggle(key="browse_use_viewer").set_value(False).run()
    at.radio(key="browse_temporal_mode").set_value(mode).run()
    assert not at.exception
    figs = _temporal_figures(at)
    assert len(figs) == 2  # CC and MLO
    for fig in figs:
        assert [t["type"] for t in fig["data"]][:2] == ["image", "image"]
        if mode == "flicker":
            assert len(fig["frames"]) >= 2
    text = " ".join(m.value for m in at.markdown)
    assert "stable" in text and "between exams" in text
    # View by view: CC and MLO show the same calcifications, never added up.
    assert "**CC: " in text and "; MLO: " in text
    captions = " ".join(c.value for c in at.caption)
    assert "similarity inside the breast" in captions
    # How to read the panel, said beside it.
    reading = {"subtraction": "mid-gray = unchanged", "flicker": "a real change blinks"}
    assert reading[mode] in captions
    assert status_meaning() in captions


@pytest.mark.slow  # registers both views of a case (about 7 s on 2 busy cores)
@pytest.mark.parametrize("viewer", [True, False])
def test_a_dropped_stage_is_said_once_per_view(app_env, registrations, monkeypatch, viewer):
    """The caption ends with why a stage was dropped; the pair's note said it again
    ("not registered: ..." under "... · not registered: ...")."""
    from dataclasses import replace

    import mcalc.temporal.pair as pair_module

    real = pair_module.register_images

    def dropped(*args, **kwargs):
        return replace(real(*args, **kwargs), fallback="non-rigid stage folds (test)")

    monkeypatch.setattr(pair_module, "register_images", dropped)
    # Both cases read the same registrations, each with its stage dropped (not the other
    # tests' ones): the first case registers, the second reads them from the image cache.
    monkeypatch.setenv("MCALC_CACHE", str(registrations / "stage-dropped"))
    import streamlit as st

    st.cache_data.clear()  # the registrations of the module's earlier tests (same images)
    at = _browse()
    if viewer:
        at.toggle(key="browse_temporal_on").set_value(True).run()
    else:
        at.toggle(key="browse_use_viewer").set_value(False).run()
        at.radio(key="browse_temporal_mode").set_value("subtraction").run()
    assert not at.exception
    said = [c.value for c in at.caption if "non-rigid stage folds (test)" in c.value]
    assert len(said) == 2, said  # one per view, in its registration caption
    assert all("only the global fit was kept" in c for c in said)


@pytest.mark.slow  # registers a case's views three times (about 6 s on 2 busy cores)
@pytest.mark.parametrize("which", ["browse_temporal", "browse_simple"])
def test_a_prior_rewritten_in_place_is_registered_again(app_env, tmp_path, monkeypatch, which):
    """A DICOM replaced under the same name (new pixels) after Browse registered its case:
    the registered prior, subtraction and change table stayed those of the old pixels
    until the server restarted (the cache was keyed by the case, not its files)."""
    import shutil

    import pydicom
    import streamlit as st

    from mcalc.dataset import open_dataset
    from mcalc.viewer import DisplayOptions
    from pages import browse_simple, browse_temporal

    data = tmp_path / "data"
    shutil.copytree(app_env, data)
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache-stale"))
    case = next(c for c in open_dataset(data).cases if c.image("CC", "prior") is not None)

    def registered() -> str:
        if which == "browse_temporal":
            panels, _ = browse_temporal.case_temporal(case, DisplayOptions(), 256)
            return json.dumps(panels[0].payload["registered"], sort_keys=True, default=str)
        tv = browse_simple.cached_temporal(case, f"{case.case_id}|{case.folder}", "CC", 256)
        return tv.prior.tobytes().hex()

    before = registered()
    path = case.image("CC", "prior").image_path
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.pixel_array[::-1].copy().tobytes()  # same size, other pixels
    ds.save_as(path)
    after = registered()
    st.cache_data.clear()
    assert after != before
    assert after == registered()  # what a fresh server shows
