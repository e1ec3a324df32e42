"""Statistics for comparing runs on the same problems.

A benchmark score is a mean over problems, and HumanEval has only 164 of them: a few points of
pass@1 are often noise. Scores get percentile-bootstrap confidence intervals over problems;
two runs are compared *paired*, on the problems both attempted, with a paired bootstrap of
the difference and, when both runs drew one sample per problem, the exact McNemar test on
the problems where exactly one run passed. With many pairs, Holm's method adjusts p-values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedTest:
    """Run A minus run B on their shared problems."""

    shared: int
    diff: float
    low: float
    high: float
    p_bootstrap: float
    p_mcnemar: float | None  # exact McNemar when both runs have one sample per problem
    a_only: int  # problems only A solved (n=1 runs)
    b_only: int

    @property
    def p_value(self) -> float:
        """The test reported: exact McNemar when it applies, else the paired bootstrap."""
        return self.p_mcnemar if self.p_mcnemar is not None else self.p_bootstrap


def _resampled_means(values: np.ndarray, resamples: int, seed: int, chunk: int = 1000) -> np.ndarray:
    """Means of `resamples` bootstrap resamples (with replacement), in bounded memory."""
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        out[start:stop] = values[rng.integers(0, values.size, size=(stop - start, values.size))].mean(axis=1)
    return out


def bootstrap_ci(values: np.ndarray, resamples: int = 10_000, seed: int = 0, level: float = 0.95) -> Interval:
    """Mean of per-problem scores with a percentile bootstrap interval (problems resampled)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("no problems to bootstrap over")
    means = _resampled_means(values, resamples, seed)
    alpha = (1 - level) / 2
    return Interval(
        float(values.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))
    )


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, resamples: int = 10_000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float, float]:
    """(mean difference, CI low, CI high, two-sided p) for paired per-problem scores.

    The p-value is the share of resampled differences at least as far from the observed
    difference as the observed difference is from zero (the bootstrap distribution shifted
    to the null), with the +1 correction so it is never exactly zero.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size == 0:
        raise ValueError("no shared problems")
    means = _resampled_means(d, resamples, seed)
    observed = float(d.mean())
    alpha = (1 - level) / 2
    if np.all(d == 0):
        return 0.0, 0.0, 0.0, 1.0
    extreme = np.sum(np.abs(means - observed) >= abs(observed) - 1e-12)
    p = (extreme + 1) / (resamples + 1)
    return (
        observed,
        float(np.quantile(means, alpha)),
        float(np.quantile(means, 1 - alpha)),
        float(min(1.0, p)),
    )


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs at 1/2."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    # P(X <= k) for X ~ Binomial(n, 1/2), summed in log space to stay exact for large n.
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
        for i in range(k + 1)
    ]
    top = max(log_terms)
    tail = math.exp(top) * sum(math.exp(t - top) for t in log_terms)
    return min(1.0, 2 * tail)


def compare_paired(
    a: dict[str, tuple[int, int]], b: dict[str, tuple[int, int]], resamples: int = 10_000, seed: int = 0
) -> PairedTest | None:
    """Compare two runs given {task_id: (n, correct)}; None when they share no problem."""
    shared = sorted(set(a) & set(b))
    if not shared:
        return None
    sa = np.array([a[t][1] / a[t][0] for t in shared])
    sb = np.array([b[t][1] / b[t][0] for t in shared])
    diff, low, high, p_boot = paired_bootstrap(sa, sb, resamples, seed)
    p_mc = None
    a_only = b_only = 0
    if all(a[t][0] == 1 for t in shared) and all(b[t][0] == 1 for t in shared):
        a_only = int(np.sum((sa == 1) & (sb == 0)))
        b_only = int(np.sum((sa == 0) & (sb == 1)))
        p_mc = mcnemar_exact(a_only, b_only)
    return PairedTest(len(shared), diff, low, high, p_boot, p_mc, a_only, b_only)


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def win_rates(scores: dict[str, dict[str, float]]) -> dict[str, float | None]:
    """The Big Code Models Leaderboard's win rate: on each benchmark (language), rank the runs
    by score (ties share the average rank), score each `num_models - (rank - 1)`, and average
    that over the benchmarks. The best of N runs on every benchmark gets N, the worst 1.

    scores: {run: {benchmark: score}}. Benchmarks with a single run are not ranked; None for a
    run with no benchmark shared with another.
    """
    runs = list(scores)
    per_run: dict[str, list[float]] = {r: [] for r in runs}
    benchmarks = sorted({b for s in scores.values() for b in s})
    for bench in benchmarks:
        present = [r for r in runs if bench in scores[r]]
        n = len(present)
        if n < 2:
            continue
        for r in present:
            mine = scores[r][bench]
            better = sum(1 for o in present if scores[o][bench] > mine)
            tied = sum(1 for o in present if scores[o][bench] == mine)  # includes r itself
            rank = better + (tied + 1) / 2  # average rank of the tied group, 1 = best
            per_run[r].append(n - (rank - 1))
    return {r: (sum(v) / len(v) if v else None) for r, v in per_run.items()}
