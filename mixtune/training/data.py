"""A stage recipe's data, resolved into `train`/`test` datasets plus the lineage the run record keeps.

Three ways to name data, in order of preference:
- `mixture:` a built mixture directory, or a mixtune mixture recipe (built on the fly by the
  mixtures stage in its own process, `python -m mixtures build`, cached by content hash);
- `dataset_mixture:` the alignment-handbook form (`datasets: [{id, config, split, columns, weight}]`),
  where `id` is a Hub dataset, a local data file, a `save_to_disk` directory or a built mixture;
- (translated into `dataset_mixture` by `recipe.translate`) handbook v0.3 `dataset_mixer` and TRL's
  `dataset_name`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixtune.built_mixture import load_mixture
from mixtune.errors import DataError, RecipeError
from mixtune.hashing import hash_obj
from mixtune.manifest import MANIFEST, is_built_mixture, read_manifest
from mixtune.paths import REPO_ROOT
from mixtune.training.recipe import DatasetEntry, DatasetMixture, MixtuneOptions, resolve_recipe_path
from mixtune.training.run_record import MixtureLineage

log = logging.getLogger(__name__)

# Columns a stage can train on, per data kind ("sft" rows or "preference" rows). Everything else is
# dropped before datasets are concatenated, so sources with different extra columns still mix.
SFT_COLUMN_SETS = (("messages",), ("conversations",), ("prompt", "completion"), ("text",))
PREFERENCE_COLUMN_SETS = (("prompt", "chosen", "rejected"), ("chosen", "rejected"))
COMPLETION_COLUMN_SETS = (("content",),)  # one row = one file (The Stack's column name)
COLUMN_SETS = {
    "sft": SFT_COLUMN_SETS,
    "preference": PREFERENCE_COLUMN_SETS,
    "completion": COMPLETION_COLUMN_SETS,
}
DATA_FILE_BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".parquet": "parquet",
    ".csv": "csv",
    ".arrow": "arrow",
}


@dataclass
class TrainingData:
    """Datasets ready for a TRL trainer, and where they came from."""

    train: Any  # datasets.Dataset
    test: Any | None  # datasets.Dataset or None
    mixtures: list[MixtureLineage] = field(default_factory=list)

    def composition(self) -> dict[str, int]:
        return source_counts(self.train)


def source_counts(dataset: Any) -> dict[str, int]:
    """Training rows per `source` (one bucket, 'unknown', when the rows carry no source)."""
    if dataset is None:
        return {}
    if "source" not in dataset.column_names:
        return {"unknown": len(dataset)}
    counts: dict[str, int] = {}
    for value in dataset["source"]:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return dict(sorted(counts.items()))


def _usable_columns(column_names: list[str], kind: str, where: str) -> list[str]:
    sets = COLUMN_SETS[kind]
    for cols in sets:
        if all(c in column_names for c in cols):
            kept = ("tools", "source", "id") if cols == ("messages",) else ("source", "id")
            if kind == "completion":
                kept = ("path", "repo", "language", "source", "id")
            extra = [c for c in kept if c in column_names]
            return [*cols, *extra]
    wanted = " | ".join("+".join(s) for s in sets)
    raise DataError(f"{where}: no trainable columns for {kind} data (need {wanted}); it has {column_names}")


# ---- tool-calling SFT rows ----
# Stored as the mixture contract says (README "Data contracts"): `tools` is JSON text, each message
# has `tool_calls` (arguments as JSON text), `name` and `tool_call_id`. Arrow holds one schema per
# column, so arguments kept as objects would be merged across rows (every row gaining every other
# row's keys as nulls); as text, each call keeps exactly its own arguments.


def stored_message_feature() -> Any:
    from datasets import List, Value

    call = {
        "id": Value("string"),
        "type": Value("string"),
        "function": {"name": Value("string"), "arguments": Value("string")},
    }
    return List(
        {
            "role": Value("string"),
            "content": Value("string"),
            "tool_calls": List(call),
            "name": Value("string"),
            "tool_call_id": Value("string"),
        }
    )


def has_tool_fields(features: Any) -> bool:
    """Whether SFT rows of this schema can carry tool calling (a `tools` column or tool message fields)."""
    if "tools" in features:
        return True
    messages = features.get("messages")
    inner = getattr(messages, "feature", None)
    if isinstance(messages, list) and messages:
        inner = messages[0]
    return isinstance(inner, dict) and "tool_calls" in inner


def stored_tool_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    """One SFT row in the stored tool-calling form, from JSON text or objects alike (canonical JSON
    text: what the chat template renders for the object, so both forms train identically)."""
    from mixtune.chat_format import canonical_arguments, decode_tools
    from mixtune.errors import MixtuneError

    try:
        tools = decode_tools(row.get("tools"), f"{where}: tools")
        messages = []
        for i, m in enumerate(row["messages"]):
            calls = None
            if m.get("tool_calls"):
                calls = []
                for j, call in enumerate(m["tool_calls"]):
                    at = f"{where}: messages.{i}.tool_calls.{j}"
                    fn = call.get("function", call) if isinstance(call, dict) else None
                    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                        raise DataError(f"{at}: a tool call needs a function name")
                    calls.append(
                        {
                            "id": None if call.get("id") is None else str(call["id"]),
                            "type": "function",
                            "function": {
                                "name": fn["name"],
                                "arguments": canonical_arguments(fn.get("arguments"), at),
                            },
                        }
                    )
            messages.append(
                {
                    "role": m.get("role"),
                    "content": m.get("content") if m.get("content") is not None else "",
                    "tool_calls": calls,
                    "name": m.get("name"),
                    "tool_call_id": m.get("tool_call_id"),
                }
            )
    except MixtuneError as exc:
        raise DataError(str(exc)) from None
    return {**row, "messages": messages, "tools": json.dumps(tools, ensure_ascii=False) if tools else None}


def _row_where(row: dict[str, Any], index: int, origin: str) -> str:
    ident = row.get("id")
    return f"{origin} row {index}" + (f" (id {ident})" if ident else "")


def to_stored_tool_rows(ds: Any, origin: str) -> Any:
    """`ds` with its SFT rows in the stored tool-calling schema (validated; errors name the row)."""
    import datasets

    features = datasets.Features(
        {
            **{k: v for k, v in ds.features.items() if k not in ("messages", "tools")},
            "messages": stored_message_feature(),
            "tools": datasets.Value("string"),
        }
    )
    return ds.map(
        lambda row, i: stored_tool_row(row, _row_where(row, i, origin)),
        with_indices=True,
        features=features,
        desc="checking tool-calling rows",
    )


def _raw_tool_rows(path: Path) -> Any | None:
    """A local JSON Lines (or JSON array) file whose rows use tool calling, read row by row, so a bad
    call is named by file:line and no row depends on how the installed `datasets` infers one schema
    for objects of different shapes (some versions merge every call's argument names into every
    other call); None if no row uses tool calling."""
    import datasets

    from mixtune.jsonl import read_json_objects

    if path.suffix not in (".jsonl", ".json"):
        return None
    rows = None
    if path.suffix == ".json":  # a JSON array of rows, or JSON Lines named .json
        try:
            whole = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, RecursionError, UnicodeDecodeError):
            whole = None
        if isinstance(whole, dict):
            return None  # one object (e.g. {"data": [...]}): datasets' own reader
        if isinstance(whole, list):
            if not all(isinstance(r, dict) for r in whole):
                return None  # not rows; datasets' reader says what it is
            rows = [(f"row {i}", r) for i, r in enumerate(whole)]
    if rows is None:
        rows = read_json_objects(path)
    if not any(
        "tools" in r or any(isinstance(m, dict) and m.get("tool_calls") for m in r.get("messages") or [])
        for _, r in rows
    ):
        return None
    out = []
    for where, row in rows:
        at = f"{path}: {where}" if isinstance(where, str) else f"{path}:{where}"
        if not isinstance(row.get("messages"), list):
            raise DataError(f"{at}: expected a 'messages' list")
        out.append(stored_tool_row(row, at))
    return datasets.Dataset.from_list(out)


def _is_built_mixture(path: Path) -> bool:
    return is_built_mixture(path)


def _load_built_mixture(path: Path, kind: str, stage: str) -> tuple[Any, Any | None, MixtureLineage]:
    manifest = read_manifest(path)
    if manifest.get("kind") and manifest["kind"] != kind:
        raise DataError(f"{path}: is a '{manifest['kind']}' mixture; the {stage} stage needs '{kind}' rows")
    dd = load_mixture(path)
    if "train" not in dd:
        raise DataError(f"{path}: built mixture has no train split")
    train = dd["train"]
    test = dd["test"] if "test" in dd and len(dd["test"]) > 0 else None
    lineage = MixtureLineage(
        stage=stage,
        name=str(manifest.get("name", path.name)),
        hash=str(manifest.get("hash", "")),
        path=str(path.resolve()),
        composition=source_counts(train),
    )
    return train, test, lineage


def build_mixture_recipe(recipe: Path) -> Path:
    """Build (or find built: the mixtures stage caches by content hash) the mixture a recipe file
    describes, by running the mixtures stage as its own process (`python -m mixtures build`): stages
    talk through files, so training reads what the build wrote and imports nothing of it."""
    log.info("building mixture %s (cached by content hash)", recipe)
    cmd = [sys.executable, "-m", "mixtures", "build", str(recipe)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_with_repo_on_path(), check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not is_built_mixture(Path(lines[-1])):
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataError(f"mixture: {recipe}: the mixture build failed (exit {done.returncode}): {why}")
    for line in lines[:-1]:
        log.info("%s", line)
    return Path(lines[-1])


def _with_repo_on_path() -> dict[str, str]:
    """The environment for a stage subprocess: this checkout importable as in this process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def load_mixtune_mixture(value: str, recipe_path: Path | None, kind: str, stage: str) -> TrainingData:
    """`mixture:` a built mixture dir, or a mixture recipe built (and cached) here."""
    path = resolve_recipe_path(value, recipe_path)
    if _is_built_mixture(path):
        built = path
    elif path.is_file() and path.suffix in (".yaml", ".yml"):
        built = build_mixture_recipe(path)
    else:
        raise RecipeError(
            f"mixture: '{value}' is neither a built mixture directory (with {MANIFEST}) nor a mixture recipe (.yaml)"
        )
    train, test, lineage = _load_built_mixture(built, kind, stage)
    return TrainingData(train, test, [lineage])


def load_dataset_entry(entry: DatasetEntry, recipe_path: Path | None, kind: str) -> Any:
    """One `dataset_mixture` entry as a `datasets.Dataset` (columns trimmed to what training reads)."""
    import datasets

    where = f"dataset_mixture: {entry.id}"
    local = resolve_recipe_path(entry.id, recipe_path)
    try:
        if _is_built_mixture(local):
            ds = load_mixture(local)[entry.split]
        elif local.is_dir() and ((local / "dataset_dict.json").is_file() or (local / "state.json").is_file()):
            loaded = datasets.load_from_disk(str(local))
            ds = loaded[entry.split] if isinstance(loaded, datasets.DatasetDict) else loaded
        elif local.is_file() and kind == "sft" and (raw := _raw_tool_rows(local)) is not None:
            ds = raw
        elif local.is_file() and local.suffix in DATA_FILE_BUILDERS:
            ds = datasets.load_dataset(DATA_FILE_BUILDERS[local.suffix], data_files=str(local), split="train")
        else:
            ds = datasets.load_dataset(
                entry.id,
                entry.config,
                split=entry.split,
                data_files=entry.data_files,
                data_dir=entry.data_dir,
                revision=entry.revision,
            )
    except KeyError:
        raise DataError(f"{where}: has no split '{entry.split}'") from None
    except (FileNotFoundError, ValueError, ConnectionError) as exc:
        raise DataError(f"{where}: cannot load ({type(exc).__name__}: {exc})") from None
    if entry.columns:
        missing = [c for c in entry.columns if c not in ds.column_names]
        if missing:
            raise DataError(f"{where}: columns {missing} not found; it has {ds.column_names}")
        ds = ds.select_columns(entry.columns)
    ds = ds.select_columns(_usable_columns(ds.column_names, kind, where))
    if "source" not in ds.column_names:
        ds = ds.add_column("source", [entry.id] * len(ds))
    return ds


def _take_weight(ds: Any, weight: float | None, seed: int) -> Any:
    """Handbook semantics: `weight` is the fraction of this dataset's rows kept (>1 repeats rows)."""
    if weight is None or weight == 1.0:
        return ds
    import datasets

    whole, frac = int(weight), weight - int(weight)
    parts = [ds] * whole
    n = int(len(ds) * frac)
    if n:
        parts.append(ds.shuffle(seed=seed).select(range(n)))
    if not parts:
        return ds.select([])
    return datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def _concat(parts: list[Any], what: str) -> Any:
    import datasets

    if any("messages" in p.column_names and has_tool_fields(p.features) for p in parts):
        # sources with and without tool calling mix: every one in the stored tool schema
        parts = [to_stored_tool_rows(p, what) if "messages" in p.column_names else p for p in parts]
    try:
        return datasets.concatenate_datasets(parts)
    except ValueError as exc:
        raise DataError(f"dataset_mixture: the {what} datasets have incompatible columns ({exc})") from None


def load_handbook_mixture(
    mixture: DatasetMixture, recipe_path: Path | None, kind: str, stage: str, source: str
) -> TrainingData:
    """alignment-handbook `dataset_mixture`: weighted, concatenated, shuffled, then split."""
    train_parts = []
    for entry in mixture.datasets:
        ds = load_dataset_entry(entry, recipe_path, kind)
        train_parts.append(_take_weight(ds, entry.weight, mixture.seed))
    train = _concat(train_parts, "train").shuffle(seed=mixture.seed)
    test = None
    if mixture.test_datasets:
        test = _concat([load_dataset_entry(e, recipe_path, kind) for e in mixture.test_datasets], "test")
    elif mixture.test_split_size:
        split = train.train_test_split(test_size=mixture.test_split_size, seed=mixture.seed)
        train, test = split["train"], split["test"]
    fingerprints = [p._fingerprint for p in train_parts]
    lineage = MixtureLineage(
        stage=stage,
        name=Path(source).stem if source else "dataset_mixture",
        hash=hash_obj({"mixture": mixture.model_dump(), "data": fingerprints}),
        path=str(recipe_path.resolve()) if recipe_path else "",
        composition=source_counts(train),
    )
    return TrainingData(train, test, [lineage])


def _insert_empty_system(row: dict[str, Any]) -> dict[str, Any]:
    messages = row["messages"]
    if messages and messages[0]["role"] != "system":
        empty = {key: None for key in messages[0]} | {"role": "system", "content": ""}
        messages = [empty, *messages]
    return {"messages": messages}


def load_training_data(
    options: MixtuneOptions,
    kind: str,
    stage: str,
    recipe_path: Path | None = None,
    source: str = "",
) -> TrainingData:
    """Resolve the recipe's data source into train/test datasets of `kind` rows ("sft" or "preference").

    In a distributed run the main process builds (and caches) first; the others then read the cache.
    """
    from accelerate import PartialState

    with PartialState().main_process_first():
        if options.mixture:
            data = load_mixtune_mixture(options.mixture, recipe_path, kind, stage)
        elif options.dataset_mixture:
            data = load_handbook_mixture(options.dataset_mixture, recipe_path, kind, stage, source)
        else:
            raise RecipeError(f"{source}: no training data: set 'mixture' (mixtune) or 'dataset_mixture'")
    if len(data.train) == 0:
        raise DataError(f"{source}: the training data is empty")
    if options.max_train_samples is not None and options.max_train_samples < len(data.train):
        data.train = data.train.select(range(options.max_train_samples))
    if data.test is not None and options.max_eval_samples is not None:
        n = min(options.max_eval_samples, len(data.test))
        data.test = data.test.select(range(n)) if n else None
    if kind == "sft" and "messages" in data.train.column_names and has_tool_fields(data.train.features):
        data.train = to_stored_tool_rows(data.train, f"{source}: train")
        if data.test is not None:
            data.test = to_stored_tool_rows(data.test, f"{source}: test")
    if options.auto_insert_empty_system_msg and "messages" in data.train.column_names:
        data.train = data.train.map(_insert_empty_system, desc="inserting empty system turns")
        if data.test is not None:
            data.test = data.test.map(_insert_empty_system, desc="inserting empty system turns")
    for lineage in data.mixtures:
        lineage.composition = source_counts(data.train)
    return data
