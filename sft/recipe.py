"""SFT recipes: TRL `SFTConfig` + `ModelConfig` field names (alignment-handbook SFT recipes run
unchanged), plus mixtune's own keys for how batches are formed and how the loss is computed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from mixtune.training.recipe import (
    MixtuneOptions,
    Overrides,
    StageRecipe,
    build_stage_recipe,
    load_recipe_file,
)
from sft.batching import BatchingMode


class SFTOptions(MixtuneOptions):
    """mixtune's SFT keys (next to TRL's SFTConfig / ModelConfig keys)."""

    batching: BatchingMode = Field(
        default="auto", description="auto | grouped | packed | padded (see sft.batching)"
    )
    lm_head_loss: Literal["auto", "chunked", "full"] = Field(
        default="auto",
        description="chunked: TRL's fused LM-head loss (no full logits; GPU memory); full: plain logits + "
        "cross-entropy (faster on CPU); auto: chunked on CUDA, full on CPU",
    )


def sft_config_cls() -> type:
    from trl import SFTConfig

    return SFTConfig


def build_sft_recipe(
    data: dict[str, Any], source: str = "<recipe>", overrides: Overrides = None, path: Path | None = None
) -> StageRecipe:
    """Validate an SFT recipe given as a mapping (overrides applied first); errors name `source` and key."""
    needs = ("the base model to fine-tune", "training")
    return build_stage_recipe(data, sft_config_cls(), "sft", source, SFTOptions, overrides, path, needs=needs)


def load_sft_recipe(path: str | Path, overrides: Overrides = None) -> StageRecipe:
    """Load, translate and validate an SFT recipe file; no model or data is touched."""
    return load_recipe_file(path, build_sft_recipe, overrides)
