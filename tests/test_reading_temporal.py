"""The reading viewer's temporal payload: registered prior and subtraction on the recent
panel's grid, the coarse recent <-> prior mapping, tracked items in both panels."""

from __future__ import annotations

import base64
from dataclasses import replace

import numpy as np
import pytest

from mcalc.cache import ImageCache
from mcalc.dataset import open_dataset
from mcalc.present.reading import reading_panel
from mcalc.present.reading_temporal import (
    GRID,
    encode_signed,
    grid_mapping,
    not_compared,
    temporal_args,
    temporal_bytes,
    temporal_panel,
)
from mcalc.temporal import RegistrationSettings
from mcalc.viewer import DisplayOptions, prepare_view

FAST = RegistrationSettings(work_side=128, bspline_iterations=15)
MAX_SIDE = 200


def _decode(b64: str, dtype: str, shape: tuple[int, int]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=dtype).reshape(shape)


def _bilinear(flat: list[float], n: int, shape: tuple[int, int], p: tuple[float, float]):
    """The browser's interpolation of a lattice (temporal.ts mapPoint), written again."""
    g = np.asarray(flat).reshape(n, n, 2)
    u = p[0] / (shape[0] - 1) * (n - 1)
    v = p[1] / (shape[1] - 1) * (n - 1)
    i, j = min(int(u), n - 2), min(int(v), n - 2)
    fu, fv = u - i, v - j
    return (
        g[i, j] * (1 - fu) * (1 - fv)
        + g[i, j + 1] * (1 - fu) * fv
        + g[i + 1, j] * fu * (1 - fv)
        + g[i + 1, j + 1] * fu * fv
    )


def test_encode_signed_keeps_negative_values_and_clips():
    out = _decode(encode_signed(np.array([[-5.4, 0], [70000, -70000]])), "<i2", (2, 2))
    assert out.tolist() == [[-5, 0], [32767, -32768]]
    with pytest.raises(ValueError, match="2-D"):
        encode_signed(np.zeros(3))


@pytest.mark.slow  # registers one view of a demo case (about 2 s on 2 busy cores)
def test_payload_is_on_the_recent_grid_and_maps_both_ways(tiny_demo, tmp_path):
    cache = ImageCache(tmp_path / "cache")
    case = open_dataset(tiny_demo).cases[0]
    opts = DisplayOptions()
    recent_rec, prior_rec = case.image("CC", "recent"), case.image("CC", "prior")
    assert recent_rec is not None and prior_rec is not None
    recent = prepare_view(cache, recent_rec, opts, max_side=MAX_SIDE, laterality=case.laterality)
    prior = prepare_view(cache, prior_rec, opts, max_side=MAX_SIDE, laterality=case.laterality)
    tp = temporal_panel(cache, case, "CC", recent, prior, max_side=MAX_SIDE, settings=FAST)
    p = tp.payload
    panel = reading_panel(
        cache, recent_rec, recent, label="", view_name="CC", time="recent", max_side=MAX_SIDE
    )
    shape = (panel["rows"], panel["cols"])
    assert (p["rows"], p["cols"]) == shape and p["recent_key"] == recent_rec.key
    assert p["spacing"] == panel["spacing"]

    # recent - registered prior = subtraction inside the breast (all in the recent's values).
    rec = _decode(panel["pixels"], "<u2", shape).astype(float)
    reg = _decode(p["registered"], "<u2", shape).astype(float)
    sub = _decode(p["subtraction"], "<i2", shape).astype(float)
    inside = sub != 0
    assert inside.mean() > 0.2
    assert np.median(np.abs(rec - reg - sub)[inside]) <= 1.0
    assert p["sub_window"][0] == 0 and p["sub_window"][1] > 1

    # The lattice follows the registration, and the two directions agree.
    n = p["grid"]
    assert n == GRID and len(p["to_prior"]) == n * n * 2
    prior_shape = (p["prior_rows"], p["prior_cols"])
    for point in [(0.4 * shape[0], 0.5 * shape[1]), (0.7 * shape[0], 0.3 * shape[1])]:
        at_prior = _bilinear(p["to_prior"], n, shape, point)
        back = _bilinear(p["to_recent"], n, prior_shape, tuple(at_prior))
        assert np.hypot(*(back - np.asarray(point))) < 1.0, (point, at_prior, back)

    # Tracked items sit where the recent panel draws the radiologists' marks.
    stable = [t for t in p["tracked"] if t["kind"] == "calcification" and t["recent"]]
    if stable and panel["points"]:
        drawn = np.asarray(panel["points"])
        for t in stable:
            assert np.min(np.hypot(*(drawn - np.asarray(t["recent"])).T)) < 0.5
    args = temporal_args([tp], case.years_between)
    assert args["views"] == [p] and "stable" in args["summary"]
    assert temporal_bytes(args) == len(p["registered"]) + len(p["subtraction"]) > 0
    assert temporal_bytes(None) == 0
    # A view without a panel is named in the case's line, not left out ("CC: 5 new ..."
    # alone read as the whole case while MLO could not be compared).
    alone = temporal_args([tp], case.years_between, missing=not_compared(case, [tp]))
    assert alone["summary"].startswith("CC: ")
    assert "; MLO: not compared (could not be registered)" in alone["summary"]
    none = temporal_args([], 2.0, ["CC: no temporal view: no prior."])
    assert none == {"views": [], "summary": "No temporal view: CC: no temporal view: no prior."}


def test_grid_mapping_of_an_identity_registration_is_the_scale_change():
    from mcalc.temporal.register import Registration
    from tests.viewer_fixtures import tiny_view

    field = np.zeros((8, 8, 2), np.float32)
    reg = Registration((80, 60), (80, 60), 0.1, field, field, "affine", None, False)
    recent = replace(tiny_view(False, full_shape=(80, 60)), scale=0.5)
    prior = replace(tiny_view(True, full_shape=(80, 60)), scale=0.25)
    to_prior, to_recent = grid_mapping(reg, recent, prior, ((40, 30), (20, 15)), n=3)
    g = np.asarray(to_prior).reshape(3, 3, 2)
    # Recent panel node (row 39, col 29) = file (78, 58) -> prior panel (19.5, (59-58)*0.25).
    assert g[2, 2] == pytest.approx([19.5, 0.25])
    back = np.asarray(to_recent).reshape(3, 3, 2)
    assert back[0, 0] == pytest.approx([0.0, 29.5])
    with pytest.raises(ValueError, match="at least 2"):
        grid_mapping(reg, recent, prior, ((40, 30), (20, 15)), n=1)


def test_registration_caption_is_one_line_with_the_flag():
    """Browse's reading viewer and its simple viewer wrote this line each (a copy); the
    time reads to a tenth of a second (CC read "3.65 s", MLO "2.717 s" side by side)."""
    from mcalc.present.reading_temporal import registration_caption

    reg = {"method": "affine", "seconds": 1.234, "ncc_before": 0.81, "ncc_after": 0.93,
           "overlap": 0.95, "max_mm": 3.04, "fallback": "the non-rigid fit folded"}  # fmt: skip
    assert registration_caption(reg) == (
        "The prior was aligned to the recent exam by a global fit, in 1.2 s; **only the "
        "global fit was kept**: the non-rigid fit folded. The similarity inside the breast "
        "went from 0.810 to 0.930. The breasts overlap by 95%, and nothing was moved more "
        "than 3.0 mm."
    )


def test_a_kept_registration_a_little_below_as_filed_says_why():
    """A caption reading "similarity 0.990 → 0.989" on an applied registration read as a
    failure (a user check): within the margin it is kept, and the caption says so; a pair
    left as filed says its own reason instead."""
    from mcalc.present.reading_temporal import registration_caption

    reg = {"method": "affine+bspline", "seconds": 0.6, "ncc_before": 0.991,
           "ncc_after": 0.989, "overlap": 0.98, "max_mm": 1.5, "fallback": None}  # fmt: skip
    assert (
        "from 0.991 to 0.989: a little lower, but by less than 0.005, so the alignment was "
        "kept" in registration_caption(reg)
    )
    filed = {**reg, "method": "none", "ncc_after": 0.95, "fallback": "lowered the similarity"}
    assert "a little lower" not in registration_caption(filed)
    assert "**the exams are compared as filed**: lowered the similarity" in (
        registration_caption(filed)
    )


def test_the_registration_line_reads_aloud():
    """A presenter read "affine in 1.1 s · similarity inside the breast 0.990 → 0.989 (a
    little lower: within 0.005 of the images as filed, kept: the rounds were already close)
    · ... · fell back to the global stage: non-rigid stage lowered the similarity (0.984 <
    0.990)" with care (h/presenter's tour): plain sentences now, with no symbol to say as a
    word, and every number of the record kept."""
    import re

    from mcalc.present.reading_temporal import registration_caption
    from mcalc.temporal.register import Registration, as_filed_if_worse

    reg = {"method": "affine", "seconds": 1.1, "ncc_before": 0.990, "ncc_after": 0.989,
           "overlap": 0.98, "max_mm": 1.1, "fallback": "the non-rigid fit lowered the "
           "similarity to 0.984, from 0.990 with the global fit alone"}  # fmt: skip
    ident = as_filed_if_worse(
        Registration((4, 4), (4, 4), 0.1, np.ones((2, 2, 2), np.float32),
                     np.ones((2, 2, 2), np.float32), "affine", None, False),
        {"ncc_before": 0.99, "ncc_after": 0.90},
    )  # fmt: skip
    assert ident is not None and ident.fallback is not None
    filed = {**reg, "method": "none", "ncc_after": 0.99, "max_mm": 0.0, "fallback": ident.fallback}
    for r in (reg, filed):
        said = registration_caption(r).replace("**", "")
        assert not re.search(r"[·→<>]", said), said
        for number in ("1.1 s", f"{r['ncc_after']:.3f}", "98%", f"{r['max_mm']:.1f} mm"):
            assert number in said, (number, said)
        sentences = [x for x in re.split(r"(?<=[.:;])\s", said) if x]
        assert all(len(x) < 140 for x in sentences), sentences
    assert "0.990 to 0.989" in registration_caption(reg)
    assert "0.900, from 0.990 as filed" in registration_caption(filed)
