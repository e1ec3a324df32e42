"""TRL's `DPOTrainer`, fed pairs that `dpo.encoding` has already tokenized and checked.

TRL tokenizes inside the trainer and quietly cuts a pair where the prompt rendering diverges; it
also only truncates whole sequences. mixtune encodes (and checks, and truncates prompt-end-first)
beforehand, so the trainer must take the encoded columns as they are. Everything else — losses,
reference handling, precomputed reference log-probs, logging — is TRL's own.
"""

from __future__ import annotations

from typing import Any

from trl import DPOTrainer

from dpo.encoding import is_encoded


class EncodedDPOTrainer(DPOTrainer):
    """A `DPOTrainer` whose datasets arrive as prompt_ids/chosen_ids/rejected_ids."""

    def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
        if is_encoded(dataset):
            return dataset
        return super()._prepare_dataset(dataset, processing_class, args, dataset_name)
