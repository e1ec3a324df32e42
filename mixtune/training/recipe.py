"""Stage recipes: one YAML mapping whose keys are TRL's `ModelConfig` fields, the stage's TRL config
fields (`SFTConfig`, `DPOConfig`, ...) and a few mixtune options (data source, chat template).

Recipes written for alignment-handbook (v0.3 `dataset_mixer`, v0.4 `dataset_mixture`) or for older
transformers/TRL releases (`max_seq_length`, `torch_dtype`, `warmup_ratio`, ...) are translated to
today's names instead of being rejected; every translation is recorded in `StageRecipe.notes`.
Every key is then type-checked, and an unknown key is an error naming the file, the key and the
closest valid key, before any model or data is loaded.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from mixtune.errors import RecipeError
from mixtune.paths import REPO_ROOT
from mixtune.recipe_io import format_validation_error, load_yaml, suggest
from mixtune.training.overrides import apply_overrides


class DatasetEntry(BaseModel):
    """One dataset of an alignment-handbook / TRL mixture. `id` is a Hub id, a local data file
    (.jsonl/.json/.parquet/.csv), a directory written by `save_to_disk`, or a built mixtune mixture."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(validation_alias="id")
    config: str | None = None
    split: str = "train"
    columns: list[str] | None = None
    weight: float | None = Field(default=None, ge=0.0)
    data_files: str | list[str] | dict[str, str] | None = None
    data_dir: str | None = None
    revision: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _trl_names(cls, data: Any) -> Any:
        # TRL's DatasetConfig says path/name/fraction where the handbook says id/config/weight
        if isinstance(data, dict):
            data = dict(data)
            for old, new in (("path", "id"), ("name", "config"), ("fraction", "weight")):
                if old in data and new not in data:
                    data[new] = data.pop(old)
        return data


class DatasetMixture(BaseModel):
    """alignment-handbook v0.4 `dataset_mixture` (`weight` = fraction of that dataset's rows kept).

    `test_datasets` holds test splits named explicitly (the v0.3 `dataset_splits` convention);
    otherwise `test_split_size` carves a test split out of the shuffled training rows.
    """

    model_config = ConfigDict(extra="forbid")

    datasets: list[DatasetEntry] = Field(min_length=1)
    seed: int = 0
    test_split_size: float | int | None = Field(default=None, gt=0)
    test_datasets: list[DatasetEntry] = Field(default_factory=list)


class MixtuneOptions(BaseModel):
    """The recipe keys that are mixtune's own (everything else is TRL's)."""

    model_config = ConfigDict(extra="forbid")

    mixture: str | None = Field(
        default=None, description="a mixtune mixture recipe (.yaml, built and cached) or a built mixture dir"
    )
    dataset_mixture: DatasetMixture | None = None
    chat_template: str | None = Field(
        default=None,
        description="template name (chatml, starchat) replaces the tokenizer's template; 'tokenizer' "
        "insists on the tokenizer's own; a .jinja file or inline Jinja; default: keep an existing "
        "template, else chatml",
    )
    auto_insert_empty_system_msg: bool = False
    max_train_samples: int | None = Field(default=None, gt=0)
    max_eval_samples: int | None = Field(default=None, ge=0)
    overwrite: bool = False
    merge_adapter: bool = Field(
        default=True,
        description="with LoRA, save merged full weights (the directory then serves like any model); "
        "the adapter alone is kept in adapter/",
    )

    @model_validator(mode="after")
    def _one_data_source(self) -> MixtuneOptions:
        if self.mixture and self.dataset_mixture:
            raise ValueError("give either 'mixture' or 'dataset_mixture', not both")
        return self


# Old or foreign names -> today's names (value unchanged).
RENAMES: dict[str, str] = {
    "max_seq_length": "max_length",
    "torch_dtype": "dtype",
    "evaluation_strategy": "eval_strategy",
    "warmup_ratio": "warmup_steps",
    "no_cuda": "use_cpu",
    "preprocessing_num_workers": "dataset_num_proc",
    "overwrite_output_dir": "overwrite",
    "gradient_checkpointing": "activation_checkpointing",
    "gradient_checkpointing_kwargs": "activation_checkpointing_kwargs",
}
# Keys that configured things transformers/TRL no longer have; accepted and dropped with a note.
DROPPED: dict[str, str] = {
    "logging_dir": "transformers 5 has no logging_dir (set TENSORBOARD_LOGGING_DIR instead)",
    "include_tokens_per_second": "mixtune always logs throughput in the run record",
    "model_code_revision": "use model_revision",
    "ignore_bias_buffers": "not needed with today's DDP",
    "dataset_streaming": "mixtune reads memory-mapped Arrow datasets; streaming is not used",
}


def translate(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Rewrite alignment-handbook / older TRL field names into the current ones.

    Returns the new mapping and a human note per translation. Never drops a key silently.
    """
    out = dict(data)
    notes: list[str] = []
    for old, new in RENAMES.items():
        if old not in out:
            continue
        value = out.pop(old)
        if new in out and out[new] != value and not (new == "warmup_steps" and not out[new]):
            raise RecipeError(f"both '{old}' (old name) and '{new}' are set, to different values")
        out[new] = value
        notes.append(f"{old} -> {new}")
    for old, why in DROPPED.items():
        if old in out:
            out.pop(old)
            notes.append(f"{old} dropped: {why}")
    if "use_flash_attention_2" in out:
        if out.pop("use_flash_attention_2"):
            out.setdefault("attn_implementation", "flash_attention_2")
        notes.append("use_flash_attention_2 -> attn_implementation")
    if "group_by_length" in out:
        if out.pop("group_by_length"):
            out["train_sampling_strategy"] = "group_by_length"
        notes.append("group_by_length -> train_sampling_strategy")
    if "truncation_side" in out:
        side = out.pop("truncation_side")
        out.setdefault("truncation_mode", "keep_end" if side == "left" else "keep_start")
        notes.append("truncation_side -> truncation_mode")
    if "gradient_checkpointing_use_reentrant" in out:
        kwargs = dict(out.get("activation_checkpointing_kwargs") or {})
        kwargs.setdefault("use_reentrant", bool(out.pop("gradient_checkpointing_use_reentrant")))
        out["activation_checkpointing_kwargs"] = kwargs
        notes.append("gradient_checkpointing_use_reentrant -> gradient_checkpointing_kwargs")
    _translate_dataset_mixer(out, notes)
    _translate_dataset_name(out, notes)
    mixture = out.get("dataset_mixture")
    if isinstance(mixture, dict) and "datasets" not in mixture and mixture:
        # `dataset_mixture: {name: fraction}` (the v0.3 mapping under the v0.4 key)
        out["dataset_mixture"] = {"datasets": [{"id": k, "weight": v} for k, v in mixture.items()]}
        notes.append("dataset_mixture {name: fraction} -> dataset_mixture.datasets")
    return out, notes


def _translate_dataset_mixer(out: dict[str, Any], notes: list[str]) -> None:
    """v0.3: dataset_mixer {name: fraction}, dataset_splits [train_x, test_x], dataset_configs [...]"""
    splits = out.pop("dataset_splits", None)
    configs = out.pop("dataset_configs", None)
    if "dataset_mixer" not in out:
        if splits is not None or configs is not None:
            raise RecipeError("dataset_splits/dataset_configs are only meaningful with dataset_mixer")
        return
    mixer = out.pop("dataset_mixer")
    if not isinstance(mixer, dict) or not mixer:
        raise RecipeError("dataset_mixer must be a mapping {dataset: fraction}")
    if "dataset_mixture" in out:
        raise RecipeError("give either dataset_mixer (v0.3) or dataset_mixture (v0.4), not both")
    splits = list(splits or ["train", "test"])
    configs = list(configs or [None] * len(mixer))
    if len(configs) != len(mixer):
        raise RecipeError(
            f"dataset_configs has {len(configs)} entries for {len(mixer)} datasets in dataset_mixer"
        )
    train, test = [], []
    for (name, frac), config in zip(mixer.items(), configs, strict=True):
        for split in splits:
            entry = {"id": name, "config": config, "split": split}
            if "train" in split:
                train.append({**entry, "weight": frac})
            elif "test" in split:
                test.append(entry)
            else:
                raise RecipeError(f"dataset_splits: '{split}' names neither a train nor a test split")
    out["dataset_mixture"] = {"datasets": train, "test_datasets": test}
    notes.append("dataset_mixer (v0.3) -> dataset_mixture")


def _translate_dataset_name(out: dict[str, Any], notes: list[str]) -> None:
    """TRL ScriptArguments: dataset_name / dataset_config / dataset_train_split / dataset_test_split."""
    keys = ("dataset_name", "dataset_config", "dataset_train_split", "dataset_test_split")
    if "dataset_name" not in out:
        if any(k in out for k in keys):
            raise RecipeError(f"{', '.join(k for k in keys if k in out)} given without dataset_name")
        return
    if "dataset_mixture" in out:
        raise RecipeError("give either dataset_name or dataset_mixture, not both")
    name, config = out.pop("dataset_name"), out.pop("dataset_config", None)
    train_split = out.pop("dataset_train_split", "train")
    test_split = out.pop("dataset_test_split", None)
    mixture: dict[str, Any] = {"datasets": [{"id": name, "config": config, "split": train_split}]}
    if test_split:
        mixture["test_datasets"] = [{"id": name, "config": config, "split": test_split}]
    out["dataset_mixture"] = mixture
    notes.append("dataset_name -> dataset_mixture")


@functools.cache
def _dataclass_validator(cls: type) -> type[BaseModel]:
    """A pydantic model with one optional field per init field of a dataclass, for type checking."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.init and not f.name.startswith("_"):
            fields[f.name] = (hints.get(f.name, Any) | None, None)
    return create_model(  # type: ignore[call-overload]
        f"{cls.__name__}Fields",
        __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        **fields,
    )


def dataclass_field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}


@dataclass
class StageRecipe:
    """A validated stage recipe, split into the three places its keys go."""

    stage: str
    source: str
    model: dict[str, Any]  # trl.ModelConfig keyword arguments
    training: dict[str, Any]  # the stage's TRL config keyword arguments
    options: MixtuneOptions  # mixtune's own keys (or a subclass of it for the stage)
    resolved: dict[str, Any]  # the whole recipe after translation and overrides (for the run record)
    notes: list[str] = field(default_factory=list)
    path: Path | None = None

    def model_config(self) -> Any:
        """The `trl.ModelConfig` this recipe describes."""
        from trl import ModelConfig

        return ModelConfig(**self.model)

    def training_config(self, config_cls: type, defaults: dict[str, Any] | None = None, **forced: Any) -> Any:
        """Build the stage's TRL config: `defaults` < the recipe's values < `forced` (capability decisions).

        `gradient_checkpointing` is transformers' deprecated alias of `activation_checkpointing`;
        the value (TRL's default True when unset) is passed under the new name only.
        """
        kwargs = {**(defaults or {}), **self.training, **forced}
        if kwargs.get("activation_checkpointing") is None:
            kwargs["activation_checkpointing"] = kwargs.get("gradient_checkpointing", True)
        kwargs["gradient_checkpointing"] = None
        if (
            kwargs.get("activation_checkpointing_kwargs") is None
            and "gradient_checkpointing_kwargs" in kwargs
        ):
            kwargs["activation_checkpointing_kwargs"] = kwargs["gradient_checkpointing_kwargs"]
        kwargs.pop("gradient_checkpointing_kwargs", None)
        try:
            return config_cls(**kwargs)
        except (ValueError, TypeError) as exc:
            raise RecipeError(f"{self.source}: {exc}") from None

    def resolve_path(self, value: str) -> Path:
        """A path named in the recipe, relative to the working directory, the recipe or the repository."""
        return resolve_recipe_path(value, self.path)


def resolve_recipe_path(value: str | Path, recipe_path: Path | None) -> Path:
    """Find a relative path as given, then next to the recipe, then under the repository root."""
    p = Path(value).expanduser()
    if p.is_absolute() or p.exists():
        return p
    for base in ([recipe_path.parent] if recipe_path else []) + [REPO_ROOT]:
        candidate = base / p
        if candidate.exists():
            return candidate
    return p


def build_stage_recipe(
    data: dict[str, Any],
    config_cls: type,
    stage: str,
    source: str = "<recipe>",
    options_cls: type[MixtuneOptions] = MixtuneOptions,
    overrides: dict[str, Any] | None = None,
    path: Path | None = None,
    translate_stage: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    needs: tuple[str, str] | None = None,
) -> StageRecipe:
    """Override, translate (the common translations, then the stage's own `translate_stage`) and
    validate a recipe mapping for a stage whose TRL config is `config_cls`.

    Unknown keys and wrong types raise RecipeError naming `source` and each key at fault. With
    `needs` = (what the model is, what the rows are), a missing model or data source is one too.
    """
    from trl import ModelConfig

    if overrides:
        data = apply_overrides(data, overrides)
    try:
        translated, notes = translate(translate_stage(data) if translate_stage else data)
    except RecipeError as exc:
        raise RecipeError(f"{source}: {exc}") from None
    model_keys = dataclass_field_names(ModelConfig)
    config_keys = dataclass_field_names(config_cls)
    option_keys = set(options_cls.model_fields)
    parts: dict[str, dict[str, Any]] = {"model": {}, "training": {}, "options": {}}
    errors: list[str] = []
    for key, value in translated.items():
        if key in option_keys:
            parts["options"][key] = value
        elif key in model_keys:
            parts["model"][key] = value
        elif key in config_keys:
            parts["training"][key] = value
        else:
            hint = suggest(key, model_keys | config_keys | option_keys)
            errors.append(f"{source}: {key}: unknown key{hint}")
    checks: list[tuple[str, type[BaseModel]]] = [
        ("model", _dataclass_validator(ModelConfig)),
        ("training", _dataclass_validator(config_cls)),
        ("options", options_cls),
    ]
    validated: dict[str, Any] = {}
    for part, model in checks:
        try:
            validated[part] = model.model_validate(parts[part])
        except ValidationError as exc:
            errors.append(format_validation_error(exc, model, source))
    if errors:
        raise RecipeError("\n".join(errors))
    recipe = StageRecipe(
        stage=stage,
        source=source,
        model=_checked_values(parts["model"], validated["model"]),
        training=_checked_values(parts["training"], validated["training"]),
        options=validated["options"],
        resolved=translated,
        notes=notes,
        path=path,
    )
    return require_model_and_data(recipe, *needs) if needs else recipe


def _checked_values(raw: dict[str, Any], checked: BaseModel) -> dict[str, Any]:
    """The recipe's own values, except text that validation turned into a number ('2e-5' -> 2e-05)."""
    out = {}
    for key, value in raw.items():
        new = getattr(checked, key)
        out[key] = new if isinstance(value, str) and isinstance(new, (int, float)) else value
    return out


def require_model_and_data(recipe: StageRecipe, starts_from: str = "", rows: str = "training") -> StageRecipe:
    """A stage needs a model to start from and data to train on: say which key is missing."""
    if not recipe.model.get("model_name_or_path"):
        why = f" ({starts_from})" if starts_from else ""
        raise RecipeError(f"{recipe.source}: model_name_or_path: required{why}")
    if not (recipe.options.mixture or recipe.options.dataset_mixture):
        raise RecipeError(f"{recipe.source}: no {rows} data: set 'mixture' or 'dataset_mixture'")
    return recipe


Overrides = dict[str, Any] | None  # `--key value` overrides of recipe keys


def load_recipe_file(
    path: str | Path,
    build: Callable[..., StageRecipe],
    overrides: dict[str, Any] | None = None,
) -> StageRecipe:
    """Load a YAML stage recipe with the stage's `build_<stage>_recipe(data, source, overrides, path)`;
    errors name the file and key."""
    path = Path(path)
    return build(load_yaml(path), str(path), overrides, path=path)
