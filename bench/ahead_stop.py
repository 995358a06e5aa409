"""How long a reader's run waits for an analysis ahead to stop (issue 14).

A reader's run (:meth:`mcalc.explain.ahead.AheadSlot.foreground`) stops the analysis ahead
going on and waits for it: the work stops at its next progress report, so this wait is the
longest stretch of work between two reports. Here the analysis ahead of a demo case pair,
started as Predict starts it (:func:`mcalc.explain.runs.start_ahead` with Predict's
``then``: the detections and the viewer's layer maps, :func:`pages.predict_run.made_ahead`;
Predict's default settings, the model the app opens with, a fresh results cache each
time) is stopped at ``--trials`` moments spread over its run, and the waits are printed.

    python bench/ahead_stop.py [--trials N] [--repo PATH]

``--repo``: measure another checkout's code (an A/B: run it once with each tree).
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12, help="stops, spread over the analysis")
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    args = ap.parse_args()
    repo = args.repo.resolve()
    sys.path.insert(0, str(repo))

    from mcalc.config import prepare_tensorflow

    prepare_tensorflow()
    from mcalc.dataset import open_dataset
    from mcalc.explain import runs
    from mcalc.explain.ahead import AheadSlot
    from mcalc.explain.explainer import Explainer
    from mcalc.explain.results import ResultsCache
    from mcalc.explain.service import (
        AnalysisSettings,
        CamSettings,
        ImageInput,
        SlidingSettings,
        analyse_case,
    )
    from mcalc.models.detection import DetectionSettings
    from mcalc.models.inference import load_model
    from mcalc.present.reading_overlays import overlay_grids, viewer_maps
    from mcalc.synthetic import generate_demo

    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-ahead-"))

    atexit.register(shutil.rmtree, tmp, True)  # its demo set, caches, app files
    generate_demo(tmp / "demo", cases=6, seed=0)
    index = open_dataset(tmp / "demo")
    settings = AnalysisSettings(SlidingSettings(), CamSettings("gradcam", scope="auto"))
    loaded = load_model("demo-custom", repo / "models")
    xp = Explainer.for_model(loaded)
    case = index.case("suspicious-3")
    pair = [ImageInput.from_record(case.image("CC", tp)) for tp in ("prior", "recent")]

    request = runs.case_request(loaded, pair, settings)

    def then(case) -> None:  # as pages.predict_run.made_ahead, Predict's default display
        for r in case.images:
            r.detections(DetectionSettings())
        for _, maps in viewer_maps(case):
            overlay_grids(maps)

    def ahead(results: ResultsCache):
        runs.AHEAD = AheadSlot()  # a fresh slot: each trial's request is new to it
        work = runs.start_ahead(loaded, request, explainer=xp, results=results, then=then)
        assert work is not None
        return work

    analyse_case(loaded, pair, settings, explainer=xp)  # traced once, as the app's warm-up
    t = time.perf_counter()
    ahead(ResultsCache(tmp / "whole")).wait()
    whole = time.perf_counter() - t
    waits, ended = [], []
    for k in range(args.trials):
        work = ahead(ResultsCache(tmp / f"cache{k}"))
        time.sleep(whole * (k + 0.5) / args.trials)  # a moment spread over its run
        t = time.perf_counter()
        with runs.AHEAD.foreground("the reader's"):
            waits.append(time.perf_counter() - t)
        ended.append(work.state)
    ms = sorted(w * 1000 for w in waits)
    print(
        f"{repo}: analysis ahead {whole * 1000:.0f} ms; wait for it to stop: median "
        f"{statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms ({' '.join(f'{w:.0f}' for w in ms)});"
        f" stopped {ended.count('cancelled')} of {len(ended)} (the others had ended)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
