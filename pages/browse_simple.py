"""Browse's simple viewer (the fallback of the reading viewer): each view's prior and
recent as 8-bit pictures windowed on the server, a box selection at full resolution, and the
changes between exams as figures (subtraction, flicker, swipe)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset.records import CaseRecord, ImageRecord
from mcalc.errors import ImageReadError, McalcError
from mcalc.present.reading import slot_name, unreadable_image
from mcalc.present.reading_temporal import (
    not_compared,
    notes_beside_flag,
    registration_caption,
)
from mcalc.present.temporal_figures import (
    COLUMN_HELP,
    MODES,
    READING,
    TABLE_READING,
    temporal_figure,
    tracked_rows,
)
from mcalc.present.viewer_figures import crop_figure, pair_figure, selected_box
from mcalc.temporal import case_summary
from mcalc.temporal.change import status_meaning
from mcalc.temporal.display import TemporalView, temporal_view
from mcalc.viewer import DisplayOptions, ImageView, crop_view
from pages import charts, common, theme
from pages.views import cached_view, case_files_now


def view_pair(case: CaseRecord, view: str, opts: DisplayOptions, max_side: int) -> None:
    """One view (CC or MLO): prior | recent, then full-resolution detail of a selection."""
    records = [case.image(view, tp) for tp in TIMEPOINTS]
    shown: list[tuple[str, ImageRecord, ImageView]] = []
    for tp, rec in zip(TIMEPOINTS, records, strict=True):
        if rec is None:  # said once under the case's facts (Browse's hanging_note)
            continue
        try:
            shown.append((tp, rec, cached_view(rec, opts, max_side, case.laterality)))
        except ImageReadError as exc:
            st.error(unreadable_image(case, view, tp, exc))
    if not shown:
        return
    titles = [f"{slot_name(case, view, tp)} · {v.annotation_caption()}" for tp, _, v in shown]
    fig = pair_figure(
        [v for _, _, v in shown], titles, show_marks=st.session_state.get("browse_marks", True)
    )
    # The panels' coordinates are full-resolution pixels: the union of the images' extents.
    extent = [(v.preview.shape[0] / v.scale, v.preview.shape[1] / v.scale) for _, _, v in shown]
    event = charts.image_pair_chart(
        fig,
        max(h for h, _ in extent) / max(w for _, w in extent),
        on_select="rerun",
        selection_mode=("box",),
        key=f"browse_fig_{view}",
        config={"scrollZoom": True, "displaylogo": False},
    )
    for tp, _, v in shown:
        for note in v.notes:
            st.caption(f"{slot_name(case, view, tp)}: {note}")
    box = selected_box(event)
    if box is None:
        st.caption(
            "Scroll to zoom, drag to pan (both images move together). Use the box-select tool "
            "to see the selected region at full resolution."
        )
        return
    cache = common.get_image_cache()
    crops, boxes = [], []
    for _, rec, v in shown:
        crop, used = crop_view(cache, rec, v, opts, box)
        crops.append(crop)
        boxes.append(used)
    st.plotly_chart(
        theme.styled(
            crop_figure(
                crops,
                boxes,
                [f"{view} {tp} · full resolution" for tp, _, _ in shown],
                views=[v for _, _, v in shown]
                if st.session_state.get("browse_marks", True)
                else None,
            )
        ),
        width="stretch",
        key=f"browse_crop_{view}",
    )


def cached_temporal(case: CaseRecord, case_key: str, view: str, max_side: int) -> TemporalView:
    """The registered ``view`` of ``case``, cached for every session, keyed by the case's
    files as they are now (a file replaced under the same name is registered again)."""
    return _cached_temporal(case, case_key, view, max_side, case_files_now(case))


@st.cache_data(show_spinner="Registering the prior to the recent exam…", max_entries=16)
def _cached_temporal(
    _case: CaseRecord,
    case_key: str,
    view: str,
    max_side: int,
    files: tuple[tuple[str | None, str | None], ...],
) -> TemporalView:
    return temporal_view(common.get_image_cache(), _case, view, max_side=max_side)


def _at(p: tuple[float, float] | None) -> str:
    return "absent" if p is None else f"row {p[0]:.0f}, col {p[1]:.0f}"


def temporal_ui(case: CaseRecord, max_side: int, why_not: str | None = None) -> None:
    """Changes between exams: per view, recent beside subtraction, flicker or swipe;
    ``why_not`` (:func:`~mcalc.present.reading_temporal.temporal_unavailable`): why they
    are not offered, said instead."""
    if why_not:
        st.caption(why_not)
        return
    st.header("Changes between exams")
    left, right = st.columns([2, 1])
    mode = left.radio(
        "Temporal view",
        ["off", *MODES],
        horizontal=True,
        key="browse_temporal_mode",
        persist_state="session",
        help="The prior is registered onto the recent image (affine, then a smooth B-spline "
        "inside the breast); every panel is in recent coordinates.",
    )
    if mode == "off":
        st.caption("Choose subtraction, change, flicker or swipe to register this case's exams.")
        return
    rate = right.slider(
        "Flicker rate (alternations per second)",
        0.5,
        8.0,
        2.0,
        0.5,
        key="browse_flicker_rate",
        persist_state="session",
    )
    key = f"{case.case_id}|{case.folder}"
    views: list[TemporalView] = []
    for view in VIEWS:
        try:
            views.append(cached_temporal(case, key, view, max_side))
        except McalcError as exc:
            st.warning(f"{view}: no temporal view: {exc}")
    if not views:
        return
    uncounted = {tv.view: tv.uncounted for tv in views}
    by_view = {tv.view: tv.tracked for tv in views}
    missing = not_compared(case, views)
    st.markdown(f"**{case_summary(by_view, case.years_between, uncounted, missing)}**")
    st.caption(READING[mode])
    for tv in views:
        reg = tv.registration
        st.subheader(f"{tv.view} · changes")
        table_key = f"browse_tracked_{tv.view}"
        picked = st.session_state.get(table_key, {}).get("selection", {}).get("rows", [])
        item = tv.tracked[picked[0]] if picked and picked[0] < len(tv.tracked) else None
        focus = tv.shown_at(item) if item is not None else None
        charts.image_pair_chart(
            temporal_figure(
                tv,
                mode,
                case=case,
                rate_hz=rate,
                show_marks=st.session_state.get("browse_marks", True),
                focus=focus,
            ),
            tv.recent.shape[0] / tv.recent.shape[1],
            key=f"browse_temporal_{tv.view}",
            config={"scrollZoom": True, "displaylogo": False},
        )
        st.caption(registration_caption(reg))
        for note in notes_beside_flag(tv.notes, reg):
            st.caption(f"{tv.view}: {note}")
        if item is not None:
            st.caption(
                f"Zoomed on the {item.status} {item.kind}: recent {_at(item.recent)}, "
                f"prior {_at(item.prior)} (full-resolution pixels of each exam's file; both "
                "panels show it at the recent position)."
            )
        rows = tracked_rows(tv)
        if rows:
            common.dataframe(
                pd.DataFrame(rows),
                hide_index=True,
                column_config=common.column_help(rows, COLUMN_HELP),
                key=table_key,
                on_select="rerun",
                selection_mode="single-row",
            )
            st.caption(
                "Tick a row to zoom both panels onto that calcification or cluster. "
                + f"{TABLE_READING} "
                + status_meaning()
            )
