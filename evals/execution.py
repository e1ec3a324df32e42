"""Score completions: build each benchmark's program as its authors do (HumanEval: prompt +
completion + test + `check(entry_point)`; MBPP: the completion + its asserts; MultiPL-E and
HumanEval-X: prompt + completion + tests), run them all in the sandbox pool of the
benchmark's language, and aggregate per problem."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from evals import languages
from evals.benchmarks import Benchmark, Problem
from evals.passk import mean_pass_at_k
from evals.sandbox import VERDICT_KINDS, Sandbox, Verdict


@dataclass
class SampleResult:
    """One executed completion (`evals.results.sample_row` is its line in samples.jsonl)."""

    task_id: str
    completion_id: int
    completion: str
    verdict: Verdict
    extra: dict


def check_program(problem: Problem, completion: str) -> str:
    """The whole program as one text (what the sandbox runs for Python)."""
    program, test = problem.program(completion)
    return program + "\n" + test


def job_for(problem: Problem, completion: str) -> languages.Job:
    program, test = problem.program(completion)
    return languages.build_job(problem.language, program, test)


def execute_samples(
    benchmark: Benchmark, samples: list[dict], sandbox: Sandbox, show_progress: bool = True
) -> list[SampleResult]:
    """Run every sample's check program; results in input order with per-task completion ids."""
    from tqdm.auto import tqdm

    problems = benchmark.by_id()
    programs = [job_for(problems[s["task_id"]], s["completion"]) for s in samples]
    with tqdm(total=len(programs), desc="executing", unit="prog", disable=not show_progress) as bar:
        verdicts = sandbox.run_many(programs, progress=bar.update)
    seen: Counter[str] = Counter()
    results = []
    for sample, verdict in zip(samples, verdicts, strict=True):
        task_id = sample["task_id"]
        extra = {
            k: v
            for k, v in sample.items()
            if k not in ("task_id", "completion", "completion_id", "passed", "result")
        }
        results.append(SampleResult(task_id, seen[task_id], sample["completion"], verdict, extra))
        seen[task_id] += 1
    return results


def per_problem(results: list[SampleResult], benchmark: Benchmark) -> list[dict]:
    """For each attempted problem (benchmark order): n, correct, pass@1 and verdict kinds."""
    rows = []
    for problem, attempts in benchmark.attempted(results, lambda r: r.task_id):
        n = len(attempts)
        c = sum(r.verdict.passed for r in attempts)
        kinds = Counter(r.verdict.kind for r in attempts)
        rows.append(
            {
                "task_id": problem.task_id,
                "n": n,
                "correct": c,
                "pass@1": c / n,
                "kinds": {k: kinds[k] for k in VERDICT_KINDS if kinds[k]},
            }
        )
    return rows


def summarize(problems: list[dict], ks: tuple[int, ...]) -> dict:
    """pass@k means and the verdict-kind totals over all samples."""
    counts = [(p["n"], p["correct"]) for p in problems]
    kinds: Counter[str] = Counter()
    for p in problems:
        kinds.update(p["kinds"])
    return {
        "scores": mean_pass_at_k(counts, ks),
        "verdicts": {k: kinds[k] for k in VERDICT_KINDS if kinds[k]},
        "n_problems": len(problems),
        "n_samples": sum(n for n, _ in counts),
    }
