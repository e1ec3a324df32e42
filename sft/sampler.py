"""Length-bucketed batches: examples of similar length share a batch, so padded batches carry almost
no padding and no attention is spent across unrelated examples (SFT's `grouped` batching).

Each epoch the indices are shuffled, cut into mega-buckets, sorted by length inside each bucket, cut
into step groups (one batch per process), and the step groups are shuffled again. The order depends
only on (seed, epoch), so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class LengthBucketSampler(Sampler[int]):
    """Yield indices so that each run of `batch_size` consecutive indices has similar lengths.

    batch_size: per-process batch size; world_size: processes (the `world_size` batches of one
    optimizer micro-step come from the same sorted run, so processes finish together);
    bucket_batches: step groups per mega-bucket (more = less padding, less randomness).
    """

    def __init__(
        self,
        lengths: list[int],
        batch_size: int,
        world_size: int = 1,
        seed: int = 0,
        bucket_batches: int = 256,
    ) -> None:
        if batch_size < 1 or world_size < 1:
            raise ValueError("batch_size and world_size must be positive")
        self.lengths = torch.as_tensor(lengths, dtype=torch.long)
        self.group = batch_size * world_size
        self.bucket = self.group * max(1, bucket_batches)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def order(self) -> list[int]:
        """This epoch's index order."""
        gen = torch.Generator().manual_seed(self.seed + 1_000_003 * self.epoch)
        perm = torch.randperm(len(self.lengths), generator=gen)
        groups: list[torch.Tensor] = []
        for start in range(0, len(perm), self.bucket):
            bucket = perm[start : start + self.bucket]
            # stable sort by length, longest first; ties keep the random order
            bucket = bucket[torch.argsort(self.lengths[bucket], descending=True, stable=True)]
            groups.extend(bucket.split(self.group))
        # A short tail group stays last, so every full step group is whole on every process.
        tail = [groups.pop()] if groups and len(groups[-1]) < self.group else []
        shuffled = [groups[i] for i in torch.randperm(len(groups), generator=gen).tolist()] + tail
        return torch.cat(shuffled).tolist() if shuffled else []

    def __iter__(self) -> Iterator[int]:
        return iter(self.order())
