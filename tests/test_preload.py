"""A page's modules imported ahead (pages/preload.py): what the script imports at its top
level and nothing else; Predict's own page, in a fresh interpreter, outside a script run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pages.preload import import_page_modules

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def package(tmp_path, monkeypatch) -> Path:
    """A package ``pk_preload`` on the path: modules ``a`` to ``f`` (each empty) and a
    function ``helper`` in its ``__init__``; none of it imported."""
    root = tmp_path / "pk_preload"
    root.mkdir()
    (root / "__init__.py").write_text("def helper():\n    return 1\n")
    for name in "abcdef":
        (root / f"{name}.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("pk_preload")]:
        monkeypatch.delitem(sys.modules, name)
    yield root
    for name in [m for m in sys.modules if m.startswith("pk_preload")]:
        del sys.modules[name]


def test_imports_what_the_script_imports_at_its_top_and_nothing_else(tmp_path, package) -> None:
    script = tmp_path / "page.py"
    script.write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import pk_preload.a\n"
        "from pk_preload import b, helper\n"
        "from pk_preload.c import VALUE\n"
        "if TYPE_CHECKING:\n"
        "    import pk_preload.d\n"
        "def later():\n"
        "    import pk_preload.e\n"
        "print('the page drew something')\n"
    )
    new = import_page_modules(script)
    assert new == ["pk_preload.a", "pk_preload", "pk_preload.b", "pk_preload.c"]  # in order
    assert {"pk_preload.a", "pk_preload.b", "pk_preload.c"} <= set(sys.modules)
    for left_out in ("pk_preload.d", "pk_preload.e", "pk_preload.f", "pk_preload.helper"):
        assert left_out not in sys.modules, left_out
    assert import_page_modules(script) == []  # all there now


def test_modules_named_besides_the_scripts_are_imported_after_them(tmp_path, package) -> None:
    script = tmp_path / "page.py"
    script.write_text("import pk_preload.a\n")
    new = import_page_modules(script, ("pk_preload.f",))
    assert new == ["pk_preload.a", "pk_preload.f"]


def test_a_module_that_cannot_be_imported_raises(tmp_path, package) -> None:
    script = tmp_path / "page.py"
    script.write_text("import pk_preload.a\nimport pk_preload.nosuch\n")
    with pytest.raises(ImportError, match=r"pk_preload\.nosuch"):
        import_page_modules(script)


def test_predicts_page_modules_import_outside_a_script_run() -> None:
    """What the app's warm-up does (pages.common.frame): Predict's page modules, in a fresh
    interpreter with no Streamlit script run, without error; its helpers among them."""
    code = (
        "import sys\n"
        "from pages.common import PREDICT_SCRIPT\n"
        "from pages.preload import STREAMLIT_ON_FIRST_USE, import_page_modules\n"
        "print(' '.join(import_page_modules(PREDICT_SCRIPT, STREAMLIT_ON_FIRST_USE)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    new = out.stdout.split()
    for page_module in (
        "pages.predict_controls",
        "pages.predict_result",
        "pages.predict_run",
        "pages.predict_temporal",
        "pages.predict_verdict",
        "pages.predict_viewer",
        "pages.reader_forms",
        "mcalc.explain.opening",
        "streamlit.emojis",  # the first alert's (Predict's first cold case draws one)
    ):
        assert page_module in new, (page_module, new)
