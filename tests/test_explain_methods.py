"""mcalc.explain.methods: the explanation methods' ids and their names for people."""

from __future__ import annotations

import pytest

from mcalc.explain.explainer import CAM_METHODS as EXPLAINER_METHODS
from mcalc.explain.methods import CAM_METHODS, CAM_NAMES, method_name


def test_every_method_has_its_published_name():
    assert EXPLAINER_METHODS is CAM_METHODS
    assert set(CAM_NAMES) == set(CAM_METHODS)
    assert [method_name(m) for m in CAM_METHODS] == ["Grad-CAM", "Grad-CAM++", "Score-CAM"]


@pytest.mark.parametrize(("raw", "shown"), [(None, ""), ("", ""), ("lime", "lime")])
def test_unknown_or_missing_method(raw, shown):
    assert method_name(raw) == shown
