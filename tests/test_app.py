"""AppTest: the frame and every page run without exception; controls change what is drawn."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from pages.menu import available_pages
from tests.app_pages import (  # noqa: F401  (fixtures)
    app_env_sharing_images,
    choices_after_another_page,
    images_cache,
    prefetch_ended,
    shown,
)

APP = "../app.py"  # AppTest resolves relative paths against this file
PAGES = [  # every page of the sidebar menu; Predict loads TensorFlow (15 s)
    pytest.param(s, marks=pytest.mark.slow) if s == "pages/predict.py" else s
    for s, _, _ in available_pages()
]


def _run(page: str | None = None, timeout: float = 60) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    if page is not None:
        at.switch_page(page)
        at.run()
    return at


def _headings(node: Any, out: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The levels and texts of the headings under ``node``, in the page's order: titles,
    headers, subheaders and markdown headings (``### ...``)."""
    kind = getattr(node, "type", None)
    if kind in ("title", "header", "subheader"):
        out.append((int(node.proto.tag[1]), node.value))
    elif kind == "markdown" and re.match(r"#{1,6} ", node.value):
        out.append((len(node.value.split(" ")[0]), node.value))
    for child in getattr(node, "children", {}).values():
        _headings(child, out)
    return out


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_exception(app_env, page):
    """Each page runs, and its headings nest: one h1, then no level deeper than one below
    the heading before it (st.subheader, h3, right under st.title, h1, was axe-core's
    "heading-order" on Train, Evaluate, Audit; a screen reader's list of headings read as
    missing a level; docs/measurements.md, h/a11y2). The sidebar comes before the page in
    the document (checked in Chromium), so its headings count first: its "### Dataset",
    "### Display" were the first headings on every page, h3s above the page's h1."""
    at = _run(page)
    assert not at.exception, [e.value for e in at.exception]
    levels = _headings(at.sidebar, []) + _headings(at.main, [])
    assert [lvl for lvl, _ in levels].count(1) == 1 and levels[0][0] == 1, levels
    jumps = [(a, b) for a, b in itertools.pairwise(levels) if b[0] > a[0] + 1]
    assert not jumps, jumps


def test_home_says_synthetic_and_counts(app_env):
    at = _run()
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "Synthetic demo data" in text or "SYNTHETIC" in text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Cases"] == "6"
    assert metrics["Images"] == "24"
    assert metrics["Problems"] == "4"
    # Every demo image has an annotation file, a normal one marking nothing: the metric
    # says it counts files, where Batch's "annotated" column means an image with marks.
    annotated = next(m for m in at.metric if m.label == "Annotated images")
    assert annotated.value == "24" and "annotation file" in annotated.proto.help
    captions = [c.value for c in at.caption]
    assert any(
        "4 loosely matched names (the demo copies the real archive's quirks on purpose)" in c
        for c in captions
    ), captions
    # The problems table: the file relative to the dataset, and the message without the
    # file again in front (what was wrong was cut off at the table's edge).
    problems = at.dataframe[0].value
    assert list(problems.columns) == ["severity", "file", "message"]
    row = problems[problems["file"] == "Dataset/Suspicious_cases/1/CC_recemt.dcm"].iloc[0]
    assert row["message"].startswith("'CC_recemt.dcm' read as CC_recent.dcm"), row["message"]


def test_home_and_browse_list_an_unreadable_image(app_env, tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "broken"
    shutil.copytree(app_env, copy)
    victim = next(copy.rglob("MLO_prior.dcm"))
    victim.write_bytes(victim.read_bytes()[:2000])
    monkeypatch.setenv("MCALC_DEMO_DIR", str(copy))
    at = _run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "23 of 24"
    # Annotated among the readable images (it read 24 beside "23 of 24").
    assert metrics["Annotated images"] == "23", metrics
    warned = " ".join(w.value for w in at.warning)
    assert "1 of 24 images cannot be read and is" in warned and "MLO_prior" in warned
    at.switch_page("pages/browse.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be read" in w.value for w in at.warning)


def test_browses_case_table_says_which_cases_have_images_without_annotation(
    app_env, tmp_path, monkeypatch
):
    """A case with a missing `*_GT.jpg` showed its calcifications counted over the other
    images only, nothing in the table saying so (a user check, 6 December): its images
    without annotation are a column, shown where a case has any."""
    import shutil

    from mcalc.dataset import open_dataset

    copy = tmp_path / "nogt"
    shutil.copytree(app_env, copy)
    case = open_dataset(copy).cases[0]
    rec = case.image("MLO", "prior")
    assert rec is not None and rec.annotation_path is not None
    rec.annotation_path.unlink()
    monkeypatch.setenv("MCALC_DEMO_DIR", str(copy))
    at = _run("pages/browse.py")
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value.set_index("case_id")
    assert table.loc[case.case_id, "unannotated"] == 1
    assert (table.drop(case.case_id)["unannotated"] == 0).all()
    label = json.loads(at.dataframe[0].proto.columns)["unannotated"]["label"]
    assert label == "images without annotation"

    monkeypatch.setenv("MCALC_DEMO_DIR", str(app_env))  # complete: no such column
    at = _run("pages/browse.py")
    assert "unannotated" not in at.dataframe[0].value.columns


def test_home_counts_what_scan_counts_and_browse_says_a_contradicting_laterality_tag(
    app_env, tmp_path, monkeypatch
):
    """A DICOM whose ImageLaterality contradicts the spreadsheet was warned of by `scan`
    alone: Home and Browse said nothing (Browse titled the panel by the spreadsheet's
    side). Home's count said 4, its list 5 (notes among them) and `scan` 7 (an unreadable
    image and the laterality beside them); its line named the loose names only."""
    import shutil

    import pydicom

    from mcalc.dataset import open_dataset
    from mcalc.scan import scan_dataset

    copy = tmp_path / "sides"
    shutil.copytree(app_env, copy)
    index = open_dataset(copy)
    case = next(c for c in index.cases if c.laterality == "R")
    flipped = case.image("MLO", "recent")
    ds = pydicom.dcmread(flipped.image_path)
    ds.ImageLaterality = "L"
    ds.save_as(flipped.image_path)
    broken = next(c for c in index.cases if c is not case)
    victim = broken.images[0]
    victim.image_path.write_bytes(victim.image_path.read_bytes()[:2000])
    scanned = sum(p.severity != "info" for p in scan_dataset(copy).problems)

    monkeypatch.setenv("MCALC_DEMO_DIR", str(copy))
    at = _run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Problems"] == str(scanned) == "6", (metrics, scanned)
    note = next(c.value for c in at.caption if c.value.startswith("Problems:"))
    assert "4 loosely matched names" in note and "1 unreadable image" in note, note
    assert "1 laterality tag contradicting the spreadsheet" in note, note
    table = at.dataframe[-1].value
    assert (table["severity"] != "info").sum() == 6, table
    row = table[table["message"].str.startswith("laterality tag says L")].iloc[0]
    assert row["file"].endswith("MLO_recent.dcm") and row["severity"] == "warning"

    at.session_state["browse_case_id"] = case.case_id
    at.switch_page("pages/browse.py").run()
    assert not at.exception, [e.value for e in at.exception]
    captions = " ".join(c.value for c in at.caption)
    assert "MLO recent: the laterality tag says L, the spreadsheet says R" in captions, captions
    other = next(c for c in index.cases if c is not case and c is not broken)
    at.session_state["browse_case_id"] = other.case_id
    at.run()
    assert "laterality tag says" not in " ".join(c.value for c in at.caption)


def _figures(at: AppTest) -> list[dict]:
    figs = []
    for el in at.get("plotly_chart"):
        figs.append(json.loads(el.proto.spec))
    return figs


def _viewer_panels(at: AppTest) -> int:
    """Panels sent to the reading viewer (0: none drawn)."""
    viewers = at.get("component_instance")
    return len(json.loads(viewers[0].proto.json_args)["panels"]) if viewers else 0


def _classic_browse() -> AppTest:
    """Browse with the classic (plotly) viewer, the fallback of the reading viewer."""
    at = _run("pages/browse.py")
    at.toggle(key="browse_use_viewer").set_value(False).run()
    return at


def _viewer_args(at: AppTest) -> tuple[dict, bytes]:
    """The reading viewer's JSON arguments and its binary pixels (``pixels_data``)."""
    (viewer,) = at.get("component_instance")
    blobs = {a.key: a.bytes for a in viewer.proto.special_args}
    return json.loads(viewer.proto.json_args), blobs.get("pixels_data", b"")


def test_browse_sends_the_reading_viewer_four_16_bit_panels(app_env):
    """The case's four panels name their pixels, sent once as 16-bit binary; the page's
    first run asks the viewer to ask for the next case's once it has drawn the case (no
    rerun of the server's own: it replaced the render with the pixels in a browser whose
    viewer was not ready yet); the run of that ask waits for them, so the browser holds
    them (and is offered that case to show at the click) before the first *Next*."""
    at = _run("pages/browse.py")
    assert not at.exception
    args, data = _viewer_args(at)
    panels = args["panels"]
    assert [(p["view"], p["time"]) for p in panels] == [
        ("CC", "prior"),
        ("CC", "recent"),
        ("MLO", "prior"),
        ("MLO", "recent"),
    ]
    from pages.state import PIXELS_SENT_KEY

    sent = at.session_state[PIXELS_SENT_KEY]
    assert all(p["pixel_id"] in sent for p in panels)  # in the first run's render
    assert [e["id"] for e in args["pixels"]] == [p["pixel_id"] for p in panels] and data
    first_sent = len(data)
    assert args["ask_ahead"] and "next" not in (args["neighbours"] or {})
    # The viewer's {"type": "ahead"} once drawn, as the page's callback records it.
    at.session_state["browse_ahead_asked"] = args["case_key"]
    prefetch_ended()  # the page waits 5 s at most (the CI machine once needed more)
    at.run()
    assert not at.exception
    args, data = _viewer_args(at)
    nxt = args["neighbours"]["next"]  # the next case, its pixels ahead
    ahead = {e["id"]: e for e in args["pixels_ahead"]["index"]}  # by URL, apart
    assert nxt["button"] == "browse_next" and len(nxt["panels"]) == 4
    assert {p["pixel_id"] for p in nxt["panels"]} == set(ahead)
    assert args["pixels"] == [] and data == b"" and not args["ask_ahead"]  # sent once
    # What this browser was sent for the case, from its first run: the run of the ask
    # sent none of it, and the caption said "none this time: this browser holds them" on
    # the first open of a fresh browser.
    captions = " ".join(c.value for c in at.caption)
    assert f"({first_sent / 1e6:.1f} MB for this case, compressed)" in captions, captions
    assert "none" not in captions
    for p in [*panels, *nxt["panels"]]:
        assert p["spacing"][0] > 0 and p["window"][1] > 0
        assert args["case_key"] not in p["label"]  # no identifier on the panel
        assert re.search(r" (19|20)\d\d$", p["label"]), p["label"]  # the exam's year
    for p in nxt["panels"]:
        e = ahead[p["pixel_id"]]  # 16-bit values, zlib-delta16 (decoded in test_panel_cache)
        assert (e["rows"], e["cols"], e["codec"]) == (p["rows"], p["cols"], "zlib-delta16")
    assert not at.get("plotly_chart")  # the classic figures are not drawn as well
    # A display toggle sends none of these pixels again (the browser holds them and inverts
    # them); what it may carry is the case after next's, made meanwhile in the background.
    at.toggle(key="browse_invert").set_value(True).run()
    again, _ = _viewer_args(at)
    assert [p["pixel_id"] for p in again["panels"]] == [p["pixel_id"] for p in panels]
    assert all(p["invert"] != q["invert"] for p, q in zip(again["panels"], panels, strict=True))
    ids = {e["id"] for e in again["pixels"] + (again["pixels_ahead"] or {}).get("index", [])}
    assert ids.isdisjoint(ahead) and not any(i.startswith(f"{args['case_key']}/") for i in ids)


def test_browse_sidebar_controls_do_what_they_say_in_the_reading_viewer(app_env):
    """With the reading viewer (the default), the sidebar's *Markers, cluster and region outlines*
    hid nothing, and *Radiologists' marks*, *Overlay colour*, *Overlay opacity* and CLAHE,
    which only the simple viewer draws, were there and changed nothing. The toggle now
    takes the dataset's markers and outlines off the panels (the case's and the next
    one's, shown at a click), and the simple viewer's controls come with that viewer, their
    values kept meanwhile."""

    def keys(at: AppTest) -> set[str]:
        return {w.key for kind in ("toggle", "color_picker", "slider") for w in getattr(at, kind)}

    at = _run("pages/browse.py")
    args, _ = _viewer_args(at)
    assert any(p["points"] for p in args["panels"])  # the demo's first case is annotated
    simple_only = {"browse_show_ann", "browse_color", "browse_alpha", "browse_clahe"}
    assert "browse_show_marks" in keys(at) and not simple_only & keys(at)
    at.toggle(key="browse_show_marks").set_value(False).run()
    at.session_state["browse_ahead_asked"] = args["case_key"]  # the viewer's ask, drawn
    prefetch_ended()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    args, _ = _viewer_args(at)
    nxt = args["neighbours"]["next"]["panels"]
    assert len(args["panels"]) == 4 and len(nxt) == 4
    assert all(p["points"] == [] and p["outlines"] == [] for p in [*args["panels"], *nxt])
    at.toggle(key="browse_use_viewer").set_value(False).run()  # the simple viewer
    assert simple_only <= keys(at)
    at.toggle(key="browse_clahe").set_value(True).run()
    at.toggle(key="browse_use_viewer").set_value(True).run()
    assert "browse_clahe" not in keys(at)
    at.toggle(key="browse_use_viewer").set_value(False).run()
    assert at.toggle(key="browse_clahe").value is True  # kept while not drawn
    assert not at.exception, [e.value for e in at.exception]


def test_browse_draws_prior_and_recent_for_both_views(app_env):
    at = _classic_browse()
    figs = _figures(at)
    assert len(figs) == 2  # CC and MLO
    for fig in figs:
        images = [t for t in fig["data"] if t["type"] == "image"]
        assert len(images) == 2
        assert all(t["source"].startswith("data:image/jpeg;base64,") for t in images)
        titles = [a["text"] for a in fig["layout"]["annotations"]]
        assert any("prior" in t for t in titles) and any("recent" in t for t in titles)
        # Named as the reading viewer's panels are (slot_name: side, view, round, year);
        # they read "CC prior · ..." without the side.
        named = [t for t in titles if " prior" in t or " recent" in t]
        assert len(named) == 2 and all(t.split(" ")[0] in ("L", "R") for t in named), named
        # Each panel's title stands clear of its image's top edge (it sat on it, its
        # descenders on the black image, in both themes: Chromium, h/a11y, 7 December).
        gaps = [a.get("yshift", 0) for a in fig["layout"]["annotations"] if a["text"] in named]
        assert len(gaps) == 2 and all(g >= 4 for g in gaps), gaps  # px


def test_browse_prefetches_three_cases_ahead(app_env, monkeypatch):
    """Browse makes the three cases after the current one ahead: each *Next* builds the
    one three ahead, two clicks before it is the next case (with two, a build slower than
    a click under load still ran then: that case was not shown at the click)."""
    from mcalc.present import panel_prefetch

    cases: list[list[str]] = []
    real = panel_prefetch.prefetch_cases

    def recorded(*args: Any, **kw: Any) -> Any:
        cases.append([c.case_id for c in args[1]])
        return real(*args, **kw)

    monkeypatch.setattr(panel_prefetch, "prefetch_cases", recorded)
    at = _run("pages/browse.py")
    at.button(key="browse_next").click().run()
    assert not at.exception
    ids = at.session_state["browse_table_ids"]
    pos = ids.index(at.session_state["browse_case_id"])
    assert cases[-1] == ids[pos + 1 : pos + 4] and len(cases[-1]) == 3, cases


def test_browse_next_button_changes_case(app_env):
    at = _run("pages/browse.py")
    first = at.session_state["browse_case_id"]
    at.button(key="browse_next").click().run()
    assert not at.exception
    assert at.session_state["browse_case_id"] != first


def test_browse_table_says_n_a_for_missing_metadata(app_env):
    """The demo's normal cases have no biopsy: "n/a", as the case's line says, not None."""
    at = _run("pages/browse.py")
    df = shown(at.dataframe[0])
    normal = df[df["case_id"].str.startswith("normal")]
    assert len(normal) and (normal["biopsy"] == "n/a").all()
    assert df[["laterality", "density", "birads", "biopsy"]].notna().all().all()


def test_browse_table_says_its_counts_add_up_all_four_images(app_env):
    """A case's counts add the marks of its four images (CC and MLO, prior and recent): one
    cluster seen in all four read "clusters 4" under a bare "clusters" heading. They are
    "marks" in a word: "calcifications (all images)" and "clusters (all images)" made the
    table 795 px wide, scrolled sideways beside the sidebar on a 1280 px projector at 125 %
    (674 px now, Chromium)."""
    at = _run("pages/browse.py")
    config = json.loads(at.dataframe[0].proto.columns)
    for column, label in (("calcifications", "calc marks"), ("clusters", "cluster marks")):
        assert config[column]["label"] == label, config[column]
        assert "added" in config[column]["help"], config[column]
    # Headings in words, as the filters above name them (they read case_id, birads...).
    labels = {k: v.get("label") for k, v in config.items()}
    assert labels["case_id"] == "case" and labels["birads"] == "BI-RADS", labels
    assert labels["laterality"] == "side" and labels["years_between"] == "years between"


def test_browse_filter_without_calcifications_shows_birads1_only(app_env):
    at = _run("pages/browse.py")
    at.selectbox(key="browse_filter_calc").select("without").run()
    assert not at.exception
    df = at.dataframe[0].value
    assert len(df) > 0 and (df["calcifications"] == 0).all()


def test_browse_filters_say_any_when_nothing_is_chosen(app_env):
    """The four list filters said Streamlit's "Choose options", cut to "Choose o" in their
    fifth of the page at 1024 px (a projector's 1280 px at 125 %); they say "any", as the
    Calcifications filter beside them does."""
    at = _run("pages/browse.py")
    keys = ["browse_filter_birads", "browse_filter_density", "browse_filter_biopsy"]
    keys.append("browse_filter_laterality")
    assert [at.multiselect(key=k).proto.placeholder for k in keys] == ["any"] * 4
    assert at.selectbox(key="browse_filter_calc").value == "any"


def test_browse_filter_keeps_the_readers_case_until_they_pick_one(app_env):
    """A filter that leaves out the current case does not change it: Browse still shows
    that case, says it is outside the filter, ticks no row, and the other pages stay on it;
    the reader's pick (a row, *Next*) then moves it. The filter made the first filtered case
    the current one, on every page."""
    at = _run("pages/browse.py")
    frame = at.dataframe[0].value
    normal = str(frame[frame["calcifications"] == 0]["case_id"].iloc[-1])
    first_with = str(frame[frame["calcifications"] > 0]["case_id"].iloc[0])
    at.session_state["browse_case_id"] = normal
    at.run()
    at.selectbox(key="browse_filter_calc").select("with").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["browse_case_id"] == normal
    assert (at.dataframe[0].value["calcifications"] > 0).all()
    assert any(f"{normal}** is outside these filters" in m.value for m in at.markdown)
    assert list(at.session_state["browse_table"]["selection"]["rows"]) == []
    assert _viewer_args(at)[0]["case_key"] == normal  # its images stay on screen
    assert at.selectbox(key="browse_goto").value is None  # no filtered case is it
    assert at.button(key="browse_prev").disabled
    at.switch_page("pages/annotate.py").run()
    assert at.selectbox(key="annotate_case").value == normal
    at.switch_page("pages/browse.py").run()
    assert at.session_state["browse_case_id"] == normal
    at.button(key="browse_next").click().run()  # the reader's pick: the first filtered case
    assert at.session_state["browse_case_id"] == first_with
    assert not any("outside these filters" in m.value for m in at.markdown)
    assert list(at.session_state["browse_table"]["selection"]["rows"]) == [0]


def test_browse_window_and_overlay_controls_change_the_image(app_env):
    at = _classic_browse()
    before = _figures(at)[0]["data"][0]["source"]
    at.toggle(key="browse_invert").set_value(True).run()
    inverted = _figures(at)[0]["data"][0]["source"]
    assert inverted != before
    at.selectbox(key="browse_preset").select("manual").run()
    assert not at.exception
    at.slider(key="browse_width").set_value(500).run()
    assert not at.exception
    assert _figures(at)[0]["data"][0]["source"] != inverted


def test_browse_keeps_the_readers_filters_and_display_across_pages(app_env):
    """Streamlit forgets a widget's value when a run does not draw it: back from another
    page, Browse showed every case again, the file's window, no inversion..."""
    choices = [
        ("toggle", "browse_use_viewer", False),  # first: the controls below are the simple viewer's
        ("selectbox", "browse_filter_calc", "with"),
        ("selectbox", "browse_preset", "manual"),
        ("slider", "browse_width", 500),
        ("toggle", "browse_invert", True),
        ("toggle", "browse_clahe", True),
        ("slider", "browse_clip", 3.0),
        ("toggle", "browse_show_ann", False),
        ("toggle", "browse_show_marks", False),
        ("color_picker", "browse_color", "#00ff00"),
        ("slider", "browse_alpha", 0.3),
    ]
    at = _run("pages/browse.py")
    kept = choices_after_another_page(at, "pages/browse.py", choices)
    assert kept == {key: value for _, key, value in choices}
    assert (at.dataframe[0].value["calcifications"] > 0).all()  # the filter is in force


def test_browse_and_annotate_share_one_viewer_frame_kept_hidden_on_home(app_env, monkeypatch):
    """As the server runs pages (inside app.py: pages.server_tuning.run_app_for_every_page;
    AppTest alone runs a page without it), Browse's and Annotate's viewer is one element
    of app.py's, the same id on both pages (Streamlit keeps its frame across the switch: a
    page's own viewer has an id per page); Home, which shows none, draws it hidden with no
    panels. (Its events reaching the page's key: tests/test_browser_viewer.py, a save and
    the next case from the viewer.)"""
    from streamlit.runtime.pages_manager import PagesManager

    from pages import viewer_component

    real_init = PagesManager.__init__

    def as_the_server(self, *args, **kwargs):  # AppTest resets the flag before each run
        real_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", as_the_server)

    def viewers() -> list[tuple[str, dict]]:
        assert not at.exception, [e.value for e in at.exception]
        return [
            (c.proto.id, json.loads(c.proto.json_args))
            for c in at.get("component_instance")
            if c.proto.component_name.endswith("mcalc_viewer")
        ]

    at = _run("pages/browse.py")
    ((browse_id, args),) = viewers()
    assert browse_id.endswith(f"-{viewer_component.SLOT_KEY}") and args["panels"]
    at.switch_page("pages/home.py").run()
    ((home_id, args),) = viewers()
    assert home_id == browse_id and args["hidden"] is True and "panels" not in args
    at.switch_page("pages/annotate.py").run()
    ((annotate_id, args),) = viewers()
    assert annotate_id == browse_id and args["case_key"].endswith("/CC_recent")
    # What the page draws under the viewer comes after it (pages.viewer_component.below).
    assert "Mark tool (A)" in " ".join(c.value for c in at.caption)


def test_browse_sends_ids_alone_after_another_page(app_env):
    """A page switch unmounts the viewer, but the browser tab keeps the images' bytes
    (the viewer's pixels.ts): the first run back on Browse names the case's pixels without
    sending them again, as a run with the viewer still mounted does; one the viewer says
    it lacks (the tab let it go) is sent again."""
    at = _run("pages/browse.py")
    args, _ = _viewer_args(at)
    ids = [p["pixel_id"] for p in args["panels"]]
    assert {e["id"] for e in args["pixels"]} >= set(ids)
    at.run()  # the viewer stays mounted: it holds them
    args, _ = _viewer_args(at)
    assert not {e["id"] for e in args["pixels"]} & set(ids), args["pixels"]
    at.switch_page("pages/home.py").run()
    assert not at.get("component_instance")
    at.switch_page("pages/browse.py").run()
    assert not at.exception, [e.value for e in at.exception]
    args, _ = _viewer_args(at)
    assert [p["pixel_id"] for p in args["panels"]] == ids
    assert not {e["id"] for e in args["pixels"]} & set(ids), f"sent again: {args['pixels']}"
    from pages.state import PIXELS_SENT_KEY

    at.session_state[PIXELS_SENT_KEY].forget(ids[:1])  # as the viewer's {"type": "pixels"} does
    at.run()
    args, data = _viewer_args(at)
    index = {e["id"]: e for e in args["pixels"]}
    assert set(index) & set(ids) == {ids[0]}, sorted(index)
    assert index[ids[0]]["offset"] + index[ids[0]]["length"] <= len(data)


def test_bad_dataset_path_is_a_clear_message_and_app_keeps_working(app_env, tmp_path):
    at = _run()
    at.session_state["mcalc_data_path"] = str(tmp_path / "does-not-exist")
    at.run()
    assert not at.exception
    assert any("cannot be opened" in e.value and "does not exist" in e.value for e in at.error)
    at.switch_page("pages/browse.py")
    at.run()
    assert not at.exception  # the page stops politely
    at.session_state["mcalc_data_path"] = str(app_env)
    at.run()
    assert not at.exception and not at.error
    assert _viewer_panels(at) == 4  # the reading viewer with the case's four images


def test_data_flag_and_env_choose_the_dataset(app_env, monkeypatch, tmp_path):
    from pages.common import cli_data_flag

    assert cli_data_flag(["--data", "/x/y"]) == "/x/y"
    assert cli_data_flag([]) is None
    monkeypatch.setenv("MCALC_DATA", str(app_env))
    monkeypatch.setenv("MCALC_DEMO_DIR", str(tmp_path / "never-generated"))
    at = _run()
    assert not at.exception
    assert not (tmp_path / "never-generated").exists()  # no demo generated when data is set
    assert {m.label: m.value for m in at.metric}["Cases"] == "6"


def test_first_start_generates_the_demo_set(monkeypatch, tmp_path):
    monkeypatch.delenv("MCALC_DATA", raising=False)
    monkeypatch.setenv("MCALC_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("MCALC_DEMO_CASES", "3")
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    at = _run(timeout=120)
    assert not at.exception
    assert (tmp_path / "demo" / "mcalc_demo.json").is_file()
    assert {m.label: m.value for m in at.metric}["Cases"] == "3"


def test_sidebar_open_button_switches_dataset_on_any_page(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MCALC_DATA_ROOTS", str(tmp_path))  # allowed, but holds no dataset
    at = _run("pages/browse.py")
    at.text_input(key="app_data_input").input(str(tmp_path / "nope"))
    at.button(key="app_open").click().run()
    assert not at.exception
    # Said once, in the sidebar; the dataset open before stays open (a typo gave way to a
    # page of errors, each said in the sidebar and again on the page).
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Not opened: "), errors
    assert "does not exist" in errors[0] and "The dataset open before stays open" in errors[0]
    assert at.session_state["mcalc_data_path"] == str(app_env)
    assert _viewer_panels(at) == 4
    # A collection's own description file: what to do instead.
    cbis = tmp_path / "calc_case_description_train_set.csv"
    cbis.write_text("patient_id,image view,image file path,ROI mask file path\nP_1,CC,a,b\n")
    at.text_input(key="app_data_input").input(str(cbis))
    at.button(key="app_open").click().run()
    (error,) = [e.value for e in at.error]
    assert "This is CBIS-DDSM's own description file" in error, error
    assert "python -m mcalc manifest cbis-ddsm" in error
    at.button(key="app_demo").click().run()
    assert not at.exception and not at.error
    assert at.text_input(key="app_data_input").value == str(app_env)
    assert _viewer_panels(at) == 4  # the reading viewer with the case's four images


def test_the_dataset_opened_is_in_the_address_for_a_reload_or_a_shared_link(
    app_env, tmp_path, monkeypatch
):
    """The sidebar's dataset is named in the address (``?data=``, kept across pages), so a
    new session on that address (a reload, a shared link) opens it; the default dataset
    leaves the address bare, and one outside the allowed folders is refused and said. It
    was the session's alone: a reload opened the default dataset again."""
    import shutil

    other = tmp_path / "roots" / "other"
    shutil.copytree(app_env, other)
    monkeypatch.setenv("MCALC_DATA_ROOTS", str(tmp_path / "roots"))
    at = _run("pages/browse.py")
    assert "data" not in at.query_params
    at.text_input(key="app_data_input").input(str(other))
    at.button(key="app_open").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.query_params["data"] == str(other)
    at.switch_page("pages/home.py").run()
    assert at.query_params["data"] == str(other)

    reloaded = AppTest.from_file(APP, default_timeout=60)
    reloaded.query_params["data"] = str(other)
    reloaded.run()
    assert not reloaded.exception and not reloaded.error
    assert reloaded.session_state["mcalc_data_path"] == str(other)
    assert reloaded.text_input(key="app_data_input").value == str(other)
    reloaded.button(key="app_demo").click().run()
    assert "data" not in reloaded.query_params  # the default: nothing to name

    outside = AppTest.from_file(APP, default_timeout=60)
    outside.query_params["data"] = str(tmp_path / "elsewhere")
    outside.run()
    assert outside.session_state["mcalc_data_path"] == str(app_env)  # the default instead
    errors = " ".join(e.value for e in outside.error)
    assert "Not opened: the address' dataset:" in errors
    assert "outside the allowed data folders" in errors


def test_a_link_s_dataset_is_said_as_typed_not_drawn_as_markdown(app_env):
    """A shared link `?data=[Sign in again](https:host/phish) ![x](https:host/b.png)` drew
    its own link and image (fetched from that host: seen in a browser) in the app's
    refusal; the path is now shown as typed."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["data"] = (
        "[Sign in again](https:evil.example/phish) ![x](https:evil.example/b.png)"
    )
    at.run()
    assert not at.exception
    (said,) = [e.value for e in at.error if "the address' dataset" in e.value]
    assert "](" not in said and "![" not in said
    assert "[Sign in again](https:evil.example/phish)" in said.replace("\\", "")


def test_a_refusal_goes_once_the_demo_data_is_opened(app_env, tmp_path, monkeypatch):
    """The sidebar's "Not opened: ..." (a refused typed path, or the address' dataset)
    stayed on screen after a click on *Demo data* had opened a valid dataset."""
    monkeypatch.setenv("MCALC_DATA_ROOTS", str(tmp_path / "roots"))
    (tmp_path / "roots").mkdir()
    outside = AppTest.from_file(APP, default_timeout=60)
    outside.query_params["data"] = str(tmp_path / "elsewhere")
    outside.run()
    assert any("Not opened: the address' dataset:" in e.value for e in outside.error)
    outside.button(key="app_demo").click().run()
    assert not outside.exception and not outside.error, [e.value for e in outside.error]

    at = _run("pages/browse.py")
    at.text_input(key="app_data_input").input(str(tmp_path / "elsewhere"))
    at.button(key="app_open").click().run()
    assert any("Not opened:" in e.value for e in at.error)
    at.button(key="app_demo").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _viewer_panels(at) == 4  # the demo's case shows


def test_sidebar_menu_lists_the_pages(app_env):
    at = _run()
    labels = [el.proto.label for el in at.get("page_link")]
    assert "Home" in labels and "Browse" in labels


def test_frame_leaves_stale_elements_undimmed(app_env):
    """Streamlit's stale-element fading (opacity transitions on every element during a run)
    is switched off by the frame's style (pages.common.STALE_CSS: the browser's cost)."""
    at = _run()
    styles = " ".join(el.proto.body for el in at.get("html"))
    assert "[data-stale='true'] { opacity: 1 !important; transition: none !important; }" in styles


def _ticked_rows(at: AppTest) -> list[int]:
    return list(at.session_state["browse_table"]["selection"]["rows"])


def test_browse_table_ticks_the_case_previous_next_and_go_to_case_show(app_env):
    """One "current case": the table's ticked row follows Previous/Next (it used to stay),
    and the *Go to case* list (the table's rows take no keys: the list is the keyboard's way
    to any case, docs/measurements.md, h/a11y2) opens a case and follows the others."""
    at = _run("pages/browse.py")
    ids = list(at.dataframe[0].value["case_id"])
    assert _ticked_rows(at) == [0] and at.session_state["browse_case_id"] == ids[0]
    at.button(key="browse_next").click().run()
    at.button(key="browse_next").click().run()
    assert not at.exception
    assert at.session_state["browse_case_id"] == ids[2]
    assert _ticked_rows(at) == [2]
    assert any(m.value.startswith(f"Case **{ids[2]}** (3 of") for m in at.markdown)
    at.button(key="browse_prev").click().run()
    assert at.session_state["browse_case_id"] == ids[1] and _ticked_rows(at) == [1]
    goto = at.selectbox(key="browse_goto")
    assert goto.options == ids and goto.value == ids[1], (goto.options, goto.value)
    goto.select(ids[4]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["browse_case_id"] == ids[4] and _ticked_rows(at) == [4]
    assert _viewer_args(at)[0]["case_key"] == ids[4]
    at.button(key="browse_next").click().run()
    assert at.selectbox(key="browse_goto").value == ids[5]


def test_problem_note_tells_quirks_from_other_problems(tiny_demo):
    from dataclasses import replace

    from mcalc.dataset import open_dataset
    from mcalc.dataset.records import Problem
    from pages.problems import problem_note

    index = open_dataset(tiny_demo)
    assert "4 loosely matched names (the demo copies" in problem_note(index)
    real = replace(index, synthetic=False, problems=[*index.problems, Problem("x.dcm", "bad")])
    note = problem_note(real)
    assert "4 loosely matched names (read as the names the layout expects)" in note
    assert "1 other problem;" in note
    assert problem_note(replace(index, problems=[])) is None


def test_frame_prepares_tensorflow_before_any_page(app_env, monkeypatch):
    import pages.common

    calls = []
    monkeypatch.setattr(pages.common, "prepare_tensorflow", lambda: calls.append(1))
    at = _run()
    assert not at.exception and calls


def test_a_one_round_collection_is_not_warned_of_missing_priors(app_env, monkeypatch, tmp_path):
    """A public collection's manifest has recent images only: Browse warned "CC prior:
    this case has no such image" on every case, and "L MLO recent: this case has no such
    image" on every case of a collection that has CC images only (a CBIS-DDSM case of CC
    alone; mini-MIAS's MLO films the other way round). What the case lacks is said once,
    in a caption, not as a warning per empty panel."""
    from tests.convert_fixtures import make_region_manifest

    monkeypatch.setenv("MCALC_DATA", str(make_region_manifest(tmp_path / "regions")))
    monkeypatch.setenv("MCALC_AUTH", "off")
    at = _run("pages/browse.py")
    assert not at.exception, [e.value for e in at.exception]
    warned = [w.value for w in at.warning]
    assert not any("no such image" in w for w in warned), warned
    captions = [c.value for c in at.caption]
    assert "This collection has CC images only, of one exam." in captions, captions
    assert _viewer_panels(at) == 1
    at.toggle(key="browse_use_viewer").set_value(False).run()  # the simple viewer: the same
    assert not at.exception, [e.value for e in at.exception]
    assert not any("no such image" in w.value for w in at.warning)
    assert [s.value for s in at.header] == ["CC"]  # no empty MLO section


def test_a_one_round_collection_offers_no_temporal_views(app_env, monkeypatch, tmp_path):
    """A collection of one round (a manifest of recent images only) has no prior to
    register: Browse still offered the Temporal views toggle (on, it warned "CC: no
    temporal view: this case lacks one of the rounds" per view), the viewer's Temporal
    button and T key, and the simple viewer's "Changes between rounds" (a user check, 6
    December). None of them now, one caption saying why; nothing breaks where a reader
    turned them on with a collection of two rounds."""
    from tests.convert_fixtures import make_region_manifest

    monkeypatch.setenv("MCALC_DATA", str(make_region_manifest(tmp_path / "regions")))
    monkeypatch.setenv("MCALC_AUTH", "off")
    why = (
        "No temporal views (prior beside recent, registration, subtraction): this "
        "collection has one exam per case."
    )
    at = _run("pages/browse.py")
    assert not at.exception, [e.value for e in at.exception]
    assert "browse_temporal_on" not in [t.key for t in at.toggle]
    assert [c.value for c in at.caption].count(why) == 1
    viewer = json.loads(at.get("component_instance")[0].proto.json_args)
    assert viewer["temporal"] is None  # no Temporal button, no T key
    at.session_state["browse_temporal_on"] = True  # turned on with another collection
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [w.value for w in at.warning if "temporal" in w.value], at.warning
    at.toggle(key="browse_use_viewer").set_value(False).run()  # the simple viewer
    assert not at.exception, [e.value for e in at.exception]
    assert "Changes between exams" not in [h.value for h in at.header]
    assert "browse_temporal_mode" not in [r.key for r in at.radio]
    assert [c.value for c in at.caption].count(why) == 1


def test_browse_sends_a_region_annotation_to_the_reading_viewer(app_env, monkeypatch, tmp_path):
    """A region annotation (a CBIS-DDSM ROI, a VinDr box, a MIAS circle) never reached the
    reading viewer: its panels carried points and cluster outlines only, and the simple
    viewer alone outlined the region (a user check, 6 December). Now each panel carries its
    regions' outlines, which the sidebar's dataset-marks toggle hides with the markers."""
    from tests.convert_fixtures import make_region_manifest

    data = make_region_manifest(tmp_path / "regions", (("CC", "MLO"),))
    monkeypatch.setenv("MCALC_DATA", str(data))
    monkeypatch.setenv("MCALC_AUTH", "off")
    at = _run("pages/browse.py")
    assert not at.exception, [e.value for e in at.exception]
    panels = _viewer_args(at)[0]["panels"]
    assert [len(p["region_outlines"]) for p in panels] == [1, 1]
    at.toggle(key="browse_show_marks").set_value(False).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [p["region_outlines"] for p in _viewer_args(at)[0]["panels"]] == [[], []]


def test_a_case_that_lacks_a_view_of_its_collection_says_so_once(app_env, monkeypatch, tmp_path):
    """A CBIS-DDSM case may have a CC image and no MLO one while the collection has both:
    one caption says so (it was a warning "L MLO recent: this case has no such image")."""
    from tests.convert_fixtures import make_region_manifest

    data = make_region_manifest(tmp_path / "regions", (("CC", "MLO"), ("CC",)))
    monkeypatch.setenv("MCALC_DATA", str(data))
    monkeypatch.setenv("MCALC_AUTH", "off")
    at = _run("pages/browse.py")
    assert not at.exception, [e.value for e in at.exception]
    assert _viewer_panels(at) == 2
    assert "This collection has one exam per case." in [c.value for c in at.caption]
    at.button(key="browse_next").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("no such image" in w.value for w in at.warning)
    captions = [c.value for c in at.caption]
    assert "This collection has one exam per case; this case has no MLO image." in captions, (
        captions
    )
    assert _viewer_panels(at) == 1


def test_browses_case_table_is_the_same_element_on_the_run_after_a_case_switch(app_env):
    """The browser keeps an element whose message is the one it had (Streamlit compares
    their hashes) and draws one that differs again: the case table (a data grid) must not
    differ on a run that changes nothing of it. Its selection, set through the session on
    the run of a case switch only, went into that run's table and not the next one's, so
    the grid was drawn again on the run after every switch (the display toggle's: issue
    15)."""
    at = _run("pages/browse.py")
    at.button(key="browse_next").click().run()
    switched = at.dataframe[0].proto
    at.toggle(key="browse_invert").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert json.loads(at.dataframe[0].proto.selection_state)["selection"]["rows"] == [1]
    assert at.dataframe[0].proto == switched


def test_browse_shows_no_spinner_for_a_case_whose_images_are_made(app_env, monkeypatch, tmp_path):
    """A spinner is a thread and a message to the browser on every run it is entered: Browse
    enters it only while the case's images are still to be made, not for a display toggle
    or a return to a case already shown (issues 14 and 15: elements sent for nothing)."""
    texts: list[str] = []
    spinner = st.spinner

    def counted(text: str = "", **kw: Any) -> Any:
        texts.append(text)
        return spinner(text, **kw)

    monkeypatch.setattr(st, "spinner", counted)
    # A cold cache: the case's images are made by this test's first run.
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    at = _run("pages/browse.py")
    assert not at.exception, [e.value for e in at.exception]
    texts.clear()
    at.toggle(key="browse_invert").set_value(True).run()
    at.toggle(key="browse_invert").set_value(False).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Loading the images…" not in texts, texts


@pytest.mark.parametrize(
    ("ids", "text_px"),
    [
        # The width of each id's text in Chromium (14 px Source Sans, canvas measureText on
        # Browse, 7 December 2026): a 150 px list showed its first 15 characters, ~100 px.
        (["4e3a578fe535ea4f5258d3f7f4419db8-R", "c1"], 226),  # VinDr-Mammo study + side
        (["Calc-Training_P_00005_RIGHT_CC"], 200),  # a CBIS-DDSM series name
        (["Mass-Training_P_00001_LEFT_MLO_1"], 220),
        (["normal-1", "suspicious-12"], 80),  # the demo's
    ],
)
def test_go_to_case_is_as_wide_as_its_longest_id(ids: list[str], text_px: int) -> None:
    """*Go to case* was 150 px whatever the ids: a VinDr id read "4e3a578fe535ea4" in the
    box and in its list. Now as wide as the longest id (text and the box's ~50 px of padding
    and arrow), the demo's at 150 px as before."""
    from pages.browse_cases import GOTO_MAX_PX, GOTO_MIN_PX, goto_width

    width = goto_width(ids)
    assert GOTO_MIN_PX <= width <= GOTO_MAX_PX
    assert width >= text_px + 50, (ids, width)
    if text_px + 50 <= GOTO_MIN_PX:
        assert width == GOTO_MIN_PX  # the demo's layout unchanged
