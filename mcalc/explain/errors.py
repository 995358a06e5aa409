"""Errors of prediction and explanation (all :class:`mcalc.errors.McalcError`).

A model that does not fit (input shape, task) raises :class:`mcalc.errors.ModelError`.
"""

from __future__ import annotations

from mcalc.errors import McalcError

__all__ = ["ExplainError", "NoBreastRegionError", "LayerError"]


class ExplainError(McalcError):
    """A prediction or explanation cannot be made as asked."""


class NoBreastRegionError(ExplainError):
    """The image holds no breast region to slide the model over."""


class LayerError(ExplainError):
    """The layer asked for does not exist or has no spatial (H, W, C) output."""
