"""Settings: caches outside the clone by default, user data inside; TensorFlow's start-up
environment on machines with and without an NVIDIA GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcalc import config
from mcalc.config import REPO_ROOT, Settings, default_cache_dir, get_settings, prepare_tensorflow
from mcalc.models import evaluate as ev
from mcalc.models.card import ModelCard


@pytest.fixture
def no_cache_env(monkeypatch):
    monkeypatch.delenv("MCALC_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


def test_default_cache_is_per_user_not_in_the_clone(no_cache_env, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "mcalc"
    cache = get_settings().cache_dir
    assert cache == tmp_path / "home" / ".cache" / "mcalc"
    assert not cache.is_relative_to(REPO_ROOT)
    assert Settings().cache_dir == cache


def test_xdg_cache_home_and_mcalc_cache(no_cache_env, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_settings().cache_dir == tmp_path / "xdg" / "mcalc"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # invalid per the XDG spec: ignored
    assert get_settings().cache_dir == Path.home() / ".cache" / "mcalc"
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "mine"))
    assert get_settings().cache_dir == tmp_path / "mine"


def test_settings_are_made_once_per_state_of_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "a"))
    first = get_settings()
    assert get_settings() is first  # asked 20 times a script run: made once
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "b"))
    assert get_settings().cache_dir == tmp_path / "b"
    monkeypatch.setenv("MCALC_NEW_SETTING_NOBODY_READS", "1")  # any MCALC_ variable: new one
    assert get_settings() is not first
    monkeypatch.setenv("MCALC_PREVIEW_MAX_SIDE", "many")  # still refused on every call
    for _ in range(2):
        with pytest.raises(ValueError, match="MCALC_PREVIEW_MAX_SIDE must be an integer"):
            get_settings()


def test_user_data_stays_in_the_clone(monkeypatch):
    for name in ("MCALC_DEMO_DIR", "MCALC_MODELS", "MCALC_RUNS", "MCALC_STORE"):
        monkeypatch.delenv(name, raising=False)
    s = get_settings()
    assert s.demo_dir == REPO_ROOT / "data" / "demo"
    assert s.models_dir == REPO_ROOT / "models"
    assert s.runs_dir == REPO_ROOT / "data" / "runs"
    assert s.store_dir == REPO_ROOT / "data" / "annotations"


def test_evaluations_are_cached_under_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    models = tmp_path / "models"
    folder = models / "m1"
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"not a real model, only its size and mtime count")
    result = ev.EvaluationResult(
        model_id="m1",
        data="data/demo",
        scope="all-patients",
        cases=["a"],
        metrics={"n": 1},
        card_metrics=None,
        fingerprint="f" * 16,
    )
    card = ModelCard(id="m1").located("m1", folder)
    path = ev.save_evaluation(card, result, {})
    assert path is not None and path.is_relative_to(tmp_path / "cache" / "evaluations")
    assert json.loads(path.read_text())["model_id"] == "m1"
    assert sorted(p.name for p in folder.iterdir()) == ["model.keras"]  # model folder untouched
    # Two registries with a model of the same id do not share a cache entry.
    other = tmp_path / "other" / "m1"
    assert ev.evaluation_path(other, "f" * 16) != path


def test_prepare_tensorflow_without_gpu(monkeypatch):
    monkeypatch.setattr(config, "_nvidia_present", lambda: False)
    env: dict[str, str] = {}
    prepare_tensorflow(env)
    assert env == {"CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    mine = {"CUDA_VISIBLE_DEVICES": "0", "TF_CPP_MIN_LOG_LEVEL": "0"}
    prepare_tensorflow(mine)
    assert mine == {"CUDA_VISIBLE_DEVICES": "0", "TF_CPP_MIN_LOG_LEVEL": "0"}


def test_prepare_tensorflow_with_gpu_hides_nothing(monkeypatch):
    monkeypatch.setattr(config, "_nvidia_present", lambda: True)
    env: dict[str, str] = {}
    prepare_tensorflow(env)
    assert env == {"TF_CPP_MIN_LOG_LEVEL": "2"}


def test_cli_prepares_tensorflow(monkeypatch, tmp_path, capsys):
    from mcalc import cli

    calls = []
    monkeypatch.setattr(cli, "prepare_tensorflow", lambda: calls.append(1))
    monkeypatch.setenv("MCALC_MODELS", str(tmp_path / "none"))
    cli.main(["models", "--json"])
    assert calls == [1]


# prepare_tensorflow in a fresh TensorFlow process (no CUDA error, no CPU-feature notice on
# stderr of a CPU-only machine) is checked in the fresh process that
# tests/test_training.py::test_mirrored_strategy_on_two_logical_cpus starts anyway.


def test_streamlit_watches_sources_only():
    """A recursive inotify watch over the clone (datasets, caches, runs) is what floods."""
    import tomllib

    server = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["fileWatcherType"] == "poll"
    assert {"data", "models"} <= set(server["folderWatchBlacklist"])


def test_the_server_takes_no_upload_larger_than_the_import_reads():
    """The one upload of the app is Annotate's import, which reads at most
    ``MAX_IMPORT_MB``; the server took 1 GB ("DICOM uploads", which no page has) and held
    it in memory while the import refused it (a 300 MB file: +302 MB RSS, 7 December
    2026). Streamlit's server refuses a body over ``maxUploadSize`` (the widget's own
    limit is the browser's check only)."""
    import tomllib

    from mcalc.store.exchange import MAX_IMPORT_MB

    server = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["maxUploadSize"] == MAX_IMPORT_MB


def test_the_secrets_file_is_never_committed():
    """``.streamlit/secrets.toml`` holds the OpenID Connect client secret and cookie key
    (README, *Accounts and privacy*: "never commit it"); git ignores it, so that
    ``git add -A`` does not take it."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in (".streamlit/secrets.toml", "data/users.yaml"):
        done = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", path], cwd=REPO_ROOT, check=False
        )
        assert done.returncode == 0, f"{path} is not ignored by git"


def test_theme_primary_colour_is_legible_under_white_text_and_on_the_background():
    """Primary buttons and chosen tags draw white text on the primary colour (axe-core's
    color-contrast on Evaluate and Batch: 3.2:1 with #ff4b6e); the colour is also the
    toggles' and focus rings', against Streamlit's dark background (#0e1117)."""
    import tomllib

    from pages.theme import contrast as _contrast

    theme = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())["theme"]
    assert theme["base"] == "dark"
    assert _contrast(theme["primaryColor"], "#ffffff") >= 4.5, theme
    assert _contrast(theme["primaryColor"], "#0e1117") >= 3.0, theme
    assert abs(_contrast("#767676", "#ffffff") - 4.54) < 0.01  # WCAG's own example


# A slider's value, captions and focus rings in both themes: tests/test_theme.py.


def test_pages_need_no_magic_and_streamlit_parses_none():
    """Magic is off (its ast.parse of a page can collide with the TensorFlow warm-up's parses
    in CPython 3.11: .streamlit/config.toml), so no page may rely on it: no bare expression
    but a docstring."""
    import ast
    import tomllib

    from streamlit import config

    runner = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())["runner"]
    assert runner["magicEnabled"] is False and config.get_option("runner.magicEnabled") is False
    bare = []
    for path in [REPO_ROOT / "app.py", *sorted((REPO_ROOT / "pages").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            body = getattr(node, "body", None)
            for i, stmt in enumerate(body if isinstance(body, list) else []):
                value = getattr(stmt, "value", None)
                if not isinstance(stmt, ast.Expr) or isinstance(
                    value, ast.Call | ast.Await | ast.Yield | ast.YieldFrom
                ):
                    continue
                if i == 0 and isinstance(value, ast.Constant) and isinstance(value.value, str):
                    continue  # a docstring
                bare.append(f"{path.name}:{stmt.lineno}")
    assert bare == [], f"bare expressions, shown only with Streamlit's magic: {bare}"


def test_fullres_codec_from_the_environment(monkeypatch):
    from mcalc.config import get_settings
    from mcalc.present.fullres import CODECS, codec_for

    monkeypatch.delenv("MCALC_FULLRES_CODEC", raising=False)
    assert get_settings().fullres_codec == "auto"
    # auto: raw values for a browser on this machine, compressed for any other or a proxy
    assert codec_for("auto", "127.0.0.1", False) == codec_for("auto", "::1", False) == "raw16"
    assert codec_for("auto", "127.0.0.1", True) == codec_for("auto", "192.168.1.9", False)
    assert codec_for("auto", "not an address", False) == "zlib-delta16"
    assert codec_for("auto", "192.168.1.9", False) in CODECS
    monkeypatch.setenv("MCALC_FULLRES_CODEC", "RAW16")
    assert get_settings().fullres_codec == "raw16" == codec_for("raw16", "10.0.0.1", True)
    monkeypatch.setenv("MCALC_FULLRES_CODEC", "png")
    with pytest.raises(ValueError, match="MCALC_FULLRES_CODEC must be one of auto, raw16"):
        get_settings()
