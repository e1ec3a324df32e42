"""DPO recipes: TRL `DPOConfig` + `ModelConfig` field names (alignment-handbook DPO recipes run
unchanged), plus the few keys DPO needs that TRL 1.16 no longer has or never had."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from mixtune.errors import RecipeError
from mixtune.recipe_io import suggest
from mixtune.training.recipe import (
    MixtuneOptions,
    Overrides,
    StageRecipe,
    build_stage_recipe,
    load_recipe_file,
)


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
    batching: Literal["auto", "packed", "padded"] = Field(
        default="auto",
        description="packed: each step's chosen/rejected rows run padding-free as one row with a document "
        "mask (dpo.trainer); padded: TRL's padded rows; auto: packed where measured exact and faster",
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


def dpo_config_cls() -> type:
    from trl import DPOConfig

    return DPOConfig


def trl_loss_types() -> list[str]:
    """The loss names this TRL's DPOConfig documents (read from its field help, so it follows TRL)."""
    import dataclasses
    import re

    help_text = next(f for f in dataclasses.fields(dpo_config_cls()) if f.name == "loss_type").metadata[
        "help"
    ]
    return re.findall(r"`'([a-z_]+)'`", help_text.split("If multiple")[0])


def _check_loss_types(recipe: StageRecipe) -> StageRecipe:
    known = trl_loss_types()
    for name in recipe.training.get("loss_type") or []:
        if known and name not in known:
            raise RecipeError(
                f"{recipe.source}: loss_type: unknown loss '{name}'{suggest(name, known)}; TRL offers {', '.join(known)}"
            )
    return recipe


def translate_dpo(data: dict[str, Any]) -> dict[str, Any]:
    """DPO-only translations: older recipes give `loss_type` as one name, TRL 1.16 takes a list."""
    out = dict(data)
    if isinstance(out.get("loss_type"), str):
        out["loss_type"] = [out["loss_type"]]
    return out


def build_dpo_recipe(
    data: dict[str, Any], source: str = "<recipe>", overrides: Overrides = None, path: Path | None = None
) -> StageRecipe:
    """Validate a DPO recipe given as a mapping (overrides applied first); errors name `source` and key."""
    needs = ("the SFT model to start from", "preference")
    recipe = build_stage_recipe(
        data, dpo_config_cls(), "dpo", source, DPOOptions, overrides, path, translate_dpo, needs
    )
    return _check_loss_types(recipe)


def load_dpo_recipe(path: str | Path, overrides: Overrides = None) -> StageRecipe:
    """Load, translate and validate a DPO recipe file; no model or data is touched."""
    return load_recipe_file(path, build_dpo_recipe, overrides)
