from __future__ import annotations

import math

import pytest

from evals.passk import mean_pass_at_k, pass_at_k, usable_ks


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20])
def test_pass_at_k_matches_the_binomial_definition(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            exact = 1 - math.comb(n - c, k) / math.comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def test_pass_at_1_is_the_fraction_correct():
    assert pass_at_k(200, 37, 1) == pytest.approx(37 / 200)


def test_large_n_stays_finite_and_exact():
    # C(1000, 500) overflows a float; the product form does not.
    value = pass_at_k(1000, 3, 500)
    exact = 1 - math.comb(997, 500) / math.comb(1000, 500)
    assert value == pytest.approx(exact, rel=1e-12)
    assert pass_at_k(1000, 0, 500) == 0.0
    assert pass_at_k(1000, 501, 500) == 1.0


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 1, 10)
    with pytest.raises(ValueError):
        pass_at_k(0, 0, 1)


def test_mean_over_problems_reports_only_defined_ks():
    counts = [(10, 10), (10, 0), (5, 1)]
    assert usable_ks((1, 10, 100), counts) == [1]
    scores = mean_pass_at_k(counts, (1, 5, 10))
    assert set(scores) == {"pass@1", "pass@5"}
    assert scores["pass@1"] == pytest.approx((1 + 0 + 0.2) / 3)
    assert scores["pass@5"] == pytest.approx((1 + 0 + 1) / 3)
