"""Packed FIM rows: per-epoch redraws, labels over middles only, documents kept apart, long files
cut into pieces that fit."""

from __future__ import annotations

from typing import Any

import pytest

from completion.data import (
    IGNORE,
    FimSettings,
    build_fim_dataset,
    collate_packed,
    plan_rows,
    split_long,
)

FILES = [
    f"def f{i}(x):\n    total = x * {i}\n    return total + {i * 7}\n\n\nclass C{i}:\n    size = {i}\n"
    for i in range(24)
]


def documents_of(row: dict[str, list[int]]) -> list[tuple[list[int], list[int]]]:
    """Split a packed row back into (ids, labels) per document by its restarting position ids."""
    docs: list[tuple[list[int], list[int]]] = []
    for tok, lab, pos in zip(row["input_ids"], row["labels"], row["position_ids"], strict=True):
        if pos == 0:
            docs.append(([], []))
        docs[-1][0].append(tok)
        docs[-1][1].append(lab)
    return docs


def test_rows_pack_whole_documents_within_seq_length(tokenizer: Any) -> None:
    ds = build_fim_dataset(FILES, tokenizer, FimSettings(seq_length=128, fim_rate=0.5, seed=3))
    assert sorted(i for row in ds.rows for i in row) == list(range(len(FILES)))
    assert len(ds) < len(FILES)  # several files per row
    eos = tokenizer.eos_token_id
    for i in range(len(ds)):
        row = ds[i]
        assert len(row["input_ids"]) <= 128
        docs = documents_of(row)
        assert len(docs) == len(ds.rows[i])
        for ids, labels in docs:
            assert ids[-1] == eos and labels[-1] == eos  # every document ends and learns to end
            assert labels[0] == IGNORE  # never predicted across the boundary


def test_labels_cover_exactly_the_middle(tokenizer: Any) -> None:
    ds = build_fim_dataset(FILES, tokenizer, FimSettings(seq_length=128, fim_rate=1.0, fim_spm_rate=0.5))
    seen = set()
    for i in range(len(ds)):
        for index, (ids, labels) in zip(ds.rows[i], documents_of(ds[i]), strict=True):
            choice = ds.choice(index)
            seen.add(choice.layout)
            kept = [t for t in labels if t != IGNORE]
            assert kept[-1] == tokenizer.eos_token_id
            assert tokenizer.decode(kept[:-1]) == choice.middle
            first = labels.index(kept[0]) if kept[:-1] else len(ids) - 1
            assert all(t == IGNORE for t in labels[:first])
    assert seen == {"psm", "spm"}


def test_fim_rate_zero_is_plain_text(tokenizer: Any) -> None:
    ds = build_fim_dataset(FILES, tokenizer, FimSettings(seq_length=128, fim_rate=0.0, fim_spm_rate=1.0))
    for epoch in (0, 1, 2):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            for index, (ids, labels) in zip(ds.rows[i], documents_of(ds[i]), strict=True):
                expected = tokenizer(FILES[index], add_special_tokens=False)["input_ids"]
                assert ids == [*expected, tokenizer.eos_token_id]
                assert labels == [IGNORE, *ids[1:]]


def test_fim_rate_one_spm_rate_one_is_all_spm(tokenizer: Any) -> None:
    ds = build_fim_dataset(FILES, tokenizer, FimSettings(seq_length=128, fim_rate=1.0, fim_spm_rate=1.0))
    p, s = tokenizer.convert_tokens_to_ids(["<fim_prefix>", "<fim_suffix>"])
    for i in range(len(ds)):
        for ids, _ in documents_of(ds[i]):
            assert ids[:2] == [p, s]


def test_same_seed_and_epoch_same_rows_new_epoch_new_split(tokenizer: Any) -> None:
    settings = FimSettings(seq_length=128, fim_rate=0.5, seed=11)
    a = build_fim_dataset(FILES, tokenizer, settings)
    b = build_fim_dataset(FILES, tokenizer, settings)
    other_seed = build_fim_dataset(FILES, tokenizer, FimSettings(seq_length=128, fim_rate=0.5, seed=12))
    rows = [a[i] for i in range(len(a))]
    assert rows == [b[i] for i in range(len(b))]
    assert rows != [other_seed[i] for i in range(len(other_seed))]
    a.set_epoch(1)
    epoch1 = [a[i] for i in range(len(a))]
    assert epoch1 != rows
    b.set_epoch(1)
    assert epoch1 == [b[i] for i in range(len(b))]
    a.set_epoch(0)
    assert [a[i] for i in range(len(a))] == rows  # an epoch is reproducible (resume)


def test_rates_are_honoured_over_many_documents(tokenizer: Any) -> None:
    ds = build_fim_dataset(FILES, tokenizer, FimSettings(seq_length=128, fim_rate=0.5, fim_spm_rate=0.5))
    draws = [ds.choice(i, epoch) for epoch in range(40) for i in range(len(FILES))]  # 960 documents
    applied = [c for c in draws if c.applied]
    assert 0.44 < len(applied) / len(draws) < 0.56
    assert 0.42 < sum(c.layout == "spm" for c in applied) / len(applied) < 0.58


def test_long_files_are_cut_on_line_breaks_into_pieces_that_fit(tokenizer: Any) -> None:
    long_file = "".join(f"value_{i} = compute({i}, scale={i % 7})\n" for i in range(200))
    ds = build_fim_dataset([long_file, "", FILES[0]], tokenizer, FimSettings(seq_length=96, fim_rate=0.5))
    assert ds.stats.empty_files == 1 and ds.stats.split_files == 1
    pieces = ds.documents[:-1]
    assert "".join(pieces) == long_file and len(pieces) > 5
    assert all(p.endswith("\n") for p in pieces)
    for epoch in range(4):
        ds.set_epoch(epoch)
        assert all(len(ds[i]["input_ids"]) <= 96 for i in range(len(ds)))
    assert ds.stats.counts["truncated_documents"] == 0


def test_split_long_without_line_breaks_cuts_on_token_boundaries() -> None:
    text = "abcdefghij"
    offsets = [(i, i + 1) for i in range(10)]
    assert split_long(text, offsets, 4) == ["abcd", "efgh", "ij"]
    assert split_long("ab\ncdef\ngh", [(i, i + 1) for i in range(10)], 6) == ["ab\n", "cdef\n", "gh"]


def test_plan_rows_best_fit_never_overfills() -> None:
    lengths = [50, 10, 40, 60, 30, 20, 90, 5]
    rows = plan_rows(lengths, 100)
    assert sorted(i for r in rows for i in r) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in r) <= 100 for r in rows)
    assert len(rows) == 4  # 305 tokens: the fewest 100-token rows that hold them
    assert plan_rows(lengths, 100, packing=False) == [[i] for i in range(len(lengths))]


def test_packed_documents_do_not_see_each_other(tokenizer: Any, tiny_base_dir: Any) -> None:
    """A document's logits in a packed row equal its logits alone: the collated position ids give
    transformers' document mask, so nothing leaks across documents."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_base_dir).eval()
    ds = build_fim_dataset(FILES[:6], tokenizer, FimSettings(seq_length=256, fim_rate=0.5, seed=1))
    batch = collate_packed([ds[0], ds[1]] if len(ds) > 1 else [ds[0]])
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    with torch.no_grad():
        packed = model(**batch, use_cache=False).logits[0]
        starts = [k for k, p in enumerate(batch["position_ids"][0].tolist()) if p == 0]
        bounds = [*starts, batch["input_ids"].shape[1]]
        assert len(starts) >= 2
        for a, b in zip(bounds, bounds[1:], strict=False):
            alone = model(input_ids=batch["input_ids"][:, a:b]).logits[0]
            assert torch.allclose(packed[a:b], alone, atol=1e-4)


@pytest.mark.parametrize("seq_length", [8, 16])
def test_too_short_rows_are_refused(tokenizer: Any, seq_length: int) -> None:
    from mixtune.errors import DataError

    with pytest.raises(DataError, match="seq_length"):
        build_fim_dataset(FILES, tokenizer, FimSettings(seq_length=seq_length))


def test_the_trainer_callback_moves_the_dataset_to_each_epoch(tokenizer: Any) -> None:
    """At every epoch start (also a resumed run's, whose state.epoch is fractional) the dataset
    draws that epoch's split points."""
    from types import SimpleNamespace

    from completion.train import epoch_callback

    ds = build_fim_dataset(FILES, tokenizer, FimSettings(seq_length=128, fim_rate=0.5))
    callback = epoch_callback(ds)
    for state_epoch, expected in ((0.0, 0), (0.9999999999, 1), (2.0, 2), (3.5, 3)):
        callback.on_epoch_begin(None, SimpleNamespace(epoch=state_epoch), None)
        assert ds.epoch == expected
