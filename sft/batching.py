"""How SFT batches are formed: the choice that decides how many of the tokens a step computes are real.

Chat data has long-tailed (log-normal) lengths, so TRL's default — random batches padded to the
longest member — spends about half of every step on padding. The two ways out behave differently
by device, as measured by `bench/sft_throughput.py`:

- `grouped` (default without flash-attn, e.g. on CPU): length-bucketed batches
  (`mixtune.training.batching.LengthBucketSampler`) padded to the batch maximum. Padding falls to
  about 1%, and attention stays per example, so its cost is sum(L_i^2) rather than (sum L_i)^2.
- `packed` (default on CUDA with flash-attn): TRL's best-fit-decreasing packing into `max_length`
  rows, padding-free, with flash-attention's variable-length kernel keeping examples apart. No
  padding at all and constant-size steps. Without a varlen kernel (SDPA, CPU), the same packed row
  needs a dense block-diagonal mask over the whole pack: attention becomes quadratic in the pack
  length, which is why TRL's `packing=True` ran slower than plain padding on CPU.
- `padded`: TRL's default, kept for comparison and for recipes that ask for it.

Measured (`python bench/sft_throughput.py --rows 1024 --variants`, 1 CPU thread, random-init "tiny"
StarCoder2, 1024 conversations with log-normal lengths, one epoch): TRL defaults 907 real tok/s at
57.6% padding; `mixtune sft` defaults (grouped, full-logits loss, no activation checkpointing for a
small model) 4191 tok/s at 1.3% padding, 4.6x; TRL with checkpointing off 1.2x; TRL `packing=True`
0.63x. On one H200 (bf16, SDPA, no flash-attn; `--rows 2048 --variants`): TRL defaults 70.8k real
tok/s at 59.2% padding; grouped 98.4k (1.39x, 0.6% padding); TRL with checkpointing off 1.51x;
TRL `packing=True` (BFD, 1024) 233.7k (3.30x). That last number is not a like-for-like win: with
SDPA, transformers 5.24 does not derive a per-example mask from the reset position ids (checked:
the second example of a packed row gets different logits than alone), so examples attend to each
other. Hence packed only with a varlen kernel (flash-attn), grouped otherwise; `batching: packed`
opts in knowingly.

A recipe that sets TRL's own knobs (`packing`, `padding_free`, `train_sampling_strategy`) gets
exactly those; `batching:` picks one of the modes above explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mixtune.training.device import Capabilities

BatchingMode = Literal["auto", "grouped", "packed", "padded"]
TRL_BATCHING_KEYS = ("packing", "padding_free", "train_sampling_strategy")


@dataclass
class BatchingPlan:
    """The chosen mode, the SFTConfig values it implies, and why."""

    mode: str
    config: dict[str, Any] = field(default_factory=dict)
    attn_implementation: str | None = None
    length_buckets: bool = False
    reason: str = ""


def choose_batching(
    mode: str, caps: Capabilities, training: dict[str, Any], attn_implementation: str | None
) -> BatchingPlan:
    """Resolve `batching:` (auto/grouped/packed/padded) against the hardware and the recipe."""
    explicit = [k for k in TRL_BATCHING_KEYS if k in training]
    if mode == "auto" and explicit:
        return BatchingPlan("recipe", reason=f"the recipe sets {', '.join(explicit)}")
    flash = bool(attn_implementation and attn_implementation.startswith("flash_attention")) or (
        caps.cuda and caps.flash_attn and attn_implementation in (None, "flash_attention_2")
    )
    if mode == "auto":
        mode = "packed" if flash else "grouped"
        why = (
            "CUDA + flash-attn: padding-free BFD packing with varlen attention"
            if flash
            else "no varlen attention kernel here: length-bucketed padded batches"
        )
    else:
        why = "asked for by the recipe"
    if mode == "packed":
        return BatchingPlan(
            "packed",
            config={
                "packing": True,
                "packing_strategy": training.get("packing_strategy", "bfd"),
                "padding_free": True,
            },
            attn_implementation=attn_implementation or ("flash_attention_2" if flash else None),
            reason=why,
        )
    if mode == "grouped":
        return BatchingPlan(
            "grouped", config={"packing": False, "padding_free": False}, length_buckets=True, reason=why
        )
    if mode == "padded":
        return BatchingPlan("padded", config={"packing": False, "padding_free": False}, reason=why)
    raise ValueError(f"unknown batching mode {mode!r}")
