"""`mixtune base-model`: build the embedded tiny base code model offline."""

from __future__ import annotations

import argparse

from mixtune.commands import add_command

HELP = "build (or reuse) the small offline StarCoder2-architecture base model"
DESCRIPTION = (
    "Train a byte-level BPE on local Python code and briefly pre-train a small StarCoder2-architecture "
    "model on it. Cached: a second call with the same settings is free."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    from mixtune.base_model import DEFAULT_SIZE, SIZES

    p = add_command(subparsers, "base-model", run, HELP, DESCRIPTION)
    p.add_argument("--out", help="output directory (default: the mixtune cache, named by the settings' hash)")
    p.add_argument(
        "--size", default=DEFAULT_SIZE, choices=sorted(SIZES), help=f"model size (default {DEFAULT_SIZE})"
    )
    p.add_argument("--code-dir", help="directory of Python code to train on (default: this Python's stdlib)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, help="pre-training steps (default: the size's own)")
    p.add_argument("--force", action="store_true", help="rebuild even when a cached copy matches")
    p.add_argument("--prompt", default="def fibonacci(n):", help="greedy continuation shown after building")


def run(args: argparse.Namespace) -> int:
    from mixtune.base_model import build_base_model

    out = build_base_model(
        args.out, size=args.size, code_dir=args.code_dir, seed=args.seed, steps=args.steps, force=args.force
    )
    print(out)
    if args.prompt:
        from mixtune.generation import greedy_continue

        print("--- greedy continuation ---")
        print(args.prompt + greedy_continue(out, args.prompt, max_new_tokens=64))
    return 0
