"""Benchmark: building a mixture from generated rows, mixtune vs an in-memory baseline.

For each size, generates a JSON Lines file of N rows in three formats (OpenAI messages,
Alpaca, ShareGPT), then, each in a fresh process:
- mixtune: `build_mixture` (Arrow on disk, streamed reads, seeded weights, holdout,
  manifest, rejects, report);
- baseline: the usual script — read every line into Python objects, normalise them with
  the same row function, shuffle, `Dataset.from_list`, `save_to_disk`.
Prints rows/s, peak RSS and peak private memory of both, their ratios, and how memory grows
with the data. RSS also counts the pages of memory-mapped Arrow files a build has read,
which the kernel drops under memory pressure; private (anonymous) memory is what a build
actually holds.

    python bench/mixture_build.py                           # 100k rows, about a minute
    python bench/mixture_build.py --sizes 100000 1000000    # the 1M-row run, a few minutes
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
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORDS = ["the", "a", "list", "function", "value", "return", "loop", "index", "string", "number"]
WORDS += ["sort", "file", "read", "write", "python", "code", "test", "error"]


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


class PrivateMemoryPeak:
    """Peak private (RSS minus file-backed/shared) memory of this process tree, sampled every 20 ms."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _sample(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                info = p.memory_info()
            except Exception:  # a worker process that just exited
                continue
            total += info.rss - info.shared
        return total

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(0.02)

    def start(self) -> PrivateMemoryPeak:
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())
        return self.peak / 2**20


def run_mixtune(data: Path, out: Path, num_proc: int | None) -> dict:
    os.environ["MIXTUNE_CACHE"] = str(out.parent / "cache")
    from mixtures import build_mixture

    recipe = out.parent / "bench-recipe.yaml"
    recipe.write_text(
        f"name: bench\nkind: sft\nsources:\n  - name: gen\n    path: {data}\n    weight: 1.0\ntest:\n  holdout: 0.01\n"
    )
    private = PrivateMemoryPeak().start()
    start = time.perf_counter()
    build_mixture(recipe, out=out, num_proc=num_proc)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "peak_private_mb": private.stop()}


def run_baseline(data: Path, out: Path) -> dict:
    from datasets import Dataset, DatasetDict

    from mixtures.formats import RowError, normalise_row

    private = PrivateMemoryPeak().start()
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
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "peak_private_mb": private.stop()}


def measure(which: str, data: Path, out: Path, num_proc: int | None) -> dict:
    """Run one build in a fresh interpreter, so its peaks are its own."""
    cmd = [sys.executable, __file__, "--child", which, str(data), str(out), str(num_proc or 0)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{which} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(results: list[dict]) -> None:
    print(f"{'rows':>9} {'data MB':>8} | {'build':>8} {'rows/s':>8} {'peak RSS MB':>11} {'private MB':>10}")
    for r in results:
        for which in ("mixtune", "baseline"):
            if which in r:
                m = r[which]
                print(
                    f"{r['rows']:>9} {r['data_mb']:>8.0f} | {which:>8} {r['rows'] / m['seconds']:>8.0f}"
                    f" {m['peak_rss_mb']:>11.0f} {m['peak_private_mb']:>10.0f}"
                )
        if "baseline" in r:
            m, b = r["mixtune"], r["baseline"]
            print(
                f"{'':>20} ratio baseline/mixtune: time {b['seconds'] / m['seconds']:.2f}x, "
                f"peak RSS {b['peak_rss_mb'] / m['peak_rss_mb']:.2f}x, "
                f"private {b['peak_private_mb'] / m['peak_private_mb']:.2f}x"
            )
    if len(results) >= 2:
        first, last = results[0], results[-1]
        print(
            f"data grew {last['data_mb'] / first['data_mb']:.1f}x ({first['rows']} -> {last['rows']} rows):"
        )
        for which in ("mixtune", "baseline"):
            if which in first:
                a, b = first[which], last[which]
                print(
                    f"  {which}: peak RSS grew {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}x, "
                    f"peak private memory grew {b['peak_private_mb'] / a['peak_private_mb']:.2f}x"
                )


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
        if which == "mixtune":
            result = run_mixtune(Path(data), Path(out), int(procs) or None)
        else:
            result = run_baseline(Path(data), Path(out))
        print(json.dumps(result))
        return

    results = []
    with tempfile.TemporaryDirectory(prefix="mixtune-bench-") as tmp:
        for n in args.sizes:
            data = Path(tmp) / f"rows-{n}.jsonl"
            generate(data, n)
            row = {"rows": n, "data_mb": data.stat().st_size / 2**20}
            row["mixtune"] = measure("mixtune", data, Path(tmp) / f"mix-{n}", args.num_proc)
            if not args.no_baseline:
                row["baseline"] = measure("baseline", data, Path(tmp) / f"base-{n}", None)
            results.append(row)
            data.unlink()
    report(results)


if __name__ == "__main__":
    main()
