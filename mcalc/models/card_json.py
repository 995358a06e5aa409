"""Typed JSON objects that lose nothing: the machinery under :mod:`mcalc.models.card`.

A :class:`JsonSection` subclass is a frozen dataclass whose typed fields are read from a
JSON object by per-key readers; keys it does not type, and values of an unexpected type,
are kept as they were in ``extra``, and the object's key order is remembered, so
``Cls.from_json(d).to_json() == d`` for any JSON object ``d``. Readers return the typed
value or raise ``TypeError``.

Example:
    >>> from dataclasses import dataclass
    >>> from typing import ClassVar
    >>> @dataclass(frozen=True)
    ... class Point(JsonSection):
    ...     x: int = 0
    ...     READERS: ClassVar[dict[str, Reader]] = {"x": read_int}
    >>> p = Point.from_json({"note": "kept", "x": 3})
    >>> p.x, p.extra, p.to_json()
    (3, {'note': 'kept'}, {'note': 'kept', 'x': 3})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

__all__ = [
    "Json",
    "Reader",
    "JsonSection",
    "section",
    "read_str",
    "read_bool",
    "read_int",
    "read_opt_int",
    "read_opt_float",
    "read_strs",
    "read_mapping",
    "read_views",
    "read_records",
]

Reader = Callable[[Any], Any]
Json = dict[str, Any]
S = TypeVar("S", bound="JsonSection")


# ------------------------------------------------------------------ value readers
# Each returns the typed value or raises TypeError; a value of another type is kept, as
# it was, in ``extra`` (so a round trip never changes it).


def read_str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError
    return v


def read_bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError
    return v


def read_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError
    return v


def read_opt_int(v: Any) -> int | None:
    return None if v is None else read_int(v)


def read_opt_float(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError
    return v  # an int stays an int, so the JSON is written back unchanged


def read_strs(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
        raise TypeError
    return tuple(v)


def read_mapping(v: Any) -> dict[str, Any]:
    if not isinstance(v, Mapping):
        raise TypeError
    return dict(v)


def read_views(v: Any) -> dict[str, tuple[str, ...]]:
    return {str(k): read_strs(x) for k, x in read_mapping(v).items()}


def read_records(v: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(v, list | tuple) or not all(isinstance(x, Mapping) for x in v):
        raise TypeError
    return tuple(dict(x) for x in v)


def _plain(value: Any) -> Any:
    """A field's JSON value: sections by their ``to_json``, tuples as lists."""
    if isinstance(value, JsonSection):
        return value.to_json()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class JsonSection:
    """A JSON object with typed fields; ``extra`` keeps the keys it does not type, and
    ``keys`` the order of the object it was read from (``None``: built in code)."""

    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    keys: tuple[str, ...] | None = field(default=None, repr=False, compare=False)

    #: JSON key -> reader, for each typed field (attribute name = JSON key).
    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    @classmethod
    def from_json(cls: type[S], data: Mapping[str, Any]) -> S:
        typed: Json = {}
        extra: Json = {}
        for key, value in data.items():
            reader = cls.READERS.get(key)
            if reader is None:
                extra[key] = value
                continue
            try:
                typed[key] = reader(value)
            except (TypeError, ValueError):
                extra[key] = value
        return cls(**typed, extra=extra, keys=tuple(data))

    def to_json(self) -> Json:
        """The JSON object: the keys read, in their order, then the ones set in code."""
        typed = {f.name: getattr(self, f.name) for f in fields(self) if f.name in self.READERS}
        out: Json = {}
        order = self.keys if self.keys is not None else tuple(typed)
        for key in order:
            if key in self.extra:
                out[key] = self.extra[key]
            elif key in typed:
                out[key] = _plain(typed[key])
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out


def section(cls: type[S]) -> Callable[[Any], S]:
    return lambda v: cls.from_json(read_mapping(v))
