"""Length-bucketed sampling: a permutation per epoch, reproducible from (seed, epoch), with almost no
padding on log-normal chat lengths, and whole step groups for every process."""

from __future__ import annotations

import random

from mixtune.training.batching import sequence_lengths
from sft.sampler import LengthBucketSampler


def lognormal_lengths(n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [min(2048, max(8, int(rng.lognormvariate(5.3, 0.8)))) for _ in range(n)]


def pad_share(order: list[int], lengths: list[int], batch: int) -> float:
    real = padded = 0
    for i in range(0, len(order), batch):
        chunk = [lengths[j] for j in order[i : i + batch]]
        real += sum(chunk)
        padded += max(chunk) * len(chunk)
    return 1 - real / padded


def test_each_epoch_is_a_reproducible_permutation() -> None:
    lengths = lognormal_lengths(1000)
    s = LengthBucketSampler(lengths, batch_size=8, seed=1)
    first = list(s)
    assert sorted(first) == list(range(1000))
    assert list(LengthBucketSampler(lengths, batch_size=8, seed=1)) == first
    s.set_epoch(1)
    second = list(s)
    assert sorted(second) == list(range(1000)) and second != first
    s.set_epoch(0)
    assert list(s) == first


def test_padding_is_small_where_random_batches_waste_half() -> None:
    lengths = lognormal_lengths(4000)
    order = list(LengthBucketSampler(lengths, batch_size=8, seed=0))
    shuffled = list(range(4000))
    random.Random(0).shuffle(shuffled)
    assert pad_share(shuffled, lengths, 8) > 0.35
    assert pad_share(order, lengths, 8) < 0.02


def test_step_groups_are_sorted_runs_for_all_processes() -> None:
    lengths = lognormal_lengths(640)
    order = list(LengthBucketSampler(lengths, batch_size=4, world_size=2, seed=0))
    for i in range(0, 640, 8):  # one optimizer micro-step: 2 processes x 4 examples
        group = [lengths[j] for j in order[i : i + 8]]
        assert group == sorted(group, reverse=True)


def test_sequence_lengths_reads_arrow_and_respects_selection() -> None:
    from datasets import Dataset

    ds = Dataset.from_dict({"input_ids": [[1] * n for n in (3, 1, 4, 1, 5)]})
    assert sequence_lengths(ds, chunk=2) == [3, 1, 4, 1, 5]
    assert sequence_lengths(ds.select([4, 0])) == [5, 3]
