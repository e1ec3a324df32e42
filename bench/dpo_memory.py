"""Peak memory of DPO's two reference strategies on the same model: LoRA with the adapter-disabled
base as reference (one model in memory) against full fine-tuning with a frozen reference copy (two
models, plus the policy's gradients and AdamW state).

Model: a random-init StarCoder2 (~58M parameters by default: hidden 768, 8 layers) with the embedded
code tokenizer and ChatML; data: 64 synthetic preference pairs. Each strategy runs `mixtune dpo`'s
code path (`dpo.train.train_dpo`) for a few optimizer steps in its own fresh subprocess, which reports
its peak RSS (getrusage) and its RSS once torch/transformers/trl/peft/datasets are imported,
before any model is loaded. Printed: both
peaks, the peaks above the import baseline, and the ratios.

    python bench/dpo_memory.py                    # ~58M parameters, 3 steps each
    python bench/dpo_memory.py --layers 12 --steps 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def build_model(out: Path, hidden: int, layers: int) -> int:
    """A random-init StarCoder2 with the embedded code tokenizer and ChatML; returns its parameter count."""
    import torch
    from transformers import AutoTokenizer, Starcoder2Config, Starcoder2ForCausalLM

    from mixtune.base_model import build_base_model
    from mixtune.chat_format import setup_chat_format

    tok = AutoTokenizer.from_pretrained(build_base_model(size="test", seed=0))
    torch.manual_seed(0)
    config = Starcoder2Config(
        vocab_size=len(tok),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        num_key_value_heads=max(1, hidden // 256),
        intermediate_size=4 * hidden,
        max_position_embeddings=1024,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = Starcoder2ForCausalLM(config)
    setup_chat_format(model, tok)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def write_pairs(path: Path, n: int) -> None:
    import random

    rng = random.Random(0)
    words = ["add", "merge", "parse", "load", "count", "split", "sort", "fetch", "check", "write"]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            name = f"{rng.choice(words)}_{rng.choice(words)}_{i}"
            row = {
                "prompt": [
                    {"role": "user", "content": f"Write a function {name} that returns its argument."}
                ],
                "chosen": [{"role": "assistant", "content": f"```python\ndef {name}(x):\n    return x\n```"}],
                "rejected": [{"role": "assistant", "content": f"You can write {name} yourself."}],
                "source": "bench",
                "id": str(i),
            }
            fh.write(json.dumps(row) + "\n")


def child(mode: str, model_dir: str, data: str, out: str, steps: int) -> None:
    """One DPO run in this process; prints a JSON line with its memory numbers."""
    import datasets  # noqa: F401  (the libraries every run loads, so the baseline holds them)
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401

    from dpo.recipe import build_dpo_recipe
    from dpo.train import train_dpo

    baseline = current_rss_mb()
    recipe = {
        "model_name_or_path": model_dir,
        "dataset_mixture": {"datasets": [{"id": data}]},
        "output_dir": out,
        "max_steps": steps,
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-5,
        "gradient_checkpointing": False,
        "save_strategy": "no",
        "logging_steps": 1,
        "max_length": 256,
        "disable_tqdm": True,
    }
    if mode == "lora":
        recipe.update(
            use_peft=True,
            lora_r=16,
            lora_alpha=32,
            lora_target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"],
            merge_adapter=False,
        )
    started = time.perf_counter()
    train_dpo(build_dpo_recipe(recipe, source=f"bench-{mode}"))
    elapsed = time.perf_counter() - started
    print(json.dumps({"mode": mode, "baseline_mb": baseline, "peak_mb": peak_rss_mb(), "seconds": elapsed}))


def measure(mode: str, model_dir: Path, data: Path, work: Path, steps: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", mode, "--model", str(model_dir), "--data", str(data)]
    cmd += ["--out", str(work / f"out-{mode}"), "--steps", str(steps)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{mode} run failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--child", choices=["full", "lora"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.data, args.out, args.steps)
        return

    with tempfile.TemporaryDirectory(prefix="dpo-memory-") as tmp:
        work = Path(tmp)
        os.environ.setdefault("MIXTUNE_CACHE", str(work / "cache"))
        n_params = build_model(work / "model", args.hidden, args.layers)
        write_pairs(work / "pairs.jsonl", 64)
        print(
            f"model: random-init StarCoder2, {n_params / 1e6:.1f}M parameters (fp32 {n_params * 4 / 2**20:.0f} MiB)"
        )
        results = {}
        for mode in ("full", "lora"):
            results[mode] = measure(mode, work / "model", work / "pairs.jsonl", work, args.steps)
    full, lora = results["full"], results["lora"]
    rows = [
        ("full DPO, frozen reference copy", full),
        ("LoRA DPO, adapter-disabled reference", lora),
    ]
    print(f"{'strategy':40s} {'peak RSS':>10s} {'above imports':>14s} {'time':>8s}")
    for name, r in rows:
        above = r["peak_mb"] - r["baseline_mb"]
        print(f"{name:40s} {r['peak_mb']:8.0f}MB {above:12.0f}MB {r['seconds']:7.1f}s")
    ratio = lora["peak_mb"] / full["peak_mb"]
    above_ratio = (lora["peak_mb"] - lora["baseline_mb"]) / (full["peak_mb"] - full["baseline_mb"])
    print(f"LoRA/full peak RSS ratio: {ratio:.2f} (above the import baseline: {above_ratio:.2f})")


if __name__ == "__main__":
    main()
