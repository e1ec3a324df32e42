"""`mixtune eval --check-training-data`: each generated sample looked up in the mixtures the
model was trained on (the lineage in its run record), and the share found there.

A sample is checked when its code has at least `MIN_CHARS` non-blank characters: a lone
`return total` is in every code mixture and says nothing about copying (shorter samples are
counted as `too_short`). Identical samples are looked up once. A sample is *found* when the
training-data query returns a match (a verbatim run of lines, or a near match at or above the
index's Jaccard threshold); its best match is kept with the sample (mixture, source, row id,
row, similarity, method, span), and the run's summary gives the rate and the counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mixtune.attribution.query import REPORTED_FIELDS
from mixtune.errors import DataError, MixtuneError
from mixtune.run_record import RUN_RECORD, read_run_record

MIN_CHARS = 40
MAX_LISTED = 1000  # found samples listed in results.json (all of them are in samples.jsonl)
MATCH_KEYS = REPORTED_FIELDS
Finder = Callable[..., list[Any]]


def default_finder() -> Finder:
    """The ground package's training-data query."""
    try:
        from mixtune.attribution import find_in_training_data
    except ImportError:
        raise MixtuneError(
            "--check-training-data needs the training-data query (mixtune.attribution), "
            "which this installation lacks"
        ) from None
    return find_in_training_data


def model_dir_for_check(model: str | None) -> Path:
    """The model directory whose training mixtures samples are checked against, or an error
    saying why there is none (checked before any generation)."""
    path = Path(str(model or ""))
    record = read_run_record(path) if model and path.is_dir() else None
    if not isinstance(record, dict):
        raise MixtuneError(
            f"--check-training-data needs a local model directory with a {RUN_RECORD} naming its "
            f"training mixtures; {model or 'no model'} has none"
        )
    if not record.get("mixtures"):
        raise MixtuneError(f"{path / RUN_RECORD}: records no training mixtures to check samples against")
    return path


def _significant(code: str) -> int:
    return sum(not c.isspace() for c in code)


def _match_dict(match: Any) -> dict[str, Any]:
    found = match.as_dict() if hasattr(match, "as_dict") else dict(match)
    return {key: found.get(key) for key in MATCH_KEYS}


def preflight(model_dir: Path, finder: Finder) -> None:
    """One query before generating, so a missing or stale index fails the run at once."""
    try:
        finder(model_dir, "def mixtune_index_probe(value):\n    return value\n", top=1)
    except DataError as exc:
        raise MixtuneError(f"--check-training-data: {exc}") from None


def check_samples(
    model_dir: Path, rows: list[dict], finder: Finder | None = None, min_chars: int = MIN_CHARS
) -> dict[str, Any]:
    """Annotate each sample row with `training_data` and return the run's summary."""
    finder = finder or default_finder()
    cache: dict[str, dict[str, Any]] = {}
    skipped: Counter[str] = Counter()
    found = checked = 0
    for row in rows:
        code = str(row.get("completion") or "")
        if _significant(code) < min_chars:
            row["training_data"] = {"checked": False, "reason": "too_short"}
            skipped["too_short"] += 1
            continue
        if code not in cache:
            matches = finder(model_dir, code, top=1)
            cache[code] = (
                {"checked": True, "found": True, "match": _match_dict(matches[0])}
                if matches
                else {"checked": True, "found": False}
            )
        row["training_data"] = cache[code]
        checked += 1
        found += bool(cache[code]["found"])
    hits = [
        {"task_id": r["task_id"], "completion_id": r.get("completion_id"), **r["training_data"]["match"]}
        for r in rows
        if r["training_data"].get("found")
    ]
    return {
        "checked": checked,
        "found": found,
        "rate": found / checked if checked else None,
        "skipped": dict(skipped),
        "min_chars": min_chars,
        "mixtures": [m.get("name") for m in (read_run_record(model_dir) or {}).get("mixtures") or []],
        "found_samples": hits[:MAX_LISTED],
        "found_samples_not_listed": max(0, len(hits) - MAX_LISTED),
    }


def per_problem_found(rows: list[dict]) -> Counter[str]:
    """Samples found in training data, per task."""
    return Counter(r["task_id"] for r in rows if (r.get("training_data") or {}).get("found"))
