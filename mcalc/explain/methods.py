"""The explanation methods: their ids (CLI, settings, stored records) and their names for
people (pages, reports, audit tables).

The ids stay what the CLI takes and what stored records hold; a reader sees the method's
published name ("Grad-CAM", not ``gradcam``).
"""

from __future__ import annotations

__all__ = ["CAM_METHODS", "CAM_NAMES", "method_name"]

#: Explanation methods, by their ids in the CLI, settings and stored records.
CAM_METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "scorecam")

#: Each method's published name, as a reader sees it.
CAM_NAMES: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "scorecam": "Score-CAM",
}


def method_name(method: str | None) -> str:
    """A method id in words for people; an id it does not know comes back unchanged (a
    record written by a later version stays readable), ``None`` or ``""`` as ``""``.

    Example:
        >>> method_name("gradcam++"), method_name("lime"), method_name(None)
        ('Grad-CAM++', 'lime', '')
    """
    if not method:
        return ""
    return CAM_NAMES.get(method, method)
