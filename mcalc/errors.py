"""Exceptions raised by mcalc.

Every error names what was expected and what was found, and where possible what the user
should do next. Pages and the CLI catch :class:`McalcError` and show its message; anything
else is a bug.
"""

from __future__ import annotations

import shlex
from pathlib import Path

__all__ = [
    "suggested_command",
    "McalcError",
    "DatasetError",
    "ManifestError",
    "ImageReadError",
    "DecoderMissingError",
    "AnnotationError",
    "ModelError",
    "FieldError",
    "JobError",
    "WriteError",
    "FolderMissing",
    "os_error_text",
]


class McalcError(Exception):
    """Base class of every error mcalc raises on purpose."""


class DatasetError(McalcError):
    """A dataset folder or manifest cannot be used (missing, empty, wrong layout)."""


class ManifestError(DatasetError):
    """A manifest CSV is malformed (missing columns, bad values, missing files)."""


class ImageReadError(McalcError):
    """An image file cannot be read or decoded."""


class DecoderMissingError(ImageReadError):
    """A compressed DICOM needs a decoder package that is not installed."""


class AnnotationError(McalcError):
    """An annotation file cannot be turned into a mask aligned to its image."""


class ModelError(McalcError):
    """A model cannot be built, loaded, trained or applied as asked."""


class FieldError(ModelError, ValueError):
    """One field of a configuration (:class:`~mcalc.models.train_config.TrainConfig`) has a
    value it cannot take (a :class:`ValueError` too, for callers of the checks that raised
    one before). The message names the field as the library takes it
    (``batch must be a whole number from 1 to 1024, got 0``); the command line names its
    flag instead (``--batch``) and a page its label, with :meth:`named`.

    Example:
        >>> FieldError("epochs", "must be a whole number from 1 to 1000, got 0").named("--epochs")
        '--epochs must be a whole number from 1 to 1000, got 0'
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(self.named(field))

    def named(self, name: str) -> str:
        """The message with the field called ``name``."""
        sep = "" if self.problem.startswith(":") else " "
        return f"{name}{sep}{self.problem}"


class JobError(McalcError):
    """A background training job cannot be submitted, started, found or cancelled."""


class FolderMissing(McalcError):
    """A folder the user named (``MCALC_MODELS``, ``--models``, ...) is not a folder."""


class WriteError(McalcError):
    """A file cannot be written (read-only folder, full disk, no permission); nothing changed."""


def suggested_command(*words: str | Path) -> str:
    """``python -m mcalc`` and ``words``, each quoted for a POSIX shell where it needs it
    (a path with a space, as in "INbreast Release 1.0", split into two arguments).

    Example:
        >>> suggested_command("manifest", "inbreast", Path("/d/INbreast Release 1.0"))
        "python -m mcalc manifest inbreast '/d/INbreast Release 1.0'"
    """
    return " ".join(["python -m mcalc", *(shlex.quote(str(w)) for w in words)])


def os_error_text(exc: OSError) -> str:
    """One line for an error of the system (a path that is a file where a folder is
    expected, no permission, a missing folder) that says which path and what to do,
    rather than ``[Errno 17] File exists: 'out'`` (which read as "it already exists" where
    a *file* stood in the way of a folder).

    Example:
        >>> os_error_text(PermissionError(13, "Permission denied", "/srv/out"))
        '/srv/out: permission denied; choose a path you may write to, or change its permissions'
    """
    path = exc.filename
    if path is None:
        return str(exc)
    if isinstance(exc, FileExistsError) and not Path(str(path)).is_dir():
        return f"{path} is a file where a folder is expected; move it or choose another path"
    if isinstance(exc, NotADirectoryError):
        return f"{path}: part of this path is a file, not a folder; choose another path"
    if isinstance(exc, PermissionError):
        return (
            f"{path}: permission denied; choose a path you may write to, or change its permissions"
        )
    if isinstance(exc, FileNotFoundError):
        return f"{path} does not exist, or its folder cannot be made there; check the path"
    return f"{path}: {exc.strerror or exc}"
