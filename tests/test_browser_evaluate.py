"""In a real browser: open the Evaluate page, evaluate the committed demo model, see its ROC
and precision-recall curves, the metrics tables (none cut off on the right) and confusion
matrix; screenshot."""

from __future__ import annotations

import shutil

import pytest

from tests.browser import ARTIFACTS, browser_page, choose, open_app, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Pixels between the bottom of what is above a table and the top of its toolbar's buttons.
TOOLBAR_GAP = (
    "d => { const bar = d.querySelector('[data-testid=\"stElementToolbarButtonContainer\"]');"
    " const above = d.closest('[data-testid=\"stElementContainer\"]').previousElementSibling;"
    " return above ? bar.getBoundingClientRect().top - above.getBoundingClientRect().bottom"
    " : 1e6; }"
)
#: Waits for the table's transitions to end (its toolbar's, once shown).
SETTLED = "d => Promise.all(d.getAnimations({subtree: true}).map(a => a.finished))"
ABOVE = "d => d.closest('[data-testid=\"stElementContainer\"]').previousElementSibling?.innerText"


def test_evaluate_the_demo_model_and_see_its_curves(demo_app):
    # A fold of a cross-validation, registered for this test: an id of 54 characters made the
    # registry's table 751 px in 690 (h/ids). Older than spot, so no page opens on it.
    fold = demo_app.path("MCALC_MODELS") / "cv-efficientnet-calcification-20261207-221530-fold1of3"
    shutil.copytree(demo_app.path("MCALC_MODELS") / "demo-custom", fold)
    try:
        _evaluate_the_demo_model(demo_app)
    finally:
        shutil.rmtree(fold)


def _evaluate_the_demo_model(demo_app) -> None:
    # A projector: 1280 px at 125 % (1024 CSS px), where tables scrolled sideways (h/projector).
    with browser_page(width=1024, height=3200, scale=1.25) as page:
        open_app(page, f"{demo_app.url}/evaluate")
        page.get_by_text("Registered models", exact=True).wait_for(timeout=60_000)
        choose(page, "Models to compare", ["demo-custom"])
        page.get_by_role("button", name="Evaluate 1 model").click()
        page.get_by_text("Metrics at 0.50", exact=True).wait_for(timeout=90_000)
        page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=60_000
        )
        wait_for_app_idle(page)
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "evaluate.png"), full_page=True)
        legend = page.eval_on_selector_all(
            ".js-plotly-plot .legendtext", "els => els.map(e => e.textContent || '')"
        )
        # One line, or the model and its AUC on two where the entry is too long for half
        # the page (mcalc.present.eval_figures.LEGEND_CHARS).
        assert any(t.startswith("demo-custom") and "AUC" in t and "CI" in t for t in legend), legend
        # Every table fits the page: no column cut off behind a horizontal scroll bar.
        widths = page.eval_on_selector_all(
            "[data-testid='stDataFrame'] .dvn-scroller",
            "els => els.map(e => [e.scrollWidth, e.clientWidth])",
        )
        assert len(widths) >= 3 and all(sw <= cw + 1 for sw, cw in widths), widths
        assert any("Loizidou 2021" in t for t in legend), legend
        # Streamlit's toolbar of a table, shown while the pointer is over it, clear of what
        # is above the table: it covered a caption's last words (pages/narrow.py).
        for table in page.locator(
            "[data-testid='stDataFrame']:visible"
        ).all():  # not in a closed expander
            table.hover()
            table.evaluate(SETTLED)  # it slides into place
            gap = table.evaluate(TOOLBAR_GAP)
            assert gap >= 0, f"a table's toolbar covers {-gap} px of: {table.evaluate(ABOVE)}"
        assert page.get_by_text("not directly comparable").count()
        assert page.get_by_role("button", name="Evaluated").is_disabled()
        evaluations = demo_app.path("MCALC_CACHE") / "evaluations"
        assert list(evaluations.glob("demo-custom-*/*.json"))
