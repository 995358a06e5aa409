"""What the Evaluate tabs share: session keys, tables and the stores of results."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from mcalc.explain.detection_eval import DetectionEvaluation
from mcalc.models.curves import DEFAULT_BOOTSTRAP
from pages.wide_tables import split_table

RESULTS_KEY = "evaluate_results"
ERRORS_KEY = "evaluate_errors"
DETECTION_KEY = "evaluate_detection"
BIRADS_KEY = "evaluate_birads"
BOOTSTRAP_CHOICES = [0, 200, 500, DEFAULT_BOOTSTRAP, 2000]
_DECIMAL_COLUMNS = {
    "@0.5 FP",
    "@1 FP",
    "@2 FP",
    "@4 FP",
    "mean",
    "AUC",
    "AP",
    "Youden threshold",
    "threshold",
    "sensitivity",
    "specificity",
    "sens.",
    "spec.",
    "PPV",
    "NPV",
    "accuracy",
    "F1",
    "one-vs-rest AUC",
    "published accuracy",
    "published AUC",
    "our accuracy",
    "our AUC",
    "AUC without prior",
    "AUC with prior",
    "sd",
    "pooled AUC",
    "AUC A",
    "AUC B",
    "A − B",
    "bootstrap p",
    "DeLong p",
    "accuracy A",
    "accuracy B",
    "accuracy A − B",
    "McNemar p",
}


#: Of those, the columns of a threshold (a card's decision threshold, a paired comparison's):
#: to four decimals, as :func:`mcalc.explain.scoring.threshold_label` gives it beside
#: (0.921513 read "0.922").
_THRESHOLDS = {"threshold"}


#: ... and the BI-RADS table's metrics at a threshold (``at Youden: sens``...): they read
#: ``0.3333``, ``1`` and ``0`` beside three-decimal AUCs. Its thresholds (``: t``) to four, as
#: :func:`mcalc.explain.scoring.threshold_label` (0.921513 read "0.922").
_DECIMAL_SUFFIXES = (": t", ": sens", ": spec", ": acc")


#: Short headers, each with its column's full name as the header's help: the metrics
#: tables scrolled sideways in a projector's 1024 px of page (1280 px at 125 %, beside the
#: sidebar; h/projector). The data keep their names (a download, the tests).
SHORT_HEADERS: dict[str, tuple[str, str]] = {
    "positive class": ("class", "The positive class."),
    "positives": ("pos.", "Positives: samples of the positive class at this level."),
    "AUC 95% CI": ("AUC CI", "The AUC's 95% confidence interval (bootstrap over patients)."),
    "Youden threshold": (
        "Youden t",
        "Youden threshold: where sensitivity + specificity - 1 is largest.",
    ),
    "sensitivity": ("sens.", "Sensitivity (recall, true-positive rate)."),
    "specificity": ("spec.", "Specificity (true-negative rate)."),
    "accuracy": ("acc.", "Accuracy."),
    "suspicious": ("susp.", "Suspicious cases (BI-RADS 4-5)."),
    "published accuracy": ("pub. acc.", "The published accuracy."),
    "published AUC": ("pub. AUC", "The published AUC."),
    "our accuracy": ("our acc.", "Our accuracy, on this dataset."),
}
#: The published results beside ours: the columns in view, what differs under them.
PUBLISHED_IN_VIEW = (
    "published",
    "published accuracy",
    "published AUC",
    "our accuracy",
    "our AUC",
)


def _short(column: str) -> tuple[str | None, str | None]:
    """``column``'s short header and its help (none for a column of its own name)."""
    return SHORT_HEADERS.get(column, (None, None))


def result_key(model_id: str, fingerprint: str) -> str:
    return f"{model_id}@{fingerprint}"


def fitted_table(
    table: pd.DataFrame,
    *,
    key: str,
    height: int | None = None,
    in_view: Sequence[str] | None = None,
    more: str = "More columns",
) -> None:
    """A table as wide as the page, its columns sized to their contents, metrics with 3
    decimals. The model id (or the result's name) is whole and pinned at the left: an automatic id
    (``efficientnetb0-calcification-20261204-183012``) cut to a medium column lost the
    time that tells two models apart, and a table wider than the page scrolls beside it.
    Callers keep tables to a few short-named columns so that most fit without scrolling;
    ``in_view``: the columns shown, the rest in an expander titled ``more`` under the table
    (:func:`pages.wide_tables.split_table`)."""
    config = {
        column: st.column_config.NumberColumn(
            _short(column)[0],
            help=_short(column)[1],
            format="%.4f" if column in _THRESHOLDS or str(column).endswith(": t") else "%.3f",
        )
        for column in table.columns
        if column in _DECIMAL_COLUMNS or str(column).endswith(_DECIMAL_SUFFIXES)
    }
    for column in table.columns:
        if column in SHORT_HEADERS and column not in config:
            label, help_text = _short(column)
            config[column] = st.column_config.Column(label, help=help_text)
    # The row's name stays at the left (a model, a published result or ours).
    for name in ("model", "result"):
        if name in table.columns:
            config[name] = st.column_config.TextColumn(pinned=True)
    split_table(
        table,
        list(table.columns) if in_view is None else in_view,
        key=key,
        more=more,
        height=height if height is not None else "auto",
        column_config=config,
    )


def detection_store() -> dict[str, DetectionEvaluation]:
    """Detection evaluations of this session, by ``<model>@<data>|<settings>``."""
    store: dict[str, DetectionEvaluation] = st.session_state.setdefault(DETECTION_KEY, {})
    return store


def latest_detection(model_id: str, fingerprint: str) -> DetectionEvaluation | None:
    """The most recent detection evaluation of a model on this dataset, any settings."""
    prefix = f"{result_key(model_id, fingerprint)}|"
    found = [k for k in detection_store() if k.startswith(prefix)]
    return detection_store()[found[-1]] if found else None


def birads_store() -> dict[str, dict]:
    """BI-RADS results of this session, by ``<model>@<data>|<rule>|<threshold>|<n_boot>``."""
    store: dict[str, dict] = st.session_state.setdefault(BIRADS_KEY, {})
    return store


def latest_birads(model_id: str, fingerprint: str) -> dict | None:
    """The most recent BI-RADS result of a model on this dataset."""
    prefix = f"{result_key(model_id, fingerprint)}|"
    found = [k for k in birads_store() if k.startswith(prefix)]
    return birads_store()[found[-1]] if found else None
