"""Predict: run a registered model over a case, explain it, and compare with the annotations.

UI only: widgets -> :func:`mcalc.explain.service.analyse_case` (the call the CLI makes too)
-> figures of :mod:`mcalc.present.predict_figures` -> ``st.*``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset.records import CaseRecord, DatasetIndex, ImageRecord
from mcalc.errors import ImageReadError, McalcError, ModelError
from mcalc.explain.service import (
    CAM_METHODS,
    COLORMAPS,
    DEFAULT_TOLERANCE_MM,
    MAP_SCORE,
    SCOPES,
    AnalysisSettings,
    CamSettings,
    CaseAnalysis,
    Explainer,
    ImageInput,
    ResultsCache,
    SlidingSettings,
    analyse_case,
    check_model_fits,
    model_key,
)
from mcalc.models.card import ModelCard
from mcalc.models.inference import LoadedModel, load_model
from mcalc.models.registry import list_models
from mcalc.models.tasks import positive_class_for
from mcalc.present import predict_figures as figures
from mcalc.progress import ProgressFn
from mcalc.viewer import DisplayOptions, ImageView, crop_view, prepare_view
from pages import common, predict_temporal, state

common.frame()

REGION_KEY = "predict_region"  # (image key, rank) of the region zoomed on; not a widget
#: The model last preselected from :func:`pages.state.selected_model` (not a widget).
APPLIED_KEY = "predict_model_applied"
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
def loaded_model(path: str, fingerprint: str) -> LoadedModel:
    """The model of a registry folder (shared by every session; never modified)."""
    return load_model(path, Path(path).parent)


@st.cache_resource(show_spinner=False, max_entries=4)
def explainer(path: str, fingerprint: str) -> Explainer:
    """The model's explainer: clones and tf-keras-vis objects built once, then reused."""
    loaded = loaded_model(path, fingerprint)
    return Explainer.for_model(loaded)


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


def _preselect(ids: list[str]) -> None:
    """Select the model another page asked for (Train's "Open on Predict") once; the
    reader's own choice afterwards sticks."""
    wanted = state.selected_model(ids)
    if wanted is not None and st.session_state.get(APPLIED_KEY) != wanted:
        st.session_state["predict_model"] = wanted
        st.session_state[APPLIED_KEY] = wanted


def model_ui(cards: list[ModelCard]) -> ModelCard:
    """Model picker and its card summary; returns the chosen card."""
    by_id = {c.id: c for c in cards}
    _preselect(list(by_id))
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
    asked = state.take_predict_case(ids)  # Batch's "open in Predict"
    if asked is not None:
        st.session_state["predict_case"] = asked["case"]
        st.session_state["predict_view"] = asked["view"]
        st.session_state["predict_timepoint"] = asked["timepoint"]
    c1, c2, c3 = st.columns([2, 1, 2])
    case_id = c1.selectbox("Case", ids, key="predict_case")
    view = c2.radio("View", list(VIEWS), horizontal=True, key="predict_view")
    choice = c3.radio("Timepoint", [BOTH, *TIMEPOINTS], horizontal=True, key="predict_timepoint")
    times = list(TIMEPOINTS) if choice == BOTH else [choice]
    return index.case(case_id), view, times


@dataclass(frozen=True)
class Controls:
    analysis: AnalysisSettings
    show: str
    opacity: float
    cmap: str
    marks: bool
    mask: bool


def _explanation_ui(loaded: LoadedModel, xp: Explainer) -> CamSettings | None:
    """Method, target class, layer and scope of the explanation (``None``: none)."""
    classes = list(loaded.classes)
    method = st.selectbox(
        "Method", [*CAM_METHODS, "none"], key="predict_cam", format_func=METHOD_LABELS.get
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
    if method == "none":
        return None
    return CamSettings(method=method, layer=layer, target=target, scope=scope)


def _sliding_ui() -> SlidingSettings:
    with st.expander("Sliding window"):
        stride = st.number_input("Stride (px, 0: half a patch)", 0, 512, 0, 4, key="predict_stride")
        top_k = st.number_input(
            f"{MAP_SCORE.capitalize()}: mean of the top k patch probabilities",
            1,
            50,
            3,
            1,
            key="predict_topk",
        )
        threshold = st.slider("Region threshold", 0.0, 1.0, 0.5, 0.05, key="predict_threshold")
        max_regions = st.number_input("Most regions", 0, 50, 8, 1, key="predict_max_regions")
    return SlidingSettings(
        stride=int(stride) or None,
        top_k=int(top_k),
        min_region_score=float(threshold),
        max_regions=int(max_regions),
    )


def controls_ui(loaded: LoadedModel, xp: Explainer) -> Controls:
    """Explanation and display controls (sidebar)."""
    with st.sidebar:
        st.markdown("### Explanation")
        cam = _explanation_ui(loaded, xp)
        st.markdown("### Display")
        show = st.radio(
            "Map shown",
            ["explanation", "probability"],
            horizontal=True,
            key="predict_show",
            disabled=cam is None,
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
        sliding = _sliding_ui()
    return Controls(
        AnalysisSettings(sliding, cam, float(tolerance)),
        show if cam is not None else "probability",
        float(opacity),
        cmap,
        bool(marks),
        bool(mask),
    )


# --------------------------------------------------------------------------------------
# The one library call, with a progress bar
# --------------------------------------------------------------------------------------


def _progress(slot: Any) -> ProgressFn:
    bars: list[Any] = []

    def report(done: int, total: int, message: str) -> None:
        if not bars:
            bars.append(slot.progress(0.0))
        bars[0].progress(min(done / max(total, 1), 1.0), text=message)

    return report


def run(
    loaded: LoadedModel,
    xp: Explainer,
    records: list[ImageRecord],
    analysis: AnalysisSettings,
    slot: Any,
) -> CaseAnalysis:
    return analyse_case(
        loaded,
        [ImageInput.from_record(rec) for rec in records],
        analysis,
        _progress(slot),
        explainer=xp,
        results=results_cache(str(common.settings().cache_dir / "predict")),
        image_cache=common.get_image_cache(),
    )


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------


def skipped_ui(case: CaseAnalysis, labels: dict[str, str]) -> None:
    for s in case.skipped:
        where = labels.get(s.key, s.key)
        if s.kind == "no-breast":
            st.warning(f"{where}: {s.message}")
        elif s.kind == "unreadable":
            st.error(f"{where}: the image cannot be read: {s.message}")
        else:
            st.error(f"{where}: {s.message}")


def scores_ui(case: CaseAnalysis, panels: list[figures.Panel]) -> None:
    cols = st.columns(len(panels) + 1)
    for col, p in zip(cols[: len(panels)], panels, strict=True):
        r = p.result
        col.metric(
            f"{p.label} · {figures.score_label(r)}",
            f"{r.score:.3f}",
            help=f"{MAP_SCORE.capitalize()}: {r.scores.rule} over {r.scores.patches} patches; "
            f"reads as **{case.predicted(r)}** at the decision threshold "
            f"{case.threshold.value:.2f}.",
        )
    if len(panels) > 1:
        change = panels[-1].result.score - panels[0].result.score
        cols[-1].metric(f"Change in {MAP_SCORE} (recent − prior)", f"{change:+.3f}")
    st.caption(figures.case_caption(case))


def figure_ui(case: CaseAnalysis, panels: list[figures.Panel], ctl: Controls, view: str) -> None:
    overlay = case.overlay_maps(ctl.show)
    fig = figures.overlay_figure(
        panels, overlay, opacity=ctl.opacity, cmap=ctl.cmap, show_marks=ctl.marks
    )
    st.caption(figures.overlay_caption(overlay))
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
        points = event.selection["points"]
    except (AttributeError, KeyError, TypeError):
        return
    for point in reversed(points or []):
        data = point.get("customdata")
        if isinstance(data, list | tuple) and len(data) == 2:
            st.session_state[REGION_KEY] = (str(data[0]), int(data[1]))
            return


def regions_ui(case: CaseAnalysis) -> None:
    table = pd.DataFrame(figures.regions_table(case.images))
    if table.empty:
        st.info(
            "No region scores above the threshold: the model sees nothing there. Lower the "
            "region threshold (sidebar, Sliding window) to list weaker candidates."
        )
        return
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
    case: CaseAnalysis,
    panels: list[figures.Panel],
    records: dict[str, ImageRecord],
    ctl: Controls,
    opts: DisplayOptions,
) -> None:
    """The selected region at full resolution, with its map, in every shown image."""
    found = figures.find_region(panels, st.session_state.get(REGION_KEY))
    if found is None:
        return
    panel, region = found
    box = figures.zoom_box(panel, region)
    overlay = case.overlay_maps(ctl.show)
    cache = common.get_image_cache()
    crops = []
    for p, heat in zip(panels, overlay.maps, strict=True):
        rec = p.result.key
        try:
            crop, used = crop_view(cache, records[rec], p.view, opts, box)
        except (ValueError, ImageReadError) as exc:
            st.caption(f"{rec}: no crop ({exc})")
            continue
        crops.append((crop, used, p, heat))
    if not crops:
        return
    scores = " · ".join(f"{name} {v:.3f}" for name, v in region.scores.items())
    st.markdown(
        f"**Region {region.rank} of {panel.result.key}** · {scores} · overlay: {overlay.title}"
    )
    st.plotly_chart(
        figures.zoom_panels(crops, opacity=ctl.opacity, cmap=ctl.cmap),
        width="stretch",
        key="predict_crop_fig",
    )
    st.caption("Colour scale of the zoom: the maximum of the map inside these panels.")


def agreement_ui(case: CaseAnalysis) -> None:
    table = pd.DataFrame(figures.agreement_table(case.images))
    tolerance = case.settings.tolerance_mm
    st.markdown(f"**Agreement with the annotations** (marks dilated by {tolerance:g} mm)")
    if table.empty or table["energy inside marks"].isna().all():
        st.caption("No annotated calcification on these images: nothing to compare with.")
    if not table.empty:
        st.dataframe(table, hide_index=True, width="stretch")
    st.caption(
        "Energy inside: the share of the map's energy inside the dilated marks (an evenly "
        "spread map scores the marks' share of the breast). Peak on a mark: the pointing game "
        "(the map's maximum falls on a dilated mark)."
    )


def verdict_context(card: ModelCard, case: CaseAnalysis, result: Any) -> Any:
    """What the reader looked at for ``result``: model, map, explanation and threshold."""
    from dataclasses import asdict

    from mcalc.store.audit import VerdictContext

    cam = result.cam
    return VerdictContext(
        model_fingerprint=card.fingerprint(),
        method=cam.settings.method if cam is not None else None,
        layer=cam.layer if cam is not None else None,
        target=cam.target if cam is not None else None,
        scope=cam.settings.scope if cam is not None else None,
        threshold=case.threshold.value,
        threshold_source=case.threshold.source,
        map_settings={
            **{k: v for k, v in asdict(case.settings.sliding).items() if _plain(v)},
            "tolerance_mm": case.settings.tolerance_mm,
            **({"weighting": cam.settings.weighting} if cam is not None else {}),
        },
    )


def verdict_picture(case: CaseAnalysis, result: Any) -> Any:
    """The image with the map the reader looked at (explanation, else probability map)."""
    from mcalc.explain.overlay import blend, outline
    from mcalc.explain.stitch import normalize_map

    if result.cam is not None:
        heat = normalize_map(result.cam.heat, 0.0, case.cam_scale())
    else:
        heat = result.pmap.dense()
    rgb = blend(result.unit, heat, alpha=0.6, cmap="jet")
    if result.marks is not None and result.marks.any():
        rgb = outline(rgb, result.marks, (0, 229, 255))
    return rgb


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def verdict_ui(card: ModelCard, case: CaseAnalysis) -> None:
    from mcalc.store import StoreError
    from mcalc.store.audit import record_verdict
    from pages.readers import reader_ui

    with st.expander("Record a verdict (audit)"):
        reader = reader_ui("predict")
        if reader is None:
            return
        by_key = {r.key: r for r in case.images}
        keys = list(by_key)
        # The form keeps its values after saving: the reader sees what was recorded.
        with st.form("predict_verdict_form", clear_on_submit=False):
            # The recent exam is what a reader rates first; it is listed last.
            key = st.selectbox("Image", keys, index=len(keys) - 1, key="predict_verdict_image")
            agree, plausible = common.verdict_inputs("predict")
            comment = st.text_area("Comment", key="predict_comment", height=70)
            sent = st.form_submit_button("Save verdict")
        if sent:
            try:
                result = by_key[key]
                v = record_verdict(
                    common.settings(),
                    model_id=card.id,
                    model_card=card,
                    image_key=key,
                    reader=reader,
                    agree=agree,
                    plausible=plausible,
                    comment=comment,
                    score=round(result.score, 6),
                    predicted=case.predicted(result),
                    context=verdict_context(card, case, result),
                    snapshot=verdict_picture(case, result),
                )
            except (StoreError, ValueError) as exc:
                st.error(f"Verdict not saved: {exc}")
            else:
                st.session_state["predict_saved_verdict"] = v.row()
        saved = st.session_state.get("predict_saved_verdict")
        if saved:
            st.success(
                f"Saved: {saved['reader']} on {saved['image_key']} with {saved['model_id']} "
                f"(version {saved['version']}, {saved['recorded_at']})."
            )
            st.dataframe(
                pd.DataFrame([{k: v for k, v in saved.items() if k != "model_card"}]),
                hide_index=True,
                width="stretch",
            )
            st.caption(f"Model card: {saved['model_card']}")


def case_score_ui(
    loaded: LoadedModel, xp: Explainer, case: CaseRecord, ctl: Controls, slot: Any
) -> None:
    if not st.toggle("Case-level score (scores every image of the case)", key="predict_case_all"):
        return
    done = run(loaded, xp, list(case.images), replace(ctl.analysis, cam=None), slot)
    slot.empty()
    for s in done.skipped:
        st.caption(f"{s.key}: not scored ({s.message})")
    summary = done.summary()
    if summary is None:
        return
    cols = st.columns(1 + len(summary.by_timepoint))
    cols[0].metric(f"Case {case.case_id}", f"{summary.score:.3f}")
    for col, (tp, value) in zip(cols[1:], summary.by_timepoint.items(), strict=True):
        col.metric(f"{tp} round", f"{value:.3f}")
    st.caption(f"Case score: {summary.rule} ({summary.images} images).")


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
    fingerprint = model_key(card)
    loaded = loaded_model(card.path, fingerprint)
    check_model_fits(loaded)
    xp = explainer(card.path, fingerprint)
except McalcError as exc:
    st.error(f"Model `{card.id}` cannot be used here: {exc}")
    st.info("Choose another model above; the rest of the app keeps working.")
    st.stop()

case, view, times = case_ui(index)
ctl = controls_ui(loaded, xp)
opts = DisplayOptions(show_annotations=ctl.mask)
records: dict[str, ImageRecord] = {}
for tp in times:
    rec = case.image(view, tp)
    if rec is None:
        st.warning(f"{view} {tp}: this case has no such image.")
    else:
        records[rec.key] = rec
labels = {key: f"{rec.view} {rec.timepoint}" for key, rec in records.items()}
slot = st.empty()
try:
    analysis = run(loaded, xp, list(records.values()), ctl.analysis, slot)
except ModelError as exc:
    st.error(f"The model cannot be applied: {exc}")
    st.stop()
slot.empty()
skipped_ui(analysis, labels)
panels = []
for r in analysis.images:
    try:
        v = cached_view(records[r.key], opts, settings.preview_max_side, case.laterality)
    except ImageReadError as exc:
        st.error(f"{labels[r.key]}: the image cannot be read: {exc}")
        continue
    panels.append(figures.Panel(labels[r.key], v, r))
analysis.images = [p.result for p in panels]

if panels:
    scores_ui(analysis, panels)
    figure_ui(analysis, panels, ctl, view)
    regions_ui(analysis)
    zoom_ui(analysis, panels, records, ctl, opts)
    agreement_ui(analysis)
    predict_temporal.temporal_ui(loaded, case, view, analysis)
    for r in analysis.images:
        for note in r.notes + r.pmap.notes + ([] if r.cam is None else r.cam.notes):
            st.caption(f"{r.key}: {note}")
    case_score_ui(loaded, xp, case, ctl, slot)
    verdict_ui(card, analysis)
    common.case_report_ui(case.case_id, card.id, "predict")
