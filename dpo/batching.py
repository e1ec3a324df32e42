"""How DPO batches pairs: TRL's padded chosen/rejected rows, or the same rows run padding-free
(`mixtune.training.batching.PaddingFreeForward`), chosen by measurement on the training model
(`batching: auto`) or by the recipe. Packed pairs are exact: the rows of a step cannot see each
other (checked on the model first), and TRL's loss sees its usual padded batch.
"""

from __future__ import annotations

from typing import Any

import torch

from mixtune.errors import MixtuneError
from mixtune.training.batching import (
    LEAK_TOLERANCE,
    PACKED_MARGIN,
    BatchingProbe,
    PaddingFreeForward,
    backbone_of,
    packing_leak,
    time_forward_only,
)


def pair_masks(dataset: Any, batch_size: int, limit: int = 64, seed: int = 0) -> list[Any]:
    """Attention masks of padded DPO steps ([chosen..., rejected...] rows, as TRL's collator lays them
    out) for up to `limit` random encoded pairs, for the packed-vs-padded measurement."""
    import random

    picks = random.Random(seed).sample(range(len(dataset)), min(limit, len(dataset)))
    rows = dataset.select(picks)
    masks = []
    for start in range(0, len(rows), batch_size):
        chunk = rows.select(range(start, min(start + batch_size, len(rows))))
        lengths = [len(p) + len(c) for p, c in zip(chunk["prompt_ids"], chunk["chosen_ids"], strict=True)]
        lengths += [len(p) + len(r) for p, r in zip(chunk["prompt_ids"], chunk["rejected_ids"], strict=True)]
        mask = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
        for i, n in enumerate(lengths):
            mask[i, :n] = 1
        masks.append(mask)
    return masks


def settle_batching(
    mode: str, model: Any, args: Any, train_set: Any
) -> tuple[bool, str, dict[str, float] | None]:
    """Decide padded vs packed pairs: (packed, why, measured figures). `auto` measures on the main
    process (forward only) and every process takes its answer; `packed` is refused if inexact."""
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    if mode == "padded":
        return False, "batching: padded (asked for by the recipe)", None
    state = PartialState()
    answer: list[Any] = [None]
    if state.is_main_process:
        params = list(model.parameters())
        if any(p.numel() == 0 or p.is_meta or hasattr(p, "ds_id") for p in params):
            answer[0] = (
                mode == "packed",
                f"batching: {mode} (not measured: parameters sharded at load)",
                None,
            )
        elif mode == "packed":
            leak = packing_leak(model)
            answer[0] = (
                MixtuneError(
                    f"batching: packed: chosen/rejected rows would attend to each other with this model's "
                    f"attention (leak {leak:.3g} > {LEAK_TOLERANCE}); use batching: padded"
                )
                if leak > LEAK_TOLERANCE
                else (True, "batching: packed (asked for by the recipe; document mask checked)", None)
            )
        else:
            dtype = torch.bfloat16 if getattr(args, "bf16", False) else None
            batch = args.per_device_train_batch_size
            masks = pair_masks(train_set, batch, limit=2 * batch)  # two steps' worth of pairs
            probe = measure_padding_free(model, masks, autocast_dtype=dtype)
            packed = probe.exact and probe.packed_tokens_per_s > PACKED_MARGIN * probe.padded_tokens_per_s
            why = "exact and faster" if packed else ("not exact" if not probe.exact else "slower")
            figures = {
                "leak": probe.leak,
                "packed_tokens_per_s": round(probe.packed_tokens_per_s, 1),
                "padded_tokens_per_s": round(probe.padded_tokens_per_s, 1),
            }
            answer[0] = (
                packed,
                f"batching: {'packed' if packed else 'padded'} (auto, packed is {why}: {probe.summary('padded')})",
                figures,
            )
    if state.num_processes > 1:
        broadcast_object_list(answer)
    if isinstance(answer[0], MixtuneError):
        raise answer[0]
    return answer[0]


def measure_padding_free(
    model: Any, masks: list[torch.Tensor], rounds: int = 3, autocast_dtype: torch.dtype | None = None
) -> BatchingProbe:
    """Time the same padded steps (attention masks [B, T]) run as they are and run padding-free through
    `PaddingFreeForward`: the choice a trainer that collates padded rows (DPO pairs) has. Forward only."""

    device = next(model.parameters()).device
    vocab = int(model.config.get_text_config().vocab_size)
    gen = torch.Generator().manual_seed(0)
    steps = [(torch.randint(0, vocab, tuple(m.shape), generator=gen).to(device), m.to(device)) for m in masks]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def run() -> None:
        for ids, mask in steps:
            model(input_ids=ids, attention_mask=mask, use_cache=False)

    real = sum(int(m.sum()) for m in masks)
    hooks = PaddingFreeForward()

    def run_packed() -> None:
        hooks.install(backbone_of(model))
        try:
            run()
        finally:
            hooks.remove()

    packed_s, padded_s = time_forward_only(model, [run_packed, run], rounds, sync, autocast_dtype)
    return BatchingProbe(packing_leak(model), real / packed_s, real / padded_s)
