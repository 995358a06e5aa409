"""mcalc.present.panel_cache: a case's panels, the pixel part cached across display toggles."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mcalc.cache import ImageCache
from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset import open_dataset
from mcalc.present import panel_cache
from mcalc.present.reading import panel_label, reading_panel
from mcalc.viewer import DisplayOptions, prepare_view


def _uncached(cache, case, opts, max_side):
    """The page's former path (the oracle): a view per option set, then its panel."""
    out = []
    for view in VIEWS:
        for tp in TIMEPOINTS:
            rec = case.image(view, tp)
            v = prepare_view(cache, rec, opts, max_side=max_side, laterality=case.laterality)
            label = panel_label(case, view, tp)
            out.append(
                reading_panel(
                    cache, rec, v, label=label, view_name=view, time=tp, max_side=max_side
                )
            )
    return out


def test_toggles_reuse_the_pixels_and_match_a_fresh_build(tiny_demo, tmp_path, monkeypatch):
    panel_cache.clear()
    case = open_dataset(tiny_demo).cases[0]
    cache = ImageCache(tmp_path / "cache")
    built = []
    real = panel_cache.reading_panel
    monkeypatch.setattr(
        panel_cache, "reading_panel", lambda *a, **k: built.append(a[1].key) or real(*a, **k)
    )
    base = DisplayOptions()
    toggles = [
        base,
        replace(base, invert=True),
        replace(base, preset="auto", clahe=True),
        replace(base, preset="manual", center=500.0, width=300.0),
        replace(base, show_annotations=False, overlay_color="#00ff00"),
    ]
    for i, opts in enumerate(toggles):
        panels, problems = panel_cache.case_panels(cache, case, opts, 128)
        assert problems == []
        assert panels == _uncached(cache, case, opts, 128), opts
        assert len(built) == 4, f"toggle {i} rebuilt pixels: {built}"
    # Orientation changes the pixels: built again (and still equal to a fresh build).
    flat = replace(base, orient=False)
    assert panel_cache.case_panels(cache, case, flat, 128)[0] == _uncached(cache, case, flat, 128)
    assert len(built) == 8
    with pytest.raises(ValueError, match="manual window"):
        panel_cache.case_panels(cache, case, replace(base, preset="manual"), 128)


def test_missing_and_unreadable_images_are_problems_not_errors(tiny_demo, tmp_path):
    panel_cache.clear()
    index = open_dataset(tiny_demo)
    case = index.cases[1]
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"not a dicom")
    cc_prior = case.image("CC", "prior")
    images = tuple(
        replace(r, image_path=broken) if r is cc_prior else r
        for r in case.images
        if not (r.view == "MLO" and r.timepoint == "recent")
    )
    odd = replace(case, images=images)
    panels, problems = panel_cache.case_panels(ImageCache(None), odd, DisplayOptions(), 96)
    assert len(panels) == 2
    assert (
        problems[0].startswith("CC prior: ")
        and "MLO recent: this case has no such image." in problems
    )
