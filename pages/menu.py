"""The app's pages: script, title, icon and a line for the home page.

One list for ``st.navigation`` and the sidebar menu (:func:`pages.common.run_app`,
:func:`pages.common.sidebar`), the home page's list, and the server's page addresses
(:mod:`pages.deep_links`). It imports nothing but the standard library: ``app.py`` reads it
when the server starts, before any script runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["PAGES", "PAGE_BLURBS", "PAGE_ACTIONS", "available_pages", "page_action", "menu_pages"]

#: The app's pages: (script, title, icon). Pages whose script does not exist (yet) are left
#: out by :func:`available_pages`.
PAGES: list[tuple[str, str, str]] = [
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/browse.py", "Browse", ":material/radiology:"),
    ("pages/annotate.py", "Annotate", ":material/edit_location_alt:"),
    ("pages/predict.py", "Predict", ":material/neurology:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/evaluate.py", "Evaluate", ":material/monitoring:"),
    ("pages/batch.py", "Batch", ":material/stacks:"),
    ("pages/audit.py", "Audit", ":material/fact_check:"),
]
#: One line per page for the home page.
PAGE_BLURBS: dict[str, str] = {
    "pages/browse.py": "prior and recent exams with the radiologists' annotations",
    "pages/annotate.py": "mark calcifications yourself, compare with the dataset",
    "pages/predict.py": "run a model on a case and explain it, prior beside recent",
    "pages/train.py": "retrain a model in the background with a freeze strategy",
    "pages/evaluate.py": "ROC, sensitivity, specificity; compare models",
    "pages/batch.py": "run a model over the whole dataset in the background; sortable table",
    "pages/audit.py": "readers' verdicts on model predictions, per-model audit table",
}
#: What a page needs beyond a sign-in (a key of :data:`mcalc.access.ACTIONS`); a page not
#: listed is open to every role. The page asks for it (``common.frame(page_action(__file__))``)
#: and the menus list it only to the roles that may open it (:func:`menu_pages`).
PAGE_ACTIONS: dict[str, str] = {
    "pages/train.py": "train",
    "pages/evaluate.py": "evaluate",
    "pages/batch.py": "predict_collection",
}
_ROOT = Path(__file__).resolve().parent.parent


def available_pages() -> list[tuple[str, str, str]]:
    """The entries of :data:`PAGES` whose script exists, in menu order."""
    return [p for p in PAGES if (_ROOT / p[0]).is_file()]


def page_action(script: str) -> str | None:
    """The action page ``script`` (its path: absolute, or relative to the clone) needs,
    ``None`` when every role may open it.

    >>> page_action("pages/train.py"), page_action("pages/browse.py")
    ('train', None)
    """
    path = Path(script)
    if path.is_absolute():
        path = path.resolve().relative_to(_ROOT)
    return PAGE_ACTIONS.get(path.as_posix())


def menu_pages(may: Callable[[str], bool]) -> list[tuple[str, str, str]]:
    """The :func:`available_pages` a visitor may open, for the sidebar and the home page:
    ``may(action)`` says whether their role may do an action. A reader's menu listed
    Train, Evaluate and Batch, each opening on a refusal."""
    return [p for p in available_pages() if (a := PAGE_ACTIONS.get(p[0])) is None or may(a)]
