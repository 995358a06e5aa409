"""A page's modules imported ahead, so that its first visit in a process does not import them.

Streamlit runs a page's script on each visit; the modules the script imports at its top are
imported by the first visit of the process, in that visit's script run. For Predict, after
Browse and the warm-up's analysis ahead have imported what they share with it, that is its
controls, result, run, viewer, temporal and verdict helpers and what they import: 25-30 ms
of the first run's CPU on the 2-core machine, and where Python writes no ``.pyc`` files
(``PYTHONDONTWRITEBYTECODE``, a read-only install) their compilation too, which the first
run's wall showed as 0.19-0.38 s at load 10-12 (``docs/measurements.md``, 5 December 2026,
h/first). The app's warm-up imports them in its own thread once its work for Predict is
done (:func:`pages.common.frame`), the way it loads Predict's model there.

The modules are read from the script itself (its top-level ``import`` and ``from ... import``
statements), not from a list kept beside it; those Streamlit imports only on first use inside a
run are named in :data:`STREAMLIT_ON_FIRST_USE`.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["STREAMLIT_ON_FIRST_USE", "import_page_modules"]

log = logging.getLogger(__name__)


#: Modules Streamlit imports on their first use in a script run, not with itself:
#: ``streamlit.emojis``, by the first alert (``st.info``, ``st.warning``...) looking for a
#: leading emoji in its body; its import compiles one large regular expression (33 ms of CPU
#: on the 2-core machine, holding the GIL). Predict's first cold case drew its first alert
#: (the verdict's note on the last result) during its analysis, and paid it there (0.2-0.3 s
#: of the script run's wall at load 7-9, docs/measurements.md, 5 December 2026, h/pcold).
STREAMLIT_ON_FIRST_USE = ("streamlit.emojis",)


def import_page_modules(script: Path, also: Sequence[str] = ()) -> list[str]:
    """Import what ``script`` imports at its top level, in order, then the modules ``also``
    names (:data:`STREAMLIT_ON_FIRST_USE`); returns those of them that were not imported
    before this call (each once, in that order).

    ``import a.b`` imports ``a.b``; ``from a import b, c`` imports ``a`` and, where ``a`` is
    a package, each of ``b``, ``c`` that is a module of it (``from pages import common``);
    an attribute (a function, a class) needs nothing more. Imports inside functions and
    ``if`` blocks (``TYPE_CHECKING``), relative imports and ``from __future__`` are left
    out: what the script's first run would import at its top, no more.

    Raises:
        ImportError: a module cannot be imported (the page's own visit would fail the same
            way, and show it).
        SyntaxError: ``script`` is not Python.
    """
    tree = ast.parse(script.read_text(encoding="utf-8"), filename=str(script))
    before = set(sys.modules)
    named: list[str] = []

    def need(name: str) -> None:
        named.append(name)
        importlib.import_module(name)

    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                need(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "__future__":
                continue
            need(node.module)
            package = sys.modules[node.module]
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                if name in sys.modules or (
                    hasattr(package, "__path__") and importlib.util.find_spec(name) is not None
                ):
                    need(name)
    for name in also:
        need(name)
    new = [name for name in dict.fromkeys(named) if name not in before]
    log.debug("%s: %d modules imported ahead", script.name, len(new))
    return new
