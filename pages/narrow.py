"""Style rules for a presenter's screen: a narrow page (a projector's 1280 px at 125 %,
1024 px of page, or a 1024 px screen, beside the open sidebar) and what covered text at
any width (docs/measurements.md, "A presenter's demo")."""

from __future__ import annotations

__all__ = ["NARROW_CSS"]

#: The rules, for the frame to add once per run (``pages.common``).
NARROW_CSS = (
    "<style>"
    # Streamlit's 5rem either side of the main area on a page of 1100 px or less, 1rem as on
    # a phone: 128 px more for tables and charts (Browse's case table scrolled sideways).
    "@media (max-width: 1100px) { [data-testid='stMainBlockContainer']"
    " { padding-left: 1rem !important; padding-right: 1rem !important; } }"
    # A metric's label wraps instead of being cut: Predict's "R CC prior 2017 · calcification
    # map score" read "R CC prior 2017 · calcification m…" in a third of a 1024 px page.
    " [data-testid='stMetricLabel'] p { white-space: normal !important;"
    " overflow: visible !important; text-overflow: clip !important; }"
    # Streamlit's toolbar of a table (show/hide, download, search, fullscreen), shown while
    # the pointer is over the table, sits 20 px into what is above it (a caption's last
    # words at every width: Browse's change tables, Evaluate's); a table after something
    # keeps that band free instead (1.375rem: the 20 px and a gap).
    " [data-testid='stElementContainer']:not(:first-child)"
    ":has(> [data-testid='stFullScreenFrame'] > [data-testid='stDataFrame'])"
    " { margin-top: 1.375rem; }"
    "</style>"
)
