"""GPU check: a bf16 SFT run, a DeepSpeed ZeRO-3 single-process SFT run and a bf16 DPO run through
mixtune's own code paths, each printing real tokens/s and peak GPU memory; then the model FLOPs
utilisation (MFU) of a real-size model, with grouped and with packed batching.

    bash bench/gpu_check.sh                          # every step, on a machine with a CUDA GPU
    bash bench/gpu_check.sh --steps mfu-grouped mfu-packed

The small steps use a random-init StarCoder2-architecture model (about 150M parameters); the MFU
steps a random-init StarCoder2-architecture model of 1.06B parameters (hidden 2048, 24 layers, 16
query / 4 key-value heads, MLP 8192: the StarCoder2 shape scaled down), trained in bf16 with the
recipe's own defaults (activation checkpointing, which mixtune turns on from 1B parameters) on the
demo SFT mixture, `max_length` 2048. Nothing is downloaded. Each step runs in its own process so
peak-memory numbers do not bleed into each other.

MFU = 6 * N * (real tokens/s) / (the GPU's dense bf16 peak), where N counts the parameters that
take part in a matmul per token (everything but the input embedding; the tied LM head counts once)
and 6 = 2 FLOPs per multiply-add x (1 forward + 2 backward). Attention's own score/value FLOPs and
the activation-checkpointing recomputation are not counted (the usual convention), so MFU is a
lower bound on hardware utilisation. Real tokens exclude padding; time is the trainer's
`train_runtime` (first steps and data loading included). Peak bf16 TFLOPS (dense, no sparsity,
vendor datasheets) by GPU name: see PEAK_BF16_TFLOPS.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Dense bf16 tensor-core peak, TFLOPS (vendor datasheets, without sparsity), matched by name.
PEAK_BF16_TFLOPS = {
    "H200": 989.5,
    "H100 SXM": 989.5,
    "H100 80GB HBM3": 989.5,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.5,
    "H100": 756.5,  # an unlabelled H100: the lower (PCIe) figure, so MFU is not overstated
    "A100": 312.0,
    "L40S": 362.1,
    "A10G": 125.0,
    "L4": 121.0,
}
MFU_STEPS = ("mfu-grouped", "mfu-packed")
ALL_STEPS = ("sft", "zero3", "dpo", *MFU_STEPS)


def peak_bf16_tflops(name: str) -> float | None:
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value
    return None


def build_big_model(work: Path) -> Path:
    """A random-init 1.06B-parameter StarCoder2-architecture model in bf16 (StarCoder2 shape, scaled)."""
    import torch

    shape = dict(hidden_size=2048, num_layers=24, num_heads=16, num_kv_heads=4, intermediate_size=8192)
    return build_random_model(work / "model-1b", dtype=torch.bfloat16, max_position_embeddings=4096, **shape)


def matmul_parameters(model_dir: Path) -> int:
    """N of 6*N: every parameter that multiplies a token's activations (not the input embedding;
    a tied LM head is the embedding matrix used once as a matmul, so it counts once)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    total = sum(p.numel() for p in model.parameters())  # tied weights appear once
    embedding = model.get_input_embeddings().weight.numel()
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    return total - (0 if tied else embedding)


def inner_mfu(step: str, work: Path, sft_mix: Path) -> dict:
    """Train the 1.06B model for a few dozen steps with grouped or packed batching; tokens/s, memory, MFU."""
    import torch

    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    model = build_big_model(work)
    batching = step.split("-", 1)[1]
    torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    out = train_sft(
        load_sft_recipe(
            ROOT / "sft" / "recipes" / "demo.yaml",
            {
                "model_name_or_path": str(model),
                "mixture": str(sft_mix),
                "output_dir": str(work / f"out-{step}"),
                "batching": batching,
                "bf16": True,
                "max_length": 2048,
                "per_device_train_batch_size": 8 if batching == "grouped" else 4,
                "max_steps": 40,
                "learning_rate": 1e-5,
                "logging_steps": 10,
                "eval_strategy": "no",
                "save_strategy": "no",
                "report_to": "none",
            },
        ),
        overwrite=True,
    )
    record = json.loads((Path(out) / "mixtune_run.json").read_text())
    metrics = record.get("metrics", {})
    name = torch.cuda.get_device_name(0)
    n = matmul_parameters(model)
    tokens_per_s = metrics.get("train_tokens_per_second") or 0.0
    peak = peak_bf16_tflops(name)
    return {
        "step": step,
        "device": name,
        "parameters_for_6N": n,
        "batching": record["hyperparameters"].get("batching"),
        "activation_checkpointing": record["hyperparameters"].get("activation_checkpointing"),
        "real_tokens_per_s": tokens_per_s,
        "pad_share": metrics.get("pad_share"),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "model_tflops_per_s": round(6 * n * tokens_per_s / 1e12, 1),
        "peak_bf16_tflops": peak,
        "mfu": round(6 * n * tokens_per_s / (peak * 1e12), 4) if peak else None,
        "wall_s": round(time.time() - t0, 1),
        "train_runtime_s": metrics.get("train_runtime"),
        "final_loss": metrics.get("final_loss"),
        "notes": [n for n in record.get("notes", []) if n.startswith("batching")],
    }


def build_model(work: Path) -> Path:
    """The 150M-parameter model of the bf16/ZeRO-3 checks (random init)."""
    shape = dict(hidden_size=1024, num_layers=12, num_heads=16, num_kv_heads=4, intermediate_size=4096)
    return build_random_model(work / "model-150m", **shape)


def build_random_model(out: Path, dtype: Any = None, **shape: Any) -> Path:
    """A random-init StarCoder2-architecture model of `shape` with the embedded tokenizer, saved once."""
    from transformers import AutoTokenizer

    from mixtune.base_model import SIZES, build_base_model, make_model

    if (out / "config.json").is_file():
        return out
    tok = AutoTokenizer.from_pretrained(build_base_model(out.parent / "tokenizer", size="test"))
    model = make_model(replace(SIZES["test"], **shape), tok, seed=0)
    if dtype is not None:
        model = model.to(dtype)
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
        from sft.recipe import load_sft_recipe
        from sft.train import train_sft

        out = train_sft(
            load_sft_recipe(
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
            ),
            overwrite=True,
        )
    else:
        from dpo.recipe import load_dpo_recipe
        from dpo.train import train_dpo

        out = train_dpo(
            load_dpo_recipe(
                ROOT / "dpo" / "recipes" / "demo.yaml",
                {
                    **common,
                    "model_name_or_path": str(work / "out-sft"),
                    "mixture": str(dpo_mix),
                    "output_dir": str(work / "out-dpo"),
                    "max_steps": 30,
                    "per_device_train_batch_size": 8,
                },
            ),
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
    ap.add_argument("--inner", choices=ALL_STEPS)
    ap.add_argument("--steps", nargs="+", choices=ALL_STEPS, default=list(ALL_STEPS))
    ap.add_argument("--json-out", default=os.environ.get("OUT", ""))
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.inner:
        sft_mix, dpo_mix = build_mixtures(work)
        if args.inner in MFU_STEPS:
            result = inner_mfu(args.inner, work, sft_mix)
        else:
            result = inner(args.inner, work, build_model(work), sft_mix, dpo_mix)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to check")
        return 1
    build_model(work)
    build_mixtures(work)
    if set(args.steps) & set(MFU_STEPS):
        build_big_model(work)
    me = [sys.executable, str(Path(__file__).resolve()), "--work", str(work)]
    zero3 = ["accelerate", "launch", "--config_file", str(ROOT / "accelerate_configs" / "zero3.yaml")]
    zero3 += ["--num_processes", "1", str(Path(__file__).resolve()), "--work", str(work)]
    results = []
    for name in args.steps:
        cmd = zero3 if name == "zero3" else me
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
        elif r["step"] in MFU_STEPS:
            mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a (unknown GPU peak)"
            print(
                f"{r['step']:<6} | {r['real_tokens_per_s']} | - | {r['peak_gpu_mem_gib']} | {r['wall_s']} | "
                f"{r['final_loss']} | MFU {mfu} ({r['model_tflops_per_s']} of {r['peak_bf16_tflops']} TFLOPS, "
                f"N={r['parameters_for_6N'] / 1e9:.2f}B, {r['device']})"
            )
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
