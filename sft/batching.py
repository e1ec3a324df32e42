"""How SFT batches are formed: the choice that decides how many of the tokens a step computes are real.

Chat data has long-tailed (log-normal) lengths, so TRL's default — random batches padded to the
longest member — spends about half of every step on padding. The two ways out behave differently
by device, as measured by `bench/sft_throughput.py`:

- `grouped` (default without flash-attn, e.g. on CPU): length-bucketed batches
  (`sft.sampler.LengthBucketSampler`) padded to the batch maximum. Padding falls to
  about 1%, and attention stays per example, so its cost is sum(L_i^2) rather than (sum L_i)^2.
- `packed` (default on CUDA with flash-attn): TRL's best-fit-decreasing packing into `max_length`
  rows, padding-free, with flash-attention's variable-length kernel keeping examples apart. No
  padding at all and constant-size steps. Without a varlen kernel (SDPA, CPU), the same packed row
  needs a dense block-diagonal mask over the whole pack: attention becomes quadratic in the pack
  length, which is why TRL's `packing=True` ran slower than plain padding on CPU.
- `padded`: TRL's default, kept for comparison and for recipes that ask for it.

Exactness: transformers 5.x derives a block-diagonal causal ("document") mask from position ids that
restart at 0 — for eager, SDPA and flex attention — whenever the forward gets no 2D attention mask and
no cache, which is how TRL's padding-free collator and `compute_loss` (use_cache=False) call the
model. So a packed row's examples do not see each other with any attention implementation; what a
varlen kernel adds is speed (attention cost sum(L_i^2) instead of a dense mask over the whole row).
Every run that packs checks this on its own model first (`packing_leak`: a packed example's logits
must not move when its row-mates change), and refuses to pack where they do.

`auto` therefore decides by measurement: with flash-attn on CUDA it packs (varlen, exact and
fastest); otherwise it times the training model on examples drawn from the run's own data, laid
out packed and grouped (`measure_batching`: one packed step's worth of examples, forward only),
and packs only when packing is exact and faster (by 10%, above timing noise; each layout is timed as the best of three
interleaved rounds, since other processes on a shared machine only ever slow a timing down). The
run record's notes give both figures and the choice; `mixtune_batching.json` in every checkpoint
keeps it, so a resumed run batches exactly as its first start did, and the decision is remembered
per machine, model shape, precision, batch shape and data ($MIXTUNE_CACHE/batching/), so that two
runs of one recipe here batch alike (packed and grouped steps train on different example sets, and
on a crowded machine nearly equal timings could otherwise flip). Set `batching:` explicitly to
choose across machines.

Measured (`bench/sft_throughput.py --variants`; real tokens/s, best of two runs for the two
defaults, one run for the other variants): on CPU (1 thread,
384 conversations, a busy 2-core machine) auto measured and chose grouped: 1630 tok/s, 3.8x TRL's
defaults (424) and 3.1x the best TRL variant (activation checkpointing off, 532); exact packing 214,
TRL `packing=True` 170 (dense masks over 8k-token rows). On one H200 (bf16, SDPA, no flash-attn,
`--rows 2048`, an earlier version): TRL defaults 70.8k, grouped 98.4k (1.39x), TRL `packing=True`
233.7k (3.30x). That packed figure was exact after all: TRL's `compute_loss` passes use_cache=False,
so transformers built the document mask; the earlier check that saw packed examples attend to each
other called the model with the default use_cache=True (a cache suppresses the mask). The GPU
figures for this version's exact packing and auto choice await a GPU (`bench/gpu_check.sh`).
A recipe that sets TRL's own knobs (`packing`, `padding_free`, `train_sampling_strategy`) gets
exactly those; `batching:` picks one of the modes above explicitly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from mixtune.errors import MixtuneError
from mixtune.training.batching import (
    LEAK_TOLERANCE,
    PACKED_MARGIN,
    BatchingProbe,
    packing_leak,
    time_forward_only,
)
from mixtune.training.device import Capabilities

BatchingMode = Literal["auto", "grouped", "packed", "padded"]
TRL_BATCHING_KEYS = ("packing", "padding_free", "train_sampling_strategy")
PACKED = {"packing": True, "padding_free": True}
DECISION_FILE = "mixtune_batching.json"  # an `auto` run's measured choice, kept in every checkpoint
UNPACKED = {"packing": False, "padding_free": False}


@dataclass
class BatchingPlan:
    """The chosen mode, the SFTConfig values it implies, and why.

    mode "measure" is a pending `auto`: `settle_batching` times the model and picks packed or grouped.
    """

    mode: str
    config: dict[str, Any] = field(default_factory=dict)
    attn_implementation: str | None = None
    length_buckets: bool = False
    reason: str = ""
    probe: dict[str, float] | None = None


def _packed(training: dict[str, Any], why: str, attn: str | None = None) -> BatchingPlan:
    config = {**PACKED, "packing_strategy": training.get("packing_strategy", "bfd")}
    return BatchingPlan("packed", config=config, attn_implementation=attn, reason=why)


def _grouped(why: str) -> BatchingPlan:
    return BatchingPlan("grouped", config=dict(UNPACKED), length_buckets=True, reason=why)


def choose_batching(
    mode: str, caps: Capabilities, training: dict[str, Any], attn_implementation: str | None
) -> BatchingPlan:
    """Resolve `batching:` (auto/grouped/packed/padded) against the hardware and the recipe, as far as
    it can be before the model exists: `auto` without a varlen kernel becomes "measure"."""
    explicit = [k for k in TRL_BATCHING_KEYS if k in training]
    if mode == "auto" and explicit:
        return BatchingPlan("recipe", reason=f"the recipe sets {', '.join(explicit)}")
    flash = bool(attn_implementation and attn_implementation.startswith("flash_attention")) or (
        caps.cuda and caps.flash_attn and attn_implementation in (None, "flash_attention_2")
    )
    varlen = attn_implementation or ("flash_attention_2" if flash else None)
    if mode == "auto":
        if flash:
            return _packed(training, "CUDA + flash-attn: padding-free BFD packing, varlen attention", varlen)
        return BatchingPlan("measure", reason="no varlen attention kernel: packed vs grouped by measurement")
    if mode == "packed":
        return _packed(training, "asked for by the recipe", varlen)
    if mode == "grouped":
        return _grouped("asked for by the recipe")
    if mode == "padded":
        return BatchingPlan("padded", config=dict(UNPACKED), reason="asked for by the recipe")
    raise ValueError(f"unknown batching mode {mode!r}")


def decide(plan: BatchingPlan, probe: BatchingProbe | None, training: dict[str, Any]) -> BatchingPlan:
    """Settle a plan with what the probe measured: `measure` packs only when exact and faster; an
    explicit `packed` is refused when the model's attention lets packed examples see each other."""
    if plan.mode == "packed" and probe is not None and not probe.exact:
        raise MixtuneError(
            f"batching: packed: packed examples attend to each other with this model's attention "
            f"(logits move by {probe.leak:.3g} when row-mates change; allowed {LEAK_TOLERANCE}); "
            "use batching: grouped, or flash-attn"
        )
    if plan.mode != "measure":
        return plan
    if probe is None:
        return _grouped(
            "auto: could not measure here (parameters sharded at load); grouped is the safe default"
        )
    figures = {
        "leak": probe.leak,
        "packed_tokens_per_s": round(probe.packed_tokens_per_s, 1),
        "grouped_tokens_per_s": round(probe.grouped_tokens_per_s, 1),
    }
    if probe.exact and probe.packed_tokens_per_s > PACKED_MARGIN * probe.grouped_tokens_per_s:
        chosen = _packed(training, f"auto, packed is exact and faster: {probe.summary()}")
    else:
        why = "not exact" if not probe.exact else "slower"
        chosen = _grouped(f"auto, packed is {why}: {probe.summary()}")
    chosen.probe = figures
    return chosen


def sample_lengths(dataset: Any, tokenizer: Any, limit: int = 256, seed: int = 0) -> list[int]:
    """Token counts of up to `limit` random rows, rendered as SFT renders them (chat template for
    messages, plain text, or prompt + completion), for the batching measurement."""
    import random

    picks = random.Random(seed).sample(range(len(dataset)), min(limit, len(dataset)))
    lengths = []
    for row in dataset.select(picks):
        messages = row.get("messages") or row.get("conversations")
        if messages:
            ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        elif row.get("text") is not None:
            ids = tokenizer(row["text"])["input_ids"]
        else:
            prompt, completion = row.get("prompt", ""), row.get("completion", "")
            if isinstance(prompt, list):
                ids = tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=True)
                ids = ids["input_ids"]
            else:
                ids = tokenizer(str(prompt) + str(completion))["input_ids"]
        lengths.append(len(ids))
    return lengths


def settle_batching(
    plan: BatchingPlan,
    model: Any,
    args: Any,
    dataset: Any,
    tokenizer: Any,
    caps: Capabilities,
    resume_from: str | Path | None = None,
) -> BatchingPlan:
    """Measure where the plan needs it (auto without varlen, or packed without flash-attn), on the main
    process, and share the decision with every process; then write the chosen flags into `args`.
    Resuming from a checkpoint that kept an `auto` decision (`BatchingDecisionKeeper`) reuses it."""
    needs = plan.mode == "measure" or (
        plan.mode == "packed" and not (plan.attn_implementation or "").startswith("flash")
    )
    saved = Path(resume_from) / DECISION_FILE if resume_from else None
    if plan.mode == "measure" and saved is not None and saved.is_file():
        # a resumed run keeps the layout its first start measured (the batches must not change)
        plan = BatchingPlan(**json.loads(saved.read_text(encoding="utf-8")))
        plan.reason = f"{plan.reason} [decided when this run started]"
        needs = False
    if needs:
        from accelerate import PartialState
        from accelerate.utils import broadcast_object_list

        state = PartialState()
        decided: list[Any] = [None]
        if state.is_main_process:
            remembered = measured_before(model, args, dataset, caps) if plan.mode == "measure" else None
            if remembered is not None and remembered.is_file():
                decided[0] = BatchingPlan(**json.loads(remembered.read_text(encoding="utf-8")))
                decided[0].reason += f" [measured by an earlier run on this machine: {remembered}]"
            else:
                probe = probe_model(model, args, dataset, tokenizer, caps, timing=plan.mode == "measure")
                try:
                    decided[0] = decide(plan, probe, args.to_dict())
                except MixtuneError as exc:
                    decided[0] = exc
                if remembered is not None and isinstance(decided[0], BatchingPlan) and decided[0].probe:
                    remembered.write_text(json.dumps(asdict(decided[0]), indent=2) + "\n", encoding="utf-8")
        if state.num_processes > 1:
            broadcast_object_list(decided)
        if isinstance(decided[0], MixtuneError):
            raise decided[0]
        plan = decided[0]
    for key, value in plan.config.items():
        setattr(args, key, value)
    return plan


def measured_before(model: Any, args: Any, dataset: Any, caps: Capabilities) -> Path:
    """Where an `auto` decision for this machine, model shape, precision, batch shape and data is kept
    ($MIXTUNE_CACHE/batching/), so that runs of the same recipe here batch alike (timings of nearly
    equal layouts would otherwise flip between runs and change what a step trains on)."""
    import hashlib
    import platform

    import torch
    import transformers

    from mixtune.paths import cache_dir

    config = model.config.to_dict()
    config.pop("_name_or_path", None)
    key = {
        "device": caps.gpu_name or platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "versions": [torch.__version__, transformers.__version__],
        "config": config,
        "attn": getattr(model.config, "_attn_implementation", None),
        "bf16": bool(getattr(args, "bf16", False)),
        "batch": int(args.per_device_train_batch_size),
        "max_length": getattr(args, "max_length", None),
        "data": getattr(dataset, "_fingerprint", None) or len(dataset),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return cache_dir("batching") / f"{digest}.json"


def probe_model(
    model: Any, args: Any, dataset: Any, tokenizer: Any, caps: Capabilities, timing: bool = True
) -> BatchingProbe | None:
    """Leak check and (with `timing`) packed-vs-grouped timing on the model, on the training device.

    None where the model cannot run whole here (ZeRO-3 partitions at load; meta tensors; a GPU too
    small for a whole copy)."""
    params = list(model.parameters())
    if any(p.numel() == 0 or p.is_meta or hasattr(p, "ds_id") for p in params):
        return None
    home = params[0].device
    target = torch.device("cuda", torch.cuda.current_device()) if caps.cuda else home
    if target != home:
        size = sum(p.numel() * p.element_size() for p in params)
        if size > 0.4 * torch.cuda.mem_get_info(target)[0]:
            return None
        model.to(target)
    try:
        if not timing:
            return BatchingProbe(packing_leak(model), 0.0, 0.0)
        lengths = sample_lengths(dataset, tokenizer)
        dtype = torch.bfloat16 if getattr(args, "bf16", False) else None
        max_length = int(getattr(args, "max_length", None) or max(lengths))
        return measure_batching(
            model, lengths, int(args.per_device_train_batch_size), max_length, autocast_dtype=dtype
        )
    finally:
        if target != home:
            model.to(home)
            torch.cuda.empty_cache()


def decision_keeper(plan: BatchingPlan) -> Any:
    """A TrainerCallback that writes a measured `auto` decision into every checkpoint, so resuming
    from it batches as before (None when there is nothing measured to keep)."""
    if plan.probe is None:
        return None
    from transformers import TrainerCallback

    record = json.dumps(asdict(plan), indent=2) + "\n"

    class BatchingDecisionKeeper(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and ckpt.is_dir():
                (ckpt / DECISION_FILE).write_text(record, encoding="utf-8")

    return BatchingDecisionKeeper()


# ---- measuring packed against grouped on the training model ----


def one_step_of(lengths: list[int], tokens: int) -> list[int]:
    """The leading examples that fill about one packed step (`tokens`): the probe costs one step."""
    taken, total = [], 0
    for n in lengths:
        if total >= tokens:
            break
        taken.append(n)
        total += n
    return taken


def packed_batches(lengths: list[int], batch_size: int, max_length: int) -> list[torch.Tensor]:
    """Layout of packed training steps: best-fit-decreasing bins of `max_length` tokens, `batch_size`
    bins per step flattened into one row (as TRL's padding-free collator does). Returns the position
    ids [1, S] of each step; token ids are the caller's."""
    bins: list[list[int]] = []
    room: list[int] = []
    for n in sorted((min(n, max_length) for n in lengths), reverse=True):
        best = min((r for r in range(len(bins)) if room[r] >= n), key=lambda r: room[r], default=None)
        if best is None:
            bins.append([])
            room.append(max_length)
            best = len(bins) - 1
        bins[best].append(n)
        room[best] -= n
    steps = []
    for start in range(0, len(bins), batch_size):
        sizes = [n for b in bins[start : start + batch_size] for n in b]
        steps.append(torch.cat([torch.arange(n) for n in sizes])[None])
    return steps


def grouped_batches(lengths: list[int], batch_size: int, max_length: int) -> list[torch.Tensor]:
    """Attention masks [B, T] of length-grouped padded steps (sorted, cut into `batch_size` rows)."""
    ordered = sorted((min(n, max_length) for n in lengths), reverse=True)
    steps = []
    for start in range(0, len(ordered), batch_size):
        chunk = ordered[start : start + batch_size]
        mask = torch.zeros(len(chunk), chunk[0], dtype=torch.long)
        for row, n in enumerate(chunk):
            mask[row, :n] = 1
        steps.append(mask)
    return steps


def measure_batching(
    model: Any,
    lengths: list[int],
    batch_size: int,
    max_length: int,
    rounds: int = 3,
    autocast_dtype: torch.dtype | None = None,
) -> BatchingProbe:
    """Time forward passes of the training model on the same examples (token counts drawn from the
    data, about one packed step of them) laid out packed (padding-free, document mask) and grouped
    (length-sorted, padded).

    Forward only and without gradients: the backward pass scales with the forward for both layouts,
    and nothing is left behind on the model. Token ids are random; only their layout matters.
    """

    device = next(model.parameters()).device
    vocab = int(model.config.get_text_config().vocab_size)
    gen = torch.Generator().manual_seed(0)
    lengths = one_step_of(lengths, batch_size * max_length)
    packed = packed_batches(lengths, batch_size, max_length)
    grouped = grouped_batches(lengths, batch_size, max_length)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def ids(shape: torch.Size) -> torch.Tensor:
        return torch.randint(0, vocab, tuple(shape), generator=gen).to(device)

    packed_steps = [(ids(p.shape), p.to(device)) for p in packed]
    grouped_steps = [(ids(m.shape), m.to(device)) for m in grouped]

    def run_packed() -> None:
        for tokens, positions in packed_steps:
            model(input_ids=tokens, position_ids=positions, use_cache=False)

    def run_grouped() -> None:
        for tokens, mask in grouped_steps:
            model(input_ids=tokens, attention_mask=mask, use_cache=False)

    real = sum(min(n, max_length) for n in lengths)
    packed_s, grouped_s = time_forward_only(model, [run_packed, run_grouped], rounds, sync, autocast_dtype)
    return BatchingProbe(packing_leak(model), real / packed_s, real / grouped_s)
