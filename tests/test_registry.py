"""Registry: listing reads cards without TensorFlow, skips bad folders, registration is atomic."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcalc.errors import ModelError
from mcalc.models.registry import (
    DEFAULT_FILE,
    SHIPPED_DEFAULT_FILE,
    clear_default_model,
    default_first,
    default_model_id,
    delete_model,
    discard_partial,
    is_registered,
    list_models,
    load_card,
    register_model,
    require_default_model,
    resolve_model,
    set_default_model,
)

CARD = {
    "architecture": "custom",
    "task": "calcification",
    "classes": ["a", "b"],
    "patch": {"size": 32},
}


def _fake_model(folder: Path, card: dict | None = None, created: str = "2025") -> Path:
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"PK\x03\x04 not really")
    (folder / "card.json").write_text(json.dumps({**(card or CARD), "created": created}))
    return folder


def test_listing_skips_corrupt_and_incompatible_folders(tmp_path: Path, caplog) -> None:
    _fake_model(tmp_path / "good-old", created="2024")
    _fake_model(tmp_path / "good-new", created="2025")
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "card.json").write_text("{not json")
    (bad / "model.keras").write_text("x")
    _fake_model(tmp_path / "future", {**CARD, "card_version": 99})
    _fake_model(tmp_path / "partial", {"architecture": "custom"})
    (tmp_path / "no-model").mkdir()
    (tmp_path / "no-model" / "card.json").write_text(json.dumps(CARD))
    _fake_model(tmp_path / ".tmp-half-written")
    (tmp_path / "README.md").write_text("hello")

    with caplog.at_level("INFO", logger="mcalc.models.registry"):
        listing = list_models(tmp_path)
    # Reported once, to the caller (the CLI prints them, pages show them): not also logged
    # as warnings, which the CLI printed beside its own line and pages on every rerun.
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text
    assert [c.id for c in listing.models] == ["good-new", "good-old"]
    assert all(Path(c.path).is_dir() for c in listing.models)
    messages = {Path(p["path"]).name: p["message"] for p in listing.problems}
    assert set(messages) == {"broken", "future", "partial", "no-model"}
    assert "unreadable card" in messages["broken"]
    assert "newer" in messages["future"]
    assert "lacks" in messages["partial"]
    assert "no model.keras" in messages["no-model"]
    assert list_models(tmp_path / "missing").models == []


def test_listing_does_not_import_tensorflow(tmp_path: Path) -> None:
    _fake_model(tmp_path / "m")
    code = (
        "import sys; from mcalc.models.registry import list_models; "
        f"assert list_models({str(tmp_path)!r}).models; "
        "import mcalc.cli.models, mcalc.models.inference, mcalc.models.evaluate; "
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_resolve_by_id_or_path(tmp_path: Path) -> None:
    folder = _fake_model(tmp_path / "reg" / "m1")
    assert resolve_model("m1", tmp_path / "reg") == folder
    assert resolve_model(str(folder), tmp_path / "elsewhere") == folder
    with pytest.raises(ModelError, match="known ids: m1"):
        resolve_model("m2", tmp_path / "reg")
    assert load_card(folder).id == "m1"
    # More than eight: how many were left out, and where to see them (it listed eight).
    for i in range(2, 11):
        _fake_model(tmp_path / "reg" / f"m{i}")
    with pytest.raises(ModelError, match=r"and 2 more \(`python -m mcalc models`\)$"):
        resolve_model("nope", tmp_path / "reg")


def _write_ok(folder: Path) -> None:
    (folder / "model.keras").write_text("m")
    (folder / "card.json").write_text(json.dumps(CARD))


def test_register_is_atomic_on_failure(tmp_path: Path) -> None:
    def fail_midway(folder: Path) -> None:
        (folder / "model.keras").write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        register_model(tmp_path, "m", fail_midway)
    assert list(tmp_path.iterdir()) == []

    def interrupted(folder: Path) -> None:
        (folder / "model.keras").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        register_model(tmp_path, "m", interrupted)
    assert list(tmp_path.iterdir()) == []

    def disk_full(folder: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(ModelError, match="disk full"):
        register_model(tmp_path, "m", disk_full)
    assert list(tmp_path.iterdir()) == []

    with pytest.raises(ModelError, match=r"no card\.json"):
        register_model(tmp_path, "m", lambda f: (f / "model.keras").write_text("m"))
    assert list(tmp_path.iterdir()) == []

    path = register_model(tmp_path, "m", _write_ok)
    assert [p.name for p in tmp_path.iterdir()] == ["m"] and load_card(path).id == "m"
    with pytest.raises(ModelError, match="already exists"):
        register_model(tmp_path, "m", _write_ok)
    with pytest.raises(ModelError, match="bad model id"):
        register_model(tmp_path, "../escape", _write_ok)


def test_is_registered_and_discard_partial_know_the_layout(tmp_path: Path) -> None:
    _fake_model(tmp_path / "m")
    assert is_registered(tmp_path, "m") and not is_registered(tmp_path, "other")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "card.json").write_text(json.dumps(CARD))
    assert not is_registered(tmp_path, "half")  # no model file: not complete

    mine = tmp_path / ".tmp-m-0123abcd"
    longer = tmp_path / ".tmp-m-2-0123abcd"  # model "m-2"'s, not "m"'s
    for folder in (mine, longer):
        folder.mkdir()
        (folder / "model.keras").write_text("half")
    assert discard_partial(tmp_path, "m") == [mine]
    assert not mine.exists() and longer.exists() and is_registered(tmp_path, "m")
    assert discard_partial(tmp_path, "m") == []


def test_the_default_model_is_first_and_falls_back_to_the_newest(tmp_path: Path) -> None:
    """A default set on purpose comes first (a newer try does not displace it); without
    one the newest model is first and the note says why. Deleting the default clears it
    (recorded); a default whose folder went by other means is named as gone."""
    from mcalc.access import NotAllowed, read_actions
    from mcalc.models.registry import (
        clear_default_model,
        default_first,
        default_model_id,
        delete_model,
        set_default_model,
    )

    _fake_model(tmp_path / "chosen", created="2024")
    _fake_model(tmp_path / "quick-try", created="2025")
    cards = list_models(tmp_path).models
    ordered, choice = default_first(cards, tmp_path)
    assert [c.id for c in ordered] == ["quick-try", "chosen"] and not choice.is_default
    assert "no default model set" in choice.note and "quick-try" in choice.note

    with pytest.raises(NotAllowed, match="choose the default model"):
        set_default_model(tmp_path, "chosen", role="reader", user="rita")
    with pytest.raises(ModelError, match="models: quick-try, chosen"):
        set_default_model(tmp_path, "nope", role="researcher")
    set_default_model(tmp_path, "chosen", role="researcher", user="rob")
    _fake_model(tmp_path / "cv-fold-1", created="2026")  # registered later, never the default
    ordered, choice = default_first(list_models(tmp_path).models, tmp_path)
    assert [c.id for c in ordered] == ["chosen", "cv-fold-1", "quick-try"]
    assert choice.is_default and choice.by == "rob" and "set by rob" in choice.note
    assert list_models(tmp_path).models[0].id == "cv-fold-1"  # the listing: newest first

    assert delete_model(tmp_path, "quick-try", role="admin") is False  # not the default
    assert default_model_id(tmp_path) == "chosen"
    assert delete_model(tmp_path, "chosen", role="admin", user="adam") is True
    assert default_model_id(tmp_path) is None and not (tmp_path / DEFAULT_FILE).exists()
    ordered, choice = default_first(list_models(tmp_path).models, tmp_path)
    assert ordered[0].id == "cv-fold-1" and choice.wanted is None and not choice.is_default
    assert "no default model set: the newest, cv-fold-1" in choice.note

    _fake_model(tmp_path / "spare", created="2023")
    set_default_model(tmp_path, "cv-fold-1", role="admin")
    shutil.rmtree(tmp_path / "cv-fold-1")  # gone without delete_model: the default stays
    ordered, choice = default_first(list_models(tmp_path).models, tmp_path)
    assert ordered[0].id == "spare" and choice.wanted == "cv-fold-1" and not choice.is_default
    assert "cv-fold-1 is no longer in the registry" in choice.note
    assert clear_default_model(tmp_path, role="admin") and default_model_id(tmp_path) is None
    assert not clear_default_model(tmp_path, role="admin")
    actions = [(a["action"], a["id"], a["by"]) for a in read_actions(tmp_path)]
    assert actions == [
        ("set_default_model", "chosen", "rob"),
        ("delete_model", "quick-try", ""),
        ("delete_model", "chosen", "adam"),
        ("clear_default_model", "chosen", "adam"),  # cleared with the model it named
        ("set_default_model", "cv-fold-1", ""),
        ("clear_default_model", "cv-fold-1", ""),
    ]
    (tmp_path / ".default-model.json").write_text("{not json")  # unreadable: no default
    assert default_first(list_models(tmp_path).models, tmp_path)[1].wanted is None


def test_require_default_model_never_guesses(tmp_path: Path) -> None:
    """For the command line: the default set on purpose, or an error that names the
    registered models and the command that sets one, never the newest model."""
    from mcalc.models.registry import require_default_model, set_default_model

    with pytest.raises(ModelError, match=r"no model in .*train one with `python -m mcalc train`"):
        require_default_model(tmp_path)
    _fake_model(tmp_path / "older", created="2024")
    _fake_model(tmp_path / "newest", created="2025")
    with pytest.raises(ModelError) as err:
        require_default_model(tmp_path, command="python -m mcalc models --models R default ID")
    message = str(err.value)
    assert message.startswith(f"no default model is set in {tmp_path}: pass --model ID")
    assert "`python -m mcalc models --models R default ID`" in message
    assert message.endswith("(registered: newest, older)")

    set_default_model(tmp_path, "older", role="researcher", user="rob")
    choice = require_default_model(tmp_path)
    assert choice.card is not None and choice.card.id == "older" and choice.is_default
    assert choice.provenance.startswith("set by rob on 20")
    shutil.rmtree(tmp_path / "older")  # removed by hand: the default names a missing model
    with pytest.raises(ModelError, match=r"the default model older is no longer in .*newest"):
        require_default_model(tmp_path)


def test_a_fresh_clone_keeps_its_demo_model_as_the_default_after_a_training(
    tmp_path: Path,
) -> None:
    """A fresh clone's registry (``models/`` as committed): its shipped default names
    ``demo-custom``, so a model trained then (a 1-epoch try, newest) is listed but neither
    the model the pages open on nor the one ``predict`` runs without ``--model``. Before,
    nothing named a default on a fresh clone: the pages opened on the try (test AUC 0.536
    against demo-custom's 0.962) and ``predict`` refused. A default set or cleared on
    purpose wins over the shipped one, which does not come back after a clear."""
    repo_models = Path(__file__).resolve().parents[1] / "models"
    shutil.copy(repo_models / SHIPPED_DEFAULT_FILE, tmp_path / SHIPPED_DEFAULT_FILE)
    shutil.copytree(repo_models / "demo-custom", tmp_path / "demo-custom")
    _fake_model(tmp_path / "custom-calcification-try", created="2099")  # trained afterwards

    cards = list_models(tmp_path).models
    assert [c.id for c in cards] == ["custom-calcification-try", "demo-custom"]  # selectable
    ordered, choice = default_first(cards, tmp_path)
    assert ordered[0].id == "demo-custom" and choice.is_default
    assert choice.note == "demo-custom is the default model (set by the repository)"
    assert require_default_model(tmp_path).card.id == "demo-custom"  # type: ignore[union-attr]

    set_default_model(tmp_path, "custom-calcification-try", role="researcher", user="rob")
    assert default_model_id(tmp_path) == "custom-calcification-try"
    assert clear_default_model(tmp_path, role="researcher")
    assert default_model_id(tmp_path) is None  # cleared: not the shipped one again
    assert not clear_default_model(tmp_path, role="researcher")
    ordered, choice = default_first(list_models(tmp_path).models, tmp_path)
    assert ordered[0].id == "custom-calcification-try" and not choice.is_default

    (tmp_path / DEFAULT_FILE).unlink()  # as on the fresh clone: the shipped default
    assert delete_model(tmp_path, "demo-custom", role="admin") is True  # it was the default
    assert default_model_id(tmp_path) is None
    assert (tmp_path / SHIPPED_DEFAULT_FILE).is_file()  # the tracked file is left as it is


def test_an_empty_model_file_is_not_listed_and_says_what_to_do(tmp_path: Path) -> None:
    """A model.keras cut to zero bytes (a copy or disk that filled) was listed as a model;
    running it said Keras's "File not found ... Please ensure the file is an accessible
    `.keras` zip file" of a file that is there."""
    folder = _fake_model(tmp_path / "emptied")
    (folder / "model.keras").write_bytes(b"")
    listing = list_models(tmp_path)
    assert listing.models == []
    (problem,) = listing.problems
    assert "empty" in problem["message"] and "delete model emptied" in problem["message"]
    with pytest.raises(ModelError, match="empty"):
        load_card(folder)


@pytest.mark.slow  # imports TensorFlow to load the archive (about 10 s)
def test_a_cut_short_model_file_says_so_and_what_to_do(tmp_path: Path) -> None:
    from mcalc.models.registry import load_keras_model

    repo_models = Path(__file__).resolve().parent.parent / "models"
    folder = tmp_path / "cut"
    shutil.copytree(repo_models / "demo-custom", folder)
    data = (folder / "model.keras").read_bytes()
    (folder / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="cannot load model") as err:
        load_keras_model(folder)
    assert "cut short" in str(err.value) and "delete model cut" in str(err.value)


def test_a_damaged_default_model_record_is_said_not_taken_for_none_set(tmp_path: Path) -> None:
    """A cut-short .default-model.json made the pages say "no default model set" (the
    reason only in the log), though a default had been set."""
    _fake_model(tmp_path / "chosen", created="2024")
    _fake_model(tmp_path / "newer", created="2025")
    set_default_model(tmp_path, "chosen", role="admin", user="ana")
    (tmp_path / DEFAULT_FILE).write_text('{"id": "cho')
    _, choice = default_first(list_models(tmp_path).models, tmp_path)
    assert choice.card is not None and choice.card.id == "newer" and not choice.is_default
    for note in (choice.note, choice.note_chosen("chosen")):
        assert "cannot be read" in note and DEFAULT_FILE in note, note
        assert "choose a default again" in note and "no default model set" not in note
