"""Independent reads: what of other readers' verdicts and marks a signed-in reader may see.

A reader study that measures agreement between readers, or how far a model sways them
(automation bias), needs each read made without knowing the others. With
``MCALC_INDEPENDENT_READS`` (:attr:`mcalc.config.Settings.independent_reads`) an admin
chooses:

- ``off`` (default): every reader sees every reader's verdicts and marks.
- ``on``: another reader's verdict on an image (for one model) is hidden from a reader until
  that reader has recorded their own verdict on that image for that model; another reader's
  marks on an image until that reader has saved marks on it. Shown after: the first read is
  kept, with its time, in the record's history (every version is), so a read revised after
  seeing the others is told from the first one.
- ``strict``: hidden from readers throughout, only admins see them.

Admins always see everything (the agreement analysis is theirs). Every other role is
blinded, a researcher too (they record verdicts as well). Without accounts (demo mode,
``MCALC_AUTH=off``) nobody is signed in: a typed name proves nothing, every visitor has every
role, and nothing is hidden (:attr:`ReadPolicy.blinded`).

The rule is the pure functions below, over the records and the viewer; pages, the case
report and the exports only call them.

Example:
    >>> from types import SimpleNamespace as V
    >>> rita = ReadPolicy("on", viewer="rita", role="reader")
    >>> bob_on_a = V(model_id="m", image_key="a", reader="bob")
    >>> [v.reader for v in visible_verdicts([bob_on_a], rita)]
    []
    >>> rita_on_a = V(model_id="m", image_key="a", reader="rita")
    >>> [v.reader for v in visible_verdicts([bob_on_a, rita_on_a], rita)]
    ['bob', 'rita']
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from mcalc.config import READS_CHOICES

__all__ = [
    "READ_MODES",
    "ReadPolicy",
    "visible_reads",
    "visible_verdicts",
    "visible_readers",
    "read_note",
    "independence_note",
]

#: Values of ``MCALC_INDEPENDENT_READS``.
READ_MODES: tuple[str, ...] = READS_CHOICES

T = TypeVar("T")


@dataclass(frozen=True)
class ReadPolicy:
    """Who looks, and the installation's independent-reads setting.

    Attributes:
        mode: one of :data:`READ_MODES`.
        viewer: the signed-in account's name (``None``: nobody signed in).
        role: that account's role (``None``: nobody signed in).
    """

    mode: str = "off"
    viewer: str | None = None
    role: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in READ_MODES:
            raise ValueError(
                f"independent reads must be one of {', '.join(READ_MODES)}, got {self.mode!r}"
            )

    @property
    def blinded(self) -> bool:
        """Whether anything of other readers' is hidden from this viewer: the setting is on,
        someone is signed in, and not as an admin."""
        return self.mode != "off" and self.viewer is not None and self.role != "admin"


def _model_image(record: Any) -> Hashable:
    return (getattr(record, "model_id", None), record.image_key)


def visible_reads(
    records: Iterable[T],
    policy: ReadPolicy,
    *,
    item: Callable[[T], Hashable] = _model_image,
    reader: Callable[[T], str] = lambda r: r.reader,  # type: ignore[attr-defined]
) -> list[T]:
    """The records ``policy``'s viewer may see, in their order.

    Args:
        records: reads of any readers; for ``on``, the viewer's own reads must be among
            them (they are what unlocks the others').
        policy: the setting and the viewer.
        item: what one read is about (default: its ``model_id`` and ``image_key``); a
            viewer's read of an item unlocks the others' reads of the same item.
        reader: who made a read (default: its ``reader``).
    """
    records = list(records)
    if not policy.blinded:
        return records
    own = [r for r in records if reader(r) == policy.viewer]
    if policy.mode == "strict":
        return own
    done = {item(r) for r in own}
    return [r for r in records if reader(r) == policy.viewer or item(r) in done]


def visible_verdicts(verdicts: Iterable[T], policy: ReadPolicy) -> list[T]:
    """Audit verdicts (anything with ``model_id``, ``image_key`` and ``reader``) the viewer
    may see: their own, and others' on a model and image they have judged (``on``)."""
    return visible_reads(verdicts, policy)


def visible_readers(readers: Iterable[str], policy: ReadPolicy) -> list[str]:
    """Of the readers with saved marks on one image, those whose marks the viewer may see:
    themselves, and the others once they have saved marks on it too (``on``)."""
    return visible_reads(readers, policy, item=lambda _: "image", reader=lambda r: r)


#: What unlocks others' reads of each kind under ``on`` (:func:`read_note`).
_UNLOCKED_BY = {
    "verdicts": "recorded your own verdict on it with that model",
    "marks": "saved your own marks on it",
}


def read_note(policy: ReadPolicy, what: str) -> str | None:
    """One sentence for a page saying that reads are independent and what is hidden
    (``what``: ``"verdicts"`` or ``"marks"``); ``None`` when nothing is hidden.

    >>> read_note(ReadPolicy("on", "rita", "reader"), "marks")
    "Independent reads: other readers' marks on an image are hidden until you have saved your own marks on it; the figures here count only what you may see."
    """
    if what not in _UNLOCKED_BY:
        raise ValueError(f"what must be one of {', '.join(_UNLOCKED_BY)}, got {what!r}")
    if not policy.blinded:
        return None
    if policy.mode == "strict":
        return (
            f"Independent reads: other readers' {what} are hidden from you (only an admin "
            "sees them); the figures here count yours alone."
        )
    return (
        f"Independent reads: other readers' {what} on an image are hidden until you have "
        f"{_UNLOCKED_BY[what]}; the figures here count only what you may see."
    )


#: Where an operator reads about the setting.
READS_DOC = "docs/guide/accounts.md, *Independent reads*"


def independence_note(mode: str, *, where: str = "on this server", page: str = "this page") -> str:
    """Whether readers' verdicts were read independently under ``mode``, said beside an
    agreement between readers (a kappa reads as agreement between independent reads), and
    how a reader study turns independent reads on.

    Args:
        mode: one of :data:`READ_MODES`.
        where: where the setting was read (``"on this server"`` for a page).
        page: where readers saw each other's verdicts under ``off``.

    >>> independence_note("strict", where="here")
    "Reads independent: MCALC_INDEPENDENT_READS is strict here, so no signed-in reader saw another's verdicts."
    """
    if mode not in READ_MODES:
        raise ValueError(f"independent reads must be one of {', '.join(READ_MODES)}, got {mode!r}")
    if mode == "off":
        return (
            f"Reads not independent: independent reads are off {where}, so each reader could "
            f"see the others' verdicts on {page} before recording theirs (first reads "
            "included), which can raise agreement. For a reader study the server's operator "
            f"sets `MCALC_INDEPENDENT_READS=on` ({READS_DOC})."
        )
    if mode == "strict":
        return (
            f"Reads independent: MCALC_INDEPENDENT_READS is strict {where}, so no signed-in "
            "reader saw another's verdicts."
        )
    return (
        f"Reads independent: MCALC_INDEPENDENT_READS is on {where}, so a signed-in reader saw "
        "another's verdict on an image only once they had recorded their own; a verdict "
        "revised after that is not an independent read (first reads are)."
    )
