"""mcalc.fileio: the permissions of what the atomic writer leaves."""

from __future__ import annotations

import os
import stat

import pytest

from mcalc.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    """The usual umask for the test, the caller's put back after it."""
    from mcalc import fileio

    def forget() -> None:  # the umask read once per process
        if hasattr(fileio, "_umask"):
            fileio._umask.cache_clear()

    old = os.umask(0o022)
    forget()
    yield
    os.umask(old)
    forget()


@pytest.mark.parametrize(
    "write",
    [
        lambda p: atomic_write_bytes(p, b"x"),
        lambda p: atomic_write_text(p, "case_id,image\n"),
        lambda p: atomic_write_json(p, {"n": 1}),
    ],
)
def test_written_files_get_the_permissions_open_gives(tmp_path, umask_022, write):
    """A manifest, mask or report is read by other accounts (the app's service user): it
    was left 0o600, the temporary file's mode (`mcalc manifest` wrote an unreadable CSV)."""
    path = tmp_path / "out" / "manifest.csv"
    write(path)
    with open(tmp_path / "plain", "w") as fh:  # what open() gives under this umask
        fh.write("x")
    assert _mode(path) == _mode(tmp_path / "plain") == 0o644


def test_a_replaced_file_takes_the_new_mode(tmp_path, umask_022):
    path = tmp_path / "report.pdf"
    atomic_write_bytes(path, b"old", mode=0o600)
    assert _mode(path) == 0o600
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o644


def test_a_private_file_is_private_from_its_first_byte(tmp_path, umask_022, monkeypatch):
    """``mode=0o600`` is set on the temporary file before any content is written."""
    from mcalc import fileio

    seen: list[int] = []
    real = os.fdopen

    def spy(fd, *args, **kwargs):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real(fd, *args, **kwargs)

    monkeypatch.setattr(fileio.os, "fdopen", spy)
    atomic_write_text(tmp_path / "users.yaml", "secret", mode=0o600)
    assert seen == [0o600] and _mode(tmp_path / "users.yaml") == 0o600


def test_the_umask_is_read_without_changing_it(umask_022):
    from mcalc import fileio

    os.umask(0o027)
    fileio._umask.cache_clear()
    assert fileio._umask() == 0o027 and os.umask(0o027) == 0o027
