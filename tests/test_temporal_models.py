"""Temporal models (issue 11): the input mode in TrainConfig and the card, two-channel patches
(recent + subtraction of the registered prior), training, prediction with the registration,
findings across rounds, evidence by channel, paired comparison on common images."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mcalc.errors import ModelError
from mcalc.models.card import ModelCard
from mcalc.models.train_config import TrainConfig

TINY = {
    "epochs": 1,
    "batch": 8,
    "spacing_mm": None,
    "patch_size": 32,
    "max_steps": 1,
    "pos_per_image": 3,
    "neg_per_image": 3,
}


# ---- configuration and card (no TensorFlow) --------------------------------------------


def test_train_config_input_validates_round_trips_and_old_configs_read() -> None:
    cfg = TrainConfig(data="d", input="temporal")
    cfg.validate()
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    old = {k: v for k, v in cfg.to_json().items() if k != "input"}
    assert TrainConfig.from_json(old).input == "recent"
    with pytest.raises(ModelError, match=r"unknown input 'prior'.*recent, temporal"):
        TrainConfig(data="d", input="prior").validate()
    ns = argparse.Namespace(data="d", config=None, input="temporal")
    assert TrainConfig.from_args(ns).input == "temporal"


def test_card_input_mode_old_cards_read_as_recent_and_round_trip() -> None:
    old = {"architecture": "custom", "patch": {"size": 32, "input": "gray [0, 1]"}}
    card = ModelCard.from_json(old)
    assert card.patch.input_mode == "recent" and card.patch.channels == ("recent",)
    assert not card.patch.temporal
    assert card.to_json() == old  # nothing added to an old card on a round trip
    new = {"patch": {"size": 32, "input_mode": "temporal", "channels": ["recent", "subtraction"]}}
    assert ModelCard.from_json(new).patch.temporal
    assert ModelCard.from_json(new).to_json() == new


# ---- pure helpers ------------------------------------------------------------------------


def test_gather_patches_keeps_channels_like_extract_patch() -> None:
    from mcalc.explain.grid import gather_patches, make_grid, pad_to_grid
    from mcalc.models.patches import extract_patch

    img = np.random.default_rng(0).random((50, 40, 2)).astype(np.float32)
    grid = make_grid(img.shape[:2], 16, 8)
    cells = np.array([[0, 0], [2, 3], [5, 3]])
    got = gather_patches(pad_to_grid(img, grid), grid, cells)
    assert got.shape == (3, 16, 16, 2)
    centres = grid.centers()
    for k, (i, j) in enumerate(cells):
        np.testing.assert_array_equal(got[k], extract_patch(img, tuple(centres[i, j]), 16))


def test_findings_are_placed_in_the_prior_through_the_registration() -> None:
    from mcalc.temporal.display import TemporalView, with_findings
    from mcalc.temporal.register import Registration

    field = np.zeros((4, 4, 2), np.float32)
    field[..., 0] = 10.0  # the prior shows recent row r at row r + 10
    reg = Registration((40, 40), (40, 40), 0.1, field, field, "affine", None, False)
    pic = np.zeros((40, 40), np.uint8)
    tv = TemporalView(
        "CC", pic, pic, pic, np.zeros((40, 40, 3), np.uint8), (40, 40), 0.1, False, (), {}, (),
        prior_file=pic, prior_shape=(40, 40), reg=reg,
    )  # fmt: skip
    alone = with_findings(tv, [(5.0, 5.0)])
    assert [t.status for t in alone.tracked] == ["finding"]
    assert alone.prior_points()[0][:2] == pytest.approx((15.0, 5.0))
    both = with_findings(tv, [(5.0, 5.0), (30.0, 30.0)], [(15.0, 5.0)], tolerance_mm=0.5)
    assert sorted(t.status for t in both.tracked) == ["new", "stable"]
    from mcalc.dataset.records import CaseRecord
    from mcalc.present.temporal_figures import temporal_figure

    case = CaseRecord("c", "p", (), laterality="R", available="2015-2018")
    fig = temporal_figure(alone, "prior", case=case)
    marks = [t for t in fig.data if t.type == "scatter"]
    assert [(list(t.y), t.xaxis) for t in marks] == [([5.0], "x"), ([15.0], "x2")]


def test_regions_of_two_rounds_pair_by_their_detections_positions() -> None:
    """Predict's temporal findings are the regions' centres, the detections' positions: a
    finding between grid points, a few pixels apart in the two rounds, pairs as stable; one
    only in the recent round is new, one only in the prior resolved."""
    from mcalc.explain.grid import make_grid
    from mcalc.explain.scoring import top_regions
    from mcalc.explain.sliding import ProbabilityMap
    from mcalc.models.tasks import TASKS
    from mcalc.temporal.display import TemporalView, with_findings
    from mcalc.temporal.register import Registration

    grid = make_grid((160, 160), 32, 16)

    def pmap(peaks: dict[tuple[int, int], float]) -> ProbabilityMap:
        fine = np.full(((grid.rows - 1) * 4 + 1, (grid.cols - 1) * 4 + 1), 0.1, np.float32)
        for at, v in peaks.items():
            fine[at] = v
        proba = np.stack([1 - fine, fine], axis=-1)
        return ProbabilityMap(
            np.ascontiguousarray(proba[::4, ::4]), np.ones((grid.rows, grid.cols), bool), grid,
            TASKS["calcification"].classes, native_shape=(160, 160), fine=proba, fine_stride=4,
        )  # fmt: skip

    # Lattice points 4 px apart; grid points every 4th. The shared finding moves one point.
    recent = top_regions(pmap({(17, 17): 0.9, (6, 26): 0.8}), (0.1, 0.1))
    prior = top_regions(pmap({(18, 17): 0.85, (29, 5): 0.8}), (0.1, 0.1))
    assert len(recent) == len(prior) == 2
    assert all(r.origin[0] % 16 or r.origin[1] % 16 for r in recent + prior)  # off the grid
    field = np.zeros((4, 4, 2), np.float32)  # the rounds already aligned
    reg = Registration((160, 160), (160, 160), 0.1, field, field, "affine", None, False)
    pic = np.zeros((160, 160), np.uint8)
    tv = TemporalView(
        "CC", pic, pic, pic, np.zeros((160, 160, 3), np.uint8), (160, 160), 0.1, False, (), {},
        (), prior_file=pic, prior_shape=(160, 160), reg=reg,
    )  # fmt: skip
    found = with_findings(
        tv, [r.center for r in recent], [r.center for r in prior], tolerance_mm=0.5
    )
    by_status = {t.status: t for t in found.tracked}
    assert sorted(by_status) == ["new", "resolved", "stable"]
    stable = by_status["stable"]
    assert (stable.recent_id, stable.prior_id) == (0, 0)
    assert stable.distance_mm == pytest.approx(0.4, abs=0.11)  # 4 px at 0.1 mm
    assert by_status["new"].recent == recent[1].center
    assert by_status["resolved"].prior == prior[1].center


def test_paired_comparison_builds_cases_from_the_images_both_models_scored() -> None:
    from mcalc.models.analysis import paired_comparison
    from mcalc.models.scores import EvalScores

    cases = [f"c{i}" for i in range(8)]
    truth = [i % 2 for i in range(8)]

    def scores(rounds: tuple[str, ...], prior_score: float) -> EvalScores:
        keys, y, p, c = [], [], [], []
        for case, t in zip(cases, truth, strict=True):
            for rnd in rounds:
                keys.append(f"{case}/CC_{rnd}")
                y.append(t)
                s = (0.6 if t else 0.4) if rnd == "recent" else prior_score
                p.append([1 - s, s])
                c.append(case)
        return EvalScores(("n", "y"), ("y",), np.array(y), np.array(p), c, c, keys)

    # The recent-only model's priors score 0.99 (all cases would tie at the max): only the
    # recent images both models scored may count.
    out = paired_comparison(
        scores(("recent",), 0), scores(("prior", "recent"), 0.99), "case", n_boot=100
    )
    assert out["restricted_to_common_images"] and out["images"] == 8
    assert out["auc_b"] == 1.0


# ---- a tiny temporal model end to end -----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_temporal(tmp_path_factory):
    """3 tiny synthetic cases, and a custom temporal model trained one tiny epoch on them."""
    from mcalc.models.training import train
    from mcalc.synthetic import generate_demo

    root = tmp_path_factory.mktemp("temporal-models")
    data = root / "demo"
    generate_demo(data, cases=3, seed=3, shape=(192, 156))
    config = TrainConfig(
        data=str(data),
        input="temporal",
        models_dir=str(root / "models"),
        runs_dir=str(root / "runs"),
        model_id="tiny-temporal",
        **TINY,
    )
    return data, train(config)


@pytest.mark.slow  # registers 6 pairs and trains a tiny model: ~20 s
def test_tiny_temporal_model_trains_on_two_channel_recent_patches(tiny_temporal) -> None:
    from mcalc.models.inference import load_model
    from mcalc.models.patches import PatchConfig
    from mcalc.models.sampling import sample_dataset

    data, result = tiny_temporal
    card = result.card
    assert card.patch.input_mode == "temporal"
    assert card.patch.channels == ("recent", "subtraction")
    saved = json.loads((Path(result.path) / "card.json").read_text())
    assert saved["patch"]["input_mode"] == "temporal"
    loaded = load_model("tiny-temporal", Path(result.path).parent)
    assert loaded.model.input_shape == (None, 32, 32, 2) and loaded.temporal

    from mcalc.dataset import open_dataset

    index = open_dataset(data)
    cfg = PatchConfig(size=32, spacing_mm=None, pos_per_image=3, neg_per_image=3)
    patches = sample_dataset(index, "calcification", cfg, seed=0)
    temporal = sample_dataset(index, "calcification", replace(cfg, input="temporal"), seed=0)
    assert patches.x.ndim == 3 and temporal.x.shape[1:] == (32, 32, 2)
    assert {k.split("_")[-1] for k in temporal.keys} == {"recent"}
    # Tissue barely changes between rounds: the subtraction channel sits near 0.5 there.
    tissue = temporal.x[temporal.y == 0][..., 1]
    assert abs(float(np.median(tissue)) - 0.5) < 0.05


@pytest.mark.slow  # predicts and explains two images of a tiny temporal model: ~10 s
def test_temporal_predict_uses_the_registration_and_says_where_evidence_came_from(
    tiny_temporal, tmp_path
) -> None:
    from mcalc.cache import ImageCache
    from mcalc.dataset import open_dataset
    from mcalc.explain.cams import CamSettings
    from mcalc.explain.service import AnalysisSettings, ImageInput, analyse_case
    from mcalc.explain.temporal_findings import temporal_findings
    from mcalc.models.inference import load_model

    data, result = tiny_temporal
    loaded = load_model("tiny-temporal", Path(result.path).parent)
    case = open_dataset(data).cases[-1]
    cache = ImageCache(tmp_path / "cache")
    recs = [r for r in case.images if r.view == "CC"]
    out = analyse_case(
        loaded,
        [ImageInput.from_record(r, case) for r in recs],
        AnalysisSettings(cam=CamSettings("gradcam")),
        image_cache=cache,
    )
    assert [r.key.split("/")[1] for r in out.images] == ["CC_recent"]
    assert [(s.key.split("/")[1], s.kind) for s in out.skipped] == [("CC_prior", "no-prior")]
    image = out.images[0]
    assert image.temporal is not None and image.model_input.shape[-1] == 2
    assert len(image.evidence) == len(image.regions)
    assert all("evidence" in r for r in image.as_dict()["regions"])
    assert image.unit.ndim == 2 and image.cam is not None
    found = temporal_findings(cache, case, "CC", out, loaded, max_side=256)
    assert len(found.rows) == len(image.regions) and not found.prior_read
    for row in found.rows:
        shares = float(row["evidence recent"].rstrip("%")) + float(
            row["evidence subtraction"].rstrip("%")
        )
        assert 98 <= shares <= 102
        assert row["prior (px)"]  # every finding has its place in the prior
    with pytest.raises(ModelError, match="temporal"):
        from mcalc.models.inference import image_to_unit

        image_to_unit(cache.load(recs[0].image_path), loaded)


@pytest.mark.slow  # writes a tiny demo and opens it: 2-10 s on the shared machine
def test_a_temporal_job_on_one_round_data_is_refused_before_it_starts(tmp_path) -> None:
    from mcalc.errors import DatasetError
    from mcalc.jobs import check_job
    from mcalc.synthetic import generate_demo

    data = tmp_path / "demo"
    generate_demo(data, cases=3, seed=1, shape=(160, 128))
    for prior in data.rglob("*"):
        if "prior" in prior.name.lower() or "priot" in prior.name.lower():
            prior.unlink()
    config = TrainConfig(data=str(data), models_dir=str(tmp_path / "m"), batch=8)
    check_job(config)  # a recent-only model is fine
    with pytest.raises(DatasetError, match="temporal model needs cases with a prior"):
        check_job(replace(config, input="temporal"))
