"""What a reader looked at when judging a model's prediction (:class:`VerdictContext`):
enough to show the same map again, and its settings in words for the Audit page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcalc.explain.methods import method_name

__all__ = ["VerdictContext"]


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
