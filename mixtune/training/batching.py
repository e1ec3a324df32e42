"""What every training stage that packs rows shares: padding-free rows whose examples cannot see
each other (`pack_rows`, `PaddingFreeForward`), the check that they do not on the training model
itself (`packing_leak`), and the best-of-N forward timing behind each stage's packed-or-not choice
(`BatchingProbe`, `time_forward_only`). Each stage's own batching policy lives in the stage
(`sft.batching`, `dpo.batching`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch


def sequence_lengths(dataset: Any, column: str = "input_ids", chunk: int = 20_000) -> list[int]:
    """Token count of every row of a tokenized `datasets.Dataset`, read from Arrow without decoding rows."""
    import pyarrow.compute as pc

    table = dataset.with_format("arrow")
    lengths: list[int] = []
    for start in range(0, len(dataset), chunk):
        col = table[start : start + chunk][column]
        lengths.extend(pc.list_value_length(col).to_pylist())
    return lengths


# --- Padding-free packing with exact per-example attention -------------------------------------
#
# transformers (5.x) derives a block-diagonal causal ("document") mask from position ids that restart
# at 0, for eager, SDPA and flex attention alike, but only when the forward gets no 2D attention mask
# and no cache. Packed examples are therefore exact exactly when those two conditions hold; the helpers
# below establish them, and `packing_max_error` checks on the real model that they do.


def pack_rows(
    input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded rows [B, T] -> one padding-free row [1, S] (S = real tokens), its position ids (restarting
    at 0 for every row) and the boolean mask that scatters results back to [B, T]."""
    keep = attention_mask.bool()
    positions = (keep.long().cumsum(-1) - 1).clamp(min=0)
    return input_ids[keep][None], positions[keep][None], keep


class PaddingFreeForward:
    """Run a decoder backbone on the real tokens of a padded batch only, with examples kept apart.

    Installed as forward hooks on the backbone (`model.base_model`, e.g. `Starcoder2Model`): the pre-hook
    turns padded `input_ids` + `attention_mask` into one packed row with restarting position ids and no
    attention mask (so transformers builds the document mask); the post-hook scatters the hidden states
    back to the padded layout (zeros at padding). Everything above the backbone — the LM head, TRL's
    losses and metrics, reference models — sees the padded batch it expects, so any trainer that
    collates padded rows (DPO's chosen/rejected pairs, completion rows) gets packing without copying its
    loss code. Batches without padding, or already packed (no attention mask), pass through untouched.
    """

    def __init__(self) -> None:
        self._pending: list[torch.Tensor | None] = []
        self.handles: list[Any] = []
        self.real = 0
        self.positions = 0

    def install(self, backbone: torch.nn.Module) -> PaddingFreeForward:
        self.handles.append(backbone.register_forward_pre_hook(self._pre, with_kwargs=True))
        self.handles.append(backbone.register_forward_hook(self._post, with_kwargs=True))
        return self

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def _pre(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        if input_ids is None or mask is None or mask.dim() != 2 or kwargs.get("cache") is not None:
            self._pending.append(None)
            return None
        ids, positions, keep = pack_rows(input_ids, mask)
        self.real += int(ids.size(1))
        self.positions += int(input_ids.numel())
        kwargs = {**kwargs, "input_ids": ids, "position_ids": positions, "use_cache": False}
        kwargs.pop("attention_mask")  # without it (and without a cache) the document mask is derived
        self._pending.append(keep)
        return (), kwargs

    def _post(self, module: Any, args: Any, kwargs: Any, output: Any) -> Any:
        keep = self._pending.pop()
        if keep is None:
            return output
        hidden = output.last_hidden_state
        padded = hidden.new_zeros((*keep.shape, hidden.size(-1)))
        padded[keep] = hidden[0]
        output.last_hidden_state = padded
        return output


def backbone_of(model: Any) -> torch.nn.Module:
    """The decoder stack under a causal LM, through PEFT and DDP/FSDP wrappers."""
    inner = getattr(model, "module", model)
    if hasattr(inner, "get_base_model"):
        inner = inner.get_base_model()
    return inner.base_model


def packing_leak(model: Any, lengths: tuple[int, ...] = (6, 9, 4), seed: int = 0) -> float:
    """How much the logits of packed examples move when the *other* examples of their row change.

    Zero (bit for bit, in any dtype: the masked keys get exactly zero weight and the shapes do not change)
    when the document mask is in force, O(0.1..1) when examples attend to each other. Run on the training
    model itself, so its attention implementation, dtype and transformers version are what is checked.
    Forward only, no gradients."""
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    vocab = int(model.config.get_text_config().vocab_size)
    rows = [torch.randint(0, vocab, (sum(lengths),), generator=gen) for _ in range(2)]
    positions = torch.cat([torch.arange(n) for n in lengths])[None].to(device)
    starts = torch.tensor((0, *lengths)).cumsum(0).tolist()
    # the two rows share one example at a time and differ in all the others
    was_training = model.training
    model.eval()
    leak = 0.0
    try:
        with torch.no_grad():
            for k in range(len(lengths)):
                span = slice(starts[k], starts[k + 1])
                variant = rows[1].clone()
                variant[span] = rows[0][span]
                logits = [
                    model(input_ids=r[None].to(device), position_ids=positions, use_cache=False).logits[
                        0, span
                    ]
                    for r in (rows[0], variant)
                ]
                leak = max(leak, (logits[0].float() - logits[1].float()).abs().max().item())
    finally:
        model.train(was_training)
    return leak


LEAK_TOLERANCE = 1e-4
# packing changes every step's shape: switch to it only when it is clearly (not noisily) faster
PACKED_MARGIN = 1.1


@dataclass
class BatchingProbe:
    """What a short measurement on the training model found: is packing exact, and which layout is faster."""

    leak: float
    packed_tokens_per_s: float
    grouped_tokens_per_s: float  # the unpacked layout: length-grouped (SFT) or TRL's padded rows (DPO)

    @property
    def padded_tokens_per_s(self) -> float:
        return self.grouped_tokens_per_s

    @property
    def exact(self) -> bool:
        return self.leak <= LEAK_TOLERANCE

    def summary(self, other: str = "grouped") -> str:
        return (
            f"measured on this device: packed {self.packed_tokens_per_s:,.0f} real tok/s "
            f"({'exact' if self.exact else f'NOT exact, leak {self.leak:.3g}'}), "
            f"{other} {self.grouped_tokens_per_s:,.0f} real tok/s"
        )


def best_times(fns: list[Any], rounds: int, sync: Any, floor_s: float = 0.05) -> list[float]:
    """Fastest of `rounds` timings of each function (per call), interleaved, each timing at least
    `floor_s` long (calls repeated), after one warm-up each: the minimum is what the hardware can do;
    anything slower was another process taking the cores."""
    import time

    def clock(fn: Any, calls: int) -> float:
        sync()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        return (time.perf_counter() - start) / calls

    calls = [max(1, int(floor_s / max(clock(fn, 1), 1e-6))) for fn in fns]
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], clock(fn, calls[i]))
    return best


def time_forward_only(
    model: Any, runs: list[Any], rounds: int, sync: Any, autocast_dtype: torch.dtype | None
) -> list[float]:
    """Best-of-`rounds` times of `runs` in eval mode without gradients (the model's mode restored)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    autocast = (
        torch.autocast(device.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )
    try:
        with torch.no_grad(), autocast:
            return best_times(runs, rounds, sync)
    finally:
        model.train(was_training)
