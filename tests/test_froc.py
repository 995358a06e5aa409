"""Detections and FROC on tiny hand-made maps and marks; every expected number by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcalc.models.detection import (
    Detection,
    DetectionSettings,
    _disc,
    detection_clusters,
    disc_maximum,
    find_detections,
    narrow_detections,
)
from mcalc.models.froc import (
    ImageCounts,
    ImageTruth,
    _at_rates,
    calcification_counts,
    cluster_counts,
    froc,
    froc_band,
)

ONE = (1.0, 1.0)


# ------------------------------------------------------------------ detections


def test_peaks_after_suppression() -> None:
    m = np.zeros((30, 30))
    m[5, 5], m[5, 7], m[20, 20], m[25, 3] = 0.9, 0.8, 0.6, 0.2
    dets = find_detections(m, ONE, min_distance_mm=3.0)
    # (5, 7) is 2 mm from a higher peak: suppressed.
    assert [(d.row, d.col, d.score) for d in dets] == [(5, 5, 0.9), (20, 20, 0.6), (25, 3, 0.2)]
    # Far enough apart at 1 mm: both peaks stay.
    assert len(find_detections(m, ONE, min_distance_mm=1.0)) == 4


def test_threshold_max_and_valid_region() -> None:
    m = np.zeros((30, 30))
    m[5, 5], m[20, 20], m[25, 3] = 0.9, 0.6, 0.2
    assert [d.score for d in find_detections(m, ONE, threshold=0.5)] == [0.9, 0.6]
    assert [d.score for d in find_detections(m, ONE, max_detections=1)] == [0.9]
    valid = np.ones((30, 30), bool)
    valid[:10, :10] = False
    assert [d.score for d in find_detections(m, ONE, valid=valid)] == [0.6, 0.2]


def test_plateau_gives_one_detection_at_its_centre_and_size() -> None:
    m = np.zeros((20, 20))
    m[4:8, 6:10] = 0.7  # a 4x4 plateau: every pixel a maximum (a tie)
    dets = find_detections(m, (0.5, 0.5), min_distance_mm=5.0)
    # Its centroid (5.5, 7.5); of the four pixels nearest it, the first in raster order.
    assert [(d.row, d.col) for d in dets] == [(5, 7)]
    # 16 px of 0.25 mm^2 at or above half the score: diameter of a 4 mm^2 disc.
    assert dets[0].size_mm == pytest.approx(2 * math.sqrt(4.0 / math.pi), abs=1e-4)


def test_a_plateau_wider_than_the_distance_is_one_detection() -> None:
    """A probability map interpolated between patch centres is flat where it is clamped:
    a 3 mm wide plateau gave 4 detections 1 mm apart (suspicious-1 CC recent of the
    demo), 3 of them false positives for FROC. One detection, at the plateau's centre."""
    m = np.zeros((40, 60))
    m[10:14, 20:52] = 0.63  # 0.4 x 3.2 mm at 0.1 mm
    m[30, 5] = 0.9  # a peak elsewhere still counts
    dets = find_detections(m, (0.1, 0.1), min_distance_mm=1.0)
    assert [(d.row, d.col, d.score) for d in dets] == [(30, 5, 0.9), (11, 35, 0.63)]


def test_anisotropic_spacing_counts_in_mm() -> None:
    m = np.zeros((20, 20))
    m[5, 5], m[5, 8] = 0.9, 0.8  # 3 columns apart
    assert len(find_detections(m, (1.0, 1.0), min_distance_mm=2.5)) == 2
    assert len(find_detections(m, (1.0, 0.5), min_distance_mm=2.5)) == 1  # 1.5 mm apart


def _find(m: np.ndarray, det: DetectionSettings, valid: np.ndarray) -> list[Detection]:
    return find_detections(
        m,
        (0.1, 0.1),
        min_distance_mm=det.min_distance_mm,
        threshold=det.threshold,
        max_detections=det.max_detections,
        valid=valid,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_detections_told_from_others_equal_a_search(dtype) -> None:
    """narrow_detections against find_detections (the oracle) over random maps with
    plateaus and ties, caps that cut and caps that do not, thresholds at, above and under
    the held one (among them the held detections' own scores), another distance."""
    rng = np.random.default_rng(5)
    told = 0
    for _ in range(40):
        m = rng.random((int(rng.integers(20, 90)), int(rng.integers(20, 90))))
        if rng.random() < 0.5:
            m = np.round(m, 1)  # plateaus and ties
        m = m.astype(dtype)
        valid = rng.random(m.shape) < rng.choice([0.5, 1.0])
        held = DetectionSettings(
            threshold=float(rng.choice([0.0, 0.3, 0.5])),
            max_detections=int(rng.integers(1, 40)),
        )
        found = _find(m, held, valid)
        scores = [d.score for d in found]
        for threshold in [held.threshold, 0.2, 0.5, 0.7, *scores[::7]]:
            for cap in (1, 3, 20, 100):
                for distance in (1.0, 1.5):
                    want = DetectionSettings(distance, threshold, cap)
                    got = narrow_detections(found, held, want)
                    if got is not None:
                        told += 1
                        assert got == _find(m, want, valid), (held, want)
        # The batch's case (the regions' threshold, a cap at most theirs): always told.
        want = DetectionSettings(threshold=held.threshold, max_detections=held.max_detections)
        assert narrow_detections(found, held, want) == found
        want = DetectionSettings(
            threshold=held.threshold, max_detections=max(1, held.max_detections // 2)
        )
        assert narrow_detections(found, held, want) == _find(m, want, valid)
    assert told > 500  # most cases are told, not searched


def test_detections_not_held_are_not_told() -> None:
    m = np.zeros((40, 40))
    m[5, 5], m[20, 20], m[30, 8] = 0.9, 0.6, 0.55
    held = DetectionSettings(threshold=0.5, max_detections=2)
    found = find_detections(m, ONE, threshold=0.5, max_detections=2)
    assert [d.score for d in found] == [0.9, 0.6]
    # Cut at 2: a third at or above 0.5 may lie further down.
    assert narrow_detections(found, held, DetectionSettings(threshold=0.5)) is None
    assert narrow_detections(found, held, DetectionSettings(threshold=0.3)) is None
    assert narrow_detections(found, held, DetectionSettings(2.0, 0.5, 2)) is None
    # Those at or above 0.7 all come before the cut.
    assert narrow_detections(found, held, DetectionSettings(threshold=0.7)) == found[:1]
    # A float32 map compares in float32: its 0.7 (0.69999999) is at or above a threshold
    # of 0.7 there, under it in float64: left to a search.
    m32 = m.astype(np.float32)
    m32[20, 20] = 0.7
    found = find_detections(m32, ONE, threshold=0.5)
    want = DetectionSettings(threshold=0.7)
    assert [d.score for d in find_detections(m32, ONE, threshold=0.7)] == [
        d.score for d in found[:2]
    ]
    assert narrow_detections(found, DetectionSettings(threshold=0.5), want) is None


@pytest.mark.parametrize(
    ("dtype", "spacing", "radius"),
    [(np.float32, (0.1, 0.1), 1.0), (np.float64, (0.1, 0.1), 1.0), (np.float32, (0.1, 0.25), 0.7)],
)
def test_disc_maximum_equals_scipy_maximum_filter(dtype, spacing, radius) -> None:
    """OpenCV's dilation against SciPy's filter (the oracle): plateaus of equal values,
    negative values and peaks on the border, square and anisotropic discs."""
    from scipy import ndimage

    rng = np.random.default_rng(3)
    m = np.round(rng.random((61, 47)), 1).astype(dtype) - dtype(0.2)  # many ties
    m[0, 0], m[-1, 20], m[30, -1] = 2.0, 3.0, 2.5
    fp = _disc(radius, *spacing)
    want = ndimage.maximum_filter(m, footprint=fp, mode="constant")
    got = disc_maximum(m, fp)
    assert got.dtype == dtype and np.array_equal(got, want)
    with pytest.raises(ValueError, match="odd sides"):
        disc_maximum(m, np.ones((2, 3), bool))


def test_empty_map_has_no_detection() -> None:
    assert find_detections(np.zeros((8, 8)), ONE) == []


@pytest.mark.parametrize(
    "values, spacing, message",
    [
        (np.zeros((2, 2, 2)), ONE, "2-D"),
        (np.full((4, 4), np.nan), ONE, "NaN"),
        (np.zeros((4, 4)), (0.0, 1.0), "spacing"),
    ],
)
def test_bad_maps_are_refused(values: np.ndarray, spacing: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        find_detections(values, spacing)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="min_distance_mm"):
        find_detections(np.zeros((4, 4)), ONE, min_distance_mm=0)
    with pytest.raises(ValueError, match="valid mask"):
        find_detections(np.zeros((4, 4)), ONE, valid=np.ones((3, 3), bool))


# ------------------------------------------------------------------ FROC


def _two_images() -> list[ImageCounts]:
    a = calcification_counts(
        np.array([[10, 11], [30, 30], [50, 52]]),
        np.array([0.9, 0.7, 0.5]),
        ImageTruth.from_points([(10, 10), (50, 50)], ONE),
        tolerance_mm=3.0,
        patient="A",
    )
    b = calcification_counts(
        np.array([[80, 80], [20, 21]]),
        np.array([0.8, 0.6]),
        ImageTruth.from_points([(20, 20)], ONE),
        tolerance_mm=3.0,
        patient="B",
    )
    return [a, b]


def test_froc_by_hand() -> None:
    a, b = _two_images()
    assert a.tp.tolist() == [0, 1, 1, 2] and a.fp.tolist() == [0, 0, 1, 1]
    assert b.tp.tolist() == [0, 0, 1] and b.fp.tolist() == [0, 1, 1]
    r = froc([a, b])
    # thresholds 0.9, 0.8, 0.7, 0.6, 0.5 -> (FP/image, sensitivity of 3 findings):
    # (0, 1/3), (0.5, 1/3), (1, 1/3), (1, 2/3), (1, 1); the envelope keeps the best per FP.
    assert r.points == pytest.approx([(0.0, 1 / 3), (0.5, 1 / 3), (1.0, 1.0)])
    assert r.summary == pytest.approx({0.5: 1 / 3, 1.0: 1.0, 2.0: 1.0, 4.0: 1.0})
    assert r.cpm == pytest.approx((1 / 3 + 3) / 4)
    assert (r.n_images, r.n_truth, r.n_patients) == (2, 3, 2)
    d = r.as_dict()
    xs = [p["fp_per_image"] for p in d["froc"]]
    assert xs == sorted(set(xs))
    assert d["sensitivity_at"]["0.5"] == pytest.approx(1 / 3, abs=1e-6)


def test_ties_are_one_threshold() -> None:
    c = calcification_counts(
        np.array([[40, 40], [10, 10]]),
        np.array([0.5, 0.5]),
        ImageTruth.from_points([(10, 10)], ONE),
        tolerance_mm=1.0,
    )
    r = froc([c])
    # Both detections come in together at 0.5: 1 hit, 1 FP; no point in between.
    assert r.points == [(0.0, 0.0), (1.0, 1.0)]
    assert r.summary[0.5] == 0.0 and r.summary[1.0] == 1.0


def test_matching_is_one_to_one_and_optimal() -> None:
    truth = ImageTruth.from_points([(0, 0), (0, 4)], ONE)
    # d1 is nearer B than A; a greedy match would give it B and leave d2 unmatched.
    c = calcification_counts(
        np.array([[0, 2.2], [0, 5.5]]), np.array([0.9, 0.8]), truth, tolerance_mm=2.5
    )
    assert c.tp.tolist() == [0, 1, 2] and c.fp.tolist() == [0, 0, 0]
    # Two detections on one calcification: one hit, one false positive.
    c2 = calcification_counts(
        np.array([[0, 0], [0, 1]]), np.array([0.9, 0.8]), truth, tolerance_mm=1.5
    )
    assert c2.tp.tolist() == [0, 1, 1] and c2.fp.tolist() == [0, 0, 1]


def test_no_detections() -> None:
    c = calcification_counts(np.zeros((0, 2)), np.zeros(0), ImageTruth.from_points([(5, 5)], ONE))
    r = froc([c])
    assert r.points == [(0.0, 0.0)]
    assert r.summary == {0.5: 0.0, 1.0: 0.0, 2.0: 0.0, 4.0: 0.0} and r.cpm == 0.0


def test_no_annotations_leaves_sensitivity_undefined() -> None:
    c = calcification_counts(np.array([[5, 5]]), np.array([0.9]), ImageTruth.from_points([], ONE))
    assert c.fp.tolist() == [0, 1]
    r = froc([c])
    assert r.points == [] and r.cpm is None and r.summary[1.0] is None
    assert r.as_dict()["froc"] == []


def test_region_annotation_hit_inside() -> None:
    mask = np.zeros((60, 60), np.uint8)
    mask[0:10, 0:10] = 255
    truth = ImageTruth.from_mask(mask, ONE, kind="region")
    assert truth.n_findings == 1 and truth.n_cluster_findings == 1
    c = calcification_counts(np.array([[5, 5], [6, 6], [50, 50]]), np.array([0.9, 0.8, 0.7]), truth)
    # The region is hit once; the second detection inside it is neither hit nor FP.
    assert c.tp.tolist() == [0, 1, 1, 1] and c.fp.tolist() == [0, 0, 0, 1]
    assert froc([c]).points == [(0.0, 1.0), (1.0, 1.0)]


def test_mask_truth_has_calcifications_and_clusters() -> None:
    mask = np.zeros((400, 400), bool)
    for r, c in [(10, 10), (12, 14), (15, 11), (300, 300)]:
        mask[r, c] = True
    truth = ImageTruth.from_mask(mask, (0.1, 0.1))
    assert truth.points.tolist() == [[10, 10], [12, 14], [15, 11], [300, 300]]
    assert truth.clusters.round(4).tolist() == [[12.3333, 11.6667]]
    assert ImageTruth.from_mask(None, ONE).n_findings == 0


def test_cluster_froc_by_hand() -> None:
    sp = (0.1, 0.1)
    truth = ImageTruth.from_points([(10, 10), (12, 14), (15, 11)], sp)
    assert len(truth.clusters) == 1
    pts = np.array([[10, 10], [12, 14], [15, 11], [300, 300], [302, 303], [305, 301]])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    c = cluster_counts(pts, scores, truth, patient="A")
    # No cluster under 3 detections; the true one at 3; a false cluster at 6.
    assert c.tp.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert c.fp.tolist() == [0, 0, 0, 0, 0, 0, 1]
    r = froc([c])
    assert r.points == [(0.0, 1.0), (1.0, 1.0)]
    # The same rule as the annotations' clusters.
    dets = [Detection(int(r_), int(c_), 0.5, 0.0) for r_, c_ in pts]
    assert [k.members for k in detection_clusters(dets, sp)] == [(1, 2, 3), (4, 5, 6)]


def test_region_is_a_cluster_finding() -> None:
    mask = np.zeros((200, 200), np.uint8)
    mask[0:40, 0:40] = 1
    truth = ImageTruth.from_mask(mask, (0.1, 0.1), kind="region")
    c = cluster_counts(np.array([[10, 10], [12, 14], [15, 11]]), np.array([0.9, 0.8, 0.7]), truth)
    assert c.tp.tolist() == [0, 0, 0, 1] and c.n_truth == 1


def test_bootstrap_band_over_patients() -> None:
    imgs = _two_images()
    r = froc(imgs, n_boot=200, seed=3)
    assert r.band is not None
    lo, hi = np.asarray(r.band["low"]), np.asarray(r.band["high"])
    assert (lo <= hi + 1e-12).all() and lo.min() >= 0 and hi.max() <= 1
    assert set(r.summary_ci) == {"0.5", "1", "2", "4", "cpm"}
    assert froc(imgs, n_boot=200, seed=3).band == r.band  # seeded
    # One patient: every resample is the same data, the band is the curve itself.
    one = froc([imgs[0]], n_boot=50)
    assert one.band is not None and one.band["low"] == one.band["high"]
    assert one.summary_ci["cpm"][0] == pytest.approx(one.cpm)


def _patients(n: int, seed: int = 0) -> list[ImageCounts]:
    """Two images of each of ``n`` patients, random detections around random marks."""
    rng = np.random.default_rng(seed)
    images = []
    for p in range(n):
        for _ in range(2):
            marks = rng.uniform(0, 100, (rng.integers(0, 6), 2))
            near = marks[rng.random(len(marks)) < 0.6]
            near = near + rng.normal(0, 0.5, near.shape)
            points = np.vstack([near, rng.uniform(0, 100, (rng.integers(0, 8), 2))])
            images.append(
                calcification_counts(
                    points, rng.random(len(points)), ImageTruth.from_points(marks, ONE),
                    tolerance_mm=2.0, patient=f"p{p}",
                )
            )  # fmt: skip
    return images


@pytest.mark.parametrize("n_patients", [3, 12])
def test_band_is_on_the_curves_grid_and_holds_the_curve(n_patients: int) -> None:
    """The band was evaluated at 41 even FP values from 0 and drawn by straight lines: on
    the demo's FROC (3 patients) a wedge from (0, 0.08) to (5, 0.12) beside a step curve
    it missed. Now: the curve's own FP values, and low <= curve <= high at each."""
    r = froc(_patients(n_patients), n_boot=200, seed=1)
    d = r.as_dict()
    assert d["band"] is not None
    assert d["band"]["fp_per_image"] == [p["fp_per_image"] for p in d["froc"]]
    curve = np.asarray([p["sensitivity"] for p in d["froc"]])
    lo, hi = np.asarray(d["band"]["low"]), np.asarray(d["band"]["high"])
    assert (lo <= curve).all() and (curve <= hi).all()
    assert (hi - lo).max() > 0  # a band, not the curve twice


def test_band_widens_percentiles_that_miss_the_curve() -> None:
    resampled = np.array([[0.1, 0.4], [0.3, 0.4], [0.3, 0.45]])
    b = froc_band(np.array([0.0, 1.0]), np.array([0.2, 0.5]), resampled, level=0.95)
    assert b["fp_per_image"] == [0.0, 1.0]
    assert b["low"] == pytest.approx([0.11, 0.4]) and b["high"] == pytest.approx([0.3, 0.5])
    with pytest.raises(ValueError, match="grid of 2 values"):
        froc_band(np.array([0.0, 1.0]), np.array([0.2, 0.5]), resampled[:, :1])


def test_sensitivity_at_rates_equals_a_loop() -> None:
    """The one-sort step rule against the rule as written: best y at x <= rate, else 0."""
    rng = np.random.default_rng(4)
    for n in (0, 1, 7, 300):
        x, y = rng.integers(0, 20, n) / 4.0, rng.random(n)
        rates = np.r_[-1.0, rng.uniform(-0.5, 6, 50), x[:5]]
        loop = [float(y[x <= r + 1e-12].max(initial=0.0)) for r in rates]
        assert _at_rates(x, y, rates).tolist() == loop


def test_froc_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one image"):
        froc([])
    with pytest.raises(ValueError, match="one score per detection"):
        calcification_counts(np.zeros((2, 2)), np.zeros(3), ImageTruth.from_points([], ONE))
    with pytest.raises(ValueError, match="tolerance_mm"):
        calcification_counts(
            np.zeros((0, 2)), np.zeros(0), ImageTruth.from_points([], ONE), tolerance_mm=0
        )


def _detections_oracle(values, spacing, min_distance_mm, threshold, max_detections, valid):
    """The rule written plainly (SciPy's maximum filter and labels, each plateau a label of
    the whole map, the distance to each kept detection in turn, SciPy's label per
    half-maximum area): the oracle of the faster implementation (OpenCV's dilation, flood
    fills and labels, a mask of blocked pixels)."""
    from scipy import ndimage

    from mcalc.models.detection import PLATEAU_TOLERANCE, _disc

    arr = np.asarray(values)
    arr = arr if arr.dtype == np.float32 else arr.astype(np.float64)
    sr, sc = spacing
    if valid is not None:
        arr = np.where(valid, arr, arr.dtype.type(0))
    fp = _disc(min_distance_mm, sr, sc)
    peaks = arr == ndimage.maximum_filter(arr, footprint=fp, mode="constant", cval=0.0)
    peaks &= (arr >= threshold) & (arr > 0)
    rows, cols = np.nonzero(peaks)
    scores = arr[rows, cols].astype(np.float64)
    # Plateaus compared in float32, as OpenCV's fill does (value - seed + tolerance >= 0).
    a32 = arr.astype(np.float32)
    tol = np.float32(PLATEAU_TOLERANCE * max(float(arr.max()), 0.0))
    claimed = arr <= 0
    ry, rx = int(2 * min_distance_mm / sr), int(2 * min_distance_mm / sc)
    kept: list[tuple[int, int]] = []
    out = []
    for k in np.argsort(-scores, kind="stable"):
        r, c = int(rows[k]), int(cols[k])
        if claimed[r, c]:
            continue
        seed = a32[r, c]
        on = ((a32 - seed + tol) >= 0) & (a32 <= seed) & ~claimed
        labels, _ = ndimage.label(on, structure=np.ones((3, 3), bool))
        mine = labels == labels[r, c]
        claimed |= mine
        ys, xs = np.nonzero(mine)
        j = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
        r, c = int(ys[j]), int(xs[j])
        if any(math.hypot((r - a) * sr, (c - b) * sc) < min_distance_mm for a, b in kept):
            continue
        kept.append((r, c))
        score = float(scores[k])
        r0, r1 = max(0, r - ry), min(arr.shape[0], r + ry + 1)
        c0, c1 = max(0, c - rx), min(arr.shape[1], c + rx + 1)
        labels, _ = ndimage.label(np.asarray(arr[r0:r1, c0:c1], np.float64) >= score / 2.0)
        area = int((labels == labels[r - r0, c - c0]).sum()) * sr * sc
        out.append((r, c, score, round(2.0 * math.sqrt(area / math.pi), 4)))
        if len(out) >= max_detections:
            break
    return out


@pytest.mark.parametrize(
    ("dtype", "spacing", "radius", "maximum"),
    [
        (np.float32, (0.1, 0.1), 1.0, 100),  # Predict's defaults on a demo map
        (np.float64, (0.1, 0.1), 1.0, 100),
        (np.float32, (0.1, 0.25), 0.7, 40),  # non-square pixels
        (np.float64, (0.3, 0.3), 0.35, 100),  # a 3x3 disc without diagonals: 4-connected
        (np.float32, (1.0, 1.0), 3.0, 5),
    ],
)
def test_detections_equal_the_rule_written_plainly(dtype, spacing, radius, maximum) -> None:
    """The suppression by a mask of blocked pixels, OpenCV's flood fills, labels and
    areas: the same detections (positions, scores, sizes, order) as the rule written
    plainly, on smooth random maps with clamped plateaus, near-flat ones (1e-4 of noise)
    and ties, inside and without a valid region."""
    rng = np.random.default_rng(7)
    for trial in range(6):
        m = ndimage_smooth(rng.random((120, 90)), 2.0 + trial % 3)
        m = np.minimum(m, np.quantile(m, 0.97))  # flat tops: plateaus
        if trial % 2:
            m = m + 1e-4 * rng.random(m.shape) * (m == m.max())  # near-flat ones
        m[rng.integers(0, 120, 8), rng.integers(0, 90, 8)] = 0.9  # ties
        m = m.astype(dtype)
        valid = None if trial % 2 else rng.random((120, 90)) > 0.1
        threshold = float(np.quantile(m, 0.5)) if trial % 3 == 0 else 0.0
        got = find_detections(
            m,
            spacing,
            min_distance_mm=radius,
            threshold=threshold,
            max_detections=maximum,
            valid=valid,
        )
        want = _detections_oracle(m, spacing, radius, threshold, maximum, valid)
        assert [(d.row, d.col, d.score, d.size_mm) for d in got] == want
        assert got  # the maps have peaks


def ndimage_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    return ndimage.gaussian_filter(values, sigma)
