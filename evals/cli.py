"""`mixtune eval` (generate, execute in the sandbox, score) and `mixtune compare` (leaderboard
with confidence intervals and paired significance)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mixtune.commands import add_command
from mixtune.errors import MixtuneError


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(sorted({int(k) for k in text.split(",") if k.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k takes comma-separated integers, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError("--k values must be >= 1")
    return ks


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_eval(subparsers)
    _register_compare(subparsers)


def _register_eval(subparsers: argparse._SubParsersAction) -> None:
    ev = add_command(
        subparsers,
        "eval",
        run_eval_cmd,
        help="evaluate a model on code benchmarks (HumanEval, MBPP, MultiPL-E, HumanEval-X, HumanEval "
        "infilling: sandboxed execution; repo:PATH: exact match and edit similarity)",
        description="Generate completions with a model directory, a Hub id or an OpenAI-compatible "
        "endpoint (or score existing completions with --samples), run every program in the sandbox, "
        "and write results.json + samples.jsonl next to the model (or --out).",
    )
    ev.add_argument("model", nargs="?", help="model directory or Hub id (with --samples: only names the run)")
    ev.add_argument(
        "--benchmark",
        default="humaneval",
        help="comma-separated names or files: humaneval, mbpp, mbpp-sanitized, multiple-<py|js|cpp|java|rs>, "
        "humaneval-x-<lang> (a local file), humaneval-infilling-<single|multi|random-span|random-span-light>, "
        "repo:PATH (a code directory or a built completion mixture: masked lines and spans, exact match "
        "and edit similarity), or a .jsonl(.gz) / folder of HumanEval, HumanEval infilling, MBPP, MultiPL-E "
        "or HumanEval-X rows",
    )
    ev.add_argument(
        "--samples",
        metavar="FILE.jsonl",
        help="score these completions (task_id, completion; ids as the benchmark's own, MBPP/11, CPP/0, "
        "MultiPL-E names; for MBPP the completion is the whole program)",
    )
    _add_generation_args(ev)
    _add_openai_args(ev)
    _add_repo_args(ev)
    _add_sandbox_args(ev)
    ev.add_argument(
        "--check-training-data",
        action="store_true",
        help="look every sample up in the mixtures the model was trained on (its run record's lineage) and "
        "report the share found there, with each found sample's mixture, source and row",
    )
    ev.add_argument("--name", help="display name of the run in leaderboards")
    ev.add_argument("--out", help="output directory (default: MODEL/evals/<benchmark>-<settings hash>)")


def _add_generation_args(ev: argparse.ArgumentParser) -> None:
    """What and how to sample: n, temperature, lengths, the problems, the prompt and the backend."""
    ev.add_argument("--n", type=int, default=1, help="samples per problem (default 1)")
    ev.add_argument(
        "--temperature", type=float, help="sampling temperature (default 0 = greedy for --n 1, 0.2 otherwise)"
    )
    ev.add_argument("--top-p", type=float, default=0.95)
    ev.add_argument("--max-new-tokens", type=int, default=512)
    ev.add_argument("--batch-size", type=int, default=8, help="sequences per generation batch (transformers)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--limit", type=int, metavar="K", help="only the first K problems (quick runs)")
    ev.add_argument(
        "--k", type=_ks, default=(1, 10, 100), help="pass@k values to report (default 1,10,100; those <= n)"
    )
    ev.add_argument(
        "--prompt-style",
        default="auto",
        choices=("auto", "plain", "chat", "chat-prefill"),
        help="auto: chat when the tokenizer has a chat template, else plain",
    )
    ev.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "transformers", "vllm", "reference"),
        help="auto: vLLM when installed and a GPU is present; reference: each infilling task's own answer "
        "(canonical middle, masked text), a check of the harness that must score 1.0",
    )
    ev.add_argument(
        "--fim-layout",
        default="psm",
        choices=("psm", "spm"),
        help="infilling benchmarks: the FIM layout the model is asked in (default psm)",
    )


def _add_openai_args(ev: argparse.ArgumentParser) -> None:
    """Generation through an OpenAI-compatible server instead of a local model."""
    ev.add_argument("--openai-base-url", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    ev.add_argument("--openai-model", help="the model name on that server")
    ev.add_argument("--openai-api-key", help="API key for that server (default: $OPENAI_API_KEY)")
    ev.add_argument(
        "--openai-stream", action="store_true", help="use streamed (server-sent events) responses"
    )
    ev.add_argument("--concurrency", type=int, default=8, help="parallel requests to the endpoint")


def _add_repo_args(ev: argparse.ArgumentParser) -> None:
    """How `--benchmark repo:PATH` cuts masked tasks from the files."""
    ev.add_argument("--repo-seed", type=int, default=0, help="repo:PATH: seed of the masked lines and spans")
    ev.add_argument("--repo-lines-per-file", type=int, default=4, help="repo:PATH: single lines per file")
    ev.add_argument("--repo-spans-per-file", type=int, default=2, help="repo:PATH: multi-line spans per file")
    ev.add_argument("--repo-max-span-lines", type=int, default=8, help="repo:PATH: longest span (lines)")
    ev.add_argument("--repo-max-tasks", type=int, default=1000, help="repo:PATH: at most this many tasks")
    ev.add_argument(
        "--repo-context-chars", type=int, default=4096, help="repo:PATH: characters of context around a task"
    )
    ev.add_argument(
        "--repo-held-out",
        type=float,
        metavar="FRACTION",
        help="repo:PATH of a code directory: only the files the mixture builder's hold-out rule puts in the "
        "test split at this fraction (with --repo-seed as its seed)",
    )


def _add_sandbox_args(ev: argparse.ArgumentParser) -> None:
    """The sandbox's limits, parallelism and isolation."""
    ev.add_argument(
        "--timeout",
        type=float,
        help="wall-clock seconds per program run (default per language and benchmark, set for a loaded "
        "2-core machine: Python 6, MBPP 15, JavaScript/C++/Rust 10, Java 15; compiling has its own limit)",
    )
    ev.add_argument(
        "--memory-mb",
        type=int,
        help="address-space limit per process (default per language: 1024, JVM/V8 4096)",
    )
    ev.add_argument("--workers", type=int, help="programs run in parallel (default: 2 x CPU count)")
    ev.add_argument(
        "--require-isolation",
        action="store_true",
        help="fail instead of degrading when namespaces are unavailable",
    )
    ev.add_argument(
        "--sandbox-engine",
        choices=("auto", "bwrap", "namespaces"),
        help="auto (default): bubblewrap around the sandbox when installed, else namespaces alone",
    )


def _register_compare(subparsers: argparse._SubParsersAction) -> None:
    cmp = add_command(
        subparsers,
        "compare",
        run_compare_cmd,
        help="leaderboard of eval runs: bootstrap CIs, paired significance, win rate, mixtures, plot",
        description="Compare runs given as results.json files, run directories, or model directories "
        "(their evals/*/results.json). Writes leaderboard.md, leaderboard.html, scores.png, comparison.json.",
    )
    cmp.add_argument("runs", nargs="+", metavar="RUN_OR_RESULT")
    cmp.add_argument("--labels", help="comma-separated display names, one per RUN_OR_RESULT")
    cmp.add_argument("--k", type=int, default=1, help="compare on pass@k (default 1)")
    cmp.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    cmp.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm adjustment")
    cmp.add_argument("--seed", type=int, default=0)
    cmp.add_argument("--out", default="runs/compare", help="output directory (default runs/compare)")


def run_eval_cmd(args: argparse.Namespace) -> int:
    from evals.evaluate import EvalRequest, run_evals
    from evals.generate import GenerationSettings
    from evals.repo import RepoTaskSettings
    from evals.results import load_results

    temperature = args.temperature if args.temperature is not None else (0.0 if args.n == 1 else 0.2)
    req = EvalRequest(
        model=args.model,
        benchmark=args.benchmark,
        limit=args.limit,
        settings=GenerationSettings(
            n=args.n,
            temperature=temperature,
            top_p=args.top_p,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            seed=args.seed,
            prompt_style=args.prompt_style,
            fim_layout=args.fim_layout,
        ),
        backend=args.backend,
        openai_base_url=args.openai_base_url,
        openai_model=args.openai_model,
        openai_api_key=args.openai_api_key,
        openai_stream=args.openai_stream,
        concurrency=args.concurrency,
        samples=args.samples,
        out=args.out,
        name=args.name,
        ks=args.k,
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        workers=args.workers,
        require_isolation=args.require_isolation,
        engine=args.sandbox_engine,
        check_training_data=args.check_training_data,
        repo=RepoTaskSettings(
            seed=args.repo_seed,
            lines_per_file=args.repo_lines_per_file,
            spans_per_file=args.repo_spans_per_file,
            max_span_lines=args.repo_max_span_lines,
            max_tasks=args.repo_max_tasks,
            context_chars=args.repo_context_chars,
            held_out=args.repo_held_out,
        ),
    )
    if args.timeout is not None and args.timeout <= 0:
        raise MixtuneError("--timeout must be positive")
    for path in run_evals(req):
        print_summary(load_results(path))
        print(f"results: {path}")
    return 0


def print_summary(res: dict) -> None:
    """One line of scores, then the per-language and per-kind lines of repo:PATH runs."""
    scores = ", ".join(f"{k} = {100 * v:.1f}%" for k, v in res["scores"].items())
    kinds = ", ".join(f"{k} {v}" for k, v in res["verdicts"].items())
    print(
        f"{res['model']['name']} on {res['benchmark']['name']}: {scores} "
        f"({res['n_problems']} problems, {res['n_samples']} samples: {kinds})"
    )
    check = res.get("training_data")
    if check:
        rate = "n/a" if check["rate"] is None else f"{100 * check['rate']:.1f}%"
        print(
            f"  found in training data: {rate} ({check['found']} of {check['checked']} checked samples; "
            f"skipped: {check['skipped'] or 'none'})"
        )
        for hit in check["found_samples"][:5]:
            print(
                f"    {hit['task_id']} #{hit['completion_id']}: mixture {hit['mixture']}, source {hit['source']}, "
                f"row {hit['row']} ({hit['row_id']}), {hit['similarity']:.2f} similar"
            )
    for key in ("by_language", "by_kind"):
        for name, s in (res.get(key) or {}).items():
            print(
                f"  {name}: exact match {100 * s['exact_match']:.1f}%, "
                f"edit similarity {100 * s['edit_similarity']:.1f}% ({s['tasks']} tasks)"
            )


def run_compare_cmd(args: argparse.Namespace) -> int:
    from evals.compare import compare_runs, load_runs
    from evals.report import markdown, write_report

    if args.k < 1 or args.resamples < 100 or not 0 < args.alpha < 1:
        raise MixtuneError("--k must be >= 1, --resamples >= 100 and --alpha in (0, 1)")
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    runs = load_runs(args.runs, labels)
    cmp = compare_runs(runs, k=args.k, resamples=args.resamples, seed=args.seed, alpha=args.alpha)
    paths = write_report(cmp, Path(args.out))
    print(markdown(cmp, plot_name=str(paths["plot"])))
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return 0
