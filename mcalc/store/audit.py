"""Readers' audit of model predictions: verdicts per model, image and reader, and tables.

A verdict says whether the reader agrees with the model's score for an image, whether the
explanation (e.g. a Grad-CAM heatmap) is plausible, and why. Verdicts are stored like the
marks (:mod:`mcalc.store.versioned`): one JSON record per model, image and reader under
``store_dir/audits``, written atomically, every change kept in the record's history.

The Predict page records a verdict with one call::

    from mcalc.store.audit import record_verdict

    record_verdict(
        model_id=card.id, model_card=card, image_key=rec.key, reader=reader,
        agree=True, plausible=False, comment="heatmap on the label", score=0.91,
    )

Example:
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = record_verdict(root, model_id="m1", model_card={"architecture": "resnet"},
    ...                    image_key="c-1/CC_recent", reader="ann", agree=False, plausible=True)
    >>> audit_table(root, "m1").n_images, audit_table(root, "m1").agreement_rate
    (1, 0.0)
"""

from __future__ import annotations

import hashlib
import logging
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcalc.config import Settings, get_settings
from mcalc.explain.methods import method_name
from mcalc.fileio import atomic_write_bytes
from mcalc.models.card import ModelCard
from mcalc.store.marks import check_reader
from mcalc.store.record import StoreReadError
from mcalc.store.versioned import VersionedStore

__all__ = [
    "SCORE_VERDICTS",
    "SCORE_DECIMALS",
    "AuditVerdict",
    "VerdictContext",
    "AuditStore",
    "AuditSummary",
    "card_summary",
    "record_verdict",
    "audit_table",
    "AUDIT_COLUMNS",
]

log = logging.getLogger(__name__)

#: Decimals a verdict keeps of the model's score (Audit's typed or computed score and
#: Predict's alike; until 6 December 2026 Predict rounded and Audit did not).
SCORE_DECIMALS = 6
#: What a reader can say about a model's score.
SCORE_VERDICTS: tuple[str, ...] = ("agree", "disagree")
#: Columns of :attr:`AuditSummary.table` (and of the exported CSV), in order.
AUDIT_COLUMNS: tuple[str, ...] = (
    "model_id",
    "image_key",
    "reader",
    "score_verdict",
    "explanation_plausible",
    "score",
    "predicted",
    "explanation",
    "comment",
    "recorded_at",
    "version",
    "model_card",
)


def card_summary(
    card: ModelCard | Mapping[str, Any] | str | None, max_len: int | None = None
) -> str:
    """A one-line summary of a model card (or the text given), for the audit record
    (:meth:`mcalc.models.card.ModelCard.summary_line`); whole unless ``max_len`` is given
    (the record keeps the summary whole: a summary cut mid-word said less than was judged).

    Example:
        >>> card_summary({"architecture": "resnet50", "task": "patch", "classes": ["n", "c"]})
        'architecture=resnet50; task=patch; classes=n,c'
    """
    if card is None:
        return ""
    limit = sys.maxsize if max_len is None else max_len
    if isinstance(card, str):
        return card[:limit]
    if not isinstance(card, ModelCard):
        card = ModelCard.from_json(card)
    return card.summary_line(limit)


def _verdict(value: str | bool) -> str:
    if isinstance(value, bool):
        return "agree" if value else "disagree"
    if value not in SCORE_VERDICTS:
        raise ValueError(
            f"score verdict must be one of {SCORE_VERDICTS} (or a bool), got {value!r}"
        )
    return value


@dataclass(frozen=True)
class VerdictContext:
    """What the reader looked at when judging: enough to show the same map again.

    Attributes:
        model_fingerprint: the model file's key (:meth:`ModelCard.fingerprint`).
        method: explanation method (``gradcam`` ...); ``None``: no explanation shown.
        layer: the layer explained.
        target: the class explained.
        scope: which patches were stitched into the map.
        threshold: the decision threshold the prediction used, and its source.
        map_settings: sliding window and map display settings (stride, batch, ...),
            ``map_score_rule`` (:data:`mcalc.explain.scoring.MAP_SCORE_VERSION`; verdicts
            saved before it have ``top_k``, the rule of then) and ``region_rule``
            (:data:`mcalc.explain.scoring.REGION_RULE_VERSION`; verdicts saved before it
            looked at the best grid patches as regions).
    """

    model_fingerprint: str = ""
    method: str | None = None
    layer: str | None = None
    target: str | None = None
    scope: str | None = None
    threshold: float | None = None
    threshold_source: str = ""
    map_settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_fingerprint": self.model_fingerprint,
            "method": self.method,
            "layer": self.layer,
            "target": self.target,
            "scope": self.scope,
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "map_settings": dict(self.map_settings),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> VerdictContext | None:
        if not raw:
            return None
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)

    def text(self) -> str:
        """One line for tables: ``Grad-CAM · conv2 · calcification · threshold 0.5``."""
        parts = [p for p in (method_name(self.method), self.layer, self.target) if p]
        if self.threshold is not None:
            parts.append(f"threshold {self.threshold:g}")
        return " · ".join(parts) or "no explanation"

    def settings_text(self) -> str:
        """:attr:`map_settings` in words, for people (the Audit page); keys it does not know
        are given as ``key value``.

        Example:
            >>> VerdictContext(map_settings={"stride": None, "map_score_rule": 2,
            ...     "region_rule": 2, "min_breast": 0.25, "max_regions": 8,
            ...     "min_region_score": 0.5, "dense": True, "tolerance_mm": 0.5,
            ...     "weighting": "probability"}).settings_text()
            "stride half a patch; score the top detection's (the dense map's maximum in the breast); patches with at least 25% breast; up to 8 regions scoring at least 0.5, centred on the top detections; fully convolutional where exact; marks dilated by 0.5 mm for agreement; explanation weighted by patch probability"

        Verdicts saved before 5 December 2026 name the map-score rule of then, ``top_k``, and
        their regions were grid patches (they name no ``region_rule``):
            >>> VerdictContext(map_settings={"top_k": 3, "max_regions": 8}).settings_text()
            'score the mean of the top 3 grid patches (the rule before 5 December 2026); up to 8 regions, the best grid patches (the rule before 5 December 2026)'
        """
        s = dict(self.map_settings)
        s.pop("batch", None)  # patches per forward pass: the map does not depend on it
        parts: list[str] = []
        if "stride" in s:
            stride = s.pop("stride")
            parts.append("stride half a patch" if stride is None else f"stride {stride} px")
        if "top_k" in s:  # verdicts saved before 5 December 2026: map-score rule 1
            k = s.pop("top_k")
            parts.append(
                "score the best grid patch (the rule before 5 December 2026)"
                if k == 1
                else f"score the mean of the top {k} grid patches (the rule before 5 December 2026)"
            )
        if "map_score_rule" in s:
            v = s.pop("map_score_rule")
            parts.append(
                "score the top detection's (the dense map's maximum in the breast)"
                if v == 2
                else f"map-score rule version {v}"
            )
        if "min_breast" in s:
            parts.append(f"patches with at least {float(s.pop('min_breast')):.0%} breast")
        region_rule = s.pop("region_rule", None)
        if "max_regions" in s or "min_region_score" in s:
            n, at_least = s.pop("max_regions", None), s.pop("min_region_score", None)
            region = f"up to {n} regions" if n is not None else "regions"
            region += f" scoring at least {at_least:g}" if at_least is not None else ""
            if region_rule is None:
                region += ", the best grid patches (the rule before 5 December 2026)"
            elif region_rule in (2, 3):  # 3: from as many detections as they need
                region += ", centred on the top detections"
            else:
                region += f", region rule version {region_rule}"
            parts.append(region)
        elif region_rule is not None:
            parts.append(f"region rule version {region_rule}")
        if "nms_overlap" in s:
            parts.append(f"regions overlapping at most {float(s.pop('nms_overlap')):.0%}")
        if "dense" in s:
            parts.append("fully convolutional where exact" if s.pop("dense") else "patch by patch")
        if "tolerance_mm" in s:
            parts.append(f"marks dilated by {s.pop('tolerance_mm'):g} mm for agreement")
        if "weighting" in s:
            w = s.pop("weighting")
            parts.append(
                "explanation weighted by patch probability"
                if w == "probability"
                else "explanation not weighted"
                if w == "none"
                else f"explanation weighting {w}"
            )
        parts += [f"{k} {v}" for k, v in s.items()]
        return "; ".join(parts) or "none recorded"


@dataclass(frozen=True)
class AuditVerdict:
    """One reader's verdict on one model's prediction for one image.

    Attributes:
        model_id: the registry id of the model.
        model_card: one-line summary of its card (:func:`card_summary`).
        image_key: the image's key.
        reader: who judged.
        score_verdict: ``agree`` or ``disagree`` with the model's score.
        explanation_plausible: the explanation points at the right place (``None``: not
            judged, e.g. no explanation shown).
        comment: free text.
        score: the model's score the reader saw, if any, rounded to :data:`SCORE_DECIMALS`.
        predicted: the model's predicted class the reader saw, if any.
        context: what the reader looked at (method, layer, class, map settings,
            threshold, model fingerprint); ``None`` in records made before it was kept.
        recorded_at: UTC time of the save (set by the store).
        version: version number in the record's history (set by the store).
    """

    model_id: str
    image_key: str
    reader: str
    score_verdict: str
    explanation_plausible: bool | None = None
    comment: str = ""
    model_card: str = ""
    score: float | None = None
    predicted: str | None = None
    context: VerdictContext | None = None
    recorded_at: str = ""
    version: int = 0

    def __post_init__(self) -> None:
        for name in ("model_id", "image_key"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name} must not be empty")
        object.__setattr__(self, "reader", check_reader(self.reader))
        object.__setattr__(self, "score_verdict", _verdict(self.score_verdict))
        if self.explanation_plausible is not None and not isinstance(
            self.explanation_plausible, bool
        ):
            raise ValueError(
                f"explanation_plausible must be True, False or None, got {self.explanation_plausible!r}"
            )
        if self.score is not None:
            score = float(self.score)
            if not math.isfinite(score):
                raise ValueError(f"score must be finite, got {self.score!r}")
            object.__setattr__(self, "score", round(score, SCORE_DECIMALS))

    @property
    def disagrees(self) -> bool:
        """The reader disagrees with the score or finds the explanation implausible."""
        return self.score_verdict == "disagree" or self.explanation_plausible is False

    def to_payload(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model_card": self.model_card,
            "image_key": self.image_key,
            "reader": self.reader,
            "score_verdict": self.score_verdict,
            "explanation_plausible": self.explanation_plausible,
            "comment": self.comment,
            "score": self.score,
            "predicted": self.predicted,
            "context": None if self.context is None else self.context.to_dict(),
        }

    @classmethod
    def from_payload(
        cls, raw: Mapping[str, Any], *, recorded_at: str = "", version: int = 0
    ) -> AuditVerdict:
        try:
            return cls(
                model_id=str(raw["model_id"]),
                image_key=str(raw["image_key"]),
                reader=str(raw["reader"]),
                score_verdict=raw["score_verdict"],
                explanation_plausible=raw.get("explanation_plausible"),
                comment=str(raw.get("comment", "")),
                model_card=str(raw.get("model_card", "")),
                score=raw.get("score"),
                predicted=raw.get("predicted"),
                context=VerdictContext.from_dict(raw.get("context")),
                recorded_at=recorded_at,
                version=version,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed audit verdict: {exc!r}") from exc

    def row(self) -> dict[str, Any]:
        d = self.to_payload()
        d.update(
            recorded_at=self.recorded_at,
            version=self.version,
            explanation="" if self.context is None else self.context.text(),
        )
        return {k: d[k] for k in AUDIT_COLUMNS}


class AuditStore:
    """Audit verdicts under ``root/audits``: one versioned record per model, image, reader."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.records = VersionedStore(self.root, "audits")

    @staticmethod
    def _parts(model_id: str, image_key: str, reader: str) -> tuple[str, str, str]:
        return model_id, image_key, check_reader(reader)

    def record(self, verdict: AuditVerdict, *, base_version: int | None = None) -> AuditVerdict:
        """Save a verdict as the newest version of its record; returns it with time/version.

        ``base_version=None`` appends whatever is stored (earlier verdicts stay in the
        history); pass the version the form was loaded from to detect concurrent edits.

        Raises:
            StoreWriteError: the store cannot be written (nothing changed).
            StoreConflictError: ``base_version`` is outdated (verdict kept as a conflict copy).
        """
        v = self.records.save(
            self._parts(verdict.model_id, verdict.image_key, verdict.reader),
            verdict.to_payload(),
            base_version=base_version,
            saved_by=verdict.reader,
            action="verdict",
        )
        return replace(verdict, recorded_at=v.saved_at, version=v.number)

    def recover(self, model_id: str, image_key: str, reader: str) -> tuple[int, Path]:
        """The reader's verdict record on the image that cannot be read as JSON (cut
        short, damaged): its whole versions (up to the first one that is not a verdict)
        become the record again and the damaged file is kept aside
        (:meth:`VersionedStore.recover`); returns how many versions were kept and where the
        damaged file now is. As :meth:`mcalc.store.MarkStore.recover` does for marks.

        Raises:
            StoreError: the record can be read, or is not a damaged file; nothing changed.
            StoreWriteError: the store cannot be written; the record is as it was.
        """

        def check(payload: dict[str, Any]) -> None:
            try:
                AuditVerdict.from_payload(payload)
            except ValueError as exc:
                raise StoreReadError(str(exc)) from exc

        versions, aside = self.records.recover(self._parts(model_id, image_key, reader), check)
        return len(versions), aside

    def snapshot_path(self, verdict: AuditVerdict) -> Path:
        """Where the picture the reader judged (image with its map) is kept for a verdict."""
        name = "\x00".join(
            (verdict.model_id, verdict.image_key, verdict.reader, str(verdict.version))
        )
        return self.root / "audit_maps" / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.png"

    def save_snapshot(self, verdict: AuditVerdict, rgb: np.ndarray) -> Path:
        """Keep ``rgb`` (``H x W x 3`` uint8, the image with the map as shown) as a PNG."""
        import cv2

        arr = np.asarray(rgb)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"expected an H x W x 3 uint8 picture, got {arr.shape} {arr.dtype}")
        ok, png = cv2.imencode(".png", cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError("the picture could not be encoded as PNG")
        path = self.snapshot_path(verdict)
        atomic_write_bytes(path, png.tobytes())
        return path

    def history(self, model_id: str, image_key: str, reader: str) -> list[AuditVerdict]:
        """Every verdict this reader gave on this image and model, oldest first."""
        record = self.records.load(self._parts(model_id, image_key, reader))
        return [
            AuditVerdict.from_payload(v.payload, recorded_at=v.saved_at, version=v.number)
            for v in record.versions
        ]

    def latest(self, model_id: str, image_key: str, reader: str) -> AuditVerdict | None:
        history = self.history(model_id, image_key, reader)
        return history[-1] if history else None

    def verdicts(
        self, model_id: str | None = None, *, skipped: list[str] | None = None
    ) -> list[AuditVerdict]:
        """The current verdict of every (model, image, reader), optionally for one model
        (then only that model's folder is read: the store holds every model's verdicts).
        ``skipped``: where given, why each verdict file that cannot be read was left out is
        appended (the file itself is left as it is)."""
        out = []
        prefix = () if model_id is None else (model_id,)
        for record in self.records.records(prefix=prefix, skipped=skipped):
            cur = record.current
            if cur is None:
                continue
            try:
                out.append(
                    AuditVerdict.from_payload(
                        cur.payload, recorded_at=cur.saved_at, version=cur.number
                    )
                )
            except ValueError as exc:
                log.warning("skipping %s: %s", record.path, exc)
                if skipped is not None:
                    skipped.append(f"{record.path}: {exc}")
        return sorted(out, key=lambda v: (v.model_id, v.image_key, v.reader))

    def models(self) -> list[str]:
        """Ids of the models that have verdicts."""
        return sorted({v.model_id for v in self.verdicts()})


def _root(store_dir: str | Path | Settings | None) -> Path:
    if store_dir is None:
        return get_settings().store_dir
    if isinstance(store_dir, Settings):
        return store_dir.store_dir
    return Path(store_dir)


def record_verdict(
    store_dir: str | Path | Settings | None = None,
    *,
    model_id: str,
    image_key: str,
    reader: str,
    agree: bool | str,
    plausible: bool | None = None,
    comment: str = "",
    model_card: ModelCard | Mapping[str, Any] | str | None = None,
    score: float | None = None,
    predicted: str | None = None,
    context: VerdictContext | None = None,
    snapshot: np.ndarray | None = None,
    base_version: int | None = None,
) -> AuditVerdict:
    """Record a reader's verdict on a model's prediction (the Predict page's one call).

    Args:
        store_dir: the store folder, or settings; default ``get_settings().store_dir``.
        model_id: registry id of the model.
        image_key: :attr:`ImageRecord.key` of the image.
        reader: the reader's name.
        agree: ``True``/``"agree"`` or ``False``/``"disagree"`` with the model's score.
        plausible: the explanation is plausible (``None``: not judged).
        comment: free text.
        model_card: the model's card (summarised) or a summary string.
        score, predicted: what the model said, as shown to the reader.
        context: what the reader looked at (:class:`VerdictContext`).
        snapshot: the picture judged (image with its map, RGB uint8), kept beside it.
        base_version: the version of this reader's verdict the form started from (0: none
            yet): a verdict saved meanwhile (another tab or session of the same reader) is
            not silently replaced. ``None``: saved on top of whatever is stored.

    Returns:
        The stored verdict, with ``recorded_at`` and ``version``.

    Raises:
        ValueError: empty reader/model/image, unknown verdict.
        StoreWriteError: the store folder cannot be written (nothing was changed).
        StoreConflictError: ``base_version`` is outdated; this verdict is kept as a
            conflict copy, the stored one unchanged.
    """
    verdict = AuditVerdict(
        model_id=model_id,
        image_key=image_key,
        reader=reader,
        score_verdict=_verdict(agree),
        explanation_plausible=plausible,
        comment=comment,
        model_card=card_summary(model_card),
        score=score,
        predicted=predicted,
        context=context,
    )
    store = AuditStore(_root(store_dir))
    saved = store.record(verdict, base_version=base_version)
    if snapshot is not None:
        store.save_snapshot(saved, snapshot)
    return saved


@dataclass(frozen=True)
class AuditSummary:
    """The audit of one model.

    Attributes:
        model_id: the model.
        n_images: images with at least one verdict.
        n_verdicts: current verdicts (one per image and reader).
        n_readers: distinct readers.
        agreement_rate: share of verdicts that agree with the score (``None``: no verdict).
        plausible_rate: share of judged explanations found plausible (``None``: none judged).
        table: one row per verdict (columns :data:`AUDIT_COLUMNS`).
        disagreements: the rows to look at again (score disagreed or explanation implausible).
    """

    model_id: str
    n_images: int
    n_verdicts: int
    n_readers: int
    agreement_rate: float | None
    plausible_rate: float | None
    table: pd.DataFrame = field(repr=False)
    disagreements: pd.DataFrame = field(repr=False)


def audit_table(
    store_dir: str | Path | Settings | None,
    model_id: str,
    *,
    verdicts: Iterable[AuditVerdict] | None = None,
) -> AuditSummary:
    """Counts, rates and the disagreements to revisit for one model.

    Args:
        store_dir: as in :func:`record_verdict` (ignored when ``verdicts`` is given).
        model_id: the model.
        verdicts: the verdicts to summarise instead of reading the store.
    """
    if verdicts is None:
        try:
            verdicts = AuditStore(_root(store_dir)).verdicts(model_id)
        except StoreReadError as exc:  # pragma: no cover - records() skips these
            raise StoreReadError(f"cannot read the audits of {model_id}: {exc}") from exc
    items = [v for v in verdicts if v.model_id == model_id]
    table = pd.DataFrame([v.row() for v in items], columns=list(AUDIT_COLUMNS))
    judged = [v.explanation_plausible for v in items if v.explanation_plausible is not None]
    agree = sum(v.score_verdict == "agree" for v in items)
    dis = table[[v.disagrees for v in items]] if items else table
    return AuditSummary(
        model_id=model_id,
        n_images=len({v.image_key for v in items}),
        n_verdicts=len(items),
        n_readers=len({v.reader for v in items}),
        agreement_rate=agree / len(items) if items else None,
        plausible_rate=sum(judged) / len(judged) if judged else None,
        table=table,
        disagreements=dis.reset_index(drop=True),
    )
