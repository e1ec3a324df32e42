"""Write a built mixture's directory: splits, rejects, manifest, report.

Everything written is a function of the recipe and the inputs only (no timestamps, no
absolute temp paths in the rows), so a rebuild is byte-identical.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from mixtune import __version__
from mixtune.manifest import BUILD_VERSION, write_manifest
from mixtures.recipe import MixtureRecipe, recipe_dict
from mixtures.sampling import select_splits

log = logging.getLogger(__name__)

REJECTS_DIR = "rejects"
REJECT_BATCH = 1000


def _reject_lines(ds: Any, split: str, kind: str) -> Any:
    """Normalisation rejects: original text with file/line."""
    for batch in ds.iter(batch_size=REJECT_BATCH):
        for i in range(len(batch["id"])):
            yield {
                "source": batch["source"][i],
                "split": split,
                "id": batch["id"][i],
                "reason": batch["_reason"][i],
                "detail": batch["_detail"][i],
                "file": batch["_file"][i],
                "line": batch["_line"][i] if batch["_line"][i] > 0 else None,
                "row_index": batch["_index"][i],
                "row": batch["_raw"][i],
            }


def _filter_reject_lines(rejected: Any, split: str, kind: str, normalised: dict[str, Any]) -> Any:
    """Filter rejects: the canonical row, with file/line looked up from the row's index."""
    from mixtures.normalise import canonical_columns

    canon = [c for c in canonical_columns(kind) if c in rejected.column_names]
    for batch in rejected.iter(batch_size=REJECT_BATCH):
        indices = [int(row_id.rsplit("/", 1)[1]) for row_id in batch["id"]]
        origins: dict[str, tuple[list, list]] = {}
        for source in set(batch["source"]):
            if source in normalised:
                table = normalised[source].with_format("arrow")
                mine = [ix if s == source else 0 for ix, s in zip(indices, batch["source"], strict=True)]
                origins[source] = (
                    table["_file"].take(mine).to_pylist(),
                    table["_line"].take(mine).to_pylist(),
                )
        for i, (source, row_id) in enumerate(zip(batch["source"], batch["id"], strict=True)):
            files, lines = origins.get(source, ([None] * len(indices), [None] * len(indices)))
            line = lines[i]
            yield {
                "source": source,
                "split": split,
                "id": row_id,
                "reason": batch["reject_reason"][i],
                "detail": batch["reject_detail"][i],
                "file": files[i],
                "line": line if line is not None and line > 0 else None,
                "row_index": indices[i],
                "row": json.dumps({c: batch[c][i] for c in canon}, ensure_ascii=False),
            }


def write_rejects(
    out: Path, kind: str, train_sides: dict, test_sides: dict, filter_rejects: dict[str, Any]
) -> dict[str, int]:
    """rejects/<source>.jsonl: every dropped row with its reason, source, file and line."""
    directory = out / REJECTS_DIR
    directory.mkdir()
    handles: dict[str, Any] = {}
    counts: dict[str, int] = {}

    def emit(record: dict[str, Any]) -> None:
        name = record["source"]
        if name not in handles:
            handles[name] = open(directory / f"{name}.jsonl", "w", encoding="utf-8")  # noqa: SIM115
            counts[name] = 0
        handles[name].write(json.dumps(record, ensure_ascii=False) + "\n")
        counts[name] += 1

    try:
        for split, sides in (("train", train_sides), ("test", test_sides)):
            for side in sides.values():
                if side.bad_indices is not None and side.bad_indices.size:
                    for record in _reject_lines(side.normalised.select(side.bad_indices), split, kind):
                        emit(record)
            rejected = filter_rejects.get(split)
            if rejected is not None and len(rejected):
                normalised = {name: side.normalised for name, side in sides.items()}
                for record in _filter_reject_lines(rejected, split, kind, normalised):
                    emit(record)
    finally:
        for fh in handles.values():
            fh.close()
    return counts


def completion_manifest(recipe: MixtureRecipe, entries: dict[str, Any]) -> dict[str, Any]:
    """What a completion mixture adds: how its test files were chosen (so an evaluation can
    recompute the split) and the files dropped per reason over all sources."""
    from mixtures.completion import FILE_DROP_REASONS

    dropped: dict[str, int] = {}
    for entry in entries.values():
        for reason, n in entry["dropped"].items():
            dropped[reason] = dropped.get(reason, 0) + n
    assert recipe.files is not None
    return {
        "split": {
            "by": recipe.test.by,
            "test_fraction": recipe.test.holdout,
            "seed": recipe.seed,
            "key": "repository name"
            if recipe.test.by == "repository"
            else "path inside a code_repo; repo/path for dataset rows",
        },
        "file_rules": recipe.files.model_dump(mode="json"),
        "files_dropped": {
            "by_reason": dict(sorted(dropped.items())),
            "file_rules": sum(n for r, n in dropped.items() if r in FILE_DROP_REASONS),
            "total": sum(dropped.values()),
        },
    }


def _versions() -> dict[str, str]:
    import datasets
    import pyarrow

    return {"mixtune": __version__, "datasets": datasets.__version__, "pyarrow": pyarrow.__version__}


def write_mixture(
    out: Path,
    *,
    recipe: MixtureRecipe,
    recipe_path: Path,
    digest: str,
    plans: list[Any],
    train_sides: dict,
    test_sides: dict,
    filter_rejects: dict[str, Any],
    filter_stats: dict[str, Any],
    num_proc: int | None,
    tooled: bool = False,
) -> None:
    from datasets import DatasetDict, load_from_disk

    from mixtune.tokenizer import load_tokenizer
    from mixtures.normalise import canonical_columns
    from mixtures.report import write_report
    from mixtures.stats import split_lengths

    train, test, entries = select_splits(recipe, plans, train_sides, test_sides, tooled)
    for p in plans:
        if p.spec.filters:
            applied = recipe.filters.for_source(p.spec.filters)
            entries[p.spec.name]["filters"] = {
                "overrides": p.spec.filters,
                "enabled": [n for n in type(applied).model_fields if getattr(applied, n).enabled],
            }
    procs = num_proc if num_proc and num_proc > 1 and len(train) >= 50_000 else None
    log.info("writing %d train / %d test rows", len(train), len(test))
    shards = {name: 1 for name, split in (("train", train), ("test", test)) if len(split) == 0}
    DatasetDict({"train": train, "test": test}).save_to_disk(str(out), num_proc=procs, num_shards=shards)
    log.info("writing rejects")
    reject_counts = write_rejects(out, recipe.kind, train_sides, test_sides, filter_rejects)
    log.info("measuring lengths")

    saved = load_from_disk(str(out))
    tokenizer = None
    if recipe.tokenizer:
        from mixtures.recipe import resolve_path

        local = resolve_path(recipe_path, recipe.tokenizer)
        tokenizer = load_tokenizer(str(local) if local.exists() else recipe.tokenizer, "tokenizer")
    order = [p.spec.name for p in plans]
    stats = {split: split_lengths(saved[split], recipe.kind, order, tokenizer) for split in ("train", "test")}
    for entry in entries.values():
        entry["share_of_train"] = round(entry["train_rows"] / len(train), 6)

    manifest = {
        "name": recipe.name,
        "kind": recipe.kind,
        "hash": digest,
        "description": recipe.description,
        "seed": recipe.seed,
        "columns": [*canonical_columns(recipe.kind, tooled), "source", "id"],
        "tool_calling": tooled,
        "splits": {"train": len(train), "test": len(test)},
        "sources": entries,
        "filters": {
            "applied": bool(filter_stats.get("train") or filter_stats.get("test")),
            "stats": filter_stats,
        },
        "stats": stats,
        "tokenizer": recipe.tokenizer,
        "rejects": {"total": sum(reject_counts.values()), "by_source": reject_counts, "dir": "rejects"},
        "recipe": recipe_dict(recipe),
        "recipe_file": recipe_path.name,
        "builder": {"version": BUILD_VERSION, **_versions()},
        "files": {"report": "report.md", "plot": "composition.png"},
    }
    if recipe.kind == "completion":
        manifest.update(completion_manifest(recipe, entries))
    write_manifest(out, manifest)
    log.info("writing report.md and composition.png")
    write_report(out, manifest, saved)
