"""Compare evaluation runs: scores with bootstrap CIs, paired significance between every two
runs on their shared problems, the Big Code leaderboard's win rate, and the mixtures behind
each run. `evals.report` renders the result as markdown, HTML and a plot."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from evals import stats
from evals.passk import pass_at_k
from evals.results import find_results, load_results
from mixtune.errors import MixtuneError


@dataclass
class Run:
    label: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # benchmark -> results.json

    @property
    def mixtures(self) -> list[dict[str, Any]]:
        for res in self.results.values():
            lineage = (res.get("model") or {}).get("lineage") or {}
            if lineage.get("mixtures"):
                return list(lineage["mixtures"])
        return []

    @property
    def lineage(self) -> dict[str, Any]:
        for res in self.results.values():
            lineage = (res.get("model") or {}).get("lineage")
            if lineage:
                return lineage
        return {}


def load_runs(targets: list[str], labels: list[str] | None = None) -> list[Run]:
    """One run per argument (a results.json, a run directory, or a model directory with
    evals/); a second result for a benchmark the run already has becomes its own run."""
    if labels and len(labels) != len(targets):
        raise MixtuneError(f"--labels has {len(labels)} names for {len(targets)} runs")
    runs: list[Run] = []
    for i, target in enumerate(targets):
        current: Run | None = None
        for path in find_results(target):
            res = load_results(path)
            label = labels[i] if labels else str(res["model"].get("name") or Path(path).parent.name)
            bench = str(res["benchmark"]["name"])
            if current is None or bench in current.results:
                if current is not None:
                    label = f"{label} [{Path(path).parent.name}]"
                current = Run(label)
                runs.append(current)
            current.results[bench] = res
    seen: dict[str, int] = {}
    for run in runs:
        if run.label in seen:
            seen[run.label] += 1
            run.label = f"{run.label} #{seen[run.label]}"
        else:
            seen[run.label] = 1
    if not runs:
        raise MixtuneError("nothing to compare")
    return runs


def problem_scores(res: dict[str, Any], k: int) -> dict[str, float]:
    """{task_id: pass@k estimate} for one results file (problems with fewer than k samples skipped)."""
    return {p["task_id"]: pass_at_k(p["n"], p["correct"], k) for p in res["problems"] if p["n"] >= k}


def compare_runs(
    runs: list[Run], k: int = 1, resamples: int = 10_000, seed: int = 0, alpha: float = 0.05
) -> dict[str, Any]:
    """Everything the leaderboard shows, as plain data (also written to comparison.json)."""
    benchmarks = list(dict.fromkeys(b for run in runs for b in run.results))
    table = {run.label: _score_row(run, k, resamples, seed) for run in runs}
    pairs: list[dict[str, Any]] = []
    for bench in benchmarks:
        pairs += _paired_tests(runs, table, bench, k, resamples, seed, alpha)
    wins = stats.win_rates({label: {b: v["score"] for b, v in row.items()} for label, row in table.items()})
    order = sorted(
        runs,
        key=lambda r: (-(wins[r.label] if wins[r.label] is not None else -1), -_mean_score(table[r.label])),
    )
    return {
        "metric": f"pass@{k}",
        "confidence": 0.95,
        "alpha": alpha,
        "resamples": resamples,
        "seed": seed,
        "benchmarks": benchmarks,
        "languages": {b: _language(runs, b) for b in benchmarks},
        "runs": [
            {
                "label": r.label,
                "scores": table[r.label],
                "win_rate": wins[r.label],
                "mixtures": r.mixtures,
                "lineage": r.lineage,
            }
            for r in order
        ],
        "pairs": pairs,
    }


def _score_row(run: Run, k: int, resamples: int, seed: int) -> dict[str, dict[str, Any]]:
    """{benchmark: pass@k with its bootstrap CI and the run's settings} for one run (benchmarks
    where no problem has k samples are left out)."""
    row: dict[str, dict[str, Any]] = {}
    for bench, res in run.results.items():
        per = problem_scores(res, k)
        if not per:
            continue
        ci = stats.bootstrap_ci(np.array(list(per.values())), resamples, seed)
        ns = [p["n"] for p in res["problems"]]
        row[bench] = {
            "score": ci.mean,
            "low": ci.low,
            "high": ci.high,
            "problems": len(per),
            "samples_per_problem": round(sum(ns) / len(ns), 2),
            "all_scores": res.get("scores", {}),
            "verdicts": res.get("verdicts", {}),
            "results": res.get("_path"),
            "generation": res.get("generation"),
        }
    return row


def _paired_tests(
    runs: list[Run],
    table: dict[str, dict[str, Any]],
    bench: str,
    k: int,
    resamples: int,
    seed: int,
    alpha: float,
) -> list[dict[str, Any]]:
    """Every two runs scored on `bench`, tested on their shared problems (the higher-scoring run
    as A), with Holm's adjustment over this benchmark's pairs."""
    present = [r for r in runs if bench in table[r.label]]
    pairs = []
    for ra, rb in combinations(present, 2):
        if table[rb.label][bench]["score"] > table[ra.label][bench]["score"]:
            ra, rb = rb, ra
        test = stats.compare_paired(
            _counts(ra.results[bench], k), _counts(rb.results[bench], k), resamples, seed
        )
        if test is None:
            continue
        pairs.append(
            {
                "benchmark": bench,
                "a": ra.label,
                "b": rb.label,
                **asdict(test),
                "p_value": test.p_value,
                "test": "exact McNemar" if test.p_mcnemar is not None else "paired bootstrap",
            }
        )
    for pair, adj in zip(pairs, stats.holm([p["p_value"] for p in pairs]), strict=True):
        pair["p_holm"] = adj
        pair["significant"] = adj < alpha
    return pairs


def _language(runs: list[Run], bench: str) -> str:
    """The language a benchmark's results record (Python for results that predate the key)."""
    for run in runs:
        if bench in run.results:
            return str((run.results[bench].get("benchmark") or {}).get("language") or "python")
    return "python"


def _counts(res: dict[str, Any], k: int) -> dict[str, tuple[int, int]]:
    """(n, correct) per problem; for k > 1 the per-problem pass@k is carried as a fraction."""
    if k == 1:
        return {p["task_id"]: (int(p["n"]), int(p["correct"])) for p in res["problems"]}
    # compare_paired works on c/n; scale pass@k estimates onto a common denominator.
    scale = 10_000
    return {t: (scale, round(v * scale)) for t, v in problem_scores(res, k).items()}


def _mean_score(row: dict[str, Any]) -> float:
    return sum(v["score"] for v in row.values()) / len(row) if row else -1.0
