"""A model's score for an image that was already computed: nothing is run to find it.

Two places hold finished results:

- Predict's analyses shared by the sessions of this server
  (:class:`~mcalc.explain.runs.SharedAnalyses`, in memory: what a reader just looked at);
- the results tables of batch runs (``results.parquet`` of each run folder,
  :mod:`mcalc.batch.table`), rows of the same model version (its ``model_key``) and without
  an error.

:func:`batch_scores` reads the tables of one model once and returns every image's latest
result (the caller caches it by the tables' modification times); :func:`predict_score`
looks through the shared analyses (at most their item bound, 64). Both say where the score
comes from and with which settings, and the image's top regions as that result listed them
(what Audit's verdict form lets a reader call).

Example:
    >>> r = KnownResult(0.91, "calcification", "stride half · explanation none", "batch run `b`")
    >>> r.text()
    'score 0.910 (calcification), from batch run `b`; settings: stride half · explanation none'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mcalc.batch.table import old_score_rule, read_results
from mcalc.explain.methods import method_name
from mcalc.explain.runs import SharedAnalyses
from mcalc.explain.scoring import DecisionThreshold, Region, threshold_label

__all__ = [
    "KnownResult",
    "batch_scores",
    "known_scores",
    "predict_score",
    "predict_scores",
    "settings_words",
]


@dataclass(frozen=True)
class KnownResult:
    """A score computed before, and where.

    Attributes:
        score: the image's map score.
        predicted: the decision shown with it (``""``: none recorded).
        settings: the analysis settings, in words (:func:`settings_words`).
        source: where it was found (``batch run `name```, ``Predict (this server)``).
        when: when it was computed (ISO time; ``""``: not recorded).
        regions: the image's top regions in that result, by rank (empty: none listed, or
            not recorded).
        warning: why the score and regions mean nothing, where that is known (the
            model gave every patch the same probability: :func:`flat_map_note`); ``""``
            otherwise (and for a batch row written before 7 December 2026).
    """

    score: float
    predicted: str
    settings: str
    source: str
    when: str = ""
    regions: tuple[Region, ...] = ()
    warning: str = ""
    threshold: float | None = None
    positive_class: str = ""

    def threshold_note(self, now: DecisionThreshold) -> str | None:
        """What to say when this result was decided (and its regions listed) at another
        threshold than the model's ``now`` (its card's changed since), else ``None``.

        >>> r = KnownResult(0.7, "calcification", "", "batch run `b`", threshold=0.5,
        ...                 positive_class="calcification")
        >>> r.threshold_note(DecisionThreshold(0.921513, "Youden's J"))
        "This result was decided at 0.50; the model now decides at 0.9215 (Youden's J): \
its score 0.700 is below the model's operating threshold (0.9215): not read as calcification."
        """
        if self.threshold is None or abs(self.threshold - now.value) <= 1e-9:
            return None
        reading = now.reading(self.score, self.positive_class) if self.positive_class else ""
        return (
            f"This result was decided at {threshold_label(self.threshold)}; the model now "
            f"decides at {now.text} ({now.source})"
            + (f": its score {self.score:.3f} is {reading}." if reading else ".")
        )

    def text(self) -> str:
        decided = f" ({self.predicted})" if self.predicted else ""
        when = f" at {self.when}" if self.when else ""
        return (
            f"score {self.score:.3f}{decided}, from {self.source}{when}; settings: {self.settings}"
        )


def settings_words(sliding: dict[str, Any], cam: dict[str, Any] | None) -> str:
    """The settings that change a score, in the sidebar's words.

    Example:
        >>> settings_words({"stride": None, "dense": True, "min_region_score": 0.5}, None)
        'stride half · dense inference · region threshold 0.5 · explanation none'
    """
    stride = sliding.get("stride")
    parts = [f"stride {'half' if stride is None else f'{stride} px'}"]
    if "dense" in sliding:
        parts.append("dense inference" if sliding["dense"] else "patch by patch")
    if sliding.get("min_region_score") is not None:
        parts.append(f"region threshold {sliding['min_region_score']:g}")
    parts.append(f"explanation {method_name(cam.get('method')) or '?' if cam else 'none'}")
    return " · ".join(parts)


def _row_settings(text: str) -> str:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return "not recorded"
    if not isinstance(data, dict):
        return "not recorded"
    words = settings_words(data.get("sliding") or {}, data.get("cam"))
    if old_score_rule(text):  # not the score Predict shows today for the same image
        words += " · map score by the top-3 grid rule (before 5 December 2026)"
    return words


def _row_regions(text: str) -> tuple[Region, ...]:
    """A batch row's ``top_regions`` (JSON); none where it cannot be read."""
    try:
        raw = json.loads(text) if text else []
        return tuple(sorted((Region.from_dict(r) for r in raw), key=lambda r: r.rank))
    except (ValueError, TypeError):
        return ()


def _number(value: Any) -> float | None:
    """A table cell as a number (``None``: empty or not a number)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def batch_scores(folders: Iterable[tuple[str, Path]], model_key: str) -> dict[str, KnownResult]:
    """Every image's latest result of the model version ``model_key`` in the results
    tables of the given batch runs (``(run name, run folder)``).

    Rows of another version of the model, and rows with an error, are left out; of two
    rows of one image the later (``finished_at``) wins.
    """
    found: dict[str, KnownResult] = {}
    for name, folder in folders:
        table = read_results(folder)
        if table.empty:
            continue
        rows = table[(table["model_key"] == model_key) & (table["error"].fillna("") == "")]
        for row in rows.itertuples(index=False):
            score = float(row.score)
            if score != score:  # NaN: no score
                continue
            when = str(row.finished_at or "")
            held = found.get(str(row.image_key))
            if held is not None and held.when >= when:
                continue
            found[str(row.image_key)] = KnownResult(
                score=score,
                predicted=str(row.predicted or ""),
                settings=_row_settings(str(row.settings or "")),
                source=f"batch run `{name}`",
                when=when,
                regions=_row_regions(str(getattr(row, "top_regions", "") or "")),
                warning=str(getattr(row, "warning", "") or ""),
                threshold=_number(getattr(row, "threshold", None)),
                positive_class=str(getattr(row, "positive_class", "") or ""),
            )
    return found


def predict_score(
    shared: SharedAnalyses | None, model_key: str, image_key: str
) -> KnownResult | None:
    """The image's score in an analysis Predict made of it with ``model_key`` in this
    server (the most recent one when there are several settings), else ``None``."""
    if shared is None:
        return None
    for key, case in reversed(shared.items()):
        if not key.startswith(f"{model_key}|"):
            continue
        for result in case.images:
            if result.key != image_key:
                continue
            cam = case.settings.cam
            return KnownResult(
                score=float(result.score),
                predicted=case.predicted(result),
                settings=settings_words(
                    asdict(case.settings.sliding), None if cam is None else asdict(cam)
                ),
                source="Predict (an analysis kept by this server)",
                regions=tuple(result.regions),
                warning=result.flat_note or "",
                threshold=case.threshold.value,
                positive_class=result.scores.positive_class,
            )
    return None


def predict_scores(shared: SharedAnalyses | None, model_key: str) -> dict[str, float]:
    """Each image's score in Predict's newest analysis of it with ``model_key`` in this
    server (the score :func:`predict_score` finds); empty when ``shared`` is ``None``."""
    if shared is None:
        return {}
    found: dict[str, float] = {}
    for key, case in shared.items():  # oldest first: a newer analysis overwrites
        if key.startswith(f"{model_key}|"):
            found.update((result.key, float(result.score)) for result in case.images)
    return found


def known_scores(
    batch: Mapping[str, KnownResult], shared: SharedAnalyses | None, model_key: str
) -> dict[str, float]:
    """Every image's score that is known without running the model, from the same sources
    and with the same precedence as a single image's (Predict's analyses in this server,
    else ``batch``: :func:`batch_scores`' results of the model version ``model_key``).

    Example:
        >>> known_scores({"c1/CC_recent": KnownResult(0.4, "", "", "b")}, None, "m@1")
        {'c1/CC_recent': 0.4}
    """
    found = {key: result.score for key, result in batch.items()}
    found.update(predict_scores(shared, model_key))
    return found
