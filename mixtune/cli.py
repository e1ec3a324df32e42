"""`mixtune` command: a thin dispatcher over the stage packages.

Each stage package exposes a `<package>.cli` module with `register(subparsers)`, which adds
its subcommands (`mixtune.commands.add_command`; training stages through
`mixtune.training.cli.StageCommand`). Stage modules import their heavy dependencies (torch,
transformers, gradio) inside the handlers, so `mixtune --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from mixtune import __version__
from mixtune.errors import MixtuneError

# Order is the order of `mixtune --help`.
STAGE_CLI_MODULES = (
    "mixtune.base_model_cli",
    "mixtures.cli",
    "sft.cli",
    "dpo.cli",
    "completion.cli",
    "evals.cli",
    "chat_ui.cli",
    "mixtune.demo_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mixtune",
        description="Mixture recipes -> SFT -> DPO -> sandboxed evals -> playground, for code chat models.",
    )
    parser.add_argument("--version", action="version", version=f"mixtune {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in STAGE_CLI_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def build_missing_indexes(args: argparse.Namespace) -> None:
    """A command that checks a model's output against its training data (`mixtune serve
    --check-training-data`) names the models in `args.index_models(args)`; the search indexes of
    their mixtures are built here, as stages may not import `mixtures` (no-op when current)."""
    models = args.index_models(args) if getattr(args, "index_models", None) else []
    if models:
        from mixtures.search_index import ensure_indexes

        for model in models:
            ensure_indexes(model)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        build_missing_indexes(args)
        result = args.func(args)
    except MixtuneError as exc:
        if args.verbose or os.environ.get("MIXTUNE_TRACEBACK"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
