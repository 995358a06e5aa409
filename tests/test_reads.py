"""Independent reads (mcalc.access.reads): what of other readers' verdicts and marks each
viewer may see, case by case; the setting's environment variable."""

from __future__ import annotations

import pytest

from mcalc.access.reads import ReadPolicy, read_note, visible_readers, visible_verdicts
from mcalc.config import get_settings
from mcalc.store.audit import AuditVerdict


def _v(reader: str, image: str = "c-1/CC_recent", model: str = "m1") -> AuditVerdict:
    return AuditVerdict(model_id=model, image_key=image, reader=reader, score_verdict="agree")


BOB_A = _v("bob")  # bob on image A with model m1
BOB_B = _v("bob", image="c-1/MLO_recent")  # bob on image B
BOB_A_M2 = _v("bob", model="m2")  # bob on image A with another model
RITA_A = _v("rita")
EVERY = [BOB_A, BOB_B, BOB_A_M2, RITA_A]


def _who(verdicts: list[AuditVerdict]) -> set[tuple[str, str, str]]:
    return {(v.reader, v.image_key, v.model_id) for v in verdicts}


@pytest.mark.parametrize(
    ("policy", "records", "seen"),
    [
        # Off: everything, to anyone.
        (ReadPolicy("off", "rita", "reader"), [BOB_A], [BOB_A]),
        # On, nobody signed in (demo mode, accounts off): a typed name proves nothing.
        (ReadPolicy("on"), [BOB_A], [BOB_A]),
        (ReadPolicy("strict"), [BOB_A], [BOB_A]),
        # Admins see all, in either mode, without a read of their own.
        (ReadPolicy("on", "adam", "admin"), [BOB_A, BOB_B], [BOB_A, BOB_B]),
        (ReadPolicy("strict", "adam", "admin"), [BOB_A, RITA_A], [BOB_A, RITA_A]),
        # On, before rita's own read: none of bob's.
        (ReadPolicy("on", "rita", "reader"), [BOB_A, BOB_B, BOB_A_M2], []),
        # On, after rita's read of A with m1: bob's on A with m1, not on B, not with m2.
        (ReadPolicy("on", "rita", "reader"), EVERY, [BOB_A, RITA_A]),
        # A researcher records verdicts too: blinded as a reader is.
        (ReadPolicy("on", "rita", "researcher"), EVERY, [BOB_A, RITA_A]),
        # Strict: rita's own only, also after her read.
        (ReadPolicy("strict", "rita", "reader"), EVERY, [RITA_A]),
    ],
)
def test_which_verdicts_a_viewer_sees(policy, records, seen):
    assert _who(visible_verdicts(records, policy)) == _who(seen)


def test_the_order_of_the_records_is_kept():
    got = visible_verdicts([RITA_A, BOB_B, BOB_A], ReadPolicy("on", "rita", "reader"))
    assert got == [RITA_A, BOB_A]


@pytest.mark.parametrize(
    ("mode", "viewer", "role", "readers", "seen"),
    [
        ("off", "rita", "reader", ["bob", "cid"], ["bob", "cid"]),
        ("on", "rita", "reader", ["bob", "cid"], []),  # rita saved no marks on the image
        ("on", "rita", "reader", ["bob", "cid", "rita"], ["bob", "cid", "rita"]),
        ("strict", "rita", "reader", ["bob", "rita"], ["rita"]),
        ("strict", "adam", "admin", ["bob", "rita"], ["bob", "rita"]),
        ("on", None, None, ["bob"], ["bob"]),
    ],
)
def test_whose_marks_on_an_image_a_viewer_sees(mode, viewer, role, readers, seen):
    assert visible_readers(readers, ReadPolicy(mode, viewer, role)) == seen


def test_the_pages_note_says_what_is_hidden_only_when_something_is():
    assert read_note(ReadPolicy("off", "rita", "reader"), "verdicts") is None
    assert read_note(ReadPolicy("on", "adam", "admin"), "marks") is None
    assert read_note(ReadPolicy("on"), "marks") is None
    on = read_note(ReadPolicy("on", "rita", "reader"), "verdicts")
    assert on is not None and "hidden until you have recorded your own verdict" in on
    strict = read_note(ReadPolicy("strict", "rita", "reader"), "marks")
    assert strict is not None and "only an admin sees them" in strict
    with pytest.raises(ValueError, match="what must be one of verdicts, marks"):
        read_note(ReadPolicy("on", "rita", "reader"), "scores")


def test_the_setting_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.delenv("MCALC_INDEPENDENT_READS", raising=False)
    assert get_settings().independent_reads == "off"
    monkeypatch.setenv("MCALC_INDEPENDENT_READS", " Strict ")
    assert get_settings().independent_reads == "strict"
    monkeypatch.setenv("MCALC_INDEPENDENT_READS", "yes")
    with pytest.raises(ValueError, match="MCALC_INDEPENDENT_READS must be one of off, on, strict"):
        get_settings()
    with pytest.raises(ValueError, match="independent reads must be one of"):
        ReadPolicy("blind", "rita", "reader")
