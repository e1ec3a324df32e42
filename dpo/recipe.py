"""DPO recipes: TRL `DPOConfig` + `ModelConfig` field names (alignment-handbook DPO recipes run
unchanged), plus the few keys DPO needs that TRL 1.16 no longer has or never had."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from mixtune.training.recipe import MixtuneOptions, StageRecipe, build_stage_recipe, load_stage_recipe


class DPOOptions(MixtuneOptions):
    """mixtune's DPO keys. `max_prompt_length` is the handbook/older-TRL name: prompts longer than it
    keep their *end*; `max_length` then bounds prompt+completion by shortening the completion."""

    max_prompt_length: int | None = Field(default=None, gt=0)
    prompt_mismatch: Literal["raise", "skip"] = Field(
        default="raise",
        description="a pair whose prompt renders differently alone than before its answer: raise, "
        "or skip it (counted in the run record)",
    )
    ref_model_name_or_path: str | None = Field(
        default=None, description="an explicit reference model; default: the starting model itself"
    )
    merge_adapter: bool = Field(
        default=True,
        description="with LoRA, save merged full weights (the directory then serves like any model); "
        "the adapter alone is kept in adapter/",
    )

    @field_validator("chat_template", check_fields=False)
    @classmethod
    def _keep_parent_template(cls, value: str | None) -> str | None:
        if value not in (None, "tokenizer"):
            raise ValueError(_KEEP_TEMPLATE)
        return value

    @field_validator("overwrite_chat_template", check_fields=False)
    @classmethod
    def _never_overwrite(cls, value: bool) -> bool:
        if value:
            raise ValueError(_KEEP_TEMPLATE)
        return value


_KEEP_TEMPLATE = (
    "DPO keeps the SFT model's chat template unchanged; set the template in the SFT recipe instead"
)


def _dpo_config_cls() -> type:
    from trl import DPOConfig

    return DPOConfig


def load_dpo_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> StageRecipe:
    """Load, translate and validate a DPO recipe file; errors name the file and key."""
    return load_stage_recipe(path, _dpo_config_cls(), "dpo", options_cls=DPOOptions, overrides=overrides)


def build_dpo_recipe(
    data: dict[str, Any], source: str = "<recipe>", overrides: dict[str, Any] | None = None
) -> StageRecipe:
    """Validate a DPO recipe given as a mapping (tests, programmatic use)."""
    return build_stage_recipe(
        data, _dpo_config_cls(), "dpo", source, options_cls=DPOOptions, overrides=overrides
    )
