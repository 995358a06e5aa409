"""pages/viewer_component.py without a browser: the full-resolution answer's media files."""

from __future__ import annotations

from unittest.mock import MagicMock

from streamlit.runtime import Runtime
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from pages import viewer_component


def test_fullres_answers_of_case_after_case_keep_one_media_file_per_place(monkeypatch):
    """Browse's case switches rerun a fragment (no full run clears the session's media):
    each answer's files take the places of the last case's, so the session holds one file
    per image of a case, not one per image ever answered; a case's own two answers (the
    ready images, then the rest) keep both."""
    manager = MediaFileManager(MemoryMediaFileStorage("/media"))
    runtime = MagicMock(spec=Runtime)
    runtime.media_file_mgr = manager
    monkeypatch.setattr(Runtime, "_instance", runtime)

    def files() -> int:
        return len(manager._storage._files_by_id)

    def answer(case: str, images: list[int]) -> list[dict]:
        slots = {f"{case}/{i}": i for i in range(4)}
        answers = [({"key": f"{case}/{i}"}, f"{case}/{i}".encode() * 100) for i in images]
        index, data = viewer_component.fullres_payload("browse_viewer", answers, slots=slots)
        assert data == b"" and all(e["url"].startswith("/media/") for e in index)
        manager.remove_orphaned_files()  # as at every run's end
        return index

    answer("case-0", [0, 1])
    answer("case-0", [2, 3])  # the rest of the same case: the first answer's files stay
    assert files() == 4
    for n in range(1, 6):
        answer(f"case-{n}", [0, 1, 2, 3])
    assert files() == 4
