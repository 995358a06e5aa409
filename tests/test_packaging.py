"""The package builds from pyproject.toml: every library package, and nothing else."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO

# No build isolation: builds offline with the setuptools of requirements-dev.txt.
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]


@pytest.mark.slow
def test_wheel_holds_the_library_only(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "requirements.txt", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "mcalc", src / "mcalc", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "pages", src / "pages", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [*PIP_WHEEL, str(src), "-w", str(tmp_path / "wheel")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = (tmp_path / "wheel").glob("mcalc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"mcalc", f"{wheel.name.split('-py3')[0]}.dist-info"}
    on_disk = {str(p.relative_to(REPO).with_suffix("")) for p in (REPO / "mcalc").rglob("*.py")}
    assert {n.removesuffix(".py") for n in names if n.endswith(".py")} == on_disk
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA")))
    assert b"Requires-Dist: tensorflow==" in meta  # pins come from requirements.txt
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt")))
    assert b"mcalc = mcalc.cli:main" in entry
