"""`mixtune sft RECIPE`: supervised fine-tuning of a base code model into a chat model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    from mixtune.training.cli import add_stage_arguments

    p = subparsers.add_parser(
        "sft",
        help="supervised fine-tuning (TRL SFTTrainer) on a mixture",
        description="Fine-tune a base code model into a chat model. RECIPE keys follow TRL's SFTConfig and "
        "ModelConfig (alignment-handbook recipes run unchanged); any --key value overrides a recipe key. "
        "An interrupted run resumes from its last checkpoint; a finished one is kept unless --overwrite.",
    )
    add_stage_arguments(p)
    p.set_defaults(func=run)


def _validate(recipe: str, overrides: dict[str, Any]) -> Any:
    from sft.train import load_sft_recipe

    return load_sft_recipe(recipe, overrides)


def _train(recipe: str, overrides: dict[str, Any], overwrite: bool) -> Path:
    from sft.train import train_sft

    return train_sft(recipe, overrides, overwrite)


def run(args: argparse.Namespace) -> int:
    from mixtune.training.cli import run_stage_command

    return run_stage_command(args, "sft", _validate, _train)
