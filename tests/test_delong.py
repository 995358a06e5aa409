"""DeLong's test (fast Sun & Xu components) against a brute-force O(m n) version of the
1988 paper's formulas, a hand-computed case, and the paired-comparison wiring."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from mcalc.models.delong import delong_covariance, delong_test, placement_values


def _brute(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. 1988 as written: psi over every (positive, negative) pair."""
    x, yy = scores[:, y == 1], scores[:, y == 0]
    m, n = x.shape[1], yy.shape[1]
    psi = (x[:, :, None] > yy[:, None, :]) + 0.5 * (x[:, :, None] == yy[:, None, :])
    auc = psi.mean(axis=(1, 2))
    v10, v01 = psi.mean(axis=2), psi.mean(axis=1)
    k = len(scores)
    s10 = np.array([[((v10[r] - auc[r]) * (v10[s] - auc[s])).sum() / (m - 1)
                     for s in range(k)] for r in range(k)])  # fmt: skip
    s01 = np.array([[((v01[r] - auc[r]) * (v01[s] - auc[s])).sum() / (n - 1)
                     for s in range(k)] for r in range(k)])  # fmt: skip
    return auc, s10 / m + s01 / n


@pytest.mark.parametrize("seed,n,ties", [(0, 30, False), (1, 57, True), (2, 9, True)])
def test_fast_components_equal_the_brute_force_formulas(seed, n, ties) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    y[:2] = [0, 1]
    s = rng.normal(size=(3, n)) + y * np.array([[1.0], [0.5], [0.0]])
    if ties:  # rounded scores: many ties inside and across the classes
        s = np.round(s, 0)
    auc, cov = delong_covariance(y, s)
    auc_b, cov_b = _brute(y, s)
    np.testing.assert_allclose(auc, auc_b, atol=1e-12)
    np.testing.assert_allclose(cov, cov_b, atol=1e-12)


def test_by_hand() -> None:
    y = np.array([1, 1, 1, 0, 0, 0])
    a = np.array([0.9, 0.8, 0.4, 0.5, 0.2, 0.1])  # pairs won: 3 + 3 + 2 = 8 of 9
    b = np.array([0.9, 0.3, 0.6, 0.5, 0.2, 0.7])  # 3 + 1 + 2 = 6 of 9
    auc, v10, v01 = placement_values(y, np.stack([a, b]))
    assert auc[0] == pytest.approx(8 / 9)
    np.testing.assert_allclose(v10[0], [1, 1, 2 / 3])
    np.testing.assert_allclose(v01[0], [2 / 3, 1, 1])
    assert auc[1] == pytest.approx(6 / 9)
    # Model a: V10 = (1, 1, 2/3) and V01 = (2/3, 1, 1), both with mean 8/9 and sample
    # variance ((1/9)^2 + (1/9)^2 + (2/9)^2) / 2 = 1/27; var(AUC) = (1/27 + 1/27) / 3 = 2/81.
    _, cov = delong_covariance(y, a)
    assert cov[0, 0] == pytest.approx(2 / 81)
    r = delong_test(y, a, b)
    _, c = _brute(y, np.stack([a, b]))
    se = np.sqrt(c[0, 0] + c[1, 1] - 2 * c[0, 1])
    assert r.se == pytest.approx(se) and r.difference == pytest.approx(auc[0] - auc[1])
    assert r.z == pytest.approx(r.difference / se)
    assert r.p_value == pytest.approx(2 * (1 - NormalDist().cdf(abs(r.difference / se))))
    assert r.low == pytest.approx(r.difference - 1.959964 * se, abs=1e-6)
    assert (r.n_positive, r.n_negative) == (3, 3)


def test_identical_rankings_have_no_p_value_and_bad_input_is_refused() -> None:
    y = np.array([0, 1, 0, 1, 1])
    s = np.array([0.1, 0.7, 0.4, 0.9, 0.3])
    r = delong_test(y, s, s * 2)  # the same ranking: difference 0 and no spread
    assert r.difference == 0 and r.se == 0 and r.p_value is None
    with pytest.raises(ValueError, match="positive and negative"):
        delong_test(np.ones(5, int), s, s)
    with pytest.raises(ValueError, match="at least 2 positive and 2 negative"):
        delong_test(np.array([0, 1, 1, 1, 1]), s, s[::-1])
    with pytest.raises(ValueError, match="one length"):
        delong_test(y, s, s[:3])


def test_a_better_model_is_significant_on_enough_cases() -> None:
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(150, int), np.ones(150, int)]
    a = rng.normal(size=300) + 2.0 * y
    b = rng.normal(size=300) + 0.3 * y
    r = delong_test(y, a, b)
    assert r.difference > 0.3 and r.p_value is not None and r.p_value < 1e-6 and r.low > 0


def test_paired_comparison_reports_delong_beside_the_bootstrap() -> None:
    from mcalc.models.analysis import paired_comparison
    from mcalc.models.scores import EvalScores

    def scores(p: list[float], y: list[int]) -> EvalScores:
        ids = [f"c{i}" for i in range(len(p))]
        pp = np.asarray(p)
        return EvalScores(("no", "yes"), ("yes",), np.asarray(y), np.stack([1 - pp, pp], 1),
                          ids, ids, ids)  # fmt: skip

    y = [1, 1, 1, 0, 0, 0]
    a = scores([0.9, 0.8, 0.4, 0.5, 0.2, 0.1], y)
    b = scores([0.9, 0.3, 0.6, 0.5, 0.2, 0.7], y)
    out = paired_comparison(a, b, "case", n_boot=50)
    d = out["delong"]
    assert d["difference"] == pytest.approx(out["difference"], abs=1e-6)
    assert d["difference"] == pytest.approx(8 / 9 - 6 / 9, abs=1e-6) and d["p_value"] > 0
    assert "note" not in d  # one case per patient here
    one_positive = paired_comparison(
        scores([0.9, 0.1, 0.2], [1, 0, 0]), scores([0.5, 0.1, 0.2], [1, 0, 0]), "case", n_boot=20
    )["delong"]
    assert (
        "no DeLong test" in one_positive["note"] and "at least 2 positive" in one_positive["note"]
    )
