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


class MixtuneDPOTrainer(DPOTrainer):
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
