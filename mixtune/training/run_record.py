"""The run record `mixtune_run.json`: a trained model directory's lineage and numbers.

Evals and the playground read it to say which base model, which mixtures (by hash) and which
hyper-parameters produced a model. It is written last, so its presence also marks a finished run.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mixtune.hashing import canonical_json
from mixtune.run_record import RUN_RECORD, read_run_record

# The optimizer schedule, first on the model card and in the record.
SCHEDULE_ARGS = (
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
)
# Trainer arguments every stage records in mixtune_run.json (stages add their own, e.g. DPO's beta).
RECORDED_TRAINING_ARGS = (
    *SCHEDULE_ARGS,
    "max_length",
    "loss_type",
    "bf16",
    "fp16",
    "activation_checkpointing",
    "optim",
    "weight_decay",
    "seed",
)


@dataclass
class MixtureLineage:
    """One mixture a model was trained on: enough to find it again and to compare runs by mixture."""

    stage: str  # "sft" | "dpo"
    name: str
    hash: str
    path: str
    composition: dict[str, int]  # source -> training rows

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DataStats:
    """What a stage did to one split's rows before training: every row is kept or counted as dropped
    (by reason); `truncated` counts kept rows cut to fit, by part (SFT: sequences; DPO: prompts,
    completions)."""

    rows_in: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    truncated: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunRecord:
    """The contract of `mixtune_run.json`: the same keys for every training stage (what only one
    stage has goes under `stage_details`), so readers never branch on the stage."""

    stage: str
    parent_model: str
    base_model: str
    mixtures: list[dict[str, Any]]
    hyperparameters: dict[str, Any]
    metrics: dict[str, Any]
    versions: dict[str, str]
    recipe: dict[str, Any]
    parent_run: dict[str, Any] = field(default_factory=dict)  # the parent's stage, mixtures, learning rate
    data: dict[str, Any] = field(default_factory=dict)  # split -> DataStats.as_dict()
    batching: dict[str, Any] = field(default_factory=dict)  # mode, why, probe (measured figures)
    saved_as: str = ""
    resumed_from: str | None = None
    notes: list[str] = field(default_factory=list)
    device: dict[str, Any] = field(default_factory=dict)  # Capabilities.as_dict()
    seconds: float = 0.0
    log_history: list[dict[str, Any]] = field(default_factory=list)
    stage_details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def library_versions() -> dict[str, str]:
    """Versions of everything that changes training results."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("mixtune", "torch", "transformers", "trl", "datasets", "accelerate", "peft", "deepspeed"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def parent_run_summary(model_name: str) -> dict[str, Any]:
    """The parent model's own run in brief (its stage, that stage's mixtures, its learning rate);
    stage None when the parent is not a mixtune run."""
    parent = read_run_record(model_name) if Path(model_name).is_dir() else None
    if not parent:
        return {"model": model_name, "stage": None}
    mixes = [m for m in parent.get("mixtures", []) if m.get("stage") == parent.get("stage")]
    return {
        "model": model_name,
        "stage": parent.get("stage"),
        "base_model": parent.get("base_model"),
        "mixtures": [{"name": m.get("name"), "hash": m.get("hash")} for m in mixes],
        "learning_rate": parent.get("hyperparameters", {}).get("learning_rate"),
    }


def base_model_of(model_name_or_path: str) -> str:
    """The base model at the root of a model's lineage: its run record's base_model, else itself."""
    record = read_run_record(model_name_or_path) if Path(model_name_or_path).is_dir() else None
    if record and record.get("base_model"):
        return str(record["base_model"])
    return model_name_or_path


def parent_mixtures(model_name_or_path: str) -> list[dict[str, Any]]:
    """The mixtures earlier stages trained a parent model on (so a DPO record lists SFT's mixture too)."""
    record = read_run_record(model_name_or_path) if Path(model_name_or_path).is_dir() else None
    return list(record.get("mixtures", [])) if record else []


def json_safe(obj: Any) -> Any:
    """Round-trip through mixtune's canonical JSON (enums, paths and dtypes become strings)."""
    return json.loads(canonical_json(obj))


def write_run_record(output_dir: str | Path, record: RunRecord) -> Path:
    """Write `mixtune_run.json` atomically (temp file + rename), last of all outputs."""
    path = Path(output_dir) / RUN_RECORD
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(
        json.dumps(json_safe(record.as_dict()), indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    tmp.replace(path)
    return path
