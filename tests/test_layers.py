"""The architecture holds: imports only point down the layers of docs/architecture.md.

Every ``import`` in the library (at module top or inside a function) is read with ``ast``;
a module may import its own layer or a lower one, never a higher one, and the library never
imports streamlit. Cycles between modules of the library fail too, lazy (inside a function)
and ``TYPE_CHECKING`` imports included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Lowest first. A module belongs to the first prefix that matches its dotted name.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundation",
        (
            "mcalc.config",
            "mcalc.errors",
            "mcalc.fileio",
            "mcalc.paths",
            "mcalc.filenames",
            "mcalc.plural",
            "mcalc.spreadsheet",
            "mcalc.pdftext",
            "mcalc.lru",
            "mcalc.progress",
            "mcalc.cluster",
            "mcalc.__init__",
        ),
    ),
    (
        "pixels and data",
        (
            "mcalc.imaging",
            "mcalc.dicom_decode",
            "mcalc.imageio",
            "mcalc.cache",
            "mcalc.breast",
            "mcalc.annotations",
            "mcalc.dataset",
            "mcalc.synthetic",
            "mcalc.dicomwrite",
            "mcalc.scan",
            "mcalc.viewer",
        ),
    ),
    (
        "domain",
        (
            "mcalc.models",
            "mcalc.explain",
            "mcalc.store",
            "mcalc.jobs",
            "mcalc.access",
            "mcalc.temporal",
            "mcalc.batch",
        ),
    ),
    # The case report is a PDF made of the presentation's pictures, as report_pdf is.
    ("presentation", ("mcalc.present", "mcalc.report")),
    ("entry points", ("mcalc.cli", "mcalc.__main__", "pages", "app")),
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _layer(name: str) -> int | None:
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                return rank
    if name == "mcalc":
        return 0
    return None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            # "from mcalc import jobs" imports the sub-package mcalc.jobs
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def _sources() -> list[Path]:
    files = sorted((ROOT / "mcalc").rglob("*.py")) + sorted((ROOT / "pages").rglob("*.py"))
    return [*files, ROOT / "app.py"]


def _known(name: str) -> bool:
    mod = ROOT.joinpath(*name.split("."))
    return mod.with_suffix(".py").is_file() or (mod / "__init__.py").is_file()


def test_every_library_module_has_a_layer() -> None:
    missing = [_module_name(p) for p in _sources() if _layer(_module_name(p)) is None]
    assert not missing, f"modules in no layer of tests/test_layers.py: {missing}"


def test_imports_point_down_only() -> None:
    wrong = []
    for path in _sources():
        me = _module_name(path)
        mine = _layer(me)
        assert mine is not None
        for line, name in _imports(path):
            if not (name.startswith("mcalc") or name.startswith("pages")) or not _known(name):
                continue
            theirs = _layer(name)
            if theirs is not None and theirs > mine:
                wrong.append(
                    f"{path.relative_to(ROOT)}:{line} ({LAYERS[mine][0]}) imports {name} "
                    f"({LAYERS[theirs][0]})"
                )
    assert not wrong, "imports that point up a layer:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    "path",
    [p for p in _sources() if "pages" not in p.relative_to(ROOT).parts and p.name != "app.py"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_library_never_imports_streamlit(path: Path) -> None:
    names = [n for _, n in _imports(path)]
    assert not any(n == "streamlit" or n.startswith("streamlit.") for n in names)


#: Import cycles allowed, each with why it cannot be broken (none today).
ALLOWED_CYCLES: dict[str, str] = {}


def _library_imports(path: Path) -> set[str]:
    """The library modules ``path`` imports anywhere: at module level, inside a function
    (a lazy import) or under ``if TYPE_CHECKING:``. A lazy import only hides a cycle."""
    deps: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mcalc"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                deps.add(full if _known(full) else node.module)
        elif isinstance(node, ast.Import):
            deps |= {a.name for a in node.names if a.name.startswith("mcalc")}
    return deps


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every cycle a depth-first walk of ``graph`` meets, as ``a -> b -> a``."""

    def parent_packages(name: str) -> set[str]:
        parts = name.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts))}

    cycles: list[str] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep in parent_packages(node):
                continue  # a package's __init__ re-exporting its own modules is fine
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif state.get(dep) is None:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node)
    return cycles


def test_no_import_cycles() -> None:
    """No cycle between library modules, counting lazy and TYPE_CHECKING imports: a cycle
    a lazy import hides still ties the two modules together (neither can be understood,
    tested or moved without the other)."""
    graph: dict[str, set[str]] = {}
    for path in _sources():
        me = _module_name(path)
        graph[me] = {d for d in _library_imports(path) if _known(d) and d != me}
    cycles = [c for c in _cycles(graph) if c not in ALLOWED_CYCLES]
    assert not cycles, "import cycles (an allowed one goes in ALLOWED_CYCLES with why):\n" + (
        "\n".join(cycles)
    )


def test_the_cycle_check_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """The check's own check: function-level and TYPE_CHECKING imports count."""
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from mcalc.errors import McalcError\n")
    typed = tmp_path / "typed.py"
    typed.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mcalc.config\n"
    )
    assert _library_imports(lazy) == {"mcalc.errors"}
    assert _library_imports(typed) == {"mcalc.config"}
    assert _cycles({"a": {"b"}, "b": {"a"}}) == ["a -> b -> a"]


def test_the_pages_draw_their_tables_through_common_dataframe() -> None:
    """A table drawn with ``st.dataframe`` itself shows a missing value as a grey "None",
    which reads as a value; ``pages.common.dataframe`` sets the placeholder "n/a"."""
    pages = Path(__file__).resolve().parent.parent / "pages"
    direct = sorted(
        f"{path.relative_to(pages)}:{n}"
        for path in pages.rglob("*.py")
        if path.name != "common.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "st.dataframe(" in line
    )
    assert not direct, f"draw these with pages.common.dataframe: {direct}"


#: Longest module of the app (library, pages, frame), in lines: one read in one sitting.
MAX_MODULE_LINES = 600


def test_every_module_of_the_app_is_under_the_size_limit() -> None:
    """A module past the limit is split by responsibility (pages/common.py reached 600
    lines and pages/browse.py 597 before their reader forms and temporal views moved out);
    tests and benches are not counted."""
    paths = [ROOT / "app.py", *(ROOT / "mcalc").rglob("*.py"), *(ROOT / "pages").rglob("*.py")]
    long = {
        str(p.relative_to(ROOT)): n
        for p in paths
        if (n := len(p.read_text(encoding="utf-8").splitlines())) >= MAX_MODULE_LINES
    }
    assert not long, f"split these by responsibility (at most {MAX_MODULE_LINES - 1} lines): {long}"
