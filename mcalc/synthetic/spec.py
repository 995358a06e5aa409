"""What the synthetic set is made of: sizes, physical parameters and random streams.

Pixel sizes are derived from physical ones (mm) and the pixel spacing, so a smaller image
of the same field of view keeps the breast and its calcifications their physical size.
Each stage draws from its own stream so that, e.g., a change in calcification count does
not change the tissue texture: ``stream_rng(seed, STREAM_*, case, view, STAGE_*, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "SIZES",
    "CLUSTER_MIN_CALCS",
    "WINDOW",
    "Geometry",
    "Look",
    "LOOKS",
    "DIFFICULTIES",
    "stream_rng",
]

#: Image size presets: (rows, cols) and pixel spacing in mm.
SIZES: dict[str, tuple[tuple[int, int], float]] = {
    "small": ((1024, 832), 0.1),
    "full": ((4096, 3328), 0.07),
}

#: A group of calcifications counts as a cluster in the ground truth from this many on.
CLUSTER_MIN_CALCS = 5

MIN_CASES = 3
MIN_SIDE = 128
#: Largest 12-bit value, and the window (centre, width) written to every DICOM.
MAX_VALUE = 4095.0
WINDOW = (2047.0, 4096.0)

#: Fraction of the breast that is fibroglandular, per density category.
GLAND_FRACTION = {"a": 0.12, "b": 0.32, "c": 0.55, "d": 0.78}
#: Calcifications in the recent exam's cluster (inclusive range), per BI-RADS category.
CLUSTER_SIZE = {"4a": (5, 8), "4b": (6, 11), "4c": (8, 14), "5": (10, 18)}

# Physical sizes (mm) that the pixel sizes are derived from.
SUSPICIOUS_DIAMETER_MM = (0.2, 0.6)
BENIGN_DIAMETER_MM = (0.6, 1.4)
CLUSTER_RADIUS_MM = (2.5, 4.5)
SHIFT_MM = (0.3, 0.8)
DEFORM_MM = 0.8


@dataclass(frozen=True)
class Look:
    """How hard the calcifications are to see (``generate_demo(difficulty=...)``).

    Attributes:
        suspicious_mm, benign_mm: diameter ranges of cluster and scattered calcifications.
        cluster_amplitude, scattered_amplitude: added brightness ranges (12-bit levels; the
            detector noise is about 20-35 levels, the tissue texture up to ~170).
        mixed_morphology: chance that a benign calcification has an irregular outline and
            a suspicious one a round outline (0: never, and no random draw is spent).
        log_amplitude: draw amplitudes log-uniformly (many faint, few bright, as real
            calcifications are) instead of uniformly.
        hide_in_dense: dense tissue lowers a calcification's contrast, down to 35% of its
            amplitude on the densest background (as in a real mammogram, where dense
            tissue hides calcifications).
    """

    suspicious_mm: tuple[float, float]
    benign_mm: tuple[float, float]
    cluster_amplitude: tuple[float, float]
    scattered_amplitude: tuple[float, float]
    mixed_morphology: float = 0.0
    hide_in_dense: bool = False
    log_amplitude: bool = False

    def amplitude(self, rng: np.random.Generator, kind: str) -> float:
        """One calcification's amplitude (one random draw either way)."""
        lo, hi = self.cluster_amplitude if kind == "cluster" else self.scattered_amplitude
        if self.log_amplitude:
            return float(lo * (hi / lo) ** rng.uniform(0.0, 1.0))
        return float(rng.uniform(lo, hi))


#: ``real`` (the default): calcifications of a few pixels near the noise, benign and
#: suspicious sizes and shapes that overlap, dense tissue hiding some. ``easy``: the plainly
#: visible ones of earlier versions (same random draws, same pixels as before).
LOOKS: dict[str, Look] = {
    "real": Look((0.15, 0.6), (0.3, 1.2), (60.0, 700.0), (100.0, 1100.0), 0.3, True, True),
    "easy": Look(SUSPICIOUS_DIAMETER_MM, BENIGN_DIAMETER_MM, (500.0, 1000.0), (900.0, 1500.0)),
}
DIFFICULTIES: tuple[str, ...] = tuple(LOOKS)

# Streams (planning, images) and the stages of one image.
STREAM_PLAN, STREAM_IMAGE = 0, 1
STAGE_GEOMETRY, STAGE_TISSUE, STAGE_CALCS, STAGE_WARP, STAGE_NOISE = range(5)
#: Stream of the scanned-film artefacts (``style='film'`` only).
STAGE_FILM = 5


@dataclass(frozen=True)
class Geometry:
    """Breast outline in the canonical frame (chest wall at column 0)."""

    rows: int
    cols: int
    spacing: float
    cy: float
    ay: float
    ax: float
    pectoral: tuple[float, float] | None


def stream_rng(seed: int, *key: int) -> np.random.Generator:
    """An independent generator for one stream of choices (stateless: same key, same draws)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))
