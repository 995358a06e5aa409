"""Predict's widgets: model, case, explanation, sliding window, display and detections.

Each ``*_ui`` draws its widgets and returns plain values (what the Predict page's run and
drawing modules take); widget keys start with ``predict_``, as before the page was split.

Every choice of a reader is drawn with ``persist_state="session"``: Streamlit forgets the
value of a widget that a script run does not draw, and a reader back from another page
found the first case and the default settings. A kept value no longer among a widget's
options (another dataset's case, a class the other model lacks) gives way to its default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from mcalc.config import TIMEPOINTS
from mcalc.dataset.records import CaseRecord, DatasetIndex
from mcalc.explain.opening import DEFAULT_DETECTION_THRESHOLD, default_layer, operating_value
from mcalc.explain.scoring import decision_threshold, threshold_label
from mcalc.explain.service import (
    CAM_METHODS,
    COLORMAPS,
    DEFAULT_TOLERANCE_MM,
    SCOPES,
    AnalysisSettings,
    CamSettings,
    Explainer,
    SlidingSettings,
)
from mcalc.models.card import ModelCard
from mcalc.models.card_text import metrics_text
from mcalc.models.detection import DEFAULT_MIN_DISTANCE_MM, DetectionSettings
from mcalc.models.fingerprint import dataset_fingerprint
from mcalc.models.inference import LoadedModel
from mcalc.models.tasks import positive_class_for
from pages import default_model, state
from pages.predict_run import CASE_IDS_KEY, CASE_WIDGET, case_chosen

#: The model last preselected from :func:`pages.state.selected_model` (not a widget).
APPLIED_KEY = "predict_model_applied"
BOTH = "prior and recent"
VIEW_KEY = "predict_view"
#: The view the reader last chose (not a widget): the View widget shows another one while
#: a case lacks it, and this one again with the next case that has it.
WANTED_VIEW_KEY = "predict_view_wanted"
METHOD_LABELS = {
    "gradcam": "Grad-CAM (Selvaraju 2017)",
    "gradcam++": "Grad-CAM++ (Chattopadhay 2018)",
    "scorecam": "Score-CAM (Wang 2020)",
    "none": "no explanation",
}


@dataclass(frozen=True)
class Display:
    """What changes the drawing only (never the analysis)."""

    show: str
    opacity: float
    cmap: str
    marks: bool
    mask: bool
    detections: DetectionSettings | None


@dataclass(frozen=True)
class Controls:
    analysis: AnalysisSettings
    display: Display


def _preselect(ids: list[str]) -> None:
    """Select the model another page asked for (Train's "Open on Predict") once; the
    reader's own choice afterwards sticks."""
    wanted = state.selected_model(ids)
    if wanted is not None and st.session_state.get(APPLIED_KEY) != wanted:
        st.session_state["predict_model"] = wanted
        st.session_state[APPLIED_KEY] = wanted


def _chosen(model_id: object) -> None:
    """The reader chose ``model_id`` here: the other model pages open on it too."""
    if isinstance(model_id, str):
        state.select_model(model_id)
        st.session_state[APPLIED_KEY] = model_id


@st.cache_resource(max_entries=4)
def _open_fingerprint(root: str, cases: int, ident: int, _index: DatasetIndex) -> str:
    """The open dataset's fingerprint, once per index (``root``, ``cases`` and ``ident``,
    the cached index object's id, key it; the index itself is not hashed): 7 ms for the
    demo's 96 files, more for a large collection."""
    return dataset_fingerprint(_index)


def model_ui(cards: list[ModelCard], index: DatasetIndex) -> ModelCard:
    """Model picker (opening on the registry's default model, else the newest, as the
    warm-up's analysis ahead does) and its card summary; returns the chosen card. Its test
    figures are said to come from other data when ``index`` is not the data it was
    trained on."""
    cards, choice = default_model.ordered(cards)
    by_id = {c.id: c for c in cards}
    _preselect(list(by_id))
    model_id = st.selectbox(
        "Model",
        list(by_id),
        key="predict_model",
        persist_state="session",
        # Audit opens on the model chosen here (and Predict on one chosen there).
        on_change=lambda: _chosen(st.session_state.get("predict_model")),
        format_func=lambda i: (
            f"{i} · {by_id[i].architecture} · {by_id[i].task_name}{default_model.label(choice, i)}"
        ),
    )
    card = by_id[model_id]
    default_model.default_ui(choice, model_id, "predict", picker="predict_model")
    test = card.test_metrics
    # One line, not metric tiles: long values (task, weights source) were cut off, and
    # sensitivity/specificity belong beside the AUC (a model can rank well and miss all).
    # The patch line under it in the same element, and one warning for both cautions:
    # each element costs the browser a render of the whole page while a run's elements
    # arrive (a first visit's main thread is its bottleneck; docs/measurements.md).
    # The test figures say the threshold they hold at, and that it is not the one the model
    # decides at where it differs (sensitivity at 0.5 read as the operating point's).
    figures = metrics_text(test, decision_threshold(card).value, missing=True) or "no test figures"
    st.markdown(
        f"**{card.architecture or '?'}** · task **{card.task_name or '?'}** · freeze "
        f"**{card.freeze.strategy}** · weights **{card.weights.source}** · test {figures}  \n"
        f":gray[Patches {card.patch.size or '?'} px at {card.patch.spacing_mm or 'native'} mm · "
        f"test patches {test.get('n', 'n/a')} · classes {', '.join(card.classes)}]"
    )
    cautions = []
    if card.data.synthetic:
        cautions.append(
            "Trained on **synthetic** demo data: its scores say nothing about real mammograms."
        )
    open_fp = _open_fingerprint(str(index.root), len(index.cases), id(index), index)
    scope = card.test_scope_note(open_fp)
    if scope is not None:
        cautions.append(scope)
    if not card.pretrained:
        cautions.append(
            f"Trained **from scratch** (no pre-trained weights): "
            f"{card.weights.detail or 'random initialisation'}."
        )
    if cautions:
        st.warning(
            "  \n".join(cautions),
            icon=":material/science:" if card.data.synthetic else ":material/warning:",
        )
    return card


def _view_chosen() -> None:
    """The reader's own view: the one shown wherever the case has it."""
    st.session_state[WANTED_VIEW_KEY] = st.session_state.get(VIEW_KEY)
    case_chosen()


def _view_ui(col: Any, index: DatasetIndex, case: CaseRecord) -> tuple[str, str]:
    """The View choice, among the views the collection has (mini-MIAS: MLO alone); set to
    the one ``case`` has where it lacks the reader's (a CBIS-DDSM case of CC alone), the
    reader's coming back with the next case that has it. Returns ``(asked, shown)``."""
    views = index.views()
    wanted = st.session_state.get(WANTED_VIEW_KEY)
    held = st.session_state.get(VIEW_KEY)
    asked = wanted if wanted in views else held if held in views else views[0]
    shown = case.view_shown(asked)
    if shown != asked:  # kept for the next case that has it
        st.session_state[WANTED_VIEW_KEY] = asked
    if held != shown:  # set before the widget is drawn: it shows what the page shows
        st.session_state[VIEW_KEY] = shown
    col.radio(
        "View",
        list(views),
        horizontal=True,
        key=VIEW_KEY,
        persist_state="session",
        on_change=_view_chosen,
        help="The views this collection has; a case without the one chosen shows the one it has.",
    )
    return asked, shown


def case_ui(index: DatasetIndex) -> tuple[CaseRecord, str, list[str], str]:
    """Case, view and timepoint(s); a change starts the new choice's analysis. Returns the
    case, the view shown (one it has), the timepoints and the view the reader asked for."""
    ids = [c.case_id for c in index.cases]
    st.session_state[CASE_IDS_KEY] = ids  # the viewer's next/previous case (predict_viewer)
    asked = state.take_predict_case(ids)  # Batch's "open in Predict", Browse's case
    if asked is not None:
        st.session_state[CASE_WIDGET] = asked["case"]
        for what in ("view", "timepoint"):  # Browse asks for the case alone
            if what in asked:
                st.session_state[f"predict_{what}"] = asked[what]
        if "view" in asked:
            st.session_state[WANTED_VIEW_KEY] = asked["view"]
        case_chosen()
    else:
        # The reader's current case (pages.state): the case they were on in Browse,
        # Annotate or Audit; a change starts its analysis, as a pick here does.
        shown = state.current_case(ids)
        held = st.session_state.get(CASE_WIDGET)
        if held not in ids or (shown is not None and shown != held):
            st.session_state[CASE_WIDGET] = shown or ids[0]
            if held in ids:
                case_chosen()
    c1, c2, c3 = st.columns([2, 1, 2])
    # A new choice starts its analysis by itself (pages.predict_run.case_chosen).
    case_id = c1.selectbox(
        "Case", ids, key=CASE_WIDGET, persist_state="session", on_change=case_chosen
    )
    case = index.case(case_id)
    wanted, view = _view_ui(c2, index, case)
    times = _timepoint_ui(c3, index)
    state.show_case(case_id)  # the case the reader is on, for the other pages
    state.keep_case_in_url(case_id)
    return case, view, times, wanted


def _timepoint_ui(col: Any, index: DatasetIndex) -> list[str]:
    """The Timepoint choice (both rounds, prior or recent); returns the timepoints. A
    collection of one round (the public collections' manifests: recent images only) offers
    no other: its round is shown, greyed, with why (the reader's choice for a collection
    of two rounds is kept meanwhile, under its own key)."""
    rounds = index.rounds()
    if len(rounds) == 1:
        col.radio(
            "Exam",
            list(rounds),
            horizontal=True,
            disabled=True,
            key="predict_timepoint_only",
        )
        col.caption(f"This collection has one exam per case: {rounds[0]} images only.")
        return list(rounds)
    choice = col.radio(
        "Exam",
        [BOTH, *TIMEPOINTS],
        horizontal=True,
        key="predict_timepoint",
        persist_state="session",
        on_change=case_chosen,
    )
    return list(TIMEPOINTS) if choice == BOTH else [choice]


def _explanation_ui(loaded: LoadedModel, xp: Explainer) -> CamSettings | None:
    """Method, target class, layer and scope of the explanation (``None``: none)."""
    classes = list(loaded.classes)
    method = st.selectbox(
        "Method",
        [*CAM_METHODS, "none"],
        key="predict_cam",
        persist_state="session",
        format_func=METHOD_LABELS.__getitem__,
    )
    target = st.selectbox(
        "Target class",
        classes,
        index=classes.index(positive_class_for(classes)),
        key="predict_target",
        persist_state="session",
    )
    layers = xp.layers()
    names = [i.name for i in layers]
    labels = {i.name: i.label for i in layers}
    default = xp.default_layer()
    first = default_layer(xp)  # the explainer's default, else the last one offered
    layer = st.selectbox(
        "Layer (feature-map size)",
        names,
        index=names.index(first) if first in names else 0,
        key="predict_layer",
        persist_state="session",
        format_func=lambda n: labels[n] + (" · default" if n == default else ""),
    )
    scope = st.selectbox(
        "Explain",
        list(SCOPES),
        key="predict_scope",
        persist_state="session",
        format_func={
            "auto": "auto (whole breast; Score-CAM: the regions listed, none if none)",
            "regions": "the top regions, whatever their score",
            "breast": "the whole breast (every patch)",
        }.__getitem__,
    )
    if method == "none":
        return None
    return CamSettings(method=method, layer=layer, target=target, scope=scope)


def at_operating_ui(key: str, what: str, operating: float) -> bool:
    """A toggle: ``what`` at the model's operating threshold (on by default), so that an
    image read as not the positive class lists and draws none; off, the slider beside it
    sets the threshold (a researcher looking under the model's decision)."""
    return bool(
        st.toggle(
            f"{what} at the model's operating threshold ({threshold_label(operating)})",
            True,
            key=key,
            persist_state="session",
            help="The model's decision threshold (its card's; Evaluate, Operating points): an "
            "image reads positive exactly when it has one at or above it. Turn off to set "
            "another threshold; those under the operating threshold are then said to be.",
        )
    )


def _threshold_ui(label: str, key: str, follow: bool, operating: float) -> float:
    """The threshold in force: the operating one while ``follow`` (no slider then: a greyed
    one read as the threshold in force), else the slider's."""
    if follow:
        return operating
    value = st.slider(
        label, 0.0, 1.0, DEFAULT_DETECTION_THRESHOLD, 0.05, key=key, persist_state="session"
    )
    return float(value)


def _sliding_ui(operating: float) -> SlidingSettings:
    # Defaults: the library's (what mcalc.explain.opening.default_settings analyses ahead).
    d = SlidingSettings()
    stride = st.number_input(
        "Stride (px, 0: half a patch)", 0, 512, 0, 4, key="predict_stride", persist_state="session"
    )
    follow = at_operating_ui("predict_regions_at_operating", "Regions", operating)
    threshold = _threshold_ui("Region threshold", "predict_threshold", follow, operating)
    max_regions = st.number_input(
        "Most regions", 0, 50, d.max_regions, 1, key="predict_max_regions", persist_state="session"
    )
    return SlidingSettings(
        stride=int(stride) or None,
        min_region_score=float(threshold),
        max_regions=int(max_regions),
    )


def _detections_ui(operating: float) -> DetectionSettings | None:
    """Detections (peaks of the map after non-maximum suppression) shown or not, and how."""
    if not st.toggle(
        "Detections (markers and table)", True, key="predict_detections", persist_state="session"
    ):
        return None
    distance = st.number_input(
        "Minimum distance between detections (mm)",
        0.1,
        20.0,
        DEFAULT_MIN_DISTANCE_MM,
        0.1,
        key="predict_det_distance",
        persist_state="session",
    )
    follow = at_operating_ui("predict_det_at_operating", "Detections", operating)
    threshold = _threshold_ui(
        "Detection score threshold", "predict_det_threshold", follow, operating
    )
    return DetectionSettings(min_distance_mm=float(distance), threshold=float(threshold))


def _now(key: str, default: Any) -> Any:
    """A widget's value as this run reads it (the reader's last choice, else the default),
    for the label of the popover drawn before the widget."""
    return st.session_state.get(key, default)


def _display_ui(cam: CamSettings | None) -> tuple[str, float, str, bool, bool]:
    show = st.radio(
        "Map shown",
        ["explanation", "probability"],
        horizontal=True,
        key="predict_show",
        persist_state="session",
        disabled=cam is None,
    )
    opacity = st.slider(
        "Opacity", 0.0, 1.0, 0.6, 0.05, key="predict_opacity", persist_state="session"
    )
    cmap = st.selectbox("Colour map", list(COLORMAPS), key="predict_cmap", persist_state="session")
    marks = st.toggle(
        "Annotated calcifications (markers)", True, key="predict_marks", persist_state="session"
    )
    mask = st.toggle("Annotation mask (red)", False, key="predict_mask", persist_state="session")
    return show, float(opacity), cmap, bool(marks), bool(mask)


def controls_ui(loaded: LoadedModel, xp: Explainer) -> Controls:
    """Explanation, display, detection and sliding-window controls (sidebar), each group in
    a popover whose label says what is in force.

    Popovers rather than widgets drawn open in the sidebar: the browser builds a closed
    popover's widgets only when it is opened, while every script run of the page sends
    them. Drawn open, these 21 widgets with their markdown labels were much of what the
    browser rendered again on each run of a first visit or a case change, beside the
    analysis on a 2-core machine (CDP profiles, 3 December 2026: React renders of
    sliders, number inputs and labels; ``bench/browser_predict.py --profile``).
    """
    with st.sidebar:
        method = _now("predict_cam", CAM_METHODS[0])
        with st.popover(
            f"Explanation: {METHOD_LABELS.get(method, method)}",
            icon=":material/psychology:",
            width="stretch",
        ):
            cam = _explanation_ui(loaded, xp)
        shown_now = _now("predict_show", "explanation") if cam is not None else "probability"
        with st.popover(
            f"Display: {shown_now} map, opacity {float(_now('predict_opacity', 0.6)):g}",
            icon=":material/palette:",
            width="stretch",
        ):
            show, opacity, cmap, marks, mask = _display_ui(cam)
        operating = operating_value(loaded)
        if _now("predict_det_at_operating", True):
            det_label = f"at the operating threshold, ≥ {threshold_label(operating)}"
        else:
            det_label = (
                f"score ≥ {float(_now('predict_det_threshold', DEFAULT_DETECTION_THRESHOLD)):g}"
            )
        with st.popover(
            f"Detections: {det_label}" if _now("predict_detections", True) else "Detections: off",
            icon=":material/my_location:",
            width="stretch",
        ):
            detections = _detections_ui(operating)
        with st.popover("Sliding window and agreement", icon=":material/grid_on:", width="stretch"):
            sliding = _sliding_ui(operating)
            tolerance = st.number_input(
                "Agreement tolerance (mm)",
                0.0,
                10.0,
                DEFAULT_TOLERANCE_MM,
                0.1,
                key="predict_tolerance",
                persist_state="session",
            )
    display = Display(
        show if cam is not None else "probability",
        opacity,
        cmap,
        marks,
        mask,
        detections,
    )
    return Controls(AnalysisSettings(sliding, cam, float(tolerance)), display)
