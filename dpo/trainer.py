"""TRL's `DPOTrainer`, fed pairs that `dpo.encoding` has already tokenized and checked, optionally
run padding-free.

TRL tokenizes inside the trainer and quietly cuts a pair where the prompt rendering diverges; it
also only truncates whole sequences. mixtune encodes (and checks, and truncates prompt-end-first)
beforehand, so the trainer must take the encoded columns as they are. Everything else — losses,
reference handling, precomputed reference log-probs, logging — is TRL's own.

Padding-free pairs: TRL 1.16 disables its own `padding_free` for DPO. With `packed=True` the batch is
still collated padded (so TRL's loss code is untouched), but every forward of the decoder stack —
policy, reference, precomputed reference log-probs, evaluation — runs on the real tokens only, as one
row whose chosen and rejected sequences restart their position ids, so transformers' document mask
keeps them apart (`mixtune.training.batching.PaddingFreeForward`).
"""

from __future__ import annotations

from typing import Any

from trl import DPOTrainer

from dpo.encoding import is_encoded
from mixtune.training.batching import PaddingFreeForward, backbone_of


class EncodedDPOTrainer(DPOTrainer):
    """A `DPOTrainer` whose datasets arrive as prompt_ids/chosen_ids/rejected_ids."""

    def __init__(self, *args: Any, packed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.packed = packed
        self.padding_free: list[PaddingFreeForward] = []
        if packed:
            models = [self.model] + ([self.ref_model] if self.ref_model is not None else [])
            self.padding_free = [PaddingFreeForward().install(backbone_of(m)) for m in models]

    def token_totals(self) -> tuple[int, int]:
        """(real tokens, padded positions) the policy's padding-free forwards saw (packed runs only)."""
        if not self.padding_free:
            return 0, 0
        return self.padding_free[0].real, self.padding_free[0].positions

    def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
        if is_encoded(dataset):
            return dataset
        return super()._prepare_dataset(dataset, processing_class, args, dataset_name)


def pair_masks(dataset: Any, batch_size: int, limit: int = 64, seed: int = 0) -> list[Any]:
    """Attention masks of padded DPO steps ([chosen..., rejected...] rows, as TRL's collator lays them
    out) for up to `limit` random encoded pairs, for the packed-vs-padded measurement."""
    import random

    import torch

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


def choose_dpo_batching(
    mode: str, model: Any, args: Any, train_set: Any
) -> tuple[bool, str, dict[str, float] | None]:
    """Decide padded vs packed pairs: (packed, why, measured figures). `auto` measures on the main
    process (forward only) and every process takes its answer; `packed` is refused if inexact."""
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    from mixtune.errors import MixtuneError
    from mixtune.training.batching import (
        LEAK_TOLERANCE,
        PACKED_MARGIN,
        measure_padding_free,
        packing_leak,
    )

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
            import torch

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
