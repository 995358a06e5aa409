"""Predict: run a registered model over a case, explain it, and compare with the annotations.

UI only: the work is done by :mod:`mcalc.explain` (sliding-window maps, CAMs, agreement)
and :mod:`mcalc.viewer` / :mod:`mcalc.present.viewer_figures` (images with synchronised zoom).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset.records import CaseRecord, DatasetIndex, ImageRecord
from mcalc.errors import ImageReadError, McalcError, ModelError
from mcalc.explain.cams import (
    CAM_METHODS,
    SCOPES,
    CamSettings,
    Explainer,
    joint_range,
    normalize_map,
)
from mcalc.explain.errors import LayerError, NoBreastRegionError
from mcalc.explain.map_agreement import DEFAULT_TOLERANCE_MM
from mcalc.explain.overlay import COLORMAPS, blend, plotly_colorscale
from mcalc.explain.results import ResultsCache, image_key
from mcalc.explain.service import ImageAnalysis, analyse_image, case_summary
from mcalc.explain.sliding import SlidingSettings, check_model_fits
from mcalc.models.card import ModelCard
from mcalc.models.inference import LoadedModel, load_model
from mcalc.models.registry import list_models
from mcalc.models.tasks import positive_class_for
from mcalc.present.map_display import crop_heat, display_box, overlay_view
from mcalc.present.viewer_figures import add_boxes, add_colorbar, crop_figure, pair_figure
from mcalc.viewer import DisplayOptions, ImageView, annotation_for, crop_view, prepare_view
from pages import common

common.frame()

REGION_KEY = "predict_region"  # (image key, rank) of the region zoomed on; not a widget
BOTH = "prior and recent"
METHOD_LABELS = {
    "gradcam": "Grad-CAM (Selvaraju 2017)",
    "gradcam++": "Grad-CAM++ (Chattopadhay 2018)",
    "scorecam": "Score-CAM (Wang 2020)",
    "none": "no explanation",
}


# --------------------------------------------------------------------------------------
# Cached loaders (no widgets inside)
# --------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, ttl=30)
def registry(models_dir: str) -> tuple[list[ModelCard], list[dict[str, str]]]:
    """Cards of the usable models and the folders skipped."""
    listing = list_models(models_dir)
    return listing.models, listing.problems


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def loaded_model(path: str, stamp: str) -> LoadedModel:
    """The model of a registry folder (shared by every session; never modified)."""
    return load_model(path, Path(path).parent)


@st.cache_resource(show_spinner=False, max_entries=4)
def explainer(path: str, stamp: str) -> Explainer:
    """The model's explainer: clones and tf-keras-vis objects built once, then reused."""
    loaded = loaded_model(path, stamp)
    return Explainer(loaded.model, loaded.card.architecture)


@st.cache_resource(show_spinner=False)
def results_cache(root: str) -> ResultsCache:
    return ResultsCache(root)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_view(
    rec: ImageRecord, opts: DisplayOptions, max_side: int, laterality: str | None
) -> ImageView:
    return prepare_view(
        common.get_image_cache(), rec, opts, max_side=max_side, laterality=laterality
    )


# --------------------------------------------------------------------------------------
# Widgets: each returns plain values
# --------------------------------------------------------------------------------------


def model_ui(cards: list[ModelCard]) -> ModelCard:
    """Model picker and its card summary; returns the chosen card."""
    by_id = {c.id: c for c in cards}
    model_id = st.selectbox(
        "Model",
        list(by_id),
        key="predict_model",
        format_func=lambda i: f"{i} · {by_id[i].architecture} · {by_id[i].task_name}",
    )
    card = by_id[model_id]
    test = card.test_metrics
    # One line, not metric tiles: long values (task, weights source) were cut off, and
    # sensitivity/specificity belong beside the AUC (a model can rank well and miss all).
    st.markdown(
        f"**{card.architecture or '?'}** · task **{card.task_name or '?'}** · freeze "
        f"**{card.freeze.strategy}** · weights "
        f"**{card.weights.source}** · test AUC **{_num(test.get('auc'))}** · accuracy "
        f"**{_num(test.get('accuracy'))}** · sensitivity **{_num(test.get('sensitivity'))}** · "
        f"specificity **{_num(test.get('specificity'))}**"
    )
    st.caption(
        f"Patches {card.patch.size or '?'} px at {card.patch.spacing_mm or 'native'} mm · "
        f"test patches {test.get('n', 'n/a')} · classes {', '.join(card.classes)}"
    )
    if card.data.synthetic:
        st.warning(
            "Trained on **synthetic** demo data: its scores say nothing about real mammograms.",
            icon=":material/science:",
        )
    if not card.pretrained:
        st.warning(
            f"Trained **from scratch** (no pre-trained weights): "
            f"{card.weights.detail or 'random initialisation'}.",
            icon=":material/warning:",
        )
    return card


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def case_ui(index: DatasetIndex) -> tuple[CaseRecord, str, list[str]]:
    """Case, view and timepoint(s)."""
    ids = [c.case_id for c in index.cases]
    c1, c2, c3 = st.columns([2, 1, 2])
    case_id = c1.selectbox("Case", ids, key="predict_case")
    view = c2.radio("View", list(VIEWS), horizontal=True, key="predict_view")
    choice = c3.radio("Timepoint", [BOTH, *TIMEPOINTS], horizontal=True, key="predict_timepoint")
    times = list(TIMEPOINTS) if choice == BOTH else [choice]
    return index.case(case_id), view, times


@dataclass(frozen=True)
class Controls:
    sliding: SlidingSettings
    cam: CamSettings | None
    show: str
    opacity: float
    cmap: str
    marks: bool
    mask: bool
    tolerance: float


def controls_ui(loaded: LoadedModel, xp: Explainer) -> Controls:
    """Explanation and display controls (sidebar)."""
    classes = list(loaded.classes)
    with st.sidebar:
        st.markdown("### Explanation")
        method = st.selectbox(
            "Method",
            [*CAM_METHODS, "none"],
            key="predict_cam",
            format_func=METHOD_LABELS.get,
        )
        target = st.selectbox(
            "Target class",
            classes,
            index=classes.index(positive_class_for(classes)),
            key="predict_target",
        )
        layers = xp.layers()
        names = [i.name for i in layers]
        labels = {i.name: i.label for i in layers}
        default = xp.default_layer()
        layer = st.selectbox(
            "Layer (feature-map size)",
            names,
            index=names.index(default) if default in names else max(len(names) - 1, 0),
            key="predict_layer",
            format_func=lambda n: labels[n] + (" · default" if n == default else ""),
        )
        scope = st.selectbox(
            "Explain",
            list(SCOPES),
            key="predict_scope",
            format_func={
                "auto": "auto (whole breast; top regions for Score-CAM)",
                "regions": "the top regions",
                "breast": "the whole breast (every patch)",
            }.get,
        )
        st.markdown("### Display")
        show = st.radio(
            "Map shown",
            ["explanation", "probability"],
            horizontal=True,
            key="predict_show",
            disabled=method == "none",
        )
        opacity = st.slider("Opacity", 0.0, 1.0, 0.6, 0.05, key="predict_opacity")
        cmap = st.selectbox("Colour map", list(COLORMAPS), key="predict_cmap")
        marks = st.toggle("Annotated calcifications (markers)", True, key="predict_marks")
        mask = st.toggle("Annotation mask (red)", False, key="predict_mask")
        tolerance = st.number_input(
            "Agreement tolerance (mm)",
            0.0,
            10.0,
            DEFAULT_TOLERANCE_MM,
            0.1,
            key="predict_tolerance",
        )
        with st.expander("Sliding window"):
            stride = st.number_input(
                "Stride (px, 0: half a patch)", 0, 512, 0, 4, key="predict_stride"
            )
            top_k = st.number_input(
                "Image score: mean of the top k patches", 1, 50, 3, 1, key="predict_topk"
            )
            threshold = st.slider("Region threshold", 0.0, 1.0, 0.5, 0.05, key="predict_threshold")
            max_regions = st.number_input("Most regions", 0, 50, 8, 1, key="predict_max_regions")
    sliding = SlidingSettings(
        stride=int(stride) or None,
        top_k=int(top_k),
        min_region_score=float(threshold),
        max_regions=int(max_regions),
    )
    cam = None
    if method != "none":
        cam = CamSettings(method=method, layer=layer, target=target, scope=scope)
    return Controls(
        sliding,
        cam,
        show if cam is not None else "probability",
        float(opacity),
        cmap,
        bool(marks),
        bool(mask),
        float(tolerance),
    )


# --------------------------------------------------------------------------------------
# Work (through mcalc) with a progress bar
# --------------------------------------------------------------------------------------


def _progress(slot: Any, label: str):
    state: dict[str, Any] = {}

    def report(done: int, total: int, message: str) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = slot.progress(0.0)
        bar.progress(min(done / max(total, 1), 1.0), text=f"{label} · {message}")

    return report


def analyse(
    loaded: LoadedModel,
    xp: Explainer,
    rec: ImageRecord,
    ctl: Controls,
    slot: Any,
    *,
    with_cam: bool = True,
) -> ImageAnalysis:
    cache = common.get_image_cache()
    mammo = cache.load(rec.image_path)
    mask, _, _ = annotation_for(cache, rec, mammo.shape, mammo.pixel_spacing_mm)
    return analyse_image(
        loaded,
        mammo,
        key=rec.key,
        file_id=image_key(rec.image_path),
        explainer=xp,
        sliding=ctl.sliding,
        cam=ctl.cam if with_cam else None,
        annotation=mask,
        tolerance_mm=ctl.tolerance,
        cache=results_cache(str(common.settings().cache_dir / "predict")),
        progress=_progress(slot, rec.key),
    )


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------


def maps_for(results: list[ImageAnalysis], ctl: Controls) -> tuple[list, float, str]:
    """The [0, 1] map of each image on one shared scale, its maximum and its title."""
    if ctl.show == "explanation" and all(r.cam is not None for r in results):
        _, hi = joint_range([r.cam.heat for r in results])  # type: ignore[union-attr]
        maps = [r.cam.normalized(hi) for r in results]  # type: ignore[union-attr]
        cam = results[0].cam
        return maps, hi, f"{cam.settings.method} · {cam.target} · {cam.layer}"  # type: ignore[union-attr]
    positive = results[0].pmap.positive
    return [r.pmap.dense() for r in results], 1.0, f"P({positive})"


def figure_ui(
    shown: list[tuple[str, ImageRecord, ImageView, ImageAnalysis]], ctl: Controls, view: str
) -> None:
    results = [r for _, _, _, r in shown]
    maps, vmax, title = maps_for(results, ctl)
    views = [
        overlay_view(v, m, ctl.opacity, ctl.cmap)
        for (_, _, v, _), m in zip(shown, maps, strict=True)
    ]
    titles = [f"{view} {tp} · {r.scores['positive_class']} {r.score:.3f}" for tp, _, _, r in shown]
    fig = pair_figure(views, titles, show_marks=ctl.marks, height=640)
    for col, (_, _, v, r) in enumerate(shown, start=1):
        add_boxes(
            fig,
            [display_box(reg.box, v) for reg in r.regions],
            col,
            labels=[str(reg.rank) for reg in r.regions],
            customdata=[[r.key, reg.rank] for reg in r.regions],
            name=f"regions-{col}",
        )
    add_colorbar(
        fig,
        plotly_colorscale(ctl.cmap),
        title="relative" if title[0] != "P" else title,
        vmin=0.0,
        vmax=1.0,
    )
    st.caption(
        f"Overlay: **{title}**, one colour scale for every panel"
        + ("" if title.startswith("P(") else f" (1.0 = {vmax:.3g})")
        + ". Scroll to zoom, drag to pan: the panels move together. Click a region's square "
        "(or a row of the table) to see it at full resolution."
    )
    event = st.plotly_chart(
        fig,
        width="stretch",
        on_select="rerun",
        selection_mode=("points",),
        key=f"predict_fig_{view}",
        config={"scrollZoom": True, "displaylogo": False},
    )
    _region_from_click(event)


def _region_from_click(event: Any) -> None:
    try:
        points = event.selection["points"]  # type: ignore[index]
    except (AttributeError, KeyError, TypeError):
        return
    for point in reversed(points or []):
        data = point.get("customdata")
        if isinstance(data, list | tuple) and len(data) == 2:
            st.session_state[REGION_KEY] = (str(data[0]), int(data[1]))
            return


def regions_ui(results: list[ImageAnalysis]) -> None:
    rows = []
    for r in results:
        sr = r.spacing_mm[0]
        for reg in r.regions:
            rows.append(
                {
                    "image": r.key,
                    "region": reg.rank,
                    "score": round(reg.score, 4),
                    "row": round(reg.center[0]),
                    "col": round(reg.center[1]),
                    "size (mm)": round((reg.box[1] - reg.box[0]) * sr * r.pmap.factor, 1),
                }
            )
    if not rows:
        st.info(
            "No region scores above the threshold: the model sees nothing there. Lower the "
            "region threshold (sidebar, Sliding window) to list weaker candidates."
        )
        return
    table = pd.DataFrame(rows)
    event = st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="predict_regions_table",
    )
    picked = list(event.selection.rows) if event is not None else []
    if picked and st.session_state.get("predict_last_rows") != picked:
        row = table.iloc[picked[0]]
        st.session_state[REGION_KEY] = (str(row["image"]), int(row["region"]))
    st.session_state["predict_last_rows"] = picked


def zoom_ui(
    shown: list[tuple[str, ImageRecord, ImageView, ImageAnalysis]],
    ctl: Controls,
    opts: DisplayOptions,
) -> None:
    """The selected region at full resolution, with its map, in every shown image."""
    chosen = st.session_state.get(REGION_KEY)
    if not chosen:
        return
    found = [
        (v, r, reg)
        for _, _, v, r in shown
        for reg in r.regions
        if r.key == chosen[0] and reg.rank == chosen[1]
    ]
    if not found:
        return
    v0, r0, region = found[0]
    box = display_box(region.box, v0)
    pad = max(8, (box[1] - box[0]) // 2)
    box = (box[0] - pad, box[1] + pad, box[2] - pad, box[3] + pad)
    maps, _, title = maps_for([r for _, _, _, r in shown], ctl)
    cache = common.get_image_cache()
    crops, heats, boxes, titles = [], [], [], []
    for (tp, rec, v, r), heat in zip(shown, maps, strict=True):
        try:
            crop, used = crop_view(cache, rec, v, opts, box)
        except (ValueError, ImageReadError) as exc:
            st.caption(f"{rec.key}: no crop ({exc})")
            continue
        crops.append(crop)
        heats.append(crop_heat(heat, r.pmap.factor, v, used, crop.shape[:2]))
        boxes.append(used)
        titles.append(f"{tp} · full resolution")
    if not crops:
        return
    # One scale for the zoomed panels, their own maximum: the region's detail stays visible
    # even when the image's peak is elsewhere.
    _, peak = joint_range(heats)
    shown_crops = [
        blend(c, normalize_map(h, 0.0, peak), ctl.opacity, ctl.cmap)
        for c, h in zip(crops, heats, strict=True)
    ]
    scores = " · ".join(f"{name} {p:.3f}" for name, p in region.scores.items())
    st.markdown(f"**Region {region.rank} of {r0.key}** · {scores} · overlay: {title}")
    st.plotly_chart(
        crop_figure(shown_crops, boxes, titles), width="stretch", key="predict_crop_fig"
    )
    st.caption("Colour scale of the zoom: the maximum of the map inside these panels.")


def agreement_ui(results: list[ImageAnalysis], tolerance: float) -> None:
    rows = []
    for r in results:
        for what, a in (("explanation", r.agreement), ("probability map", r.map_agreement)):
            if a is None:
                continue
            rows.append(
                {
                    "image": r.key,
                    "map": what,
                    "energy inside marks": a.energy_inside,
                    "marks' share of the breast": a.area_fraction,
                    "peak on a mark": a.pointing_hit,
                    "annotated pixels": a.marks,
                }
            )
    st.markdown(f"**Agreement with the annotations** (marks dilated by {tolerance:g} mm)")
    if not rows or all(row["energy inside marks"] is None for row in rows):
        st.caption("No annotated calcification on these images: nothing to compare with.")
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption(
        "Energy inside: the share of the map's energy inside the dilated marks (an evenly "
        "spread map scores the marks' share of the breast). Peak on a mark: the pointing game "
        "(the map's maximum falls on a dilated mark)."
    )


def verdict_ui(card: ModelCard, results: list[ImageAnalysis]) -> None:
    from mcalc.store import StoreError
    from mcalc.store.audit import record_verdict
    from pages.readers import reader_ui

    with st.expander("Record a verdict (audit)"):
        reader = reader_ui("predict")
        if reader is None:
            return
        keys = [r.key for r in results]
        scores = {r.key: r.score for r in results}
        with st.form("predict_verdict_form", clear_on_submit=True):
            # The recent exam is what a reader rates first; it is listed last.
            key = st.selectbox("Image", keys, index=len(keys) - 1, key="predict_verdict_image")
            agree, plausible = common.verdict_inputs("predict")
            comment = st.text_area("Comment", key="predict_comment", height=70)
            sent = st.form_submit_button("Save verdict")
        if sent:
            try:
                score = scores[key]
                v = record_verdict(
                    common.settings(),
                    model_id=card.id,
                    model_card=card,
                    image_key=key,
                    reader=reader,
                    agree=agree,
                    plausible=plausible,
                    comment=comment,
                    score=round(score, 6),
                    predicted=results[0].scores["positive_class"] if score >= 0.5 else "negative",
                )
            except (StoreError, ValueError) as exc:
                st.error(f"Verdict not saved: {exc}")
            else:
                st.success(
                    f"Verdict saved for {v.model_id} on {v.image_key} (version {v.version})."
                )


def case_score_ui(
    loaded: LoadedModel, xp: Explainer, case: CaseRecord, ctl: Controls, slot: Any
) -> None:
    if not st.toggle("Case-level score (scores every image of the case)", key="predict_case_all"):
        return
    done = []
    for rec in case.images:
        try:
            done.append(analyse(loaded, xp, rec, ctl, slot, with_cam=False))
        except (NoBreastRegionError, ImageReadError) as exc:
            st.caption(f"{rec.key}: not scored ({exc})")
    slot.empty()
    if not done:
        return
    summary = case_summary(done)
    cols = st.columns(1 + len(summary["by_timepoint"]))
    cols[0].metric(f"Case {case.case_id}", f"{summary['score']:.3f}")
    for col, (tp, value) in zip(cols[1:], summary["by_timepoint"].items(), strict=True):
        col.metric(f"{tp} round", f"{value:.3f}")
    st.caption(f"Case score: {summary['rule']} ({summary['images']} images).")


# --------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------

index = common.require_index()
st.title("Predict and explain")
common.synthetic_banner(index)
settings = common.settings()

try:
    cards, problems = registry(str(settings.models_dir))
except (ModelError, OSError) as exc:
    cards, problems = [], [{"path": str(settings.models_dir), "message": str(exc)}]
if problems:
    with st.expander(f"{len(problems)} model folder(s) skipped"):
        for p in problems:
            st.caption(f"`{p['path']}`: {p['message']}")
if not cards:
    st.info(
        f"No model in `{settings.models_dir}`. Train one on the Train page, or with "
        "`python -m mcalc train`."
    )
    st.stop()

card = model_ui(cards)
try:
    loaded = loaded_model(card.path, card.fingerprint())
    check_model_fits(loaded)
    xp = explainer(card.path, card.fingerprint())
except McalcError as exc:
    st.error(f"Model `{card.id}` cannot be used here: {exc}")
    st.info("Choose another model above; the rest of the app keeps working.")
    st.stop()

case, view, times = case_ui(index)
ctl = controls_ui(loaded, xp)
opts = DisplayOptions(show_annotations=ctl.mask)
slot = st.empty()
shown: list[tuple[str, ImageRecord, ImageView, ImageAnalysis]] = []
for tp in times:
    rec = case.image(view, tp)
    if rec is None:
        st.warning(f"{view} {tp}: this case has no such image.")
        continue
    try:
        result = analyse(loaded, xp, rec, ctl, slot)
        v = cached_view(rec, opts, settings.preview_max_side, case.laterality)
    except NoBreastRegionError as exc:
        st.warning(f"{view} {tp}: {exc}")
        continue
    except LayerError as exc:
        st.error(f"{view} {tp}: {exc}")
        continue
    except ImageReadError as exc:
        st.error(f"{view} {tp}: the image cannot be read: {exc}")
        continue
    except ModelError as exc:
        st.error(f"The model cannot be applied: {exc}")
        st.stop()
    shown.append((tp, rec, v, result))
slot.empty()

if shown:
    results = [r for _, _, _, r in shown]
    cols = st.columns(len(results) + 1)
    for col, (tp, _, _, r) in zip(cols[: len(shown)], shown, strict=True):
        col.metric(
            f"{view} {tp} · {r.scores['positive_class']}",
            f"{r.score:.3f}",
            help=f"Image score: {r.scores['rule']} over {r.scores['patches']} patches.",
        )
    if len(results) > 1:
        cols[-1].metric("Change (recent − prior)", f"{results[-1].score - results[0].score:+.3f}")
    figure_ui(shown, ctl, view)
    regions_ui(results)
    zoom_ui(shown, ctl, opts)
    agreement_ui(results, ctl.tolerance)
    for r in results:
        for note in r.notes + r.pmap.notes + ([] if r.cam is None else r.cam.notes):
            st.caption(f"{r.key}: {note}")
    case_score_ui(loaded, xp, case, ctl, slot)
    verdict_ui(card, results)
