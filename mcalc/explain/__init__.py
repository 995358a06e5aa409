"""Predict and explain: sliding-window probability maps, class activation maps, agreement.

Importing this package is cheap: TensorFlow is imported only by the modules that run a
model (:mod:`~mcalc.explain.sliding` when it predicts, :mod:`~mcalc.explain.cams`), never by
the pure numpy modules (:mod:`~mcalc.explain.overlay`, :mod:`~mcalc.explain.map_agreement`).

Modules:

- :mod:`~mcalc.explain.sliding`: the model slid over the breast at its patch scale, a
  probability map over the whole image, image and case scores, top regions.
- :mod:`~mcalc.explain.cams`: Grad-CAM, Grad-CAM++ and Score-CAM through tf-keras-vis, per
  patch and stitched into a full-image map; layer lists with feature-map sizes.
- :mod:`~mcalc.explain.map_agreement`: explanation against the radiologists' annotations
  (energy inside the dilated marks, pointing game).
- :mod:`~mcalc.explain.overlay`: colour-mapped heatmaps blended over the windowed image.
- :mod:`~mcalc.present.map_display`: maps on the viewer's previews and full-resolution crops.
- :mod:`~mcalc.explain.results`: the results cache per (model, image file, settings).
- :mod:`~mcalc.explain.service`: one image or case end to end, for the CLI and the page.
- :mod:`~mcalc.cli.predict`: ``python -m mcalc predict``.
"""

from mcalc.explain.errors import ExplainError, LayerError, NoBreastRegionError

__all__ = ["ExplainError", "LayerError", "NoBreastRegionError"]
