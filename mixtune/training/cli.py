"""Command-line plumbing every training stage shares:

    mixtune <stage> RECIPE [--launch ddp|zero2|zero3|fsdp|FILE --gpus N --nodes M | --cpu --gpus N]
                           [--dry-run] [--overwrite] [--key value ...]

Launch flags may come before or after RECIPE; every other `--key value` overrides a recipe key.
With `--launch`, the same command (minus the launch flags) runs in every process through
`accelerate launch -m <stage>`; `--dry-run` prints what would run.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixtune.commands import add_command
from mixtune.errors import MixtuneError
from mixtune.paths import find_file
from mixtune.training.launch import LAUNCH_CONFIGS, build_launch_command, run_launch, uses_deepspeed
from mixtune.training.overrides import parse_overrides


def _add_launch_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--launch",
        metavar="NAME",
        help=f"run multi-process through accelerate with accelerate_configs/NAME.yaml ({', '.join(LAUNCH_CONFIGS)}) "
        "or an accelerate config file",
    )
    p.add_argument("--gpus", type=int, default=None, help="processes (GPUs) per node for --launch/--cpu")
    p.add_argument("--nodes", type=int, default=1, help="number of nodes (multi-node runs go through SLURM)")
    p.add_argument("--cpu", action="store_true", help="launch --gpus CPU processes (gloo) with torchrun")
    p.add_argument(
        "--dry-run", action="store_true", help="validate the recipe and print the command; run nothing"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in output_dir")


def add_stage_arguments(parser: argparse.ArgumentParser) -> None:
    """Add RECIPE, the launch flags and the free `--key value` overrides to a stage's parser."""
    _add_launch_flags(parser)
    parser.add_argument("recipe", help="stage recipe (YAML)")
    parser.add_argument(
        "overrides", nargs=argparse.REMAINDER, metavar="--key value", help="recipe keys to override"
    )


def split_stage_args(args: argparse.Namespace) -> tuple[argparse.Namespace, list[str]]:
    """Pull launch flags that came after RECIPE out of the overrides; return (flags, override tokens)."""
    late = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    _add_launch_flags(late)
    found, rest = late.parse_known_args(args.overrides or [])
    for key, value in vars(found).items():
        default = late.get_default(key)
        if value != default:
            setattr(args, key, value)
    return args, rest


def stage_argv(recipe: str, rest: list[str], overwrite: bool) -> list[str]:
    """The arguments each launched process receives: the recipe, the overrides, and --overwrite."""
    return [recipe, *rest, *(["--overwrite"] if overwrite else [])]


@dataclass(frozen=True)
class StageCommand:
    """`mixtune NAME RECIPE [launch flags] [--key value ...]` for the training stage package NAME,
    found by the stage shape: `NAME.recipe.load_NAME_recipe(path, overrides)` loads the recipe and
    `NAME.train.train_NAME(recipe, overwrite=...)` trains (imported when the command runs, so
    `mixtune --help` stays fast)."""

    name: str
    help: str
    description: str

    def load(self, recipe: str, overrides: dict[str, Any]) -> Any:
        module = importlib.import_module(f"{self.name}.recipe")
        return getattr(module, f"load_{self.name}_recipe")(recipe, overrides)

    def train(self, recipe: Any, overwrite: bool) -> Path:
        module = importlib.import_module(f"{self.name}.train")
        return getattr(module, f"train_{self.name}")(recipe, overwrite=overwrite)

    def handle(self, args: argparse.Namespace) -> int:
        return run_stage_command(args, self.name, self.load, self.train)

    def register(self, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        parser = add_command(subparsers, self.name, self.handle, self.help, self.description)
        add_stage_arguments(parser)
        return parser


def run_stage_command(
    args: argparse.Namespace,
    module: str,
    load: Callable[[str, dict[str, Any]], Any],
    train: Callable[[Any, bool], Path],
) -> int:
    """Shared handler body: load the recipe once, then either launch processes or train in this one.

    load(recipe_path, overrides) returns the validated recipe or raises (cheap: no model or data);
    train(recipe, overwrite) runs the stage on it and returns the output directory. A launched
    process loads the recipe again from the same file and overrides (it is another process).
    """
    args, rest = split_stage_args(args)
    args.recipe = str(find_file(args.recipe))  # a shipped recipe by its source-tree name, from anywhere
    recipe = load(args.recipe, parse_overrides(rest))
    argv = stage_argv(args.recipe, rest, args.overwrite)
    if args.launch or args.cpu:
        return _launch(args, module, argv)
    if args.dry_run:
        print(shlex.join([sys.executable, "-m", module, *argv]))
        if recipe.notes:
            print("recipe translations: " + "; ".join(recipe.notes))
        return 0
    print(train(recipe, args.overwrite))
    return 0


def _launch(args: argparse.Namespace, module: str, argv: list[str]) -> int:
    """Run (or with --dry-run print) the multi-process launch of `python -m module ARGV`."""
    if args.gpus is None:
        raise MixtuneError("--launch/--cpu need --gpus N (processes per node)")
    plan = build_launch_command(module, argv, args.launch or "ddp", args.gpus, args.nodes, cpu=args.cpu)
    if args.dry_run:
        print(plan.shell())
        return 0
    if not args.cpu:
        from mixtune.training.device import check_deepspeed, detect_capabilities
        from mixtune.training.launch import accelerate_config_path

        if args.launch and uses_deepspeed(accelerate_config_path(args.launch)):
            check_deepspeed(detect_capabilities())
    print(f"launching: {plan.shell()}", file=sys.stderr)
    return run_launch(plan)
