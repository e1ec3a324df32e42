"""SFT throughput: real (non-pad) tokens per second of `mixtune sft` against plain TRL `SFTTrainer`
with its defaults, on the same model and the same chat data with log-normal lengths.

Both sides train the same random-init StarCoder2-architecture model (the embedded "tiny" spec, 4
layers x 128 wide, 4k vocabulary, ChatML set up) for one epoch on the same conversations; each
side's collator is wrapped to count real tokens and computed positions, and the time is the
trainer's own `train_runtime` (data preparation excluded on both sides). Extra TRL variants show
where the difference comes from: activation checkpointing off, and `packing=True`; with `--variants`
mixtune's two layouts run explicitly too (exact packing, grouped), and every line carries its ratio
against TRL's defaults and against the best TRL variant.

    python bench/sft_throughput.py                # CPU: threads pinned to --threads for fairness
    python bench/sft_throughput.py --rows 2000    # more data, steadier numbers

Prints one line per run, then the ratio mixtune / TRL-default and mixtune's pad share.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


# Both sides train one epoch (TRL's default is 3); tokens/s does not depend on it.
EPOCH = {"num_train_epochs": 1}


def make_chat_model(workdir: Path) -> Path:
    """The tiny-spec embedded base model, random-init, with ChatML: both sides start from this dir."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mixtune.base_model import build_base_model
    from mixtune.chat_format import setup_chat_format

    base = build_base_model(size="tiny", steps=0)
    out = workdir / "tiny-chat"
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    setup_chat_format(model, tok)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def make_conversations(
    model_dir: Path, rows: int, median: int, sigma: float, cap: int, seed: int
) -> list[dict]:
    """User/assistant turns whose total token count is log-normal (median `median`, capped at `cap`),
    cut from real Python code so the tokenizer sees ordinary text."""
    from transformers import AutoTokenizer

    from mixtune.base_model import collect_code_files, default_code_dir, read_code

    tok = AutoTokenizer.from_pretrained(model_dir)
    ids = tok(
        "\n".join(read_code(collect_code_files(default_code_dir(), 800_000))), add_special_tokens=False
    )["input_ids"]
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        total = min(cap, max(24, int(rng.lognormvariate(math.log(median), sigma))))
        user = max(4, min(total // 4, 256))
        answer = total - user - 12  # 12 tokens of ChatML framing
        a, b = rng.randrange(len(ids) - cap), rng.randrange(len(ids) - cap)
        out.append(
            {
                "id": str(i),
                "source": "bench",
                "messages": [
                    {"role": "user", "content": tok.decode(ids[a : a + user])},
                    {"role": "assistant", "content": tok.decode(ids[b : b + answer])},
                ],
            }
        )
    return out


class Counter:
    def __init__(self, collator: Any) -> None:
        self.collator, self.real, self.positions = collator, 0, 0

    def __call__(self, examples: list[dict]) -> Any:
        batch = self.collator(examples)
        self.real += sum(len(e["input_ids"]) for e in examples)
        self.positions += int(batch["input_ids"].numel())
        return batch


def run_trl(model_dir: Path, data: Path, out: Path, **config: Any) -> dict[str, Any]:
    """Plain TRL: SFTTrainer with SFTConfig defaults plus only what this machine needs to run."""
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    needed = {
        "output_dir": str(out),
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
        **EPOCH,
    }
    if not torch.cuda.is_available():
        needed["use_cpu"] = True  # TRL's default bf16=True refuses to start on a CPU without it
    args = SFTConfig(**needed, **config)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        args=args,
        train_dataset=load_dataset("json", data_files=str(data), split="train"),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )
    counter = Counter(trainer.data_collator)
    trainer.data_collator = counter
    runtime = trainer.train().metrics["train_runtime"]
    return {"runtime": runtime, "real": counter.real, "positions": counter.positions, "bf16": args.bf16}


def run_mixtune(model_dir: Path, data: Path, out: Path, **keys: Any) -> dict[str, Any]:
    """`mixtune sft` with its defaults: only the model, the data and where to write (plus `keys`)."""
    import yaml

    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    recipe = out.parent / f"{out.name}.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(model_dir),
                "dataset_mixture": {"datasets": [{"id": str(data)}]},
                "output_dir": str(out),
                "save_strategy": "no",
                "disable_tqdm": True,
                **EPOCH,
                **keys,
            }
        )
    )
    train_sft(load_sft_recipe(recipe), overwrite=True)
    record = json.loads((out / "mixtune_run.json").read_text())
    m = record["metrics"]
    real = round(m["train_tokens_per_second"] * m["train_runtime"])
    return {
        "runtime": m["train_runtime"],
        "real": real,
        "positions": round(real / (1 - m["pad_share"])),
        "bf16": record["hyperparameters"]["bf16"],
        "batching": record["hyperparameters"]["batching"],
        "why": next((n for n in record["notes"] if n.startswith("batching:")), ""),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=768)
    ap.add_argument("--median", type=int, default=200, help="median conversation length in tokens")
    ap.add_argument("--sigma", type=float, default=0.8, help="log-normal sigma of conversation lengths")
    ap.add_argument("--cap", type=int, default=1024, help="longest conversation in tokens (= max_length)")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best of each is kept")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (same for every run)")
    ap.add_argument(
        "--variants", action="store_true", help="also run TRL without checkpointing / with packing"
    )
    ap.add_argument("--seed", type=int, default=0)
    opts = ap.parse_args()

    import logging

    import torch
    import transformers

    torch.set_num_threads(opts.threads)
    transformers.logging.set_verbosity_error()
    logging.getLogger().setLevel(logging.WARNING)

    work = Path(tempfile.mkdtemp(prefix="sft-bench-"))
    os.environ.setdefault("MIXTUNE_CACHE", str(Path.home() / ".cache" / "mixtune"))
    model_dir = make_chat_model(work)
    rows = make_conversations(model_dir, opts.rows, opts.median, opts.sigma, opts.cap, opts.seed)
    data = work / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU x{opts.threads} thread(s)"
    print(
        f"device: {device}; {opts.rows} conversations, log-normal lengths (median {opts.median}, sigma {opts.sigma})"
    )

    runs: dict[str, Any] = {
        "TRL SFTTrainer defaults": lambda o: run_trl(model_dir, data, o),
        "mixtune sft defaults": lambda o: run_mixtune(model_dir, data, o),
    }
    if opts.variants:
        runs["TRL, activation checkpointing off"] = lambda o: run_trl(
            model_dir, data, o, gradient_checkpointing=False
        )
        runs[f"TRL packing=True (bfd, {opts.cap})"] = lambda o: run_trl(
            model_dir, data, o, packing=True, max_length=opts.cap
        )
        runs["mixtune sft batching: packed (exact)"] = lambda o: run_mixtune(
            model_dir, data, o, batching="packed", max_length=opts.cap
        )
        runs["mixtune sft batching: grouped"] = lambda o: run_mixtune(model_dir, data, o, batching="grouped")
    best: dict[str, dict[str, Any]] = {}
    for rep in range(opts.repeats):
        for name, fn in runs.items():
            t0 = time.time()
            r = fn(work / f"{name.split()[0]}-{rep}-{len(best)}")
            r["tok_s"] = r["real"] / r["runtime"]
            r["pad"] = 1 - r["real"] / r["positions"]
            extra = f", batching {r['batching']}" if "batching" in r else ""
            print(
                f"[{rep + 1}/{opts.repeats}] {name:36s} {r['tok_s']:8.0f} real tok/s  pad share {r['pad']:6.1%}  "
                f"train {r['runtime']:6.1f}s (bf16 {r['bf16']}{extra}; wall {time.time() - t0:.0f}s)",
                flush=True,
            )
            if name not in best or r["tok_s"] > best[name]["tok_s"]:
                best[name] = r
    base, ours = best["TRL SFTTrainer defaults"], best["mixtune sft defaults"]
    trl_best_name = max((n for n in best if n.startswith("TRL")), key=lambda n: best[n]["tok_s"])
    trl_best = best[trl_best_name]
    print()
    for name, r in best.items():
        print(
            f"{name:38s} {r['tok_s']:8.0f} real tok/s  pad share {r['pad']:6.1%}  "
            f"x{r['tok_s'] / base['tok_s']:.2f} vs TRL defaults  x{r['tok_s'] / trl_best['tok_s']:.2f} vs best TRL"
        )
    print(
        f"\nratio mixtune/TRL-default: {ours['tok_s'] / base['tok_s']:.2f}x   "
        f"mixtune/best TRL ({trl_best_name}): {ours['tok_s'] / trl_best['tok_s']:.2f}x   "
        f"mixtune pad share: {ours['pad']:.1%}"
    )
    print(f"mixtune defaults chose {ours['batching']}: {ours['why']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
