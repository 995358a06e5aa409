"""Text for the PDF core fonts (Latin-1), the one rendering every report of mcalc uses.

fpdf2's core fonts (Helvetica) draw Latin-1 only; mcalc keeps them so that a report needs no
font file. What readers type often holds more: curly quotes, dashes and ellipses (a Mac or
Word types them), letters of other Latin alphabets (``Ł``, ``ő``, ``ễ``). Encoding those with
``replace`` wrote ``?`` for each, so a comment or a name on a case report lost its quotes or
letters. Here punctuation gets its plain-text form and a letter its base letter; only what has
neither (another script, a symbol) is still ``?``.
"""

from __future__ import annotations

import unicodedata

__all__ = ["latin1"]

_REPLACE = {
    "·": "-",
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
    "•": "-",
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "‟": '"',
    "″": '"',
    "‹": "<",
    "›": ">",
    "…": "...",
    "≥": ">=",
    "≤": "<=",
    "±": "+/-",
    "€": "EUR",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ħ": "H",
    "ħ": "h",
    "ı": "i",
    "Œ": "OE",
    "œ": "oe",
}


def _drawable(char: str) -> str:
    """``char`` as the core fonts can draw it: itself, its plain form, its base letter, or ``?``."""
    if char in _REPLACE:  # first: "·" and "±" are Latin-1, but read better so
        return _REPLACE[char]
    if ord(char) < 256:
        return char
    if unicodedata.category(char) == "Zs":  # thin, narrow no-break and other spaces
        return " "
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and all(ord(c) < 256 for c in base):
        return base
    return "?"


def latin1(text: str) -> str:
    """``text`` drawable by the PDF core fonts (Latin-1), losing as little as it can.

    Example:
        >>> latin1("“left” – Łódź’s protocol… ≥ 2 · Nguyễn")
        '"left" - Lódz\\'s protocol... >= 2 - Nguyen'
        >>> latin1("José, 1 cm², ± 王")
        'José, 1 cm², +/- ?'
    """
    return "".join(_drawable(c) for c in text)
