"""The results table of a batch run: its columns, files, resumption and views.

One row per image and (model, settings): ``<out>/results.parquet`` and the same table as
``<out>/results.csv``, both replaced atomically (:mod:`mcalc.fileio`) at every checkpoint,
so a reader or a crash never sees half a table. ``<out>/progress.json`` says how far the
run is. Lists (regions, detections, class scores, the explanation, map files) are JSON
text in their cells, so the CSV and the Parquet file hold the same values.

A row is *done* for a rerun when it has no error and the same image file (path, size,
modification time), model file (:func:`mcalc.explain.results.model_key`) and settings
(:meth:`mcalc.batch.settings.BatchSettings.key`); failed rows are tried again.

Example:
    >>> frame = empty_table()
    >>> list(frame.columns[:3]), len(frame)
    (['image_key', 'case_id', 'patient_id'], 0)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from mcalc.batch.called import with_called
from mcalc.batch.progress_file import PROGRESS_FILE, measured_speeds, read_progress, write_progress
from mcalc.explain.methods import method_name
from mcalc.explain.scoring import DecisionThreshold, decision_text, threshold_label
from mcalc.fileio import atomic_write_with
from mcalc.spreadsheet import csv_text, unescape_cell

__all__ = [
    "COLUMNS",
    "RESULTS_PARQUET",
    "RESULTS_CSV",
    "PROGRESS_FILE",
    "MAPS_DIR",
    "DISPLAY_COLUMNS",
    "empty_table",
    "to_table",
    "read_results",
    "write_results",
    "merge_rows",
    "done_keys",
    "detection_threshold",
    "threshold_note",
    "old_score_rule",
    "error_row",
    "rows_to_columns",
    "columns_to_rows",
    "write_progress",
    "read_progress",
    "filter_results",
    "case_scores",
    "ResultSet",
    "result_sets",
    "launched_set",
    "launch_counts",
    "measured_speeds",
    "outcome_text",
]

log = logging.getLogger(__name__)

RESULTS_PARQUET = "results.parquet"
RESULTS_CSV = "results.csv"
MAPS_DIR = "maps"

#: Every column, in order, with its type (``str``, ``float``, ``int`` or ``bool``).
COLUMNS: dict[str, str] = {
    "image_key": "str",
    "case_id": "str",
    "patient_id": "str",
    "view": "str",
    "timepoint": "str",
    "laterality": "str",
    "score": "float",
    "predicted": "str",
    "positive_class": "str",
    "threshold": "float",
    "class_scores": "str",
    "n_regions": "int",
    "n_regions_called": "int",
    "top_regions": "str",
    "n_detections": "int",
    "n_detections_called": "int",
    "n_clusters": "int",
    "detections": "str",
    "annotated": "bool",
    "map_energy_inside": "float",
    "explanation": "str",
    "warning": "str",
    "patches": "int",
    "maps": "str",
    "model_id": "str",
    "model_fingerprint": "str",
    "model_key": "str",
    "settings_key": "str",
    "settings": "str",
    "image_path": "str",
    "file_key": "str",
    "annotation_path": "str",
    "annotation_kind": "str",
    "order": "int",
    "seconds": "float",
    "finished_at": "str",
    "worker": "str",
    "engine": "str",
    "error_kind": "str",
    "error": "str",
}
#: The columns a results view shows first (the rest are for files and provenance).
DISPLAY_COLUMNS: tuple[str, ...] = (
    "image_key", "case_id", "view", "timepoint", "score", "predicted", "threshold",
    "n_regions", "n_regions_called", "n_detections", "n_detections_called", "n_clusters",
    "annotated", "seconds", "model_id", "error",
)  # fmt: skip
_BLANK = {"str": "", "float": float("nan"), "int": 0, "bool": False}
_DTYPES = {"str": object, "float": "float64", "int": "int64", "bool": "bool"}


def empty_table() -> pd.DataFrame:
    """A table with every column and no row."""
    return to_table([])


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return _BLANK[kind]
    if isinstance(value, np.generic):
        value = value.item()
    if kind == "str":
        return str(value)
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    return bool(value)


def to_table(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows (dicts) as a table of :data:`COLUMNS`, each cell of its column's type."""
    data: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for row in rows:
        for name, kind in COLUMNS.items():
            data[name].append(_cell(row.get(name), kind))
    return pd.DataFrame(
        {name: pd.Series(values, dtype=_DTYPES[COLUMNS[name]]) for name, values in data.items()}
    )


def error_row(item: Any, kind: str, message: str, common: dict[str, Any]) -> dict[str, Any]:
    """The row of an image that could not be analysed (``item``: a ``BatchItem``)."""
    return {**item.as_row(), **common, "error_kind": kind, "error": message or kind}


def rows_to_columns(rows: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Rows as a batch of columns (what Ray Data's ``map_batches`` passes around)."""
    table = to_table(rows)
    return {name: table[name].to_numpy() for name in table.columns}


def columns_to_rows(batch: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """A batch of columns as rows of plain Python values."""
    names = list(batch)
    lists = [np.asarray(batch[k]).tolist() for k in names]
    return [dict(zip(names, vals, strict=True)) for vals in zip(*lists, strict=True)]


def read_results(out_dir: str | Path) -> pd.DataFrame:
    """The results table of a run folder (empty when there is none yet).

    The Parquet file is read when present, else the CSV; an unreadable file is logged and
    read as empty (its images are then done again). A row's ``predicted`` reads in today's
    words (:func:`mcalc.explain.scoring.decision_text`: ``negative`` from a run before 7
    December 2026 reads ``not calcification``), its regions and detections with ``called``
    and their counts (:func:`mcalc.batch.called.with_called`, for rows made before them).
    """
    folder = Path(out_dir)
    parquet, csv = folder / RESULTS_PARQUET, folder / RESULTS_CSV
    try:
        if parquet.is_file():
            frame = pd.read_parquet(parquet)
        elif csv.is_file():
            text = [k for k, t in COLUMNS.items() if t == "str"]
            frame = pd.read_csv(csv, dtype=dict.fromkeys(text, str))
            # An empty text cell reads as NaN, which to_table wrote as "nan"; a cell escaped
            # for spreadsheets ('=...) reads as the parquet file holds it.
            frame = frame.fillna({k: "" for k in text if k in frame.columns})
            for k in text:
                if k in frame.columns:
                    frame[k] = frame[k].map(unescape_cell)
        else:
            return empty_table()
    except (OSError, ValueError) as exc:
        log.warning("unreadable results table in %s (%s): its images are done again", folder, exc)
        return empty_table()
    table = to_table(with_called(frame).to_dict("records"))
    # Rows written before 7 December 2026 said "negative" below the threshold.
    table["predicted"] = [
        decision_text(p, c)
        for p, c in zip(table["predicted"], table["positive_class"], strict=True)
    ]
    return table


def write_results(out_dir: str | Path, table: pd.DataFrame) -> None:
    """Replace ``results.parquet`` and ``results.csv`` atomically, rows in collection order.

    Raises:
        WriteError: the folder refuses the files (nothing half-written is left).
    """
    folder = Path(out_dir)
    table = table.sort_values(["order", "image_key"], kind="stable").reset_index(drop=True)

    def parquet(fh: IO[bytes]) -> None:
        table.to_parquet(fh, index=False)

    def csv(fh: IO[bytes]) -> None:
        # Case ids come from a collection's spreadsheet: '=...' must not run when opened.
        fh.write(csv_text(table).encode("utf-8"))

    atomic_write_with(folder / RESULTS_PARQUET, parquet)
    atomic_write_with(folder / RESULTS_CSV, csv)


def _identity(frame: pd.DataFrame) -> pd.Series:
    return frame["image_key"] + "|" + frame["model_key"] + "|" + frame["settings_key"]


def merge_rows(table: pd.DataFrame, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """``table`` with ``rows`` added; a row replaces the one of the same image, model and
    settings."""
    if not rows:
        return table
    new = to_table(rows)
    if table.empty:
        return new
    keep = table[~_identity(table).isin(set(_identity(new)))]
    return pd.concat([keep, new], ignore_index=True)


def done_keys(
    table: pd.DataFrame, model_key: str, settings_key: str, threshold: float | None = None
) -> dict[str, str]:
    """``{image_key: file_key}`` of the rows done without error for this model and settings
    (an image whose file changed since is not done) and, given ``threshold`` (the model's
    decision threshold now), decided at it: a row made before the card's threshold changed
    is redone, so that one run's rows never mix two thresholds."""
    keep = (
        (table["model_key"] == model_key)
        & (table["settings_key"] == settings_key)
        & (table["error"] == "")
    )
    if threshold is not None:
        made_at = pd.to_numeric(table["threshold"], errors="coerce")
        keep &= (made_at - float(threshold)).abs() <= 1e-9
    ok = table[keep]
    return dict(zip(ok["image_key"], ok["file_key"], strict=True))


def detection_threshold(table: pd.DataFrame) -> float | None:
    """The detection threshold the rows of ``table`` were made with (their ``settings``
    column; runs before 7 December 2026 at 0.5, later ones at the model's decision
    threshold), ``None`` when no row says or rows differ.

    >>> detection_threshold(to_table([{"settings": '{"detection": {"threshold": 0.92}}'}]))
    0.92
    """
    found: set[float] = set()
    for text in table["settings"].dropna().unique():
        try:
            found.add(float(json.loads(text)["detection"]["threshold"]))
        except (ValueError, KeyError, TypeError):
            return None
    return found.pop() if len(found) == 1 else None


def threshold_note(table: pd.DataFrame, current: DecisionThreshold) -> str | None:
    """What to say when rows of ``table`` were decided at another threshold than the
    model's ``current`` one (the card's changed since they were made), else ``None``.

    >>> t = to_table([{"threshold": 0.5, "image_key": "a"}, {"threshold": 0.5}])
    >>> threshold_note(t, DecisionThreshold(0.921513, "Youden's J"))[:58]
    'These 2 rows were decided at 0.50; the model now decides a'
    """
    made_at = pd.to_numeric(table["threshold"], errors="coerce")
    other = made_at[(made_at - current.value).abs() > 1e-9]
    if other.empty and not made_at.isna().any():
        return None
    n, total = int(len(other) + made_at.isna().sum()), len(table)
    values = ", ".join(threshold_label(v) for v in sorted(set(other.dropna()))) or "no threshold"
    which = f"These {n} rows were" if n == total else f"{n} of these {total} rows were"
    return (
        f"{which} decided at {values}; the model now decides at {current.text} "
        f"({current.source}): their 'predicted' column is not today's decision. Launch the "
        "run again to redo them at today's threshold (the other rows are kept)."
    )


def filter_results(
    table: pd.DataFrame,
    *,
    min_score: float = 0.0,
    max_score: float = 1.0,
    errors: str = "all",
    model_key: str | None = None,
    result_set: ResultSet | None = None,
    regions: str = "all",
) -> pd.DataFrame:
    """The rows to show: scores in ``[min_score, max_score]`` (failed rows have none),
    ``errors`` ``all``, ``only`` (failed rows) or ``none`` (analysed rows), of one model,
    of one :class:`ResultSet` (one model file and settings: a run folder keeps every
    launch's rows, so that none is redone); ``regions`` ``all``, ``called`` (images with a
    region the model calls) or ``below`` (with a region listed below its threshold).

    Raises:
        ValueError: an unknown ``errors`` or ``regions`` choice.
    """
    if errors not in ("all", "only", "none"):
        raise ValueError(f"errors must be all, only or none, got {errors!r}")
    if regions not in ("all", "called", "below"):
        raise ValueError(f"regions must be all, called or below, got {regions!r}")
    failed = table["error"] != ""
    in_range = table["score"].between(min_score, max_score)
    keep = {"all": in_range | failed, "only": failed, "none": in_range & ~failed}[errors]
    if model_key is not None:
        keep &= table["model_key"] == model_key
    if result_set is not None:
        keep &= result_set.holds(table)
    if regions == "called":
        keep &= table["n_regions_called"] > 0
    elif regions == "below":
        keep &= table["n_regions"] > table["n_regions_called"]
    return table[keep]


@dataclass(frozen=True)
class ResultSet:
    """The rows of one model file and settings in a run's table: one launch's results
    (launches with other settings, or an earlier version of the model, keep their own).

    Attributes:
        model_key, settings_key: what the rows were computed with.
        label: how a person tells it from the others (model, explanation, maps; regions
            listed under the row's threshold, ``regions from 0.50``).
        explanation: the explanation method (``""``: none); maps: maps were written.
        rows, failed: its rows, and those with an error.
        last: the newest ``finished_at`` of its rows (ISO text; ``""``: none).
        old_rules: made by a rule of before 5 December 2026 (a launch today redoes them).
        regions_from: the least score of a listed region (``--threshold``; ``None``: unknown).
    """

    model_key: str
    settings_key: str
    model_id: str
    label: str
    explanation: str
    maps: bool
    rows: int
    failed: int
    last: str
    old_rules: bool = False
    regions_from: float | None = None

    @property
    def key(self) -> str:
        """The set's identity, ``<model_key>|<settings_key>`` (a choice of set is kept by it:
        a launch that adds a set moves the others in the list)."""
        return f"{self.model_key}|{self.settings_key}"

    def holds(self, table: pd.DataFrame) -> pd.Series:
        """Which rows of ``table`` are this set's."""
        return (table["model_key"] == self.model_key) & (table["settings_key"] == self.settings_key)


def _settings_of(text: str) -> tuple[str, bool, list[str]]:
    """``(explanation method or "", maps, old rules)`` of a row's ``settings`` JSON
    (``("", False, [])`` for text that is not such an object). Old rules, in words, of a
    row made before 5 December 2026: its map score the mean of the top 3 grid patches (its
    sliding window settings name ``top_k``), not today's top detection's score; its regions
    the best grid patches (its settings name no ``region_rule``), not patches centred on
    its top detections."""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict) or not data:
        return "", False, []
    cam = data.get("cam")
    method = str(cam.get("method") or "") if isinstance(cam, dict) else ""
    sliding = data.get("sliding")
    old = []
    if isinstance(sliding, dict) and "top_k" in sliding:
        old.append("map score by the top-3 grid rule")
    if "region_rule" not in data:
        old.append("regions by the grid rule")
    return method, bool(data.get("maps")), old


def _region_floor(settings: str) -> float | None:
    """The smallest score of a listed region (``--threshold``) in a row's ``settings``."""
    try:
        return float(json.loads(settings)["sliding"]["min_region_score"])
    except (ValueError, KeyError, TypeError):
        return None


def old_score_rule(settings: str) -> bool:
    """Whether a row's score was made by the map-score rule before 5 December 2026 (the
    mean of the top 3 grid patches, not the top detection's score), from its ``settings``
    JSON (:func:`_settings_of`'s reading)."""
    return "map score by the top-3 grid rule" in _settings_of(settings)[2]


def result_sets(table: pd.DataFrame) -> list[ResultSet]:
    """The result sets of a run's table, newest first (by their newest row).

    Example:
        >>> t = to_table([{"image_key": "a", "model_id": "m", "model_key": "k",
        ...     "settings_key": "s1", "settings": '{"cam": null, "maps": false, "region_rule": 2}'},
        ...     {"image_key": "a", "model_id": "m", "model_key": "k", "settings_key": "s2",
        ...     "settings": '{"cam": {"method": "gradcam"}, "maps": true, "region_rule": 2}'},
        ...     {"image_key": "a", "model_id": "m", "model_key": "k", "settings_key": "s1b",
        ...     "settings": '{"cam": null, "maps": false}'},
        ...     {"image_key": "a", "model_id": "m", "model_key": "k", "settings_key": "s0",
        ...     "settings": '{"cam": null, "maps": false, "sliding": {"top_k": 3}}'}])
        >>> [s.label for s in result_sets(t)]  # doctest: +NORMALIZE_WHITESPACE
        ['m · no explanation', 'm · Grad-CAM · maps',
         'm · no explanation · regions by the grid rule (before 5 December 2026)',
         'm · no explanation · map score by the top-3 grid rule and regions by the grid rule (before 5 December 2026)']
    """
    out: list[ResultSet] = []
    if table.empty:
        return out
    for (mkey, skey), rows in table.groupby(["model_key", "settings_key"], sort=False):
        method, maps, old = _settings_of(str(rows["settings"].iloc[0]))
        model_id = str(rows["model_id"].iloc[0])
        parts = [model_id, method_name(method) or "no explanation"] + (["maps"] if maps else [])
        least = _region_floor(str(rows["settings"].iloc[0]))
        if least is not None and least < float(rows["threshold"].min()) - 1e-9:
            parts.append(f"regions from {threshold_label(least)}")  # some listed, not called
        if old:
            parts.append(f"{' and '.join(old)} (before 5 December 2026)")
        last = max((str(v) for v in rows["finished_at"]), default="")
        out.append(
            ResultSet(
                str(mkey),
                str(skey),
                model_id,
                " · ".join(parts),
                method,
                maps,
                len(rows),
                int((rows["error"] != "").sum()),
                last,
                bool(old),
                least,
            )
        )
    out.sort(key=lambda r: r.last, reverse=True)  # stable: table order among equals
    labels = [r.label for r in out]
    return [  # the same model and options, other settings or model file: say which
        r
        if labels.count(r.label) == 1
        else replace(
            r, label=f"{r.label} · model {r.model_key[:6]} · settings {r.settings_key[:6]}"
        )
        for r in out
    ]


def launched_set(
    sets: Sequence[ResultSet],
    explanation: str | None,
    maps: bool,
    regions_from: float | None = None,
) -> ResultSet | None:
    """The newest set of ``sets`` made with ``explanation`` (``None``: none) and ``maps`` by
    today's rules, as a launch with those options makes them (and, given, its regions listed
    from ``regions_from``: the app's launches list them from the model's threshold); ``None``
    when there is none (a launch whose rows have not come yet).
    """
    for rs in sets:
        floor = rs.regions_from if regions_from is not None else None
        same_floor = floor is None or abs(floor - float(regions_from or 0.0)) < 1e-9
        options = rs.explanation == (explanation or "") and rs.maps == maps
        if options and same_floor and not rs.old_rules:
            return rs
    return None


def launch_counts(
    table: pd.DataFrame,
    model_key: str,
    explanation: str | None,
    maps: bool,
    regions_from: float | None = None,
) -> tuple[int, int]:
    """``(done, failed)``: the images a launch of the model file ``model_key`` with
    ``explanation`` and ``maps`` skips (rows without error) and tries again (rows with an
    error), from the run's table. A launch from the app uses the default sliding settings,
    so its rows are the newest set of today's rules made with those options.

    Example:
        >>> t = to_table([{"image_key": k, "model_id": "m", "model_key": "m@1",
        ...     "settings_key": "s", "settings": '{"cam": null, "maps": false, "region_rule": 2}',
        ...     "error": e} for k, e in [("a", ""), ("b", ""), ("c", "unreadable")]])
        >>> launch_counts(t, "m@1", None, False), launch_counts(t, "m@1", "scorecam", False)
        ((2, 1), (0, 0))
    """
    if table.empty:
        return 0, 0
    mine = table[table["model_key"] == model_key]
    rs = launched_set(result_sets(mine), explanation, maps, regions_from)
    if rs is None:
        return 0, 0
    return rs.rows - rs.failed, rs.failed


def outcome_text(score: float, error_kind: str, error: str) -> str:
    """A row's outcome in a few words: ``score 0.734``, or ``failed: unreadable`` (its
    error kind; its error's text when it has no kind) for a row with an error.

    Example:
        >>> outcome_text(0.7342, "", ""), outcome_text(float("nan"), "unreadable", "cut short")
        ('score 0.734', 'failed: unreadable')
    """
    if error or error_kind:
        return f"failed: {error_kind or error}"
    return "no score" if pd.isna(score) else f"score {score:.3f}"


def case_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Per case and model: the case score (maximum map score of its analysed images, the
    rule of :func:`mcalc.explain.service.case_summary`) and its image count."""
    ok = table[table["error"] == ""]
    grouped = ok.groupby(["model_id", "case_id"], sort=True)["score"]
    return grouped.agg(case_score="max", images="count").reset_index()
