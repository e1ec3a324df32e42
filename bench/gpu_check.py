"""GPU check: a bf16 SFT run, a DeepSpeed ZeRO-3 single-process SFT run and a bf16 DPO run through
mixtune's own code paths, each printing real tokens/s and peak GPU memory.

    bash bench/gpu_check.sh            # on a machine with a CUDA GPU

The model is a random-init StarCoder2-architecture model (about 150M parameters) with the
embedded code tokenizer, trained on the demo mixtures, so nothing is downloaded. Each step runs
in its own process so peak-memory numbers do not bleed into each other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_model(work: Path) -> Path:
    from mixtune.base_model import SIZES, build_base_model, make_model

    out = work / "model-150m"
    if (out / "config.json").is_file():
        return out
    tok_dir = build_base_model(work / "tokenizer", size="test")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    spec = replace(
        SIZES["test"], hidden_size=1024, num_layers=12, num_heads=16, num_kv_heads=4, intermediate_size=4096
    )
    model = make_model(spec, tok, seed=0)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters", flush=True)
    return out


def build_mixtures(work: Path) -> tuple[Path, Path]:
    from mixtures import build_mixture

    recipes = ROOT / "mixtures" / "recipes"
    return (
        build_mixture(recipes / "demo-sft.yaml", out=work / "mix-sft"),
        build_mixture(recipes / "demo-dpo.yaml", out=work / "mix-dpo"),
    )


def inner(step: str, work: Path, model: Path, sft_mix: Path, dpo_mix: Path) -> dict:
    """Run one training step type in this process; return its measurements."""
    import torch

    torch.cuda.reset_peak_memory_stats()
    common = {
        "bf16": True,
        "eval_strategy": "no",
        "save_strategy": "no",
        "logging_steps": 5,
        "report_to": "none",
    }
    t0 = time.time()
    if step in ("sft", "zero3"):
        from sft.train import train_sft

        out = train_sft(
            ROOT / "sft" / "recipes" / "demo.yaml",
            {
                **common,
                "model_name_or_path": str(model),
                "mixture": str(sft_mix),
                "output_dir": str(work / f"out-{step}"),
                "max_steps": 40,
                "per_device_train_batch_size": 16,
                "learning_rate": 1e-4,
            },
            overwrite=True,
        )
    else:
        from dpo.cli import train as train_dpo

        out = train_dpo(
            str(ROOT / "dpo" / "recipes" / "demo.yaml"),
            {
                **common,
                "model_name_or_path": str(work / "out-sft"),
                "mixture": str(dpo_mix),
                "output_dir": str(work / "out-dpo"),
                "max_steps": 30,
                "per_device_train_batch_size": 8,
            },
            True,
        )
    seconds = time.time() - t0
    record = json.loads((Path(out) / "mixtune_run.json").read_text())
    metrics = record.get("metrics", {})
    return {
        "step": step,
        "device": torch.cuda.get_device_name(0),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "wall_s": round(seconds, 1),
        "train_runtime_s": metrics.get("train_runtime"),
        "real_tokens_per_s": metrics.get("train_tokens_per_second"),
        "samples_per_s": metrics.get("train_samples_per_second"),
        "pad_share": metrics.get("pad_share"),
        "final_loss": metrics.get("final_loss") or metrics.get("train_loss"),
        "processed_tokens_per_s": _processed_tokens_per_s(record, metrics),
        "notes": [n for n in record.get("notes", []) if "->" not in n],
    }


def _processed_tokens_per_s(record: dict, metrics: dict) -> float | None:
    """Tokens the trainer consumed per second (TRL logs a running `num_tokens`), pads included for DPO."""
    seen = [e["num_tokens"] for e in record.get("log_history", []) if e.get("num_tokens")]
    runtime = metrics.get("train_runtime")
    return round(max(seen) / runtime, 1) if seen and runtime else None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/mixtune-gpu-check")
    ap.add_argument("--inner", choices=["sft", "zero3", "dpo"])
    ap.add_argument("--json-out", default=os.environ.get("OUT", ""))
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.inner:
        model = build_model(work)
        sft_mix, dpo_mix = build_mixtures(work)
        print("RESULT " + json.dumps(inner(args.inner, work, model, sft_mix, dpo_mix)), flush=True)
        return 0

    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to check")
        return 1
    build_model(work)
    build_mixtures(work)
    me = [sys.executable, str(Path(__file__).resolve()), "--work", str(work)]
    zero3 = ["accelerate", "launch", "--config_file", str(ROOT / "accelerate_configs" / "zero3.yaml")]
    zero3 += ["--num_processes", "1", str(Path(__file__).resolve()), "--work", str(work)]
    results = []
    for name, cmd in (("sft", me), ("zero3", zero3), ("dpo", me)):
        print(f"\n=== {name} ===", flush=True)
        proc = subprocess.run([*cmd, "--inner", name], capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stdout + proc.stderr)[-3000:]
            print(f"{name} FAILED (exit {proc.returncode}):\n{tail}")
            results.append({"step": name, "failed": True, "exit": proc.returncode, "tail": tail[-800:]})
            continue
        result = json.loads(lines[-1][len("RESULT ") :])
        print(json.dumps(result, indent=1))
        results.append(result)
    print("\nstep   | real tokens/s | trainer tokens/s | peak GPU GiB | wall s | final loss")
    for r in results:
        if r.get("failed"):
            print(f"{r['step']:<6} | FAILED (exit {r['exit']})")
        else:
            print(
                f"{r['step']:<6} | {r['real_tokens_per_s']} | {r['processed_tokens_per_s']} | {r['peak_gpu_mem_gib']} "
                f"| {r['wall_s']} | {r['final_loss']}"
            )
    if args.json_out:
        Path(args.json_out).mkdir(parents=True, exist_ok=True)
        (Path(args.json_out) / "gpu_check.json").write_text(json.dumps(results, indent=2))
    return 0 if all(not r.get("failed") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
