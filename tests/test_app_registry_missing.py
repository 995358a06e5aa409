"""AppTest: a model registry named by MCALC_MODELS that does not exist is said as such on the
pages that pick a model (it read as an empty registry: "No model in /typo. Train one")."""

from __future__ import annotations

import pytest

from tests.app_pages import open_page


@pytest.mark.parametrize("page", ["pages/evaluate.py", "pages/predict.py", "pages/batch.py"])
def test_a_registry_setting_that_names_no_folder_is_said_on_the_page(
    app_env, tmp_path, monkeypatch, page
):
    typo = tmp_path / "modles"
    monkeypatch.setenv("MCALC_MODELS", str(typo))
    at = open_page(page)
    errors = [e.value for e in at.error]
    assert any(e.startswith(f"MCALC_MODELS names {typo}, which does not exist") for e in errors), (
        errors
    )
    assert not any("Train one" in i.value for i in at.info), [i.value for i in at.info]
    assert not typo.exists()
