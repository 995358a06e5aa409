"""AppTest of Predict's runs: a case runs by itself, a setting waits for Run, Cancel,
progress, the analyses made ahead, and the result's part of the page rerun alone."""

from __future__ import annotations

import json

import keras  # noqa: F401  (a broken install fails here, not skips)
import pytest
from streamlit.testing.v1 import AppTest

from tests.explain_fixtures import register, spot_model
from tests.predict_fixtures import (
    APP,
    PAGE,
    assert_ok,
    image_figure,
    open_predict,
    press_run,
    settle,
)

pytestmark = pytest.mark.slow  # AppTest runs that predict and explain: 9-48 s each


def _keys(at: AppTest) -> set[str]:
    """The image keys of the regions on the overlay figure."""
    return {
        c[0]
        for t in image_figure(at)["data"]
        if t.get("name", "").startswith("regions-")
        for c in t.get("customdata") or []
    }


def test_a_new_view_runs_by_itself_a_setting_waits_for_run_a_cached_result_shows_at_once(
    page_env,
) -> None:
    from pages.predict_run import WORK_KEY

    at = open_predict()
    assert all("/CC_" in k for k in _keys(at))
    at.radio(key="predict_view").set_value("MLO").run()
    assert_ok(at)
    # The choice is the action: no Run asked, its run started by itself (the CC result
    # stays on screen meanwhile: the cancel test below, with a slow analysis).
    assert not any("Not computed yet" in i.value for i in at.info)
    settle(at)
    assert _keys(at) and all("/MLO_" in k for k in _keys(at))
    # Back to CC: from the results cache, at once (no run, no button).
    at.radio(key="predict_view").set_value("CC").run()
    assert_ok(at)
    assert WORK_KEY not in at.session_state
    assert all("/CC_" in k for k in _keys(at))
    assert not [b for b in at.button if b.key == "predict_run"]
    # Another setting: nothing runs until Run; the CC result stays, named, with a Run button.
    at.toggle(key="predict_regions_at_operating").set_value(False).run()
    at.slider(key="predict_threshold").set_value(0.3).run()
    assert_ok(at)
    assert WORK_KEY not in at.session_state
    assert any("Not computed yet" in i.value and "CC" in i.value for i in at.info)
    press_run(at)
    assert all("/CC_" in k for k in _keys(at))


def test_cancel_stops_the_run_and_leaves_the_last_result(page_env, monkeypatch) -> None:
    import time

    import mcalc.explain.service as service
    import pages.predict_run as predict_run
    from pages.predict_run import WORK_KEY

    # The choice's own run waits that long for its analysis, then the progress poll does.
    monkeypatch.setattr(predict_run, "WAIT_MAX_S", 0.5)
    at = open_predict()
    real = service.analyse_image

    def slow(loaded, mammogram, **kwargs):
        if kwargs.get("progress") is None:  # the page's look into the cache
            return real(loaded, mammogram, **kwargs)
        for i in range(400):  # reports progress, as the real sliding window does
            kwargs["progress"](i, 400, "slow patches")
            time.sleep(0.05)
        return real(loaded, mammogram, **kwargs)

    monkeypatch.setattr(service, "analyse_image", slow)
    at.radio(key="predict_view").set_value("MLO").run()  # runs by itself
    assert_ok(at)
    work = at.session_state[WORK_KEY][0]
    assert work.running and at.get("progress")
    assert all("/CC_" in k for k in _keys(at))  # the last result stays meanwhile
    at.button(key="predict_cancel").click().run()
    assert work.wait(30) and work.state == "cancelled"
    at.run()
    assert_ok(at)
    assert any("Run cancelled" in i.value for i in at.info)
    assert all("/CC_" in k for k in _keys(at))
    assert [b for b in at.button if b.key == "predict_run"]  # and it can be run again
    # Another case while a run goes on: the choice stops that run first; the new one waits
    # for it (never two at once, nothing queued behind).
    at.button(key="predict_run").click().run()
    work = at.session_state[WORK_KEY][0]
    other = next(o for o in at.selectbox(key="predict_case").options if o != "suspicious-1")
    at.selectbox(key="predict_case").set_value(other).run()
    queued = at.session_state[WORK_KEY][0]
    assert queued is not work and other in str(queued.key)
    assert work.wait(30) and work.state == "cancelled"
    at.button(key="predict_cancel").click().run()
    assert queued.wait(30) and queued.state == "cancelled"


def test_a_waiting_run_redraws_its_progress_only_when_it_changes(monkeypatch) -> None:
    """The first visit's wait (no limit) sends the bar at most every PROGRESS_EVERY_S and
    only when its value or text changed: each element sent makes the browser render the
    whole page again (a redraw every 0.15 s kept a first visit's main thread busy)."""
    import threading

    import pages.predict_run as predict_run
    from mcalc.progress import BackgroundWork

    gate, step = threading.Event(), threading.Event()

    class Bar:
        def __init__(self) -> None:
            self.sent: list[tuple[float, str]] = []

        def progress(self, frac: float, text: str) -> None:
            self.sent.append((frac, text))
            gate.set()  # the change sent: the run may end

        def empty(self) -> None:
            pass

    def work(report) -> int:
        report(1, 4, "image 1")
        step.wait(60)
        report(2, 4, "image 2")  # one change halfway
        gate.wait(60)
        return 1

    # The run moves on from the wait's look at its progress, not from timers (0.8 s and
    # 1.6 s, which a busy machine could pass both between two of the wait's looks): the
    # first look after the bar as drawn finds it unchanged, then the run reports its one
    # change, and it ends once that change is sent.
    looks = [0]
    real = predict_run._progress_value

    def look(work, meta):
        value = real(work, meta)
        looks[0] += 1
        if looks[0] == 2:  # the first look in the wait (the first: the bar as drawn)
            step.set()
        return value

    monkeypatch.setattr(predict_run, "_progress_value", look)
    job = BackgroundWork(work).start()
    monkeypatch.setattr(job, "elapsed", lambda: 0.0)  # the text's seconds stay the same
    monkeypatch.setattr(predict_run.st, "rerun", lambda: None)
    meta = predict_run.Shown(key="k", title="m · c · CC", records={}, labels={},
                             laterality=None, view="CC")  # fmt: skip
    bar = Bar()
    while job.snapshot() != (1, 4, "image 1"):  # the bar as drawn before the wait
        job.wait(0.01)
    predict_run.Pending(job, meta, bar, bar).finish()
    # At least 0.5 s of waiting in 0.15 s steps, an unchanged look among them: a redraw at
    # each step before; now the one change only.
    assert looks[0] >= 3
    assert [frac for frac, _ in bar.sent] == [0.5]
    assert bar.sent[0][1] == "Computing m · c · CC: image 2 · 0 s"


def test_the_case_analysed_at_start_and_the_next_analysed_ahead_are_drawn_without_a_run(
    app_env, tmp_path, monkeypatch
) -> None:
    """The warm-up's analysis of the case Predict opens with lands under the very key the
    page asks for on a first visit (drawn from the cache, no run), with the registry's
    default model (not a quick try listed first), and with a result drawn the page
    analyses the next case of its list ahead, which its choice then finds."""
    import threading

    import mcalc.explain.runs as runs
    import mcalc.models.warmup as warmup
    from mcalc.explain.ahead import AheadSlot
    from mcalc.models.registry import list_models, set_default_model
    from mcalc.present import pixels
    from mcalc.present.fullres import encode_fullres
    from pages import predict_run
    from pages.common import viewer_pixels_ahead
    from pages.predict_run import AUTO_KEY, SHOWN_KEY

    root = register(tmp_path / "models", "spot", spot_model()).parent
    register(root, "a-quick-try", spot_model())  # listed first (same date, name order)
    assert list_models(root).models[0].id == "a-quick-try"
    set_default_model(root, "spot", role="researcher")
    monkeypatch.setenv("MCALC_MODELS", str(root))
    monkeypatch.setenv("MCALC_ANALYSE_AHEAD", "1")
    for name, value in (("_MODELS", {}), ("_WANTED", []), ("_ASKED", threading.Event())):
        monkeypatch.setattr(warmup, name, value)
    slot = AheadSlot()
    monkeypatch.setattr(runs, "AHEAD", slot)
    monkeypatch.setattr(predict_run, "NEXT_AHEAD_DELAY_S", 0.0)
    key = warmup.warm_up_model(root)
    assert key is not None and key[0] == str(root.resolve() / "spot")
    opening = warmup.analyse_opening(key, str(app_env), pixels_ahead=viewer_pixels_ahead)
    assert opening is not None and opening.wait(120) and opening.state == "done"
    # Its viewer's pixels were encoded ahead too: the first visit encodes none.
    encoded: list[int] = []

    def encode(values, level=1):
        encoded.append(1)
        return encode_fullres(values, level)

    monkeypatch.setattr(pixels, "encode_fullres", encode)  # every page's encoder

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert_ok(at)
    assert at.selectbox(key="predict_model").value == "spot"
    assert "predict_make_default" not in [b.key for b in at.button]  # it is the default
    assert AUTO_KEY not in at.session_state  # no run started: the cached result drawn
    (viewer,) = [c for c in at.get("component_instance") if "panels" in c.proto.json_args]
    sent = json.loads(viewer.proto.json_args)["pixels"]
    assert len(sent) == 2 and all(a.bytes for a in viewer.proto.special_args) and encoded == []
    assert at.session_state[SHOWN_KEY].key == opening.key
    assert at.session_state[SHOWN_KEY].analysis is opening.result
    ahead = slot.work
    assert ahead is not None and ahead is not opening
    assert ahead.wait(120) and ahead.state == "done"
    ids = at.selectbox(key="predict_case").options
    at.selectbox(key="predict_case").set_value(ids[1]).run()
    assert_ok(at)
    assert AUTO_KEY not in at.session_state
    assert at.session_state[SHOWN_KEY].key == ahead.key
    assert at.session_state[SHOWN_KEY].analysis is ahead.result


def test_a_new_case_is_drawn_by_a_rerun_of_the_result_only(page_env, monkeypatch) -> None:
    """The run of a reader's choice waits for its analysis, then reruns the result's
    fragment alone (not the whole page: its widgets, status and layout stay as sent):
    one run of the page per choice, the new result drawn."""
    import pages.common as common

    at = open_predict()
    pages_run = []
    frame = common.frame
    monkeypatch.setattr(common, "frame", lambda *a, **k: (pages_run.append(1), frame(*a, **k))[1])
    at.radio(key="predict_view").set_value("MLO").run()
    assert_ok(at)
    assert _keys(at) and all("/MLO_" in k for k in _keys(at))  # drawn, no rerun asked
    assert not at.get("progress") and not [b for b in at.button if b.key == "predict_cancel"]
    assert len(pages_run) == 1  # the choice's run only (a page rerun before: 2)


def test_a_cancelled_note_goes_once_that_requests_result_is_on_screen(
    page_env, monkeypatch
) -> None:
    """A run cancelled as its analysis ended (or one whose result the analysis ahead made
    meanwhile) leaves its result in the cache: once that result is drawn, "Run cancelled"
    no longer describes the screen and is not shown."""
    import threading

    import mcalc.explain.runs as runs
    import pages.predict_run as predict_run
    from pages.predict_run import WORK_KEY

    monkeypatch.setattr(predict_run, "WAIT_MAX_S", 0.3)
    at = open_predict()
    real = runs.analyse_case
    release = threading.Event()

    def late(loaded, images, settings, progress=None, **kwargs):
        case = real(loaded, images, settings, None, **kwargs)  # no report: not cancellable
        if progress is not None:  # the run (not the page's cache lookup) ends after Cancel
            release.wait(30)
        return case

    monkeypatch.setattr(runs, "analyse_case", late)
    at.radio(key="predict_view").set_value("MLO").run()  # runs by itself
    work = at.session_state[WORK_KEY][0]
    at.button(key="predict_cancel").click().run()
    release.set()
    assert work.wait(60) and work.state == "cancelled"
    at.run()
    assert_ok(at)
    assert _keys(at) and all("/MLO_" in k for k in _keys(at))  # its result, from the cache
    assert not any("Run cancelled" in i.value for i in at.info)


def test_the_case_score_button_goes_once_clicked(page_env) -> None:
    at = open_predict()
    at.toggle(key="predict_case_all").set_value(True).run()
    assert [b for b in at.button if b.key == "predict_case_run"]
    at.button(key="predict_case_run").click().run()
    assert_ok(at)
    assert "Case suspicious-1" in {m.label for m in at.metric}
    assert not [b for b in at.button if b.key == "predict_case_run"]
    assert not any("Not computed yet: the model runs" in c.value for c in at.caption)


def test_a_new_cases_viewer_layers_are_made_in_its_runs_thread(page_env, monkeypatch) -> None:
    """The maps' grids the viewer gets as layers (and the detections) are made in the
    analysis' own thread as it ends, so that the page's run drawing the result only mirrors
    and sends them (on main the script made them after the analysis: 70-170 ms of a cold
    case on the 2-core machine under load)."""
    import threading

    import mcalc.present.reading_overlays as ro
    from pages.predict_viewer import PANELS_KEY

    at = open_predict()
    at.toggle(key="predict_use_viewer").set_value(True).run()
    assert_ok(at)
    made: list[str] = []
    real = ro.map_grid
    monkeypatch.setattr(
        ro,
        "map_grid",
        lambda *a, **k: (made.append(threading.current_thread().name), real(*a, **k))[1],
    )
    at.radio(key="predict_view").set_value("MLO").run()  # a new view: its run, then drawn
    assert_ok(at)
    panels = at.session_state[PANELS_KEY][1]
    assert panels and all("MLO" in p["key"] for p in panels), [p["key"] for p in panels]
    names = [m["name"] for p in panels for m in p["layers"]["maps"]]
    assert names.count("probability") == len(panels)
    # One grid per image and map, all made off the page's script thread, none again.
    assert len(made) == len(names), made
    assert not any("ScriptRunner" in name for name in made), made
