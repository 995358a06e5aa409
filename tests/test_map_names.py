"""Map files named from image keys: no two keys share a file, even on a disk that ignores
case; a key already safe and unique keeps the name it always had (README, predict/Batch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcalc.filenames import key_stem, key_stems
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401


@pytest.mark.parametrize(
    ("key", "kept"),
    [
        ("suspicious-1/CC_recent", "suspicious-1_CC_recent"),
        ("case.7/MLO_prior", "case.7_MLO_prior"),
        ("scan_0001", "scan_0001"),  # an --image key (the file's stem)
        ("P 1/CC_recent", None),
        ("P/1/CC_recent", None),
        ("a:b/CC_recent", None),
    ],
)
def test_a_safe_key_keeps_its_name_and_any_other_gets_a_hash(key: str, kept: str | None) -> None:
    stem = key_stem(key)
    if kept is not None:
        assert stem == kept
    else:
        plain = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)
        assert stem.startswith(plain + "~") and len(stem) == len(plain) + 9


def test_no_two_keys_of_a_run_share_a_name_in_any_case() -> None:
    keys = ["P 1/CC_recent", "P_1/CC_recent", "P/1/CC_recent", "A1/CC_recent", "a1/CC_recent"]
    keys += ["b/CC_recent", "b/CC_prior"]
    stems = key_stems(keys)
    assert len({s.casefold() for s in stems.values()}) == len(keys)
    # Unique and safe: unchanged. P_1 is safe and unique in any case (P 1 is hashed).
    assert stems["b/CC_recent"] == "b_CC_recent" and stems["P_1/CC_recent"] == "P_1_CC_recent"
    assert stems["A1/CC_recent"] != "A1_CC_recent" != stems["a1/CC_recent"]
    assert stems == key_stems(reversed(keys))  # whatever the order


def _manifest(tiny_demo: Path, folder: Path, cases: list[str]) -> Path:
    """A manifest whose ``cases`` each hold the tiny demo's suspicious-1 CC recent image."""
    from mcalc.dataset import open_dataset

    rec = open_dataset(tiny_demo).case("suspicious-1").image("CC", "recent")
    assert rec is not None
    lines = ["case_id,view,timepoint,image,annotation"]
    lines += [f"{c},CC,recent,{rec.image_path},{rec.annotation_path or ''}" for c in cases]
    out = folder / "manifest.csv"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def test_predict_of_cases_p_1_and_p_underscore_1_keeps_both_maps(
    spot_registry, tiny_demo, tmp_path, monkeypatch, capsys
) -> None:
    """Before: ``P 1`` then ``P_1`` into one ``--out`` wrote ``P_1_CC_recent_*`` twice, the
    first case's maps lost. Each image's files are named in scores.json."""
    from mcalc.cli import main

    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    data = _manifest(tiny_demo, tmp_path, ["P 1", "P_1"])
    out = tmp_path / "out"
    files = {}
    for case in ("P 1", "P_1"):
        args = ["predict", "--model", "spot", "--models", str(spot_registry), "--data"]
        args += [str(data), "--case", case, "--cam", "none", "--out", str(out), "--json"]
        assert main(args) == 0
        (image,) = json.loads(capsys.readouterr().out)["images"]
        files[case] = image["files"]
    assert files["P_1"][0] == "P_1_CC_recent_proba.npy"  # safe and unique: as always
    assert files["P 1"][0].startswith("P_1_CC_recent~")
    assert all((out / name).is_file() for names in files.values() for name in names)
    assert not set(files["P 1"]) & set(files["P_1"])


def test_batch_maps_of_keys_alike_but_for_case_or_spaces_are_distinct(
    spot_registry, tiny_demo, tmp_path
) -> None:
    """Before: cases ``A1``/``a1`` (one file on macOS or Windows) and ``P 1``/``P_1`` wrote the
    same ``maps/`` files; each row's ``maps`` names its own files."""
    from mcalc.batch.run import collection_items
    from mcalc.batch.settings import BatchItem, BatchSettings, WorkerSpec
    from mcalc.batch.worker import BatchWorker

    data = _manifest(tiny_demo, tmp_path, ["A1", "a1", "P 1", "P_1", "b"])
    items = collection_items(data)
    out = tmp_path / "run"
    worker = BatchWorker(
        WorkerSpec(str(spot_registry / "spot"), BatchSettings(maps=True), str(out))
    )
    maps = {}
    for item in items:
        row = worker.analyse(BatchItem.from_row(item.as_row()))  # as a Ray row travels
        assert not row["error"], row["error"]
        maps[item.case_id] = json.loads(row["maps"])
    folded = [name.casefold() for names in maps.values() for name in names]
    assert len(folded) == len(set(folded)) == 2 * len(items)
    assert maps["b"] == ["maps/b_CC_recent_proba.npy", "maps/b_CC_recent_proba_grid.npy"]
    assert maps["P_1"][0] == "maps/P_1_CC_recent_proba.npy"
    assert all((out / name).is_file() for names in maps.values() for name in names)


def test_temporal_out_of_cases_p_1_and_p_underscore_1_keeps_both(tiny_demo, tmp_path, capsys):
    """``temporal --out`` named its files ``<case>_<view>_...`` the same way: ``P 1`` then
    ``P_1`` wrote ``P_1_CC_subtraction.npy`` twice."""
    from mcalc.cli import main
    from mcalc.dataset import open_dataset

    case = open_dataset(tiny_demo).case("suspicious-1")
    lines = ["case_id,view,timepoint,image,annotation"]
    for name in ("P 1", "P_1"):
        for tp in ("prior", "recent"):
            rec = case.image("CC", tp)
            assert rec is not None
            lines.append(f"{name},CC,{tp},{rec.image_path},{rec.annotation_path or ''}")
    data = tmp_path / "manifest.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    files = {}
    for name in ("P 1", "P_1"):
        args = ["temporal", "--data", str(data), "--case", name, "--view", "CC"]
        assert main([*args, "--out", str(out), "--json"]) == 0
        (view,) = json.loads(capsys.readouterr().out)["views"].values()
        files[name] = view["files"]
    assert files["P_1"][0] == "P_1_CC_subtraction.npy"  # as always
    assert not set(files["P 1"]) & set(files["P_1"])
    assert all((out / f).is_file() for names in files.values() for f in names)
