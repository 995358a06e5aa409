"""Ground-truth annotations: red marks or mask images -> calcifications -> clusters.

Stages, each a pure function over numpy arrays, in one module each:

1. :mod:`~mcalc.annotations.red` - :func:`red_mask`, the painted marks of an RGB rendering
   (the dataset's ``*_GT.jpg``), cleaned of JPEG colour noise.
2. :mod:`~mcalc.annotations.align` - :func:`load_annotation_mask`, an annotation file read
   and mapped onto the DICOM's pixel grid (:func:`mcalc.imaging.resample_mask`).
3. :mod:`~mcalc.annotations.measure` - :func:`find_calcifications` (one
   :class:`Calcification` per connected mark), :func:`find_clusters` (groups of at least
   three calcifications within 1 cm²) and :func:`summarize` (both).

Example:
    >>> import numpy as np
    >>> mask = np.zeros((64, 64), bool)
    >>> for r, c in [(10, 10), (12, 20), (20, 14)]:
    ...     mask[r : r + 2, c : c + 2] = True
    >>> s = summarize(mask, (0.1, 0.1))
    >>> s.n_calcifications, s.n_clusters, s.clusters[0].members
    (3, 1, (1, 2, 3))
"""

from mcalc.annotations.align import ANNOTATION_KINDS, ASPECT_TOLERANCE, load_annotation_mask
from mcalc.annotations.measure import (
    AnnotationSummary,
    Calcification,
    Cluster,
    find_calcifications,
    find_clusters,
    summarize,
)
from mcalc.annotations.red import RedMaskParams, red_mask
from mcalc.annotations.regions import Region, find_regions, inside_regions

__all__ = [
    "Region",
    "find_regions",
    "inside_regions",
    "ANNOTATION_KINDS",
    "ASPECT_TOLERANCE",
    "RedMaskParams",
    "red_mask",
    "load_annotation_mask",
    "Calcification",
    "find_calcifications",
    "Cluster",
    "find_clusters",
    "AnnotationSummary",
    "summarize",
]
