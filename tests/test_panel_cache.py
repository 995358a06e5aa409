"""mcalc.present.panel_cache: a case's panels, the pixel part cached across display toggles."""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import replace

import pytest

from mcalc.cache import ImageCache
from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset import open_dataset
from mcalc.present import panel_cache, panel_prefetch
from mcalc.present.pixels import SentPixels
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


def _plain(panels):
    """Panels without the cache's ``pixel_id`` (the uncached path has none)."""
    return [{k: v for k, v in p.items() if k != "pixel_id"} for p in panels]


def test_toggles_reuse_the_pixels_and_match_a_fresh_build(tiny_demo, tmp_path, monkeypatch):
    panel_cache.clear()
    case = open_dataset(tiny_demo).cases[0]
    # The other side: hung back to back, its images are mirrored (orientation then matters).
    case = replace(case, laterality={"L": "R", "R": "L"}[case.laterality])
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
        assert _plain(panels) == _uncached(cache, case, opts, 128), opts
        assert len(built) == 4, f"toggle {i} rebuilt pixels: {built}"
    # Orientation changes the pixels: built again (and still equal to a fresh build).
    flat = replace(base, orient=False)
    flipped = panel_cache.case_panels(cache, case, flat, 128)[0]
    assert _plain(flipped) == _uncached(cache, case, flat, 128)
    # Named by their values: a new id where the orientation changed them, else the same.
    changed = [p["pixels"] != q["pixels"] for p, q in zip(flipped, panels, strict=True)]
    assert any(changed)
    for p, q, new in zip(flipped, panels, changed, strict=True):
        assert (p["pixel_id"] != q["pixel_id"]) is new, (p["key"], new)
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
    # An image the case does not have is no problem of its images: the page says once
    # what the case lacks (reading.hanging_note); it was a warning per empty panel.
    assert not [p for p in problems if "no such image" in p], problems
    # The unreadable image is (it read "CC prior: <file>: <reason>": no side).
    unreadable = f"{panel_label(odd, 'CC', 'prior')}: {broken}"
    assert unreadable.startswith(f"{odd.laterality} CC prior")
    assert problems[0].startswith(unreadable) and len(problems) == 1, problems


def test_payload_sends_each_image_once_and_the_next_case_when_ready(tiny_demo, tmp_path):
    """Pixels travel apart (binary, lossless), once per browser; a forgotten id is sent
    again; the next case's pixels ride along once prefetch_case has made them."""
    from mcalc.present.fullres import decode_fullres

    panel_cache.clear()
    first, second = open_dataset(tiny_demo).cases[:2]
    cache = ImageCache(tmp_path / "cache")
    sent = SentPixels()
    opts = DisplayOptions()
    pay = panel_cache.case_payload(cache, first, opts, 128, sent, ahead=[second])
    assert pay.problems == [] and "pixels" not in pay.panels[0]
    assert pay.sent_ids == [p["pixel_id"] for p in pay.panels]  # the next case: not made yet
    shown = panel_cache.case_panels(cache, first, opts, 128)[0]
    for panel, e, old in zip(pay.panels, pay.index, shown, strict=True):
        values = decode_fullres(
            pay.data[e["offset"] : e["offset"] + e["length"]], e["rows"], e["cols"]
        )
        assert values.tobytes() == base64.b64decode(old["pixels"])
        assert panel == {k: v for k, v in old.items() if k != "pixels"}

    again = panel_cache.case_payload(cache, first, replace(opts, invert=True), 128, sent)
    assert again.index == [] and again.data == b""
    sent.forget([pay.sent_ids[0]])  # the browser lost one image
    assert panel_cache.case_payload(cache, first, opts, 128, sent).sent_ids == pay.sent_ids[:1]

    thread = panel_prefetch.prefetch_case(cache, second, opts, 128)
    assert thread is not None
    thread.join(60)
    assert panel_prefetch.prefetch_case(cache, second, opts, 128) is None  # made already
    ahead = panel_cache.case_payload(cache, first, opts, 128, sent, ahead=[second])
    assert sorted(ahead.sent_ids) == sorted(
        p["pixel_id"] for p in panel_cache.case_payload(cache, second, opts, 128, sent).panels
    )
    assert panel_prefetch.prefetch_cases(cache, [first, second], opts, 128) is None
    # Browse: the case's own pixels in the render, the next case's apart (ahead_*).
    apart = panel_cache.case_payload(
        cache, first, opts, 128, SentPixels(), ahead=[second], ahead_apart=True
    )
    assert [e["id"] for e in apart.index] == [p["pixel_id"] for p in apart.panels]
    assert [e["id"] for e in apart.ahead_index] == ahead.sent_ids
    e = apart.ahead_index[-1]
    assert e["offset"] + e["length"] == len(apart.ahead_data)
    # ... or in the render after all (no media store): the same bytes at moved offsets.
    index, data = apart.with_ahead()
    assert [x["id"] for x in index] == apart.sent_ids
    for x in index[len(apart.index) :]:
        y = next(a for a in apart.ahead_index if a["id"] == x["id"])
        got = data[x["offset"] : x["offset"] + x["length"]]
        assert got == apart.ahead_data[y["offset"] : y["offset"] + y["length"]]

    # Full resolution's views come from the same entries: prepare_view's geometry, no preview.
    views = panel_cache.case_views(cache, first, replace(opts, invert=True), 128)
    assert sorted(views) == sorted(r.key for r in first.images)
    rec = first.images[0]
    made = prepare_view(cache, rec, opts, max_side=128, laterality=first.laterality)
    got = views[rec.key]
    assert (got.scale, got.flipped, got.full_shape, got.spacing_mm) == (
        made.scale,
        made.flipped,
        made.full_shape,
        made.spacing_mm,
    )
    assert got.preview.shape[:2] == (1, 1)
    # Annotate's: the file's own laterality, as image_payload orients its panels.
    own = panel_cache.image_views(cache, [rec], opts, 128)[rec.key]
    made = prepare_view(cache, rec, opts, max_side=128)
    assert (own.scale, own.flipped, own.full_shape) == (made.scale, made.flipped, made.full_shape)


def test_image_payload_matches_the_page_panels_and_sends_pixels_once(tiny_demo, tmp_path):
    """Annotate's two panels (a view's rounds, the file's laterality): as reading_panel
    makes them from prepare_view, pixels lossless and once; a forgotten id is sent again."""
    from mcalc.present.fullres import decode_fullres

    panel_cache.clear()
    case = open_dataset(tiny_demo).cases[0]
    cache = ImageCache(tmp_path / "cache")
    sent = SentPixels()
    opts = DisplayOptions(preset="dense tissue", invert=True)
    recs = [case.image("CC", tp) for tp in TIMEPOINTS]
    pay = panel_cache.image_payload(cache, case, recs, opts, 128, sent)
    assert pay.problems == [] and pay.sent_ids == [p["pixel_id"] for p in pay.panels]
    for rec, panel, e in zip(recs, pay.panels, pay.index, strict=True):
        v = prepare_view(cache, rec, opts, max_side=128)
        old = reading_panel(
            cache, rec, v, label=panel["label"], view_name="CC", time=rec.timepoint, max_side=128
        )
        values = decode_fullres(
            pay.data[e["offset"] : e["offset"] + e["length"]], e["rows"], e["cols"]
        )
        assert values.tobytes() == base64.b64decode(old.pop("pixels"))
        assert {k: v for k, v in panel.items() if k != "pixel_id"} == old
    again = panel_cache.image_payload(cache, case, recs[::-1], opts, 128, sent)
    assert again.data == b"" and [p["key"] for p in again.panels] == [r.key for r in recs[::-1]]
    sent.forget([pay.sent_ids[1]])
    assert panel_cache.image_payload(cache, case, recs, opts, 128, sent).sent_ids == [
        pay.sent_ids[1]
    ]


def test_case_keys_are_asked_again_without_reading_the_files(tiny_demo, tmp_path, monkeypatch):
    """Browse's wait for the next case polls readiness every 0.1 s: its keys are made once
    (one stat per file) and asked again with no file touched; a file gone gives no keys."""
    panel_cache.clear()
    case = open_dataset(tiny_demo).cases[1]
    cache = ImageCache(tmp_path / "cache")
    opts = DisplayOptions()
    keys = panel_cache.case_keys(cache, case, opts, 128)
    assert keys is not None and len(keys) == len(case.images)
    thread = panel_prefetch.prefetch_cases(cache, [case], opts, 128)
    assert thread is not None
    thread.join(60)

    def no_stat(path):
        raise AssertionError(f"{path} read again")

    with monkeypatch.context() as m:
        m.setattr(panel_cache, "file_key", no_stat)
        assert panel_cache.keys_ready(keys) and not panel_prefetch.keys_prefetching(keys)
    assert panel_cache.case_ready(cache, case, opts, 128)
    other = panel_cache.case_keys(cache, case, replace(opts, orient=not opts.orient), 128)
    assert other is not None and not panel_cache.keys_ready(other)

    def gone(path):
        raise FileNotFoundError(path)

    monkeypatch.setattr(panel_cache, "file_key", gone)  # the tiny set is shared: no unlink
    assert panel_cache.case_keys(cache, case, opts, 128) is None
    assert not panel_cache.case_ready(cache, case, opts, 128)
    assert not panel_prefetch.prefetching(cache, case, opts, 128)


def test_prefetches_build_one_at_a_time_and_never_an_image_twice(tiny_demo, tmp_path, monkeypatch):
    """A *Next* while the case after next is still being built asks for it again with the
    one after it: that second thread waits for the first, then builds only the new case."""
    panel_cache.clear()
    _, second, third = open_dataset(tiny_demo).cases[:3]
    cache = ImageCache(tmp_path / "cache")
    opts = DisplayOptions()
    built: list[str] = []
    now, most = [0], [0]
    real = panel_cache._views
    building = threading.Event()

    def slow_views(cache, recs, *args, **kw):
        now[0] += 1
        most[0] = max(most[0], now[0])
        building.set()
        time.sleep(0.3)  # a build long enough for the next call to come meanwhile
        try:
            built.extend(r.key for r in recs)
            return real(cache, recs, *args, **kw)
        finally:
            now[0] -= 1

    monkeypatch.setattr(panel_cache, "_views", slow_views)
    ended: list[str] = []
    first_thread = panel_prefetch.prefetch_cases(
        cache, [second], opts, 128, done=lambda cases, end, wall: ended.append(cases)
    )
    # The first thread builds (it holds the build lock) before the second is asked for: a
    # fixed 0.05 s let a first thread that had not reached the lock yet (a busy machine)
    # come second, and the order asserted below was reversed.
    assert building.wait(60)
    later_thread = panel_prefetch.prefetch_cases(
        cache, [second, third], opts, 128, done=lambda cases, end, wall: ended.append(cases)
    )
    assert first_thread is not None and later_thread is not None
    assert panel_prefetch.prefetching(cache, third, opts, 128)  # waiting counts as under way
    first_thread.join(60)
    later_thread.join(60)
    assert sorted(built) == sorted(r.key for r in [*second.images, *third.images]), built
    assert most[0] == 1
    assert ended == [second.case_id, f"{second.case_id},{third.case_id}"]  # in turn
    assert panel_cache.case_ready(cache, second, opts, 128)
    assert panel_cache.case_ready(cache, third, opts, 128)


def test_held_panels_only_for_a_case_cached_and_sent(tiny_demo, tmp_path):
    """A neighbour's panels are offered (Browse shows them at the click) only when every
    image is cached here and was sent to the browser, and equal the payload's own."""
    panel_cache.clear()
    first, second = open_dataset(tiny_demo).cases[:2]
    cache = ImageCache(tmp_path / "cache")
    opts, sent = DisplayOptions(), SentPixels()
    assert panel_cache.held_panels(cache, second, opts, 128, sent) is None  # not cached
    assert not panel_cache.case_ready(cache, second, opts, 128)
    assert not panel_prefetch.prefetching(cache, second, opts, 128)
    thread = panel_prefetch.prefetch_cases(cache, [second], opts, 128)
    assert thread is not None
    assert panel_prefetch.prefetching(cache, second, opts, 128) or not thread.is_alive()
    assert not panel_prefetch.prefetching(cache, first, opts, 128)
    thread.join(60)
    assert len(panel_cache._ready_entries(cache, second, opts, 128)) == 4
    assert panel_cache.case_ready(cache, second, opts, 128)
    assert not panel_prefetch.prefetching(cache, second, opts, 128)
    assert panel_cache.held_panels(cache, second, opts, 128, sent) is None  # not sent
    pay = panel_cache.case_payload(cache, first, opts, 128, sent, ahead=[second], ahead_apart=True)
    held = panel_cache.held_panels(cache, second, replace(opts, invert=True), 128, sent)
    own = panel_cache.case_payload(cache, second, replace(opts, invert=True), 128, sent).panels
    assert held == own and all(p["invert"] for p in held) and pay.ahead_index
    sent.forget([own[0]["pixel_id"]])  # the browser lost one: no longer offered
    assert panel_cache.held_panels(cache, second, opts, 128, sent) is None
