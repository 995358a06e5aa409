"""AppTest: a model picker's note when no default model is set names the model chosen in it,
not only the newest one the pages opened on (:func:`pages.default_model.default_ui`)."""

from __future__ import annotations

import json
import shutil

import pytest

from mcalc.config import get_settings
from tests.app_pages import open_page

pytestmark = pytest.mark.slow  # AppTest runs of the app's frame

PAGE = "pages/audit.py"


def test_the_no_default_note_names_the_model_chosen_not_only_the_newest(app_env, tmp_path):
    """With no default set, a reader who chose the older model read "No default model set:
    the newest, w2-head, is used." under a picker showing demo-custom (seen in Chromium)."""
    registry = get_settings().models_dir
    newer = registry / "newer-try"
    shutil.copytree(registry / "demo-custom", newer)
    card = json.loads((newer / "card.json").read_text())
    card.update(id="newer-try", created="2026-12-31T00:00:00+00:00")
    (newer / "card.json").write_text(json.dumps(card))

    at = open_page(PAGE, 60)
    at.text_input(key="audit_reader_input").input("Dr. Test").run()
    assert at.selectbox(key="audit_model").value == "newer-try"
    assert "No default model set: the newest, newer-try, is used." in [c.value for c in at.caption]
    at.selectbox(key="audit_model").set_value("demo-custom").run()
    assert not at.exception, [e.value for e in at.exception]
    notes = [c.value for c in at.caption if c.value.startswith("No default model set")]
    assert notes == [
        "No default model set: the pages open on the newest, newer-try; demo-custom is chosen here."
    ], notes
