"""AppTest: the Audit form shows the score a model already computed for the image, and
fills the score field with it; it says so when none was computed (the page runs nothing)."""

from __future__ import annotations

import json

import pytest

from mcalc.batch.table import to_table, write_results
from mcalc.config import get_settings
from mcalc.explain.results import model_key
from mcalc.jobs.batch import batch_root, run_name
from mcalc.models.registry import list_models
from tests.app_pages import open_page

pytestmark = pytest.mark.slow  # AppTest runs of the app's frame

PAGE = "pages/audit.py"


def test_audit_shows_and_prefills_a_batch_runs_score_and_says_when_there_is_none(app_env):
    card = next(c for c in list_models(get_settings().models_dir).models if c.id == "demo-custom")
    image = "suspicious-1/CC_recent"
    settings = json.dumps({"sliding": {"stride": 16, "dense": True}, "cam": None})
    row = {"image_key": image, "score": 0.8125, "predicted": "calcification",
           "model_key": model_key(card), "settings": settings,
           "finished_at": "2026-12-05T10:00:00+00:00"}  # fmt: skip
    run = run_name("demo-custom", app_env)
    write_results(batch_root(get_settings()) / run, to_table([row]))

    at = open_page(PAGE, 60)
    at.text_input(key="audit_reader_input").input("Dr. Test").run()
    at.selectbox(key="audit_model").set_value("demo-custom").run()
    at.selectbox(key="audit_image").set_value(image).run()
    assert not at.exception, [e.value for e in at.exception]
    (said,) = [i.value for i in at.info if "from batch run" in i.value]
    assert said == (
        f"demo-custom on {image}: score 0.812 (calcification), from batch run `{run}` at "
        "2026-12-05T10:00:00+00:00; settings: stride 16 px · dense inference · explanation none."
    )
    assert at.number_input(key="audit_score_input").value == 0.8125
    assert "From the computed result above." in [c.value for c in at.caption]

    # The reader's own score stays; another image with no result clears a prefilled one.
    other = next(o for o in at.selectbox(key="audit_image").options if o != image)
    at.selectbox(key="audit_image").set_value(other).run()
    assert at.number_input(key="audit_score_input").value is None
    assert any(
        c.value.startswith(f"No score of `demo-custom` for {other} has been computed yet")
        for c in at.caption
    )
    at.number_input(key="audit_score_input").set_value(0.3).run()
    at.selectbox(key="audit_image").set_value(image).run()
    assert at.number_input(key="audit_score_input").value == 0.3
