"""`--benchmark repo:PATH`: code completion on a repository's own files.

PATH is a code directory (its files as `mixtune.code_files` keeps them, the same walk the
completion mixture builder does) or a built completion mixture (its `test` split: the held-out
files). From each file, tasks are cut with a generator seeded by the seed and the file's path
(so a file's tasks do not depend on the other files): single lines and spans of 2 to
`max_span_lines` lines, each starting and ending on a line with at least three letters or
digits (blank lines and lone brackets are never a task's first or last line). The model fills
the masked text through the usual FIM prompt, with `context_chars` of context around it (three
quarters before, a quarter after, cut at line boundaries).

Scores, per task and by language and kind:
- `exact_match`: the middle equals the masked text after trailing whitespace is dropped from
  every line and blank lines are dropped at both ends (indentation counts);
- `edit_similarity`: 1 - Levenshtein distance / length of the longer text, on the same
  normalised texts (1.0 when both are empty). Plain unit-cost Levenshtein over characters
  (rapidfuzz's C++ implementation; the pure-Python one is too slow for spans at this scale),
  so one wrong character in a line of 40 scores 0.975.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.benchmarks import Benchmark, Problem
from evals.infill import END_TOKENS
from mixtune.errors import DataError, MixtuneError
from mixtune.fim import FAMILIES
from mixtune.hashing import hash_obj

MIN_ALNUM = 3  # a task's first and last lines have at least this many letters or digits
# Text that would read as a FIM sentinel in a prompt: such tasks are left out (and counted).
SENTINELS = (*END_TOKENS, *(t for f in FAMILIES for t in (f.prefix, f.middle, f.suffix, f.pad)))


@dataclass(frozen=True)
class RepoTaskSettings:
    """How tasks are cut from each file (recorded with the results)."""

    seed: int = 0
    lines_per_file: int = 4
    spans_per_file: int = 2
    max_span_lines: int = 8
    max_tasks: int | None = 1000
    context_chars: int = 4096
    held_out: float | None = None  # code directory: only files code_files.is_held_out puts in test

    def __post_init__(self) -> None:
        if min(self.lines_per_file, self.spans_per_file) < 0 or self.max_span_lines < 2:
            raise MixtuneError("repo tasks: lines/spans per file must be >= 0 and max_span_lines >= 2")
        if self.context_chars < 64 or (self.max_tasks is not None and self.max_tasks < 1):
            raise MixtuneError("repo tasks: context_chars must be >= 64 and max_tasks >= 1")


@dataclass(frozen=True)
class SourceFile:
    path: str
    text: str
    language: str


def read_files(path: Path, settings: RepoTaskSettings) -> tuple[list[SourceFile], dict[str, Any]]:
    """The files to cut tasks from, and an account of what was read and left out."""
    from mixtune.manifest import is_built_mixture, read_manifest

    if not path.exists():
        raise MixtuneError(f"repo:{path}: no such directory")
    if is_built_mixture(path):
        manifest = read_manifest(path)
        if manifest.get("kind") != "completion":
            raise DataError(f"{path}/manifest.json: kind {manifest.get('kind')!r}, need a completion mixture")
        return _mixture_files(path, manifest)
    if not path.is_dir():
        raise MixtuneError(f"repo:{path}: not a directory (a code directory or a built completion mixture)")
    from mixtune.code_files import is_held_out, scan_repository

    scan = scan_repository(path)
    files = [SourceFile(f.path, f.text, f.language) for f in scan.kept]
    account: dict[str, Any] = {"source": "directory", "dropped": scan.drop_counts()}
    if settings.held_out is not None:
        kept = [f for f in files if is_held_out(f.path, settings.held_out, settings.seed)]
        account["dropped"]["not_held_out"] = len(files) - len(kept)
        account["held_out"] = settings.held_out
        files = kept
    account["files"] = len(files)
    return files, account


def _mixture_files(path: Path, manifest: dict[str, Any]) -> tuple[list[SourceFile], dict[str, Any]]:
    from datasets import load_from_disk

    try:
        test = load_from_disk(str(path))["test"]
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise DataError(f"{path}: no readable test split in the mixture ({exc})") from None
    missing = {"content", "path", "language"} - set(test.column_names)
    if missing:
        raise DataError(f"{path}: test split lacks column(s) {', '.join(sorted(missing))}")
    files = [SourceFile(str(r["path"]), str(r["content"]), str(r["language"])) for r in test]
    account = {
        "source": "mixture",
        "mixture": manifest.get("name"),
        "mixture_hash": manifest.get("hash"),
        "files": len(files),
        "dropped": {},
    }
    return files, account


def maskable(line: str) -> bool:
    return sum(c.isalnum() for c in line) >= MIN_ALNUM


def _spans(lines: list[str], rng: random.Random, settings: RepoTaskSettings) -> list[tuple[int, int]]:
    """(first, last) line indices: single lines, then multi-line spans, without repeats."""
    ok = [i for i, line in enumerate(lines) if maskable(line)]
    chosen = sorted(rng.sample(ok, min(settings.lines_per_file, len(ok))))
    spans = [(i, i) for i in chosen]
    starts = [i for i in ok if any(maskable(x) for x in lines[i + 1 : i + settings.max_span_lines])]
    for first in sorted(rng.sample(starts, min(settings.spans_per_file, len(starts)))):
        last = min(first + rng.randint(2, settings.max_span_lines) - 1, len(lines) - 1)
        while last > first and not maskable(lines[last]):
            last -= 1
        if last > first and (first, last) not in spans:
            spans.append((first, last))
    return spans


def _window(prefix: str, suffix: str, chars: int) -> tuple[str, str]:
    """At most the last 3/4 of the context before the middle and the first 1/4 after, in
    whole lines (a line longer than its share is left out rather than cut)."""
    before, after = chars * 3 // 4, chars - chars * 3 // 4
    if len(prefix) > before:
        cut = prefix[-before:]
        prefix = cut[cut.find("\n") + 1 :]
    if len(suffix) > after:
        cut = suffix[:after]
        suffix = cut[: cut.rfind("\n") + 1]
    return prefix, suffix


def _has_sentinel(*texts: str) -> bool:
    return any(tok in text for text in texts for tok in SENTINELS)


def file_tasks(f: SourceFile, settings: RepoTaskSettings) -> tuple[list[Problem], int]:
    """The masked tasks of one file (seeded by the seed and the path), and how many were left
    out because their text holds a FIM sentinel (the prompt would not say where the middle is)."""
    lines = f.text.splitlines(keepends=True)
    rng = random.Random(f"{settings.seed}:{f.path}")
    tasks = []
    skipped = 0
    for first, last in _spans(lines, rng, settings):
        prefix, suffix = _window("".join(lines[:first]), "".join(lines[last + 1 :]), settings.context_chars)
        if _has_sentinel(prefix, suffix, *lines[first : last + 1]):
            skipped += 1
            continue
        span = f"L{first + 1}" if first == last else f"L{first + 1}-L{last + 1}"
        tasks.append(
            Problem(
                task_id=f"{f.path}:{span}",
                prompt=prefix,
                entry_point="",
                test="",
                canonical_solution="".join(lines[first : last + 1]),
                language=f.language,
                shape="repo",
                suffix=suffix,
                infill_unit="line" if first == last else "lines",
                extra={"path": f.path, "kind": "line" if first == last else "span"},
            )
        )
    return tasks, skipped


def load_repo_benchmark(target: str, settings: RepoTaskSettings = RepoTaskSettings()) -> Benchmark:
    """`repo:PATH` (or PATH) as a benchmark of masked tasks; `details` accounts for every file."""
    path = Path(target.removeprefix("repo:"))
    files, account = read_files(path, settings)
    tasks: list[Problem] = []
    no_tasks = sentinel = 0
    for f in sorted(files, key=lambda f: f.path):
        got, skipped = file_tasks(f, settings)
        no_tasks += not got and not skipped
        sentinel += skipped
        tasks += got
    account["dropped"]["no_maskable_lines"] = no_tasks
    account["tasks_with_fim_sentinel_text"] = sentinel
    if settings.max_tasks is not None and len(tasks) > settings.max_tasks:
        keep = set(random.Random(settings.seed).sample(range(len(tasks)), settings.max_tasks))
        account["tasks_over_max"] = len(tasks) - settings.max_tasks
        tasks = [t for i, t in enumerate(tasks) if i in keep]
    if not tasks:
        raise DataError(f"repo:{path}: no file with a line to mask ({account['files']} files read)")
    account["tasks"] = len(tasks)
    account["settings"] = {k: v for k, v in vars(settings).items()}
    langs = sorted({t.language for t in tasks})
    sha = hash_obj([[t.task_id, t.prompt, t.canonical_solution, t.suffix] for t in tasks], 64)
    name = f"repo:{account.get('mixture') or path.resolve().name}"
    language = langs[0] if len(langs) == 1 else "mixed"
    return Benchmark(name, str(path), sha, tuple(tasks), language, "repo", details=account)


def normalise(text: str) -> str:
    """Trailing whitespace dropped on every line, blank lines dropped at both ends."""
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def edit_similarity(a: str, b: str) -> float:
    from rapidfuzz.distance import Levenshtein

    return float(Levenshtein.normalized_similarity(a, b))


def score(prediction: str, reference: str) -> dict[str, float]:
    a, b = normalise(prediction), normalise(reference)
    return {"exact_match": float(a == b), "edit_similarity": edit_similarity(a, b)}


def _means(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    return {
        "exact_match": sum(r["exact_match"] for r in rows) / n,
        "edit_similarity": sum(r["edit_similarity"] for r in rows) / n,
        "tasks": n,
    }


def score_samples(bench: Benchmark, samples: list[dict]) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """(sample rows, per-task rows, summary): every sample scored against its task's masked
    text; a task's scores are the means over its samples."""
    problems = bench.by_id()
    seen: Counter[str] = Counter()
    rows = []
    for s in samples:
        p = problems[s["task_id"]]
        got = score(s["completion"], p.canonical_solution or "")
        extra = {k: v for k, v in s.items() if k not in ("task_id", "completion")}
        rows.append(
            {
                "task_id": p.task_id,
                "completion_id": seen[p.task_id],
                "completion": s["completion"],
                **got,
                **extra,
            }
        )
        seen[p.task_id] += 1
    per_task = []
    for p, got_rows in bench.attempted(rows, lambda r: r["task_id"]):
        m = _means(got_rows)
        per_task.append(
            {
                "task_id": p.task_id,
                "n": len(got_rows),
                "correct": sum(int(r["exact_match"]) for r in got_rows),
                "exact_match": m["exact_match"],
                "edit_similarity": m["edit_similarity"],
                "language": p.language,
                "kind": p.extra.get("kind"),
                "path": p.extra.get("path"),
            }
        )
    return rows, per_task, summarize(per_task)


def summarize(per_task: list[dict]) -> dict[str, Any]:
    """Overall means over tasks, and the same by language and by kind (line / span)."""
    overall = _means(per_task)
    groups: dict[str, dict[str, list[dict]]] = {"by_language": {}, "by_kind": {}}
    for t in per_task:
        groups["by_language"].setdefault(t["language"], []).append(t)
        groups["by_kind"].setdefault(t["kind"], []).append(t)
    exact = sum(t["correct"] for t in per_task)
    samples = sum(t["n"] for t in per_task)
    return {
        "scores": {"exact_match": overall["exact_match"], "edit_similarity": overall["edit_similarity"]},
        "verdicts": {k: v for k, v in (("exact", exact), ("inexact", samples - exact)) if v},
        "n_problems": len(per_task),
        "n_samples": samples,
        **{key: {k: _means(v) for k, v in sorted(g.items())} for key, g in groups.items()},
    }
