"""AppTest: the Evaluate page lists the registry, skips a corrupt model folder, evaluates the
committed demo model and draws its ROC curve; results are cached under MCALC_CACHE."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages import wide_tables
from tests.app_pages import choices_after_another_page, open_page, shown
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # AppTest runs that evaluate models: 15-60 s each

PAGE = "pages/evaluate.py"


@pytest.fixture
def eval_env(app_env, tmp_path, monkeypatch) -> Path:
    """A private registry: a copy of the committed demo-custom and a corrupt folder."""
    models = tmp_path / "models"
    shutil.copytree(REPO / "models" / "demo-custom", models / "demo-custom")
    (models / "broken").mkdir()
    (models / "broken" / "card.json").write_text("{ not json")
    monkeypatch.setenv("MCALC_MODELS", str(models))
    return models


def _page(timeout: float = 90) -> AppTest:
    return open_page(PAGE, timeout)


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _table(at: AppTest, column: str):
    """The first table with ``column`` (AppTest does not expose dataframe keys)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return shown(df)
    raise AssertionError(f"no table with a {column!r} column")


def _numbers(values) -> list[float]:
    """Plotly may encode arrays as typed arrays; the figures here use plain lists."""
    assert isinstance(values, list), f"expected a plain list, got {type(values).__name__}"
    return [float(v) for v in values]


def test_page_lists_models_skips_the_corrupt_folder_evaluates_and_a_new_session_reads_the_cache(
    eval_env,
):
    at = _page()
    registry = _table(at, "freeze")
    assert list(registry["model"]) == ["demo-custom"]
    assert {"freeze", "weights", "pre-trained"} <= set(registry)  # under the table in view
    assert list(registry["model"]) == list(_table(at, "synthetic")["model"])
    assert any("broken" in w.value and "Skipped" in w.value for w in at.warning)
    assert any("synthetic" in w.value and "demo-custom" in w.value for w in at.warning)
    assert any("all 6 patients" in m.value for m in at.markdown)  # not its training data
    assert not _figures(at)  # nothing drawn before evaluating

    at.multiselect(key="evaluate_models").set_value(["demo-custom"]).run()
    at.button(key="evaluate_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]

    figs = {f["layout"]["title"]["text"]: f for f in _figures(at)}
    roc = figs["ROC · Patch level"]
    # On two lines where it is long (eval_figures.LEGEND_CHARS): "95% CI n/a (6 patients)".
    curves = [
        t for t in roc["data"] if t["name"].replace("<br>", " · ").startswith("demo-custom · AUC")
    ]
    assert len(curves) == 1 and "95% CI" in curves[0]["name"]
    x, y = _numbers(curves[0]["x"]), _numbers(curves[0]["y"])
    assert len(x) == len(y) >= 2 and x[0] == 0 and y[-1] == 1
    anchors = [t for t in roc["data"] if "Loizidou" in t["name"]]
    assert len(anchors) == 2
    assert "Precision-recall · Patch level" in figs
    assert any("not directly comparable" in i.value for i in at.info)
    table = _table(at, "Youden threshold")
    assert list(table["model"]) == ["demo-custom"] and _table(at, "level")["level"][0] == "patch"
    at_threshold = _table(at, "PPV")
    assert list(at_threshold["model"]) == ["demo-custom"] and at_threshold["threshold"][0] == 0.5

    cached = list((eval_env.parent / "cache" / "evaluations").glob("demo-custom-*/*.json"))
    assert len(cached) == 1
    assert at.button(key="evaluate_run").disabled  # nothing left to evaluate
    assert any("Evaluation report" in h.value for h in at.subheader)
    report = at.get("download_button")
    assert [b.proto.label for b in report] == [
        "HTML report · demo-custom",
        "PDF report · demo-custom",
    ]

    # Case level and a stricter threshold: the table follows, no new scoring needed.
    at.radio(key="evaluate_level").set_value("case").run()
    at.slider(key="evaluate_threshold").set_value(0.9).run()
    assert not at.exception
    table = _table(at, "Youden threshold")
    assert _table(at, "level")["level"][0] == "case" and _table(at, "PPV")["threshold"][0] == 0.9
    assert table["n"][0] == 6
    # What the metrics are at, in which units, beside the card's map-score threshold.
    (units,) = [c.value for c in at.caption if c.value.startswith("Metrics at 0.90")]
    assert units.startswith("Metrics at 0.90, read against case scores (the maximum of sampled")
    assert "is a map score threshold" in units and "different units" in units
    assert "demo-custom 0.9215 (Youden's J on 12 validation images" in units
    # The heading says the threshold in force: it read "Metrics at the operating threshold"
    # over metrics at the slider's 0.90 on case scores, not at any model's operating point.
    headings = [h.value for h in at.subheader]
    assert "Metrics at 0.90" in headings and not any("operating" in h for h in headings)
    assert any("max over images (a case is positive" in c.value for c in at.caption)
    assert "ROC · Case level" in {f["layout"]["title"]["text"] for f in _figures(at)}

    # A new session reads the cached evaluation (one evaluation for both checks: each
    # costs 10-50 s on this machine).
    at = _page()  # a fresh session: the result comes from the cache
    assert at.button(key="evaluate_run").disabled
    assert any("from the cache" in c.value for c in at.caption)
    # When, as a reader says it (the ISO form broke inside the date at 1280 px).
    assert any(re.search(r"computed \d{4}-\d\d-\d\d \d\d:\d\d UTC", c.value) for c in at.caption)
    assert any(f["layout"]["title"]["text"].startswith("ROC") for f in _figures(at))

    # The reader's settings survive a visit to another page (Streamlit forgets a widget's
    # value when a run does not draw it: Evaluate came back with its defaults), and so does
    # the tab chosen (only that tab is drawn: another one would not show its settings).
    by_tab = {
        "Classification": [
            ("radio", "evaluate_level", "case"),
            ("slider", "evaluate_threshold", 0.3),
            ("toggle", "evaluate_youden", True),
            ("selectbox", "evaluate_bootstrap", 0),
        ],
        "Detection": [
            ("number_input", "evaluate_det_tolerance", 2.5),
            ("number_input", "evaluate_det_min_distance", 1.5),
        ],
        "BI-RADS": [
            ("selectbox", "evaluate_birads_rule", "mean"),
            ("toggle", "evaluate_birads_operating", False),  # the slider is greyed while on
            ("slider", "evaluate_birads_threshold", 0.7),
        ],
    }
    for tab, choices in by_tab.items():
        if tab != "Classification":
            assert not [w for _, key, _ in choices for w in at.get("number_input") if w.key == key]
            at.session_state["evaluate_tab"] = tab  # as a click on the tab does
            at.run()
        kept = choices_after_another_page(at, PAGE, choices)
        assert kept == {key: value for _, key, value in choices}, tab
    # No model chosen stays so (the first visit's default is the registry's model).
    unpicked = [("multiselect", "evaluate_models", [])]
    assert choices_after_another_page(at, PAGE, unpicked) == {"evaluate_models": []}


def test_a_metric_a_card_lacks_reads_n_a_in_the_registry(eval_env):
    """A card without sensitivity and specificity (the hand-made ``spot`` detector's): the
    registry's table says "n/a" there, not a grey "None" that reads as a value."""
    bare = eval_env / "no-sens"
    shutil.copytree(eval_env / "demo-custom", bare)
    card = json.loads((bare / "card.json").read_text())
    sensitivity = card["metrics"]["test"]["sensitivity"]
    card["id"] = "no-sens"
    for name in ("sensitivity", "specificity"):
        del card["metrics"]["test"][name]
    (bare / "card.json").write_text(json.dumps(card))
    registry = _table(_page(), "sens.").set_index("model")
    assert list(registry.loc["no-sens", ["sens.", "spec."]]) == ["n/a", "n/a"]
    assert registry.loc["demo-custom", "sens."] == pytest.approx(sensitivity)  # a number


def test_a_long_automatic_model_id_is_shown_whole_and_pinned(eval_env):
    """The model column was cut to a medium width: an automatic id lost the time that tells
    two models apart (whole on hover only). It is pinned while a wide table scrolls, sized
    to the id up to 40 characters; a longer id gets a width and rows that wrap it whole (the
    grid draws on a canvas: checked by eye in Chromium, 4 and 8 December 2026)."""
    long_id = "efficientnetb0-calcification-20261204-183012"
    shutil.copytree(eval_env / "demo-custom", eval_env / long_id)
    card = json.loads((eval_env / long_id / "card.json").read_text())
    (eval_env / long_id / "card.json").write_text(json.dumps({**card, "id": long_id}))
    at = _page()
    (registry,) = [d for d in at.dataframe if "freeze" in d.value.columns]
    assert long_id in list(registry.value["model"])
    model = json.loads(registry.proto.columns)["model"]
    # 44 characters (over 40): a width of its own, the id wrapped rather than cut.
    assert model.get("pinned") is True and model["width"] == wide_tables.ID_COLUMN_PX, model
    assert registry.proto.row_height >= wide_tables.WRAP_ROW_PX
    # A fold of a cross-validation (54 characters): the table in view was 751 px in a
    # projector's 690 (1280 px at 125 %), *synthetic* behind a sideways scroll; h/ids moved
    # arch. and task under it, and an id of 81 still made it 770 px, cut before its fold.
    # Now the column has a width and its rows wrap the id, every column in view (h/trainids).
    fold = "cv-efficientnet-calcification-20261207-221530-fold1of3"
    shutil.copytree(eval_env / "demo-custom", eval_env / fold)
    at.run()
    [table] = [d for d in at.dataframe if "AUC" in d.value.columns]
    assert fold in list(table.value["model"])
    assert {"arch.", "task", "synthetic"} <= set(table.value.columns), list(table.value.columns)
    model = json.loads(table.proto.columns)["model"]
    assert model["pinned"] is True and model["width"] == wide_tables.ID_COLUMN_PX, model
    assert table.proto.row_height >= wide_tables.WRAP_ROW_PX, table.proto.row_height
    assert at.expander[0].label.startswith("The set-up of each model (input")


def test_the_scope_counts_patients_not_breasts(app_env, monkeypatch, tmp_path):
    """Both breasts of one woman (a mini-MIAS pair, an INbreast patient) read "all 2
    patients": the page counted cases."""
    from tests.convert_fixtures import make_region_manifest

    csv = make_region_manifest(tmp_path / "pair")
    lines = csv.read_text().splitlines()
    rows = [f"{lines[0]},patient_id"] + [f"{ln},p1" for ln in lines[1:]]
    csv.write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("MCALC_DATA", str(csv))
    monkeypatch.setenv("MCALC_AUTH", "off")
    at = _page()
    scope = [m.value for m in at.markdown if "of this dataset" in m.value]
    assert any("all 1 patient** (2 cases)" in m for m in scope), scope


def test_empty_registry_says_what_to_do(app_env, tmp_path, monkeypatch):
    (tmp_path / "none").mkdir()  # a registry with no model yet (a missing one: an error)
    monkeypatch.setenv("MCALC_MODELS", str(tmp_path / "none"))
    at = _page()
    assert any("No usable model" in i.value for i in at.info)


def test_a_model_that_fails_to_load_is_an_error_and_the_others_still_evaluate(eval_env):
    bad = eval_env / "bad-weights"
    shutil.copytree(eval_env / "demo-custom", bad)
    (bad / "model.keras").write_bytes(b"not a keras archive")
    at = _page()
    at.multiselect(key="evaluate_models").set_value(["demo-custom", "bad-weights"]).run()
    at.button(key="evaluate_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("bad-weights" in e.value and "cannot load model" in e.value for e in at.error)
    table = _table(at, "Youden threshold")
    assert list(table["model"]) == ["demo-custom"]
    assert at.button(key="evaluate_run").label == "Evaluate 1 model"  # can be retried


@pytest.fixture(scope="module")
def birads_registry(tmp_path_factory) -> Path:
    """A tiny 3-class birads model trained one short epoch on data of its own."""
    from mcalc.models.training import TrainConfig, train
    from mcalc.synthetic import generate_demo
    from tests.models_fixtures import TINY

    root = tmp_path_factory.mktemp("birads")
    generate_demo(root / "data", cases=10, seed=2, shape=(256, 208))
    train(
        TrainConfig(
            data=root / "data", arch="custom", task="birads", models_dir=root / "models",
            runs_dir=root / "runs", model_id="tiny-birads", **TINY,
        )
    )  # fmt: skip
    return root / "models"


def test_birads_model_shows_per_class_metrics(app_env, birads_registry, monkeypatch):
    monkeypatch.setenv("MCALC_MODELS", str(birads_registry))
    at = _page()
    at.button(key="evaluate_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    per_class = _table(at, "class")
    assert list(per_class["class"]) == ["normal", "benign", "suspicious"]
    assert per_class["n"].sum() == _table(at, "Youden threshold")["n"][0]
    figs = {f["layout"]["title"]["text"]: f for f in _figures(at)}
    argmax = figs["tiny-birads · argmax"]
    assert len(argmax["data"][0]["z"]) == 3
    assert _table(at, "positive class")["positive class"][0] == "suspicious"
    # The registry's AUC (the card's, macro over 3 classes) differs from the curves': said.
    assert any(
        "The AUC of tiny-birads (3 classes) is the macro one-vs-rest AUC" in c.value
        for c in at.caption
    )


def test_page_says_which_images_the_model_was_trained_without(eval_env):
    card_path = eval_env / "demo-custom" / "card.json"
    card = json.loads(card_path.read_text())
    card["skipped_images"] = {"normal-2/MLO_prior": "pixel data is corrupt or truncated"}
    card_path.write_text(json.dumps(card))
    at = _page()
    warned = [w.value for w in at.warning if "demo-custom" in w.value]
    assert any(
        "trained without 1 unreadable image: normal-2/MLO_prior (pixel data" in w for w in warned
    ), warned
