"""The pages' icons are Material icons, drawn from the font Streamlit serves."""

from __future__ import annotations

import re
from pathlib import Path

PAGES = Path(__file__).resolve().parent.parent / "pages"


def test_every_literal_icon_is_a_material_icon() -> None:
    """Failed before: Train's "Open … on the Predict page" had the emoji 🔮, an empty box on
    a machine without an emoji font (Debian's headless Chromium; a presenter's laptop may
    lack one too), the one emoji among the app's icons; Predict's own is
    :material/neurology: (pages/menu.py)."""
    found = {
        f"{path.name}: {icon}"
        for path in sorted(PAGES.rglob("*.py"))
        for icon in re.findall(r"\bicon=\"([^\"]*)\"", path.read_text(encoding="utf-8"))
    }
    assert found, "no icon found: the pattern no longer matches the pages' code"
    assert all(": :material/" in f for f in found), sorted(found)
