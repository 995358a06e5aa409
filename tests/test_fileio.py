"""mcalc.fileio: what atomic writes leave behind, file modes included."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mcalc.fileio import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    atomic_write_with,
    current_umask,
)


@pytest.fixture
def umask() -> Iterator[None]:
    """Put the process's umask back after a test sets its own."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


WRITERS = {
    "bytes": lambda p: atomic_write_bytes(p, b"x"),
    "text": lambda p: atomic_write_text(p, "x"),
    "json": lambda p: atomic_write_json(p, {"x": 1}),
    "with": lambda p: atomic_write_with(p, lambda fh: np.save(fh, np.zeros(2))),
}


@pytest.mark.parametrize("name", list(WRITERS))
@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_a_new_file_gets_the_mode_open_would_give(tmp_path, umask, name, mask) -> None:
    os.umask(mask)
    assert current_umask() == mask
    target = tmp_path / f"{name}.out"
    WRITERS[name](target)
    with open(tmp_path / "by-open", "w") as fh:  # what a plain open() makes, same umask
        fh.write("x")
    assert _mode(target) == 0o666 & ~mask == _mode(tmp_path / "by-open")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_replaced_file_keeps_its_mode_and_a_secret_stays_private(tmp_path, umask) -> None:
    target = tmp_path / "kept.json"
    atomic_write_json(target, {"v": 1})
    target.chmod(0o640)
    atomic_write_json(target, {"v": 2})
    assert _mode(target) == 0o640 and '"v": 2' in target.read_text()
    secret = tmp_path / "secret.yaml"
    os.umask(0o000)
    atomic_write_text(secret, "key: 1\n", mode=0o600)
    assert _mode(secret) == 0o600
    secret.chmod(0o644)  # an explicit mode wins over the replaced file's
    atomic_write_text(secret, "key: 2\n", mode=0o600)
    assert _mode(secret) == 0o600


def test_the_accounts_file_is_private_whatever_the_umask(tmp_path, umask) -> None:
    from mcalc.access.users import UsersFile

    os.umask(0o000)
    users = UsersFile(tmp_path / "users.yaml", bcrypt_rounds=4)
    users.add("ana", "admin", password="a-long-enough-password")
    assert _mode(tmp_path / "users.yaml") == 0o600


def test_a_manifest_and_its_masks_are_readable_like_any_file(tmp_path, umask) -> None:
    from mcalc.dataset.convert.common import Conversion, ManifestRow, write_manifest, write_mask

    os.umask(0o022)
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    conversion = Conversion("test")
    conversion.add(ManifestRow("c1", "p1", "L", "CC", image), image, None)
    manifest = write_manifest(conversion, tmp_path / "manifest.csv")
    mask = write_mask(tmp_path / "masks" / "m.png", np.zeros((4, 4), bool))
    assert _mode(manifest) == _mode(mask) == 0o644
