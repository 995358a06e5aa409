"""Predict and explain: sliding-window probability maps, class activation maps, agreement.

Importing this package is cheap: TensorFlow is imported only when a model runs
(:mod:`~mcalc.explain.sliding` when it predicts, :mod:`~mcalc.explain.explainer`), never by
the pure numpy modules (grid, scoring, stitch, overlay, map agreement).

Modules:

- :mod:`~mcalc.explain.grid`: the patch grid, breast fraction per patch, patch gathering.
- :mod:`~mcalc.explain.sliding`: the model slid over the breast at its patch scale: a
  probability map over the whole image.
- :mod:`~mcalc.explain.scoring`: the map score (the dense map's maximum in the breast: the
  top detection's score), the case score, the decision threshold and the top regions.
- :mod:`~mcalc.explain.layers`: layers a map can show, with feature-map sizes; the default.
- :mod:`~mcalc.explain.explainer`: Grad-CAM, Grad-CAM++ and Score-CAM of patches through
  tf-keras-vis, on clones of the model.
- :mod:`~mcalc.explain.stitch`: patch maps stitched into a full-image map; normalisation.
- :mod:`~mcalc.explain.cams`: explanation settings and the full-image explanation.
- :mod:`~mcalc.explain.map_agreement`: explanation against the radiologists' annotations
  (energy inside the dilated marks, pointing game).
- :mod:`~mcalc.explain.overlay`: colour-mapped heatmaps blended over the windowed image.
- :mod:`~mcalc.explain.results`: the results cache per (model, image file, settings).
- :mod:`~mcalc.explain.image_analysis`: one image end to end.
- :mod:`~mcalc.explain.service`: :func:`~mcalc.explain.service.analyse_case`, the one call
  of ``python -m mcalc predict`` (:mod:`mcalc.cli.predict`) and the Predict page.
"""

from mcalc.explain.errors import ExplainError, LayerError, NoBreastRegionError

__all__ = ["ExplainError", "LayerError", "NoBreastRegionError"]
