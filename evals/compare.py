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


# Continuous per-problem scores are carried to the paired tests as fractions of this.
SCALE = 10_000


@dataclass
class Column:
    """One leaderboard column from one results file: its metric, the per-problem values, and
    (n, correct) per problem for the paired tests."""

    metric: str
    values: dict[str, float]
    counts: dict[str, tuple[int, int]]
    res: dict[str, Any]


def columns_of(res: dict[str, Any], bench: str, k: int) -> dict[str, Column]:
    """The columns a results file gives: pass@k for executed benchmarks; exact match and edit
    similarity for repo:PATH (`metric: match`)."""
    if res.get("metric") == "match":
        problems = res["problems"]
        em = {p["task_id"]: float(p["exact_match"]) for p in problems}
        es = {p["task_id"]: float(p["edit_similarity"]) for p in problems}
        return {
            f"{bench} exact match": Column(
                "exact match", em, {p["task_id"]: (int(p["n"]), int(p["correct"])) for p in problems}, res
            ),
            f"{bench} edit similarity": Column(
                "edit similarity", es, {t: (SCALE, round(v * SCALE)) for t, v in es.items()}, res
            ),
        }
    return {bench: Column(f"pass@{k}", problem_scores(res, k), _counts(res, k), res)}


def _run_columns(run: Run, k: int) -> dict[str, Column]:
    cols: dict[str, Column] = {}
    for bench, res in run.results.items():
        cols.update(columns_of(res, bench, k))
    return cols


def compare_runs(
    runs: list[Run], k: int = 1, resamples: int = 10_000, seed: int = 0, alpha: float = 0.05
) -> dict[str, Any]:
    """Everything the leaderboard shows, as plain data (also written to comparison.json)."""
    columns = {run.label: _run_columns(run, k) for run in runs}
    table = {run.label: _score_row(columns[run.label], resamples, seed) for run in runs}
    benchmarks = list(dict.fromkeys(c for row in table.values() for c in row))
    pairs: list[dict[str, Any]] = []
    for bench in benchmarks:
        pairs += _paired_tests(runs, columns, table, bench, resamples, seed, alpha)
    wins = stats.win_rates({label: {b: v["score"] for b, v in row.items()} for label, row in table.items()})
    order = sorted(
        runs,
        key=lambda r: (-(wins[r.label] if wins[r.label] is not None else -1), -_mean_score(table[r.label])),
    )
    return {
        "metric": f"pass@{k}",
        "metrics": {b: _first(columns, b).metric for b in benchmarks},
        "confidence": 0.95,
        "alpha": alpha,
        "resamples": resamples,
        "seed": seed,
        "benchmarks": benchmarks,
        "languages": {b: _language(_first(columns, b).res) for b in benchmarks},
        "runs": [
            {
                "label": r.label,
                "scores": table[r.label],
                "win_rate": wins[r.label],
                "mixtures": r.mixtures,
                "lineage": r.lineage,
                "training_data": _training_data(r),
            }
            for r in order
        ],
        "pairs": pairs,
    }


def _training_data(run: Run) -> dict[str, dict[str, Any]]:
    """{benchmark: the share of samples found in the model's training data, with the first
    found samples' source and row} for the run's results that were checked."""
    out = {}
    for bench, res in run.results.items():
        check = res.get("training_data")
        if isinstance(check, dict):
            out[bench] = {
                "checked": check.get("checked", 0),
                "found": check.get("found", 0),
                "rate": check.get("rate"),
                "examples": (check.get("found_samples") or [])[:3],
            }
    return out


def _first(columns: dict[str, dict[str, Column]], bench: str) -> Column:
    return next(cols[bench] for cols in columns.values() if bench in cols)


def _score_row(cols: dict[str, Column], resamples: int, seed: int) -> dict[str, dict[str, Any]]:
    """{column: score with its bootstrap CI and the run's settings} for one run (columns with no
    problem scored, e.g. pass@k with fewer than k samples, are left out)."""
    row: dict[str, dict[str, Any]] = {}
    for name, col in cols.items():
        if not col.values:
            continue
        ci = stats.bootstrap_ci(np.array(list(col.values.values())), resamples, seed)
        res = col.res
        ns = [p["n"] for p in res["problems"]]
        row[name] = {
            "score": ci.mean,
            "low": ci.low,
            "high": ci.high,
            "problems": len(col.values),
            "samples_per_problem": round(sum(ns) / len(ns), 2),
            "all_scores": res.get("scores", {}),
            "verdicts": res.get("verdicts", {}),
            "results": res.get("_path"),
            "generation": res.get("generation"),
        }
    return row


def _paired_tests(
    runs: list[Run],
    columns: dict[str, dict[str, Column]],
    table: dict[str, dict[str, Any]],
    bench: str,
    resamples: int,
    seed: int,
    alpha: float,
) -> list[dict[str, Any]]:
    """Every two runs scored on column `bench`, tested on their shared problems (the
    higher-scoring run as A), with Holm's adjustment over this column's pairs."""
    present = [r for r in runs if bench in table[r.label]]
    pairs = []
    for ra, rb in combinations(present, 2):
        if table[rb.label][bench]["score"] > table[ra.label][bench]["score"]:
            ra, rb = rb, ra
        test = stats.compare_paired(
            columns[ra.label][bench].counts, columns[rb.label][bench].counts, resamples, seed
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


def _language(res: dict[str, Any]) -> str:
    """The language a benchmark's results record (Python for results that predate the key)."""
    return str((res.get("benchmark") or {}).get("language") or "python")


def _counts(res: dict[str, Any], k: int) -> dict[str, tuple[int, int]]:
    """(n, correct) per problem; for k > 1 the per-problem pass@k is carried as a fraction."""
    if k == 1:
        return {p["task_id"]: (int(p["n"]), int(p["correct"])) for p in res["problems"]}
    # compare_paired works on c/n; scale pass@k estimates onto a common denominator.
    return {t: (SCALE, round(v * SCALE)) for t, v in problem_scores(res, k).items()}


def _mean_score(row: dict[str, Any]) -> float:
    return sum(v["score"] for v in row.values()) / len(row) if row else -1.0
