"""TRL's SFTTrainer with three additions: length-bucketed sampling, a count of real versus padded
token positions (the numbers behind tokens/s and pad share in the run record), and an optional
full-logits loss.

TRL 1.16 computes the loss through a chunked "fused LM head" that never materialises the
[tokens x vocabulary] logits: the right trade on a GPU, where those logits are gigabytes. On a CPU
the chunked kernel's tiling and fp32 conversions cost more than the memory they save (measured by
`bench/sft_throughput.py`), so there the plain transformers loss (same value: the sum of token
losses over the tokens in the whole batch) is used instead.
"""

from __future__ import annotations

from typing import Any

from transformers import Trainer
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
    """SFTTrainer + `length_buckets` sampling + token accounting + `full_logits_loss`."""

    def __init__(
        self, *args: Any, length_buckets: bool = False, full_logits_loss: bool = False, **kwargs: Any
    ) -> None:
        self.length_buckets = length_buckets
        self.full_logits_loss = full_logits_loss
        super().__init__(*args, **kwargs)
        self.token_counter = TokenCountingCollator(self.data_collator)

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        plain = self.args.loss_type == "nll" and self.label_smoother is None and not self.aux_loss_enabled
        if not (self.full_logits_loss and plain):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        import torch

        inputs["use_cache"] = False
        loss, outputs = Trainer.compute_loss(
            self, model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        mode = "train" if self.model.training else "eval"
        with torch.no_grad():
            targets = inputs["labels"][:, 1:]
            mask = targets != -100
            correct = ((outputs.logits[:, :-1].argmax(-1) == targets) & mask).sum()
            n_valid = self.accelerator.gather_for_metrics(mask.sum()).sum()
            n_correct = self.accelerator.gather_for_metrics(correct).sum()
        self._metrics[mode]["mean_token_accuracy"].append(
            (n_correct / n_valid).item() if n_valid > 0 else 0.0
        )
        if mode == "train":
            if "attention_mask" in inputs:
                local = inputs["attention_mask"].sum()
            else:
                local = torch.tensor(inputs["position_ids"].size(1), device=inputs["position_ids"].device)
            self._total_train_tokens += self.accelerator.gather_for_metrics(local).sum().item()
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return (loss, outputs) if return_outputs else loss

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
