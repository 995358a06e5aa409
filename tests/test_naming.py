"""Tolerant file-name matching (mcalc.dataset.naming)."""

from __future__ import annotations

import itertools

import pytest

from mcalc.dataset.naming import canonical_name, edit_distance, match_name

# (file name, view, timepoint, is_annotation, exact)
MATCHES = [
    ("CC_prior.dcm", "CC", "prior", False, True),
    ("CC_recent.dcm", "CC", "recent", False, True),
    ("MLO_prior.dcm", "MLO", "prior", False, True),
    ("MLO_recent.dcm", "MLO", "recent", False, True),
    ("CC_prior_GT.jpg", "CC", "prior", True, True),
    ("MLO_recent_GT.jpg", "MLO", "recent", True, True),
    # quirks of the real archive
    ("CC_prior.DCM", "CC", "prior", False, False),
    ("MLO_recent.DCM", "MLO", "recent", False, False),
    ("CC_recemt.dcm", "CC", "recent", False, False),
    ("CC_reent_GT.jpg", "CC", "recent", True, False),
    ("MLO_reent_GT.jpg", "MLO", "recent", True, False),
    ("CC_recent_GT.Jpg", "CC", "recent", True, False),
    # reasonable variants
    ("cc-prior.dcm", "CC", "prior", False, False),
    ("MLO_Prior_gt.jpeg", "MLO", "prior", True, False),
    ("CC_recent.dicom", "CC", "recent", False, False),
    ("mlo recent.dcm", "MLO", "recent", False, False),
    ("CCprior.dcm", "CC", "prior", False, False),
    ("CC_recentGT.jpg", "CC", "recent", True, False),
    ("CC_prior_GT.png", "CC", "prior", True, False),
    ("CC_rceent.dcm", "CC", "recent", False, False),  # swapped letters
    ("MLO_prier.dcm", "MLO", "prior", False, False),
    ("MLO_pior.dcm", "MLO", "prior", False, False),
    ("CC_recnt_GT.jpg", "CC", "recent", True, False),
    ("some/dir/CC_prior.dcm", "CC", "prior", False, True),
]

NOT_MATCHED = [
    "notes.txt",
    "Thumbs.db",
    ".DS_Store",
    "README.txt",
    "CC.dcm",  # no round
    "prior.dcm",  # no view
    "CC_prior",  # no extension: not an image
    "CC_prior_GT",
    "CC_prior.jpg",  # a JPEG that is not a GT
    "CC_prior_GT.dcm",  # a GT that is a DICOM
    "CC_prior.dcm.bak",
    "._CC_prior.dcm",  # macOS resource fork
    "CC_prior (1).dcm",
    "ML_prior.dcm",  # ML is another view, not MLO
    "CC_pre.dcm",  # too short to read as a round
    "CC_rec.dcm",
    "CC_current.dcm",  # three edits from recent
    "CC_prior2.dcm",
    "",
]


@pytest.mark.parametrize(("name", "view", "timepoint", "annotation", "exact"), MATCHES)
def test_matches(name: str, view: str, timepoint: str, annotation: bool, exact: bool) -> None:
    m = match_name(name)
    assert m is not None, name
    assert (m.view, m.timepoint, m.is_annotation, m.exact) == (view, timepoint, annotation, exact)
    assert m.canonical == canonical_name(view, timepoint, annotation=annotation)
    assert (m.note == "") == exact
    if not exact:
        assert repr(name.rsplit("/", 1)[-1]) in m.note and m.canonical in m.note


@pytest.mark.parametrize("name", NOT_MATCHED)
def test_not_matched(name: str) -> None:
    assert match_name(name) is None


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("CC_recemt.dcm", "misspelling 'recemt'"),
        ("CC_prior.DCM", "upper-case extension .DCM"),
        ("CC_recent_GT.Jpg", "extension .Jpg"),
        ("cc-prior.dcm", "letter case"),
        ("cc-prior.dcm", "separator '-'"),
        ("MLO_Prior_gt.jpeg", "extension .jpeg"),
    ],
)
def test_note_says_what_was_loose(name: str, fragment: str) -> None:
    m = match_name(name)
    assert m is not None and fragment in m.note


def test_prior_and_recent_never_confused() -> None:
    """No word within two typos of one round word is read as the other."""
    letters = "aceinoprt"
    for word in ("prior", "recent"):
        other = "recent" if word == "prior" else "prior"
        # every single substitution and deletion, and pairs of substitutions
        variants = {word[:i] + word[i + 1 :] for i in range(len(word))}
        for i, j in itertools.combinations(range(len(word)), 2):
            for a, b in itertools.product(letters, repeat=2):
                v = list(word)
                v[i], v[j] = a, b
                variants.add("".join(v))
        for v in variants:
            m = match_name(f"CC_{v}.dcm")
            assert m is None or m.timepoint != other, v


def test_edit_distance() -> None:
    assert edit_distance("recent", "recent") == 0
    assert edit_distance("recemt", "recent") == 1
    assert edit_distance("reent", "recent") == 1
    assert edit_distance("rceent", "recent") == 1
    assert edit_distance("prior", "recent") > 4
