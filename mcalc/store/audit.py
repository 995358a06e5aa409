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
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcalc.config import Settings, get_settings
from mcalc.fileio import atomic_write_bytes
from mcalc.models.card import ModelCard
from mcalc.models.card_text import summary_json
from mcalc.models.registry import is_model_id
from mcalc.store.marks import check_reader
from mcalc.store.record import StoreReadError
from mcalc.store.region_calls import RegionCall, calls_text, region_calls, tally
from mcalc.store.verdict_context import VerdictContext
from mcalc.store.versioned import VersionedStore, note_skipped

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
    "regions",
    "comment",
    "recorded_at",
    "version",
    "model_card",
)


def card_summary(card: ModelCard | Mapping[str, Any] | str | None) -> str:
    """The summary of a model card an audit record keeps: compact JSON of the card's
    :meth:`~mcalc.models.card.ModelCard.summary_fields`, whole (:func:`summary_json`;
    records before 7 December 2026 hold the one-line ``key=value; ...`` summary); text
    given is kept as it is.

    Example:
        >>> card_summary({"architecture": "resnet50", "task": "patch", "classes": ["n", "c"]})
        '{"architecture":"resnet50","task":"patch","classes":["n","c"]}'
    """
    if card is None:
        return ""
    if isinstance(card, str):
        return card
    if not isinstance(card, ModelCard):
        card = ModelCard.from_json(card)
    return summary_json(card)


def _verdict(value: str | bool) -> str:
    if isinstance(value, bool):
        return "agree" if value else "disagree"
    if value not in SCORE_VERDICTS:
        raise ValueError(
            f"score verdict must be one of {SCORE_VERDICTS} (or a bool), got {value!r}"
        )
    return value


@dataclass(frozen=True)
class AuditVerdict:
    """One reader's verdict on one model's prediction for one image.

    Attributes:
        model_id: the registry id of the model.
        model_card: the summary of its card as recorded (:func:`card_summary`: JSON; a
            ``key=value; ...`` line in records before 7 December 2026).
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
        regions: the reader's call on each top region they judged
            (:class:`~mcalc.store.region_calls.RegionCall`; empty: none judged, and in
            records made before 7 December 2026).
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
    regions: tuple[RegionCall, ...] = ()
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
        object.__setattr__(self, "regions", region_calls(self.regions))

    @property
    def disagrees(self) -> bool:
        """The reader disagrees with the score, finds the explanation implausible or
        called one of the model's regions no calcification."""
        return (
            self.score_verdict == "disagree"
            or self.explanation_plausible is False
            or any(c.call == "not calcification" for c in self.regions)
        )

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
            "regions": [c.to_dict() for c in self.regions],
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
                regions=region_calls(raw.get("regions")),
                recorded_at=recorded_at,
                version=version,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed audit verdict: {exc!r}") from exc

    def row(self) -> dict[str, Any]:
        """The verdict as a row of the audit table (:data:`AUDIT_COLUMNS`): its region
        calls counted in words, ``model_card`` as JSON text (an older record's line too)."""
        d = self.to_payload()
        d.update(
            recorded_at=self.recorded_at,
            version=self.version,
            explanation="" if self.context is None else self.context.text(),
            regions=calls_text(self.regions),
            model_card=summary_json(self.model_card),  # JSON, older records' lines too
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
            ValueError: the model id is not a registry id.
            StoreWriteError: the store cannot be written (nothing changed).
            StoreConflictError: ``base_version`` is outdated (verdict kept as a conflict copy).
        """
        # Audit's form takes a typed id; it is shown to every reader who opens the model's
        # verdicts: '![x](http://host/m.png)' made their browsers fetch that address.
        if not is_model_id(verdict.model_id):
            raise ValueError(
                f"model id must be a registry id (letters, digits, '.', '_' and '-', starting "
                f"with a letter or digit), got {verdict.model_id!r}"
            )
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
                note_skipped(skipped, f"{record.path}: {exc}")
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
    regions: Iterable[RegionCall | Mapping[str, Any]] = (),
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
        regions: the reader's call on each region judged
            (:class:`~mcalc.store.region_calls.RegionCall`, or its stored form).
        snapshot: the picture judged (image with its map, RGB uint8), kept beside it.
        base_version: the version of this reader's verdict the form started from (0: none
            yet): a verdict saved meanwhile (another tab or session of the same reader) is
            not silently replaced. ``None``: saved on top of whatever is stored.

    Returns:
        The stored verdict, with ``recorded_at`` and ``version``.

    Raises:
        ValueError: empty reader/model/image, unknown verdict, a malformed region call or
            two calls on one region.
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
        regions=region_calls(regions),
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
        regions_judged: region calls in these verdicts (``unsure`` included).
        regions_confirmed_rate: share of the regions called either way that readers called
            calcification (``None``: none was).
        table: one row per verdict (columns :data:`AUDIT_COLUMNS`).
        disagreements: the rows to look at again (score disagreed, explanation implausible
            or a region called no calcification).
    """

    model_id: str
    n_images: int
    n_verdicts: int
    n_readers: int
    agreement_rate: float | None
    plausible_rate: float | None
    regions_judged: int
    regions_confirmed_rate: float | None
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
    regions = tally(v.regions for v in items)
    return AuditSummary(
        model_id=model_id,
        n_images=len({v.image_key for v in items}),
        n_verdicts=len(items),
        n_readers=len({v.reader for v in items}),
        agreement_rate=agree / len(items) if items else None,
        plausible_rate=sum(judged) / len(judged) if judged else None,
        regions_judged=regions.judged,
        regions_confirmed_rate=regions.confirmed_rate,
        table=table,
        disagreements=dis.reset_index(drop=True),
    )
