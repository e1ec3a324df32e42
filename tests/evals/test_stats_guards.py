"""The paired bootstrap's p-value is two-sided and agrees with the normal approximation.

With a few hundred problems the bootstrap distribution of a mean difference is close to normal,
so its p-value must be close to 2 * (1 - Phi(|z|)); a one-sided tail would give half of it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from evals import stats


def _normal_two_sided(d: np.ndarray) -> float:
    z = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    return math.erfc(abs(z) / math.sqrt(2))


@pytest.mark.parametrize(("seed", "pa", "pb"), [(3, 0.55, 0.45), (5, 0.50, 0.44), (8, 0.40, 0.47)])
def test_paired_bootstrap_p_is_two_sided(seed: int, pa: float, pb: float) -> None:
    rng = np.random.default_rng(seed)
    a = (rng.random(400) < pa).astype(float)
    b = (rng.random(400) < pb).astype(float)
    expected = _normal_two_sided(a - b)
    assert 0.005 < expected < 0.5  # a case where one- and two-sided differ clearly
    for first, second in ((a, b), (b, a)):
        diff, low, high, p = stats.paired_bootstrap(first, second, resamples=10_000, seed=1)
        assert low < diff < high
        assert p == pytest.approx(expected, rel=0.25), (p, expected)
