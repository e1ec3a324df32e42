"""Completion recipes: transformers `TrainingArguments` + TRL `ModelConfig` keys (LoRA / QLoRA as in
SFT), the data keys every stage has (`mixture`: a `kind: completion` mixture; `dataset_mixture`:
datasets with a `content` column, one file per row, as The Stack has), and the FIM keys:

    fim_rate: 0.5        # share of documents transformed (StarCoder / personal copilot: 0.5)
    fim_spm_rate: 0.5    # share of those in SPM layout, the rest PSM
    seq_length: 2048     # tokens per packed row
    loss_on: middle      # middle: the middle (+ end token) of FIM documents, all of plain ones;
                         # all: every token (StarCoder's pre-training convention)
    packing: true        # several documents per row, kept apart by position ids

The personal-copilot scripts' names (`seq_length`, `max_seq_len`, `max_seq_length`, `max_length`)
all mean `seq_length`; each translation is noted like every other recipe translation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from mixtune.errors import RecipeError
from mixtune.training.recipe import (
    MixtuneOptions,
    StageRecipe,
    build_stage_recipe,
    load_recipe_file,
    require_model_and_data,
)

SEQ_LENGTH_ALIASES = ("max_seq_len", "max_seq_length", "max_length")


class CompletionOptions(MixtuneOptions):
    """mixtune's completion keys (next to TrainingArguments / ModelConfig keys)."""

    fim_rate: float = Field(default=0.5, ge=0.0, le=1.0, description="share of documents in FIM layout")
    fim_spm_rate: float = Field(default=0.5, ge=0.0, le=1.0, description="share of FIM documents in SPM")
    seq_length: int = Field(default=2048, gt=16, description="tokens per packed row")
    loss_on: Literal["middle", "all"] = Field(
        default="middle", description="middle: FIM middles (+ end) and plain documents; all: every token"
    )
    packing: bool = Field(default=True, description="several documents per row (position-id document mask)")
    merge_adapter: bool = Field(
        default=True,
        description="LoRA: save merged full weights (adapter kept in adapter/); false: adapter only",
    )


def completion_config_cls() -> type:
    from completion.config import CompletionConfig

    return CompletionConfig


def _seq_length_aliases(data: dict[str, Any], source: str) -> tuple[dict[str, Any], list[str]]:
    out, notes = dict(data), []
    for alias in SEQ_LENGTH_ALIASES:
        if alias not in out:
            continue
        value = out.pop(alias)
        if "seq_length" in out and out["seq_length"] != value:
            raise RecipeError(f"{source}: both '{alias}' and 'seq_length' are set, to different values")
        out["seq_length"] = value
        notes.append(f"{alias} -> seq_length")
    return out, notes


def build_completion_recipe(
    data: dict[str, Any],
    source: str = "<recipe>",
    overrides: dict[str, Any] | None = None,
    path: Path | None = None,
) -> StageRecipe:
    """Validate a completion recipe given as a mapping (overrides applied first); errors name `source`
    and the key."""
    from mixtune.training.overrides import apply_overrides

    if overrides:
        data = apply_overrides(data, overrides)
    data, notes = _seq_length_aliases(data, source)
    recipe = build_stage_recipe(
        data, completion_config_cls(), "completion", source, options_cls=CompletionOptions, path=path
    )
    recipe.notes[:0] = notes
    return require_model_and_data(recipe, rows="code")


def load_completion_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> StageRecipe:
    """Load, translate and validate a completion recipe file; no model or data is touched."""
    return load_recipe_file(path, build_completion_recipe, overrides)
