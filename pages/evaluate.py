"""Evaluate: compare registered models on the current dataset, one tab per question:
classification (ROC, PR, AUC with patient-bootstrap intervals, metrics at a threshold, the
report), detection (FROC, cluster FROC), case-level BI-RADS classification, and
cross-validation runs.

Each tab lives in :mod:`pages.evaluate_tabs` (a sub-package, so Streamlit does not list its
modules as pages); all work is done by :mod:`mcalc`; this page reads widgets and draws.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from mcalc.dataset.records import DatasetIndex
from mcalc.models.card import ModelCard
from mcalc.models.compare import (
    METRIC_COLUMNS,
    PAGE_HEADERS,
    PAGE_IN_VIEW,
    comparison_rows,
    page_table_columns,
)
from mcalc.models.evaluate import evaluation_scope, in_sample_cases
from mcalc.models.fingerprint import dataset_fingerprint
from mcalc.models.registry import RegistryListing, list_models
from mcalc.plural import counted
from pages import common, default_model, menu
from pages.evaluate_tabs.birads import birads_ui
from pages.evaluate_tabs.classification import classification_ui
from pages.evaluate_tabs.crossval import crossval_ui
from pages.evaluate_tabs.detection import detection_ui
from pages.evaluate_tabs.operating import operating_point_ui
from pages.evaluate_tabs.shared import fitted_table
from pages.wide_tables import id_rows

common.frame(menu.page_action(__file__))

#: The page's tabs (one drawn per run: the one chosen, kept across page switches).
TABS = ("Classification", "Detection", "BI-RADS", "Cross-validation")
TAB_KEY = "evaluate_tab"

#: The registry table's columns (of comparison_rows), drawn in page_table_columns' order.
REGISTRY_COLUMNS = (
    "model",
    "architecture",
    "task",
    "input",
    "strategy",
    "weights",
    "pre-trained",
    "synthetic data",
    *METRIC_COLUMNS,
)


def registry_ui(listing: RegistryListing) -> None:
    """The registry as a table, and the folders that were skipped with their reason."""
    st.header("Registered models")
    if listing.models:
        rows = pd.DataFrame(comparison_rows(listing.models))
        fitted_table(
            rows[page_table_columns(REGISTRY_COLUMNS)].rename(columns=PAGE_HEADERS),
            key="evaluate_registry",
            # Rows of 35 px, taller where a long id wraps (pages.wide_tables.id_rows).
            height=min(38 + (id_rows(rows["model"]) or 35) * len(rows), 320),
            in_view=[PAGE_HEADERS.get(c, c) for c in PAGE_IN_VIEW],
            more="The set-up of each model",
        )
        macro = [c.id for c in listing.models if c.test_metrics.get("auc_kind")]
        st.caption(
            "AUC, accuracy, sensitivity (sens.) and specificity (spec.) on the held-out test "
            "patients, as "
            "recorded in each model's card (patch level, threshold 0.5). Training times: "
            "the Train page."
            + (
                f" The AUC of {', '.join(macro)} (3 classes) is the macro one-vs-rest AUC; "
                "the curves below are of suspicious vs the rest."
                if macro
                else ""
            )
        )
    for problem in listing.problems:
        st.warning(
            f"Skipped model folder `{Path(problem['path']).name}`: {problem['message']}",
            icon=":material/folder_off:",
        )


def choose_ui(cards: list[ModelCard]) -> list[ModelCard]:
    """The models to compare (at first: the registry's default model, else the newest);
    returns their cards."""
    cards, choice = default_model.ordered(cards)
    by_id = {c.id: c for c in cards}
    if "evaluate_models" not in st.session_state:
        st.session_state["evaluate_models"] = [cards[0].id]
        if not choice.is_default:
            st.caption(choice.note[0].upper() + choice.note[1:] + ".")
    st.session_state["evaluate_models"] = [
        m for m in st.session_state["evaluate_models"] if m in by_id
    ]
    chosen = st.multiselect(
        "Models to compare",
        list(by_id),
        key="evaluate_models",
        persist_state="session",
        format_func=lambda m: (
            f"{m} ({by_id[m].architecture}, {by_id[m].task_name}){default_model.label(choice, m)}"
        ),
    )
    return [by_id[m] for m in chosen]


def scope_ui(cards: list[ModelCard], index: DatasetIndex, fingerprint: str) -> None:
    """What each model is evaluated on, and warnings about how it was trained."""
    n = len(index.cases)
    for card in cards:
        scope, cases = evaluation_scope(card, index, fingerprint)
        if scope == "test-split":
            st.markdown(
                f"**{card.id}**: on the **held-out test patients** of its training data "
                f"({len(cases)} of {n} cases: {', '.join(cases[:8])}"
                f"{'…' if len(cases) > 8 else ''})."
            )
        else:
            # A breast is a case: two of one woman (INbreast, mini-MIAS) are one patient.
            patients = len({c.patient_id for c in index.cases})
            of = "" if patients == n else f" ({n} cases)"
            word = "patient" if patients == 1 else "patients"
            st.markdown(
                f"**{card.id}**: on **all {patients} {word}**{of} of this dataset (not the "
                "data it was trained on, so no held-out split applies)."
            )
            overlap = in_sample_cases(card, [c.case_id for c in index.cases])
            if overlap:
                st.caption(
                    f":orange[{len(overlap)} of these case ids are among its training/validation "
                    "cases. If this is the same data (e.g. a regenerated demo set whose files "
                    "differ slightly), the numbers below are optimistic.]"
                )
        flags = []
        if card.data.synthetic:
            flags.append(
                "was trained on **synthetic** demo data: its numbers say nothing about "
                "real mammograms"
            )
        if not card.pretrained:
            detail = card.weights.detail or "random initialisation"
            flags.append(f"started from random weights, not pre-trained ({detail})")
        if card.skipped_images:
            flags.append(
                f"was trained without {counted(len(card.skipped_images), 'unreadable image')}: "
                + ", ".join(f"{k} ({v})" for k, v in card.skipped_images.items())
            )
        if flags:
            st.warning(f"**{card.id}** " + "; ".join(flags) + ".", icon=":material/warning:")


index = common.require_index()
st.title("Evaluate")
common.synthetic_banner(index)
st.caption(
    "Compare registered models on the current dataset: ROC and precision-recall curves, AUC "
    "with a 95% confidence interval (bootstrap over patients), sensitivity and specificity "
    "at a threshold, confusion matrices; detection FROC; case-level BI-RADS classification; "
    "patient-level cross-validation. Evaluations are cached per model and dataset."
)

listing = list_models(default_model.registry_folder())
registry_ui(listing)
if not listing.models:
    st.info(
        "No usable model in the registry. Train one on the Train page or with "
        "`python -m mcalc train`."
    )
    st.stop()

st.header("Compare on this dataset")
cards = choose_ui(listing.models)
if not cards:
    st.info("Pick one or more models to compare.")
    st.stop()
fingerprint = dataset_fingerprint(index)
scope_ui(cards, index, fingerprint)
operating_point_ui(cards, index, fingerprint)
tab_classes, tab_detection, tab_birads, tab_cv = common.opened_tabs(TABS, TAB_KEY)
if tab_classes is not None:
    with tab_classes:
        classification_ui(cards, fingerprint)
if tab_detection is not None:
    with tab_detection:
        detection_ui(cards, fingerprint)
if tab_birads is not None:
    with tab_birads:
        birads_ui(cards, fingerprint)
if tab_cv is not None:
    with tab_cv:
        crossval_ui()
