"""Benchmark: building a mixture from generated rows, mixtune vs an in-memory baseline.

For each size, generates a JSON Lines file of N rows in three formats (OpenAI messages,
Alpaca, ShareGPT), then, each in a fresh process:
- mixtune: `build_mixture` (Arrow on disk, streamed reads, seeded weights, holdout);
- baseline: the usual script — read every line into Python objects, normalise them with
  the same row function, shuffle, `Dataset.from_list`, `save_to_disk`.
Prints rows/s and peak RSS of both, their ratio, and how peak RSS grows with the data.

    python bench/mixture_build.py                      # 100k rows (about a minute on 2 cores)
    python bench/mixture_build.py --sizes 100000 1000000 --num-proc 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORDS = [
    "the",
    "a",
    "list",
    "function",
    "value",
    "return",
    "loop",
    "index",
    "string",
    "number",
    "sort",
    "file",
]
WORDS += ["read", "write", "python", "code", "test", "error"]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def generate(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            q, a = f"{i}: {sentence(rng, 12)}?", f"```python\n# {sentence(rng, 20)}\nx = {i}\n```"
            kind = i % 3
            if kind == 0:
                row = {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            elif kind == 1:
                row = {"instruction": q, "input": "", "output": a}
            else:
                row = {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}
            fh.write(json.dumps(row) + "\n")


def peak_rss_mb() -> float:
    """Peak resident set size of this process and its waited-for children (worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def run_mixtune(data: Path, out: Path, num_proc: int | None) -> dict:
    os.environ["MIXTUNE_CACHE"] = str(out.parent / "cache")
    from mixtures import build_mixture

    recipe = out.parent / "bench-recipe.yaml"
    recipe.write_text(
        f"name: bench\nkind: sft\nsources:\n  - name: gen\n    path: {data}\n    weight: 1.0\ntest:\n  holdout: 0.01\n"
    )
    start = time.perf_counter()
    build_mixture(recipe, out=out, num_proc=num_proc)
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}


def run_baseline(data: Path, out: Path) -> dict:
    from datasets import Dataset, DatasetDict

    from mixtures.formats import RowError, normalise_row

    start = time.perf_counter()
    rows, dropped = [], 0
    with data.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            try:
                rows.append({**normalise_row(json.loads(line), "sft"), "source": "gen", "id": f"gen/{i}"})
            except RowError:
                dropped += 1
    random.Random(42).shuffle(rows)
    k = round(0.01 * len(rows))
    DatasetDict({"train": Dataset.from_list(rows[k:]), "test": Dataset.from_list(rows[:k])}).save_to_disk(
        str(out)
    )
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}


def measure(which: str, data: Path, out: Path, num_proc: int | None) -> dict:
    """Run one build in a fresh interpreter, so peak RSS is its own."""
    cmd = [sys.executable, __file__, "--child", which, str(data), str(out), str(num_proc or 0)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{which} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--num-proc", type=int, default=None)
    parser.add_argument("--no-baseline", action="store_true", help="skip the in-memory baseline")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        which, data, out, procs = args.child
        result = (
            run_mixtune(Path(data), Path(out), int(procs) or None)
            if which == "mixtune"
            else run_baseline(Path(data), Path(out))
        )
        print(json.dumps(result))
        return

    results = []
    with tempfile.TemporaryDirectory(prefix="mixtune-bench-") as tmp:
        for n in args.sizes:
            data = Path(tmp) / f"rows-{n}.jsonl"
            generate(data, n)
            size_mb = data.stat().st_size / 2**20
            row = {"rows": n, "data_mb": size_mb}
            row["mixtune"] = measure("mixtune", data, Path(tmp) / f"mix-{n}", args.num_proc)
            if not args.no_baseline:
                row["baseline"] = measure("baseline", data, Path(tmp) / f"base-{n}", None)
            results.append(row)
            data.unlink()

    print(
        f"{'rows':>9} {'data MB':>8} | {'mixtune rows/s':>14} {'peak RSS MB':>11} | {'baseline rows/s':>15} {'peak RSS MB':>11} | speed x  RSS ratio"
    )
    for r in results:
        m = r["mixtune"]
        line = f"{r['rows']:>9} {r['data_mb']:>8.0f} | {r['rows'] / m['seconds']:>14.0f} {m['peak_rss_mb']:>11.0f} |"
        if "baseline" in r:
            b = r["baseline"]
            line += (
                f" {r['rows'] / b['seconds']:>15.0f} {b['peak_rss_mb']:>11.0f} |"
                f" {b['seconds'] / m['seconds']:>6.2f}  {b['peak_rss_mb'] / m['peak_rss_mb']:>6.2f}"
            )
        print(line)
    if len(results) >= 2:
        first, last = results[0], results[-1]
        data_growth = last["data_mb"] / first["data_mb"]
        rss_growth = last["mixtune"]["peak_rss_mb"] / first["mixtune"]["peak_rss_mb"]
        print(f"data grew {data_growth:.1f}x; mixtune peak RSS grew {rss_growth:.2f}x", end="")
        if "baseline" in first:
            base_growth = last["baseline"]["peak_rss_mb"] / first["baseline"]["peak_rss_mb"]
            print(f"; baseline peak RSS grew {base_growth:.2f}x")
        else:
            print()


if __name__ == "__main__":
    main()
