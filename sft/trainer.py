"""TRL's SFTTrainer with two additions: length-bucketed sampling, and a count of real versus padded
token positions (the numbers behind tokens/s and pad share in the run record)."""

from __future__ import annotations

from typing import Any

from trl import SFTTrainer

from mixtune.training.batching import LengthBucketSampler, sequence_lengths


class TokenCountingCollator:
    """Wraps a collator; counts real tokens (the examples' own) and computed positions (after padding)."""

    def __init__(self, collator: Any) -> None:
        self.collator = collator
        self.real = 0
        self.positions = 0

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(examples)
        self.real += sum(len(ex["input_ids"]) for ex in examples)
        self.positions += int(batch["input_ids"].numel())
        return batch


class MixtuneSFTTrainer(SFTTrainer):
    """SFTTrainer + `length_buckets` sampling + token accounting."""

    def __init__(self, *args: Any, length_buckets: bool = False, **kwargs: Any) -> None:
        self.length_buckets = length_buckets
        super().__init__(*args, **kwargs)
        self.token_counter = TokenCountingCollator(self.data_collator)

    def get_train_dataloader(self) -> Any:
        # count training batches only: the counter is the collator of the training loader alone
        original = self.data_collator
        self.data_collator = self.token_counter
        try:
            return super().get_train_dataloader()
        finally:
            self.data_collator = original

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        if not self.length_buckets:
            return super()._get_train_sampler(train_dataset)
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        return LengthBucketSampler(
            sequence_lengths(dataset),
            batch_size=self.args.per_device_train_batch_size,
            world_size=max(1, self.args.world_size),
            seed=self.args.seed,
        )

    def token_totals(self) -> tuple[int, int]:
        """(real tokens, computed positions) of this session, summed over all processes."""
        import torch

        counts = torch.tensor(
            [self.token_counter.real, self.token_counter.positions], device=self.accelerator.device
        )
        counts = self.accelerator.reduce(counts, reduction="sum")
        return int(counts[0]), int(counts[1])
