"""TRL's SFTTrainer with four additions: length-bucketed sampling, a count of real versus padded
token positions (the numbers behind tokens/s and pad share in the run record), a count of the rows
its preparation truncates or drops (the run record's `data`), and an optional full-logits loss.

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

from mixtune.training.batching import sequence_lengths
from mixtune.training.run_record import DataStats
from sft.sampler import LengthBucketSampler


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


def preparation_stats(full: Any, prepared_rows: int, args: Any, packing: bool) -> DataStats:
    """What TRL's truncation did to tokenized, labelled rows (`full`): rows longer than `max_length`
    are cut (`truncation_mode` end kept or start kept; packing with `bfd` keeps the start, `bfd_split`
    and `wrapped` move the overflow instead); a row left with no trained token is dropped, as is a
    row that never had one. Packing drops nothing."""
    limit = args.max_length
    lengths = sequence_lengths(full)
    long_rows = [i for i, n in enumerate(lengths) if limit is not None and n > limit]
    if packing:
        cut = len(long_rows) if getattr(args, "packing_strategy", "bfd") == "bfd" else 0
        return DataStats(len(full), len(full), {}, {"sequences": cut})
    keep = slice(-limit, None) if args.truncation_mode == "keep_end" else slice(None, limit)
    emptied = sum(1 for i in long_rows if all(t == -100 for t in full[i]["labels"][keep]))
    dropped = {"no_trained_token_after_truncation": emptied}
    dropped["no_trained_token"] = len(full) - prepared_rows - emptied
    return DataStats(
        rows_in=len(full),
        kept=prepared_rows,
        dropped={k: v for k, v in dropped.items() if v},
        truncated={"sequences": len(long_rows) - emptied},
    )


class MixtuneSFTTrainer(SFTTrainer):
    """SFTTrainer + `length_buckets` sampling + token accounting + `full_logits_loss`."""

    def __init__(
        self, *args: Any, length_buckets: bool = False, full_logits_loss: bool = False, **kwargs: Any
    ) -> None:
        self.length_buckets = length_buckets
        self.full_logits_loss = full_logits_loss
        self.data_stats: dict[str, DataStats] = {}  # "train" / "test" -> what preparation did to the rows
        super().__init__(*args, **kwargs)
        self.token_counter = TokenCountingCollator(self.data_collator)

    def _prepare_dataset(
        self,
        dataset: Any,
        processing_class: Any,
        args: Any,
        packing: bool,
        formatting_func: Any,
        dataset_name: str,
    ) -> Any:
        """TRL's preparation in two passes, so every row is kept or counted: tokenize and label
        without cutting, measure, then TRL's own truncation (which drops rows left without a trained
        token) and packing on the tokenized rows."""
        limit, shuffle = args.max_length, args.shuffle_dataset
        args.max_length, args.shuffle_dataset = None, False
        try:
            full = super()._prepare_dataset(
                dataset, processing_class, args, False, formatting_func, dataset_name
            )
        finally:
            args.max_length, args.shuffle_dataset = limit, shuffle
        prepared = super()._prepare_dataset(full, processing_class, args, packing, None, dataset_name)
        split = "test" if dataset_name.startswith("eval") else "train"
        self.data_stats[split] = preparation_stats(full, len(prepared), args, packing)
        return prepared

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
