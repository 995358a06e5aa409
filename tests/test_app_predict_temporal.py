"""AppTest of Predict with a temporal model: the prior is registered, the model reads the
recent image with the subtraction, and its findings are shown at their place in the prior."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.explain_fixtures import register
from tests.test_app_predict import _run, _settle

APP = "../app.py"


def spot_pair_model(patch: int = 32):
    """The hand-made spot detector of ``tests.explain_fixtures`` on two channels: a bright
    spot in the recent image or in the subtraction (what changed) counts."""
    import keras
    from keras import layers

    inputs = keras.Input((patch, patch, 2), name="patch")
    x = layers.Conv2D(4, 3, padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(4, 3, padding="valid", activation="relu", name="conv2")(x)
    x = layers.GlobalMaxPooling2D(name="head_pool")(x)
    outputs = layers.Dense(2, activation="softmax", name="head_output")(x)
    model = keras.Model(inputs, outputs, name="spot_pair")
    k1 = np.zeros((3, 3, 2, 4), np.float32)
    for c in (0, 1):
        k1[:, :, c, 0] = -0.5 / 8.0
        k1[1, 1, c, 0] = 0.5
    k2 = np.zeros((3, 3, 4, 4), np.float32)
    k2[1, 1, 0, 0] = 1.0
    dense = np.zeros((4, 2), np.float32)
    dense[0, 1] = 100.0
    model.get_layer("conv1").set_weights([k1, np.zeros(4, np.float32)])
    model.get_layer("conv2").set_weights([k2, np.zeros(4, np.float32)])
    model.get_layer("head_output").set_weights([dense, np.array([0.0, -10.0], np.float32)])
    return model


@pytest.fixture(scope="module")
def temporal_registry(tmp_path_factory) -> Path:
    """``temporal``: the two-channel spot detector with a temporal card."""
    root = tmp_path_factory.mktemp("predict-temporal") / "models"
    folder = register(root, "temporal", spot_pair_model())
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
    _settle(at)  # the first visit runs by itself
    at.selectbox(key="predict_case").select("suspicious-1").run()
    if [b for b in at.button if b.key == "predict_run"]:  # a new case waits for Run
        _run(at)
    assert not at.exception, [e.value for e in at.exception]
    # The prior round cannot be read alone by a temporal model: said, not hidden.
    assert any("no earlier exam to subtract" in e.value for e in at.info)
    assert any(h.value == "Across rounds" for h in at.subheader)
    figs = {el.proto.id: json.loads(el.proto.spec) for el in at.get("plotly_chart")}
    fig = next(f for k, f in figs.items() if "predict_temporal_CC" in k)
    titles = " ".join(a.get("text", "") for a in fig["layout"]["annotations"])
    assert "subtraction" in titles  # a temporal model opens on its subtraction
    at.radio(key="predict_temporal_panel").set_value("prior").run()
    assert not at.exception
    figs = {el.proto.id: json.loads(el.proto.spec) for el in at.get("plotly_chart")}
    fig = next(f for k, f in figs.items() if "predict_temporal_CC" in k)
    marks = [t for t in fig["data"] if t["type"] == "scatter"]
    assert {t.get("xaxis", "x") for t in marks} == {"x", "x2"}  # in the recent and the prior
    table = next(d.value for d in at.dataframe if "evidence subtraction" in d.value.columns)
    assert len(table) == len(marks[0]["x"]) and table["prior (row, col)"].all()
