"""AppTest of Predict with a temporal model: the prior is registered, the model reads the
recent image with the subtraction, and its findings are shown at their place in the prior."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.explain_fixtures import register, spot_model
from tests.predict_fixtures import press_run, settle

APP = "../app.py"


@pytest.fixture(scope="module")
def temporal_registry(tmp_path_factory) -> Path:
    """``temporal``: the two-channel spot detector with a temporal card."""
    root = tmp_path_factory.mktemp("predict-temporal") / "models"
    folder = register(root, "temporal", spot_model(channels=2))
    card = json.loads((folder / "card.json").read_text())
    card["patch"].update(input_mode="temporal", channels=["recent", "subtraction"])
    (folder / "card.json").write_text(json.dumps(card))
    return root


@pytest.mark.slow  # registers the CC pair and slides a model over it: ~15 s
def test_temporal_model_predicts_with_the_registered_prior(app_env, temporal_registry, monkeypatch):
    monkeypatch.setenv("MCALC_MODELS", str(temporal_registry))
    at = AppTest.from_file(APP, default_timeout=150)
    at.run()
    at.switch_page("pages/predict.py")
    at.run()
    settle(at)  # the first visit runs by itself
    at.selectbox(key="predict_case").select("suspicious-1").run()
    if [b for b in at.button if b.key == "predict_run"]:  # the case the page opened with
        press_run(at)
    settle(at)  # a new case runs by itself
    assert not at.exception, [e.value for e in at.exception]
    # The prior round cannot be read alone by a temporal model: said, not hidden.
    assert any("no earlier exam to subtract" in e.value for e in at.info)
    assert any(h.value == "Across exams" for h in at.header)
    figs = {el.proto.id: json.loads(el.proto.spec) for el in at.get("plotly_chart")}
    fig = next(f for k, f in figs.items() if "predict_temporal_CC" in k)
    titles = " ".join(a.get("text", "") for a in fig["layout"]["annotations"])
    assert "subtraction" in titles  # a temporal model opens on its subtraction
    # How to read it is said beside it (the caption told only how findings were marked).
    assert any("mid-gray = unchanged" in c.value for c in at.caption)
    at.radio(key="predict_temporal_panel").set_value("prior").run()
    assert not at.exception
    assert not any("mid-gray = unchanged" in c.value for c in at.caption)
    assert any("The prior as filed (not warped)" in c.value for c in at.caption)
    # Its legend names the colours drawn: stable is periwinkle, not the dataset's cyan.
    legend = next(c.value for c in at.caption if "Each finding is marked" in c.value)
    assert "periwinkle (=): stable" in legend and "cyan" not in legend, legend
    figs = {el.proto.id: json.loads(el.proto.spec) for el in at.get("plotly_chart")}
    fig = next(f for k, f in figs.items() if "predict_temporal_CC" in k)
    marks = [t for t in fig["data"] if t["type"] == "scatter"]
    assert {t.get("xaxis", "x") for t in marks} == {"x", "x2"}  # in the recent and the prior
    table = next(d.value for d in at.dataframe if "evidence subtraction" in d.value.columns)
    assert len(table) == len(marks[0]["x"]) and table["prior (px)"].all()


@pytest.mark.slow  # Predict's first visit analyses the case: ~10 s
def test_a_view_without_its_prior_says_why_there_is_no_comparison(
    page_env, tiny_demo, tmp_path, monkeypatch
):
    """The section across rounds vanished without a word for a case whose prior of the view
    was missing: the reader could not tell a missing exam from a switched-off feature."""
    import shutil

    from mcalc.dataset import open_dataset
    from tests.predict_fixtures import open_predict

    root = tmp_path / "demo"
    shutil.copytree(tiny_demo, root)
    prior = open_dataset(root).case("suspicious-1").image("CC", "prior")
    assert prior is not None
    prior.image_path.unlink()
    monkeypatch.setenv("MCALC_DEMO_DIR", str(root))
    at = open_predict()
    assert not at.exception, [e.value for e in at.exception]
    said = [c.value for c in at.caption if "No comparison across exams" in c.value]
    assert said and "no prior image" in said[0], [c.value for c in at.caption]
