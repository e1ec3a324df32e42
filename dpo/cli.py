"""`mixtune dpo RECIPE [--launch NAME --gpus N | --cpu --gpus N] [--dry-run] [--overwrite] [--key value ...]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DESCRIPTION = (
    "Preference-optimise a chat (SFT) model with TRL's DPOTrainer on a preference mixture. Recipe keys "
    "are TRL DPOConfig/ModelConfig names (alignment-handbook DPO recipes run unchanged) plus mixture, "
    "max_prompt_length, prompt_mismatch, ref_model_name_or_path and merge_adapter."
)


def validate(recipe: str, overrides: dict[str, Any]) -> Any:
    """Check the recipe (keys, types, translations) without loading a model or data."""
    from dpo.recipe import load_dpo_recipe

    return load_dpo_recipe(recipe, overrides)


def train(recipe: str, overrides: dict[str, Any], overwrite: bool) -> Path:
    from dpo.recipe import load_dpo_recipe
    from dpo.train import run_dpo

    return run_dpo(load_dpo_recipe(recipe, overrides), overwrite=overwrite)


def handle(args: argparse.Namespace) -> int:
    from mixtune.training.cli import run_stage_command

    return run_stage_command(args, "dpo", validate, train)


def configure(parser: argparse.ArgumentParser) -> None:
    from mixtune.training.cli import add_stage_arguments

    add_stage_arguments(parser)
    parser.set_defaults(func=handle)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dpo", help="chat model -> aligned model (DPO on preference pairs)", description=DESCRIPTION
    )
    configure(parser)
