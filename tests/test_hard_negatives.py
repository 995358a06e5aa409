"""Hard-negative mining: where it may mine (checked against a brute-force oracle), that it
reads the training patients' images only, that it is off by default and changes nothing
then, and that the card, the progress log and a stop request see it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from mcalc.errors import ModelError
from mcalc.jobs.progress import read_progress
from mcalc.models.froc import DEFAULT_TOLERANCE_MM
from mcalc.models.hard_negatives import mine_image, mining_region
from mcalc.models.patches import extract_patch
from mcalc.models.train_config import HARD_NEGATIVE_STAGE, TrainConfig
from tests.models_fixtures import TINY, tiny_data_fixture, tiny_model_fixture  # noqa: F401


def _oracle(calc: np.ndarray, breast: np.ndarray, size: int, spacing: float, tol: float):
    """Per pixel, the rule in words: in the breast, farther than ``tol`` mm from every
    annotated pixel, and its patch (as training cuts it) holds none."""
    marks = np.argwhere(calc)
    out = np.zeros(calc.shape, bool)
    for r in range(calc.shape[0]):
        for c in range(calc.shape[1]):
            if not breast[r, c] or extract_patch(calc, (r, c), size).any():
                continue
            d = np.hypot(*(marks - (r, c)).T).min() * spacing if len(marks) else np.inf
            out[r, c] = d > tol
    return out


@pytest.mark.parametrize(
    ("size", "spacing", "tol", "seed"),
    [(5, 0.1, 1.0, 0), (8, 0.1, 1.0, 1), (9, 0.5, 1.0, 2), (4, 0.05, 0.3, 3), (1, 0.1, 0.25, 4)],
)
def test_mining_region_is_the_rule_pixel_by_pixel(size, spacing, tol, seed) -> None:
    rng = np.random.default_rng(seed)
    calc = rng.random((31, 26)) > 0.993
    breast = np.zeros((31, 26), bool)
    breast[:, 3:] = True
    got = mining_region(calc, breast, size, (spacing, spacing), tolerance_mm=tol)
    assert calc.any()
    np.testing.assert_array_equal(got, _oracle(calc, breast, size, spacing, tol))


def test_mining_picks_the_top_peaks_away_from_findings_only() -> None:
    values = np.zeros((60, 60), np.float32)
    calc = np.zeros((60, 60), bool)
    calc[30, 30] = True
    values[30, 30] = 1.0  # the finding itself: a true positive, never a hard negative
    values[30, 33] = 0.95  # 0.3 mm away: inside the tolerance and its patch holds it
    values[5, 5] = 0.9
    values[50, 10] = 0.7
    values[10, 50] = 0.8
    region = mining_region(calc, np.ones_like(calc), 8, (0.1, 0.1))
    found = mine_image(values, region, (0.1, 0.1), 2)
    assert [(d.row, d.col, round(d.score, 6)) for d in found] == [(5, 5, 0.9), (10, 50, 0.8)]
    assert all(not extract_patch(calc, (d.row, d.col), 8).any() for d in found)


def test_a_flat_plateau_is_mined_once_and_the_next_spot_takes_its_place() -> None:
    # A map clamped between patch centres has flat plateaus wider than the detections'
    # 1 mm (10 px here). Before 40bc512 such a plateau gave a row of detections 1 mm apart
    # at one score, and mining cut them all: 98 of demo-custom's 384 mined patches were such
    # repeats (docs/measurements.md, 5 December 2026, h/repro). Mining takes Predict's rule,
    # so a plateau is one hard negative (at its centre, rule 3) and the next-highest spot
    # is mined instead.
    values = np.zeros((60, 80), np.float32)
    values[20, 10:41] = 0.9  # a plateau 3 mm long: 4 detections 1 mm apart by the old rule
    values[45, 60] = 0.6
    values[10, 70] = 0.5
    region = mining_region(np.zeros((60, 80), bool), np.ones((60, 80), bool), 8, (0.1, 0.1))
    found = mine_image(values, region, (0.1, 0.1), 3)
    assert [(d.row, d.col, round(d.score, 6)) for d in found] == [
        (20, 25, 0.9),
        (45, 60, 0.6),
        (10, 70, 0.5),
    ]


def test_mining_rejects_bad_input() -> None:
    calc = np.zeros((10, 10), bool)
    with pytest.raises(ValueError, match="one 2-D shape"):
        mining_region(calc, np.ones((10, 11), bool), 4, (0.1, 0.1))
    with pytest.raises(ValueError, match="tolerance_mm"):
        mining_region(calc, np.ones((10, 10), bool), 4, (0.1, 0.1), tolerance_mm=0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        mine_image(np.zeros((10, 10)), calc, (0.1, 0.1), 0)


def test_config_is_off_by_default_and_checked() -> None:
    cfg = TrainConfig(data="d", epochs=40)
    assert cfg.hard_negatives == 0 and cfg.stage_plan() == [("train", "full", 40)]
    old_job = {k: v for k, v in cfg.to_json().items() if k != "hard_negatives"}
    assert TrainConfig.from_json(old_job) == cfg  # a job file of an older mcalc
    on = TrainConfig(data="d", epochs=41, hard_negatives=8)
    on.validate()
    assert on.stage_plan() == [("train", "full", 21), (HARD_NEGATIVE_STAGE, "full", 20)]
    two = TrainConfig(data="d", epochs=10, two_stage=True, head_epochs=3, hard_negatives=8)
    two.validate()
    assert two.stage_plan() == [
        ("head", "head", 3),
        ("finetune", "full", 4),
        (HARD_NEGATIVE_STAGE, "full", 3),
    ]
    bad = [
        (dict(hard_negatives=-1), "hard_negatives must be a whole number from 0 to 10000"),
        (dict(hard_negatives=True), "hard_negatives must be a whole number from 0 to 10000"),
        (dict(hard_negatives=4, epochs=1), "needs at least 2, the 'train' stage has 1"),
        (dict(hard_negatives=4, task="birads"), "needs the calcification task"),
        (dict(hard_negatives=4, input="temporal"), "recent-input images only"),
        (dict(hard_negatives=4, strategy="multiworker", model_id="m"), "multi-worker"),
    ]
    for changes, message in bad:
        with pytest.raises(ModelError, match=message):
            TrainConfig(**{"data": "d", "epochs": 4, **changes}).validate()


def test_cli_flag_and_config_key(tmp_path) -> None:
    from mcalc.cli.models import add_train_flags

    parser = argparse.ArgumentParser()
    add_train_flags(parser)
    cfg = TrainConfig.from_args(parser.parse_args(["--data", "d", "--hard-negatives", "12"]))
    assert cfg.hard_negatives == 12
    assert TrainConfig.from_args(parser.parse_args(["--data", "d"])).hard_negatives == 0
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"data": "d", "hard_negatives": 5}), encoding="utf-8")
    assert TrainConfig.from_args(parser.parse_args(["--config", str(path)])).hard_negatives == 5


def test_job_progress_shows_mining_between_stages(tmp_path) -> None:
    log = tmp_path / "progress.jsonl"
    events = [
        {"event": "start", "model_id": "m", "time": 1.0},
        {"event": "stage", "stage": "train", "epochs": 1, "time": 2.0},
        {"event": "batch", "stage": "train", "epoch": 1, "epochs": 1, "batch": 3, "steps": 3},
        {"event": "epoch", "stage": "train", "epoch": 1, "loss": 0.5, "time": 3.0},
        {"event": "mining", "done": 2, "total": 6, "found": 4, "message": "a/CC", "time": 4.0},
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    p = read_progress(log, n_stages=2, total_epochs=2)
    assert p.phase == "mining" and p.summary() == "mining hard negatives: image 2/6"
    more = [
        {"event": "hard_negatives", "mined": 20, "images": 6, "time": 5.0},
        {"event": "stage", "stage": HARD_NEGATIVE_STAGE, "epochs": 1, "time": 5.1},
    ]
    with log.open("a", encoding="utf-8") as f:
        f.write("".join(json.dumps(e) + "\n" for e in more))
    p = read_progress(log, n_stages=2, total_epochs=2)
    assert (p.phase, p.stage, p.stage_index, p.mined) == ("training", HARD_NEGATIVE_STAGE, 2, 20)


def _config(tiny_data: Path, tmp_path: Path, **changes) -> TrainConfig:
    base = dict(TINY, data=tiny_data, models_dir=tmp_path / "models", runs_dir=tmp_path / "runs")
    base.update(changes)
    return TrainConfig(**base)


@pytest.mark.slow
def test_off_by_default_the_card_is_as_before(tiny_model) -> None:
    card = json.loads((tiny_model.path / "card.json").read_text(encoding="utf-8"))
    assert "hard_negatives" not in card
    assert [s["stage"] for s in card["freeze"]["stages"]] == ["train"]
    assert list(card["history"]) == ["train"]
    assert tiny_model.card.hard_negatives is None
    lines = (tiny_model.path / "training_log.jsonl").read_text(encoding="utf-8").splitlines()
    kinds = {json.loads(line)["event"] for line in lines}
    assert "stage" in kinds and not kinds & {"mining", "hard_negatives"}


@pytest.mark.slow
def test_mining_reads_training_images_only_and_the_card_records_it(
    tiny_data, tiny_model, tmp_path, monkeypatch
) -> None:
    import mcalc.models.hard_negatives as hn
    from mcalc.models.card_text import card_facts

    read: list[str] = []
    real = hn.load_training_image

    def spy(rec, spacing_mm, **kwargs):
        read.append(rec.key)
        return real(rec, spacing_mm, **kwargs)

    monkeypatch.setattr(hn, "load_training_image", spy)
    events: list[dict] = []
    config = _config(tiny_data, tmp_path, epochs=2, hard_negatives=3, model_id="hn")
    result = train(config, progress=events.append)
    card = json.loads((result.path / "card.json").read_text(encoding="utf-8"))

    train_cases = set(card["split"]["train"])
    from mcalc.dataset import open_dataset

    index = open_dataset(tiny_data)
    train_keys = {r.key for c in index.cases if c.case_id in train_cases for r in c.images}
    assert read and set(read) == train_keys  # every training image, and nothing else
    assert len(read) == len(train_keys)

    hard = card["hard_negatives"]
    assert hard["per_image"] == 3 and hard["images"] == len(train_keys)
    assert 0 < hard["mined"] <= 3 * len(train_keys)
    assert hard["stage"] == HARD_NEGATIVE_STAGE and hard["after_epoch"] == 1
    assert hard["tolerance_mm"] == DEFAULT_TOLERANCE_MM
    assert [s["stage"] for s in card["freeze"]["stages"]] == ["train", HARD_NEGATIVE_STAGE]
    # The stage's record is a freeze record like the others; the count is hard_negatives'.
    assert set(card["freeze"]["stages"][1]) == set(card["freeze"]["stages"][0])
    assert list(card["history"]) == ["train", HARD_NEGATIVE_STAGE]
    assert card["hyperparameters"]["epochs_run"] == 2
    # The sampled sets are the off run's: mining adds to the training set, recorded apart.
    assert card["data"]["patches"] == tiny_model.card.to_json()["data"]["patches"]
    assert result.card.hard_negatives is not None
    assert result.card.hard_negatives.mined == hard["mined"]
    assert any("hard negatives from" in v for _, v in card_facts(result.card))

    mining = [e for e in events if e["event"] == "mining"]
    assert [e["done"] for e in mining] == list(range(1, len(train_keys) + 1))
    kinds = [e["event"] for e in events if e["event"] in {"stage", "mining", "hard_negatives"}]
    assert kinds == ["stage", *["mining"] * len(train_keys), "hard_negatives", "stage"]


@pytest.mark.slow
def test_mining_at_native_spacing_decodes_each_image_once(
    tiny_data, tiny_model, monkeypatch
) -> None:
    """A run without resampling (``spacing_mm`` ``None``) mines on the native grid, whose
    spacing is read from the image the mining decoded: each image was decoded a second time
    for it alone."""
    import keras

    import mcalc.imageio
    from mcalc.dataset import open_dataset
    from mcalc.models.hard_negatives import mine_hard_negatives
    from mcalc.models.patches import PatchConfig

    decoded: list[str] = []
    real = mcalc.imageio.read_image

    def spy(path, *args, **kwargs):
        decoded.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(mcalc.imageio, "read_image", spy)
    index = open_dataset(tiny_data)
    cases = [c.case_id for c in index.cases[:2]]
    model = keras.models.load_model(tiny_model.path / "model.keras")
    patch = PatchConfig(size=tiny_model.card.patch.size, spacing_mm=None)
    found = mine_hard_negatives(model, index, cases, patch, 2)
    paths = [str(r.image_path) for c in index.cases[:2] for r in c.images]
    assert found.images == len(paths) and not found.skipped
    assert sorted(decoded) == sorted(paths)  # every image once, none twice


@pytest.mark.slow
def test_a_stop_during_mining_registers_nothing(tiny_data, tmp_path) -> None:
    from mcalc.models.train_events import StopRequest

    stop = StopRequest()
    seen: list[int] = []

    def on_event(event):
        if event["event"] == "mining":
            seen.append(event["done"])
            assert stop.fitting  # a SIGTERM now only flags the request
            stop.set()

    config = _config(tiny_data, tmp_path, epochs=2, hard_negatives=2, model_id="hn-stop")
    with pytest.raises(ModelError, match="interrupted"):
        train(config, progress=on_event, stop=stop)
    assert seen == [1] and not stop.fitting
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def train(config, **kwargs):
    from mcalc.models.training import train as run

    return run(config, **kwargs)
