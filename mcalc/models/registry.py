"""The model registry: one folder per model, ``<models_dir>/<id>/``.

Each folder holds ``model.keras`` (Keras 3 format, loaded in safe mode), ``card.json`` (what
the model is, how it was trained, its test metrics: a :class:`~mcalc.models.card.ModelCard`)
and ``training_log.jsonl``. This module is the only one that knows this layout: others ask
it (:func:`model_file`, :func:`is_registered`, :func:`discard_partial`). Listing reads only
the cards and never imports TensorFlow, so light code paths (the app's home page) stay
fast. A corrupt or incompatible folder is reported and skipped, never fatal.

One model may be the registry's *default* (:func:`set_default_model`, kept in the hidden
``.default-model.json``): the one the model pages (Predict, Batch, Audit, Evaluate) and the
app's warm-up open on, chosen on purpose, so that a quick try or a cross-validation fold
(registered like any model, and the newest) never takes its place unasked. Without one they
open on the newest model (:func:`default_first` says which and why); the command line does
not guess and asks for one (:func:`require_default_model`). Deleting the default model
clears it (:func:`delete_model`).

Models are registered atomically: everything is written to a hidden temporary folder in the
registry, which is renamed into place only when complete. A crash, an interruption or a full
disk leaves at most a hidden ``.tmp-*`` folder that listings ignore.

Example:
    >>> import tempfile
    >>> listing = list_models(tempfile.mkdtemp())
    >>> listing.models, listing.problems
    ([], [])
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shlex
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mcalc.access.admin import check_allowed, record_action
from mcalc.errors import ModelError, WriteError
from mcalc.fileio import atomic_write_json, file_lock
from mcalc.models.card import CARD_VERSION, ModelCard
from mcalc.models.layout import (
    CARD_FILE,
    FAILED_FILE,
    LOG_FILE,
    MODEL_FILE,
    TENSORBOARD_DIR,
    model_file,
)

if TYPE_CHECKING:
    import keras

__all__ = [
    "CARD_FILE",
    "MODEL_FILE",
    "LOG_FILE",
    "TENSORBOARD_DIR",
    "CARD_VERSION",
    "REQUIRED_CARD_KEYS",
    "RegistryListing",
    "list_models",
    "load_card",
    "model_file",
    "resolve_model",
    "load_keras_model",
    "register_model",
    "new_model_id",
    "is_registered",
    "discard_partial",
    "delete_model",
    "DEFAULT_FILE",
    "SHIPPED_DEFAULT_FILE",
    "DefaultChoice",
    "default_model_id",
    "set_default_model",
    "clear_default_model",
    "default_first",
    "require_default_model",
]

log = logging.getLogger(__name__)

REQUIRED_CARD_KEYS = ("architecture", "task", "classes", "patch")
#: The registry's default model (``{"id", "by", "at"}``), a hidden file listings skip.
DEFAULT_FILE = ".default-model.json"
#: The default a registry comes with (``{"id", "by"}``; the clone's ``models/`` ships one
#: naming ``demo-custom``, tracked by git while :data:`DEFAULT_FILE` is local): in effect
#: until a default is set or cleared (then :data:`DEFAULT_FILE` says so), so that a model
#: trained on a fresh clone (a 2-epoch try) does not become the model the pages open on.
SHIPPED_DEFAULT_FILE = ".shipped-default-model.json"

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def is_model_id(text: str) -> bool:
    """Whether ``text`` has a registry id's form (registered or not): ``demo-custom``, not
    ``a/b`` or ``![x](h)``; letters, digits, ``.``, ``_``, ``-``, first a letter or digit."""
    return isinstance(text, str) and _ID_RE.fullmatch(text) is not None


@dataclass
class RegistryListing:
    """Cards of the usable models (each with ``id`` and ``path``) and the folders skipped."""

    models: list[ModelCard] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)


def load_card(folder: str | Path) -> ModelCard:
    """Read and check a model folder's card (with ``id`` and ``path`` set).

    Raises:
        ModelError: the folder has no model file, or the card is missing, not JSON,
            of a newer format, or lacks a required field.
    """
    folder = Path(folder)
    card_path = folder / CARD_FILE
    failed = folder / FAILED_FILE
    if failed.is_file():
        why = failed.read_text(encoding="utf-8", errors="replace").partition("\n")[0]
        raise ModelError(f"{folder}: a training run that registered nothing ({FAILED_FILE}: {why})")
    if not card_path.is_file():
        raise ModelError(f"{folder}: no {CARD_FILE}; not a model folder")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{card_path}: unreadable card ({exc})") from exc
    if not isinstance(card, dict):
        raise ModelError(f"{card_path}: expected a JSON object, got {type(card).__name__}")
    version = card.get("card_version", 1)
    if not isinstance(version, int) or version > CARD_VERSION:
        raise ModelError(
            f"{card_path}: card version {version!r} is newer than this mcalc reads "
            f"({CARD_VERSION}); update mcalc"
        )
    missing = [k for k in REQUIRED_CARD_KEYS if k not in card]
    if missing:
        raise ModelError(f"{card_path}: card lacks {', '.join(missing)}")
    path = model_file(folder)
    if not path.is_file():
        raise ModelError(f"{folder}: no {MODEL_FILE} beside the card")
    if path.stat().st_size == 0:
        raise ModelError(
            f"{path}: the model file is empty (0 bytes: a copy or save cut short); restore it "
            f"from a backup, or {_delete_hint(folder)}"
        )
    return ModelCard.from_json(card).located(folder.name, folder.resolve())


def list_models(models_dir: str | Path) -> RegistryListing:
    """Every usable model of the registry, newest first; bad folders go to ``problems``."""
    root = Path(models_dir)
    listing = RegistryListing()
    if not root.is_dir():
        return listing
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith((".", "_")):
            continue
        try:
            listing.models.append(load_card(folder))
        except ModelError as exc:
            # The caller shows ``problems`` (the CLI, the pages): debug only here, not a
            # second warning per listing (pages list the registry on every rerun).
            log.debug("skipping model folder %s: %s", folder, exc)
            listing.problems.append({"path": str(folder), "message": str(exc)})
    listing.models.sort(key=lambda c: c.created, reverse=True)
    return listing


def resolve_model(id_or_path: str | Path, models_dir: str | Path) -> Path:
    """The folder of a model given its registry id or a folder path.

    Raises:
        ModelError: neither a model folder nor a known id (the message lists known ids).
    """
    text = str(id_or_path).strip()
    if not text:
        raise ModelError("no model given: pass a registry id or a model folder")
    candidate = Path(text).expanduser()
    if candidate.is_dir() and (candidate / CARD_FILE).exists():
        return candidate
    in_registry = Path(models_dir) / text
    if _ID_RE.match(text) and in_registry.is_dir():
        return in_registry
    known = [c.id for c in list_models(models_dir).models]
    hint = (
        ", ".join(known[:8])
        + (f" and {len(known) - 8} more (`python -m mcalc models`)" if len(known) > 8 else "")
        if known
        else "none: train one with `python -m mcalc train`"
    )
    raise ModelError(f"no model {text!r} in {models_dir} or as a folder; known ids: {hint}")


def load_keras_model(folder: str | Path) -> keras.Model:
    """Load ``model.keras`` of a model folder in Keras safe mode (no arbitrary code).

    Raises:
        ModelError: the file is missing, corrupt or incompatible with this Keras.
    """
    import keras

    path = model_file(folder)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for corrupt archives
        if path.suffix == ".keras" and not zipfile.is_zipfile(path):
            # Keras says "File not found ... ensure the file is an accessible .keras zip
            # file" of a file that is there but cut short: say what it is, and what to do.
            raise ModelError(
                f"{path}: cannot load model: not a complete Keras archive "
                f"({path.stat().st_size:,} bytes: cut short or damaged); restore it from a "
                f"backup, or {_delete_hint(Path(folder))}"
            ) from exc
        raise ModelError(f"{path}: cannot load model ({type(exc).__name__}: {exc})") from exc


def _delete_hint(folder: Path) -> str:
    """How to remove a damaged model from the registry."""
    return f"delete the model: `python -m mcalc delete model {folder.name} --as NAME` (an admin)"


def new_model_id(arch: str, task: str, models_dir: str | Path) -> str:
    """A fresh id such as ``custom-calcification-20250101-120000``."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{arch}-{task}-{stamp}"
    model_id, n = base, 1
    while (Path(models_dir) / model_id).exists():
        n += 1
        model_id = f"{base}-{n}"
    return model_id


def register_model(models_dir: str | Path, model_id: str, write: Callable[[Path], None]) -> Path:
    """Write a model folder atomically: ``write(tmp)`` fills a hidden temporary folder,
    which is renamed to ``<models_dir>/<model_id>`` only if ``write`` succeeds and left
    both a model and a card.

    Raises:
        ModelError: bad or taken id, incomplete folder, or a full disk / write error. The
            temporary folder is removed on any failure, interruptions included.
    """
    if not _ID_RE.match(model_id):
        raise ModelError(f"bad model id {model_id!r}: use letters, digits, '.', '_' and '-' only")
    root = Path(models_dir)
    final = root / model_id
    if final.exists():
        raise ModelError(f"{final} already exists: choose another model id")
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".tmp-{model_id}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
    except OSError as exc:
        raise ModelError(f"cannot create a model folder in {root}: {exc}") from exc
    try:
        write(tmp)
        for name in (MODEL_FILE, CARD_FILE):
            if not (tmp / name).is_file():
                raise ModelError(f"registration of {model_id} wrote no {name}")
        os.rename(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ModelError(
                f"disk full while writing model {model_id} to {root}: free space and retry; "
                "nothing was registered"
            ) from exc
        raise ModelError(f"cannot write model {model_id} to {root}: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("registered model %s at %s", model_id, final)
    return final


def is_registered(models_dir: str | Path, model_id: str) -> bool:
    """Whether ``model_id`` is a complete model of the registry (registration is atomic, so
    a folder with both its model and its card is complete)."""
    folder = Path(models_dir) / model_id
    return (folder / CARD_FILE).is_file() and model_file(folder).is_file()


def check_new_id(models_dir: str | Path, model_id: str, *, named_dir: bool = False) -> None:
    """Refuse ``model_id`` when the registry holds it, saying what to do (another id, or
    the admin's delete; ``named_dir``: the command named the registry, which the delete
    must name too).

    Raises:
        ModelError: the id is taken.
    """
    if not is_registered(models_dir, model_id):
        return
    flag = f" --models {shlex.quote(str(models_dir))}" if named_dir else ""
    raise ModelError(
        f"model {model_id!r} already exists in {models_dir}: choose another --id, or "
        f"delete it with `python -m mcalc delete model {model_id}{flag} --as NAME` "
        "(an admin account)"
    )


def discard_partial(models_dir: str | Path, model_id: str) -> list[Path]:
    """Remove the hidden temporary folders an interrupted registration of ``model_id`` left
    (listings ignore them, but they hold disk space); returns the folders removed. Only
    this id's own folders are touched, never a registered model."""
    own = re.compile(rf"^\.tmp-{re.escape(model_id)}-[0-9a-f]{{8}}$")
    removed = []
    for tmp in Path(models_dir).glob(f".tmp-{model_id}-*"):
        if own.match(tmp.name) and tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def delete_model(
    models_dir: str | Path, model_id: str, *, role: str | None, user: str = ""
) -> bool:
    """Delete the registered model ``model_id`` (admins only) and record who did it.

    The folder is first renamed to a hidden one (listings drop it at once, a reader never
    sees half a model), then removed; the deletion is appended to the registry's admin log
    (:func:`mcalc.access.admin.record_action`). When the model was the registry's default,
    the default is cleared as well (recorded as a ``clear_default_model`` by the same
    account), so that nothing goes on asking for a model that is gone.

    Args:
        models_dir: the registry.
        model_id: the model's id (not a path).
        role, user: who asks (the signed-in account; ``role`` decides).

    Returns:
        Whether the model was the default (and the default is now cleared).

    Raises:
        NotAllowed: ``role`` may not delete models.
        ModelError: no such model in the registry, or it cannot be removed.
    """
    check_allowed(role, "delete_model", user)
    root = Path(models_dir)
    if not _ID_RE.match(str(model_id)) or not is_registered(root, model_id):
        known = ", ".join(c.id for c in list_models(root).models) or "none"
        raise ModelError(f"no model {model_id!r} in {root} (models: {known})")
    trash = root / f".deleted-{model_id}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(root / model_id, trash)
    except OSError as exc:
        raise ModelError(f"cannot delete model {model_id} from {root}: {exc}") from exc
    shutil.rmtree(trash, ignore_errors=True)
    record_action(root, "delete_model", model_id, user, str(role))
    log.info("model %s deleted by %s (%s)", model_id, user or "-", role)
    return _clear_default_if(root, model_id, role=role, user=user)


# -- the default model ---------------------------------------------------------------------


@dataclass(frozen=True)
class DefaultChoice:
    """The model the pages open on, and why.

    ``card`` is the default model's when one is set and registered, else the newest
    model's (``None``: no model at all); ``wanted`` the id set as default, if any (even a
    deleted one); ``by``/``at`` who set it and when.
    """

    card: ModelCard | None
    wanted: str | None = None
    by: str = ""
    at: str = ""
    unreadable: str = ""  # why the default's record cannot be read ("": it can)

    @property
    def is_default(self) -> bool:
        """Whether ``card`` is the default set on purpose (not the newest as a fallback)."""
        return self.card is not None and self.card.id == self.wanted

    @property
    def provenance(self) -> str:
        """Who set the default and when, as ``set by rob on 2026-12-04`` (what is known)."""
        who = f" by {self.by}" if self.by else ""
        when = f" on {self.at[:10]}" if self.at else ""
        return f"set{who}{when}"

    @property
    def note(self) -> str:
        """One sentence for a page: which model and why."""
        return self.note_for("")

    def note_for(self, user: str) -> str:
        """:attr:`note`, with who uses the newest model in the default's place named
        (``user``, e.g. "by the app's pages"): the command line's ``predict`` and
        ``evaluate`` use none, so a bare "is used" there read as if they did."""
        if self.card is None:
            return "no model in the registry"
        if self.is_default:
            return f"{self.card.id} is the default model ({self.provenance})"
        by = f" {user}" if user else ""
        if self.wanted:
            return (
                f"the default model {self.wanted} is no longer in the registry: the newest, "
                f"{self.card.id}, is used instead{by}; choose a default again"
            )
        if self.unreadable:
            return f"{self.unreadable}: the newest, {self.card.id}, is used{by}; choose a default again"
        return f"no default model set: the newest, {self.card.id}, is used{by}"

    def note_chosen(self, chosen: str) -> str:
        """:attr:`note` under a picker where ``chosen`` is chosen: when it is not the model
        the pages opened on, the note says so ("the newest, X, is used" under a picker
        showing Y read as if Y's results were X's).

        Example:
            >>> from mcalc.models.card import ModelCard
            >>> DefaultChoice(ModelCard(id="try-2")).note_chosen("demo")
            'no default model set: the pages open on the newest, try-2; demo is chosen here'
        """
        if self.card is None or self.is_default or chosen == self.card.id:
            return self.note
        here = f"the pages open on the newest, {self.card.id}; {chosen} is chosen here"
        if self.wanted:
            return (
                f"the default model {self.wanted} is no longer in the registry: {here}; "
                "choose a default again"
            )
        if self.unreadable:
            return f"{self.unreadable}: {here}; choose a default again"
        return f"no default model set: {here}"


def _read_default(models_dir: str | Path) -> dict[str, str]:
    """The registry's default entry: :data:`DEFAULT_FILE`'s, else (no such file: never set
    nor cleared here) :data:`SHIPPED_DEFAULT_FILE`'s; ``{}`` for none (an entry whose id is
    ``null`` is a default cleared on purpose)."""
    root = Path(models_dir)
    for name in (DEFAULT_FILE, SHIPPED_DEFAULT_FILE):
        path = root / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable %s: %s", path, exc)
            return {"unreadable": f"the default model's record {name} cannot be read ({exc})"}
        if isinstance(data, dict) and data.get("id", "") is None:
            return {}  # cleared: the shipped default is not in effect either
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            log.warning("ignoring %s: expected an object with an id", path)
            return {}
        return {k: str(v) for k, v in data.items() if isinstance(v, str)}
    return {}


def default_model_id(models_dir: str | Path) -> str | None:
    """The id set as the registry's default (registered or not any more); ``None``: none."""
    return _read_default(models_dir).get("id")


def set_default_model(
    models_dir: str | Path, model_id: str, *, role: str | None, user: str = ""
) -> None:
    """Make the registered ``model_id`` the registry's default (researchers and admins),
    recording who did it and when.

    Raises:
        NotAllowed: ``role`` may not choose the default model.
        ModelError: no such model in the registry, or the choice cannot be written.
    """
    check_allowed(role, "set_default_model", user)
    root = Path(models_dir)
    if not _ID_RE.match(str(model_id)) or not is_registered(root, model_id):
        known = ", ".join(c.id for c in list_models(root).models) or "none"
        raise ModelError(f"no model {model_id!r} in {root} (models: {known})")
    entry = {"id": model_id, "by": user, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    path = root / DEFAULT_FILE
    with file_lock(path):
        atomic_write_json(path, entry)
    record_action(root, "set_default_model", model_id, user, str(role))
    log.info("default model set to %s by %s", model_id, user or "-")


def clear_default_model(models_dir: str | Path, *, role: str | None, user: str = "") -> bool:
    """Set no default model (the pages then open on the newest); whether one was set."""
    check_allowed(role, "set_default_model", user)
    root = Path(models_dir)
    removed, was = _unlink_default(root)
    if removed:
        record_action(root, "clear_default_model", was or "", user, str(role))
    return removed


def _clear_default_if(root: Path, model_id: str, *, role: str | None, user: str) -> bool:
    """Clear the default when it is ``model_id`` (just deleted); whether it was."""
    try:
        removed, _ = _unlink_default(root, only=model_id)
    except ModelError as exc:
        raise ModelError(f"model {model_id} was deleted, but {exc}") from exc
    if removed:
        record_action(root, "clear_default_model", model_id, user, str(role))
        log.info("default model %s cleared: deleted by %s", model_id, user or "-")
    return removed


def _unlink_default(root: Path, only: str | None = None) -> tuple[bool, str | None]:
    """Clear the registry's default under its lock (only when it names ``only``, if given):
    ``(cleared, the id it named)``. :data:`DEFAULT_FILE` is removed, or, where the registry
    ships a default (:data:`SHIPPED_DEFAULT_FILE`), written with ``"id": null`` so that the
    shipped one does not come back."""
    path = root / DEFAULT_FILE
    with file_lock(path):
        was = default_model_id(root)
        if was is None or (only is not None and was != only):
            return False, was
        try:
            if (root / SHIPPED_DEFAULT_FILE).is_file():
                atomic_write_json(
                    path, {"id": None, "at": datetime.now(UTC).isoformat(timespec="seconds")}
                )
            else:
                path.unlink()
        except FileNotFoundError:
            return False, was
        except (OSError, WriteError) as exc:
            raise ModelError(
                f"the default model of {root} cannot be cleared ({exc}): remove {path}"
            ) from exc
    return True, was


def default_first(
    cards: list[ModelCard], models_dir: str | Path
) -> tuple[list[ModelCard], DefaultChoice]:
    """``cards`` (a listing, newest first) with the default model moved first, and the
    :class:`DefaultChoice` (the first card, and why it is first). A page's picker lists
    them in this order and opens on the first."""
    entry = _read_default(models_dir)
    wanted = entry.get("id")
    chosen = next((c for c in cards if c.id == wanted), None)
    ordered = [chosen, *(c for c in cards if c is not chosen)] if chosen else list(cards)
    first = ordered[0] if ordered else None
    return ordered, DefaultChoice(
        first, wanted, entry.get("by", ""), entry.get("at", ""), entry.get("unreadable", "")
    )


def require_default_model(
    models_dir: str | Path, *, command: str = "python -m mcalc models default ID"
) -> DefaultChoice:
    """The default model set on purpose, for a caller given no model that must not guess
    (the command line): never the newest as a fallback. ``command`` is how the caller's
    user sets a default, named in the error.

    Returns:
        The :class:`DefaultChoice` of the default (``is_default`` true, ``card`` its card).

    Raises:
        ModelError: no model in the registry, no default set, or the default is no longer
            registered; the message names the registered models and the command that sets
            a default.

    Example:
        >>> import tempfile
        >>> require_default_model(tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        mcalc.errors.ModelError: no model in ...: pass --model FOLDER, or train one with ...
    """
    root = Path(models_dir)
    cards = list_models(root).models
    choice = default_first(cards, root)[1]
    if choice.is_default:
        return choice
    if not cards:
        raise ModelError(
            f"no model in {root}: pass --model FOLDER, or train one with `python -m mcalc train`"
        )
    known = ", ".join(c.id for c in cards[:8]) + (
        f" and {len(cards) - 8} more" if len(cards) > 8 else ""
    )
    why = (
        f"the default model {choice.wanted} is no longer in {root}"
        if choice.wanted
        else f"no default model is set in {root}"
    )
    raise ModelError(
        f"{why}: pass --model ID, or set a default with `{command}` (registered: {known})"
    )
