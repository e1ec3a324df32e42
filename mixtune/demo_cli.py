"""`mixtune demo`: mixture -> SFT -> DPO -> eval -> comparison -> playground, offline on a CPU."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mixtune.commands import add_command

HELP = "run the whole stack offline: base model, mixtures, SFT, DPO, evals, report, playground"
DESCRIPTION = (
    "Build the embedded base model and the demo mixtures, train SFT then DPO, evaluate base/SFT/DPO on a "
    "HumanEval subset, compare them, write a report, then open the playground. Reruns reuse every "
    "finished stage."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, "demo", run, HELP, DESCRIPTION)
    p.add_argument("--out", default="runs/demo", help="demo folder (default runs/demo)")
    p.add_argument("--size", default="tiny", help="embedded base-model size: test, tiny (default), small")
    p.add_argument("--eval-limit", type=int, default=20, help="HumanEval problems per model (default 20)")
    p.add_argument("--max-new-tokens", type=int, default=192, help="generation budget per problem")
    p.add_argument(
        "--no-chat", action="store_true", help="print the playground command instead of starting it"
    )
    p.add_argument("--port", type=int, default=7860, help="playground port")
    p.add_argument(
        "--copilot",
        action="store_true",
        help="the personal-copilot demo instead: fill-in-the-middle fine-tuning on the shipped sample "
        "codebase, exact match / edit similarity on its held-out files before and after (plot + report), "
        "then the playground's Complete tab (folder runs/demo-copilot unless --out)",
    )


def run(args: argparse.Namespace) -> int:
    from mixtune.demo import Demo, DemoSettings, chat_command

    if args.copilot:
        from mixtune.demo_copilot import run_copilot

        return run_copilot(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = Path(args.out).resolve()
    settings = DemoSettings(
        out=out, size=args.size, eval_limit=args.eval_limit, max_new_tokens=args.max_new_tokens
    )
    Demo(settings).run()
    cmd = [*chat_command(out), "--port", str(args.port)]
    if args.no_chat:
        print("\nplayground: " + " ".join(cmd))
        return 0
    print("\nstarting the playground (Ctrl+C to stop): " + " ".join(cmd), flush=True)
    from mixtune.cli import main

    return main(cmd[1:])
