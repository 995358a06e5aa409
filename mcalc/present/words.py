r"""Text someone typed, shown as it was typed in Streamlit's Markdown.

``st.markdown``, ``st.caption``, ``st.error`` and widget labels render Markdown: a verdict's
comment ``![x](http://host/t.png)`` made the browser of every reader who opened it on the
Audit page fetch that address (telling that host who read when, on a network meant to ask
no host but the app's server), and ``[text](address)`` drew a link the reader had not
written. :func:`plain` escapes every Markdown character (CommonMark's backslash escapes)
and Streamlit's own ``:color[...]``/``:material/...:`` directives and ``$`` maths, so the
text shows literally.

Example:
    >>> print(plain("![x](http://h/t.png) *a* :red[b]"))
    \!\[x\]\(http\://h/t\.png\) \*a\* \:red\[b\]
"""

from __future__ import annotations

import re

__all__ = ["plain", "plain_lines"]

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")


def plain(text: str) -> str:
    """``text`` with every character Markdown (or Streamlit) would interpret escaped; line
    breaks become spaces (a line starting with ``>`` or ``-`` is a quote or a list).

    A bare address (``https://...``, ``www....``, ``name@host.org``) stays a link: Streamlit
    links such text after parsing, escaped or not. It shows the address itself and opens it
    only on a click, in a new tab with ``rel="noopener noreferrer"`` (docs/guide/accounts.md, *Readers'
    text*)."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def plain_lines(text: str) -> str:
    r"""``text`` of several lines (a head, then ``- item`` lines: an import's report), each
    line escaped by :func:`plain`; a line's leading ``- `` stays a list item.

    An import file's report quotes what the file holds (an image key, a reader's name): a
    key ``![x](http://host/t.png)`` drew that image in the page's error box, and the
    browser of the reader who uploaded the file fetched it.

    Example:
        >>> print(plain_lines("a.csv: 1 problem(s):\n- line 2: unknown image '![x](h)'"))
        a\.csv\: 1 problem\(s\)\:
        - line 2\: unknown image '\!\[x\]\(h\)'
    """
    lines = []
    for line in str(text).splitlines():
        bullet = line.startswith("- ")
        lines.append(("- " if bullet else "") + plain(line[2:] if bullet else line))
    return "\n".join(lines)
