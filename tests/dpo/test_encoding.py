"""Pairs are encoded exactly as the model sees them at inference; mismatches are errors, not silence."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpo.encoding import encode_preferences
from mixtune.errors import DataError


@pytest.fixture(scope="module")
def tokenizer(tiny_chat_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_chat_dir)


def _dataset(rows):
    from datasets import Dataset

    return Dataset.from_list(rows)


def test_prompt_ids_are_the_inference_rendering(tokenizer, pairs) -> None:
    rows = pairs(4, seed=1)
    encoded, stats = encode_preferences(_dataset(rows), tokenizer, max_length=None, max_prompt_length=None)
    assert stats.kept == 4 and stats.dropped == {}
    for row, enc in zip(rows, encoded, strict=True):
        at_inference = tokenizer.apply_chat_template(
            row["prompt"], add_generation_prompt=True, return_dict=True
        )
        assert enc["prompt_ids"] == list(at_inference["input_ids"])
        text = tokenizer.decode(enc["chosen_ids"])
        assert text.startswith("```python") and text.rstrip().endswith("<|im_end|>")


def _mismatching_template(tokenizer):
    # The generation prompt says 'assistant' but conversations render it as 'bot': a template bug.
    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = tokenizer.chat_template.replace(
        "'<|im_start|>' + message['role']",
        "'<|im_start|>' + ('bot' if message['role'] == 'assistant' else message['role'])",
    )
    return tokenizer


def test_prompt_rendering_mismatch_raises_naming_the_row(tokenizer, pairs) -> None:
    bad = _mismatching_template(tokenizer)
    rows = pairs(3, seed=2, source="ufb")
    with pytest.raises(DataError) as err:
        encode_preferences(_dataset(rows), bad, max_length=None, max_prompt_length=None)
    msg = str(err.value)
    assert "3 of 3" in msg and "id='ufb-0'" in msg and "source 'ufb'" in msg
    assert "not a token prefix" in msg


def test_mismatch_skip_counts_every_dropped_row(tokenizer, pairs) -> None:
    bad = _mismatching_template(tokenizer)
    with pytest.raises(DataError, match=r"no usable preference pairs left \(\{'prompt_mismatch': 3\}\)"):
        encode_preferences(
            _dataset(pairs(3, seed=2)), bad, max_length=None, max_prompt_length=None, on_mismatch="skip"
        )


def test_malformed_row_is_named(tokenizer, pairs) -> None:
    rows = pairs(3, seed=3)
    rows[1]["chosen"] = [{"role": "user", "content": "oops"}]
    with pytest.raises(DataError, match=r"id='synthetic-1'.*chosen must start with an assistant message"):
        encode_preferences(_dataset(rows), tokenizer, max_length=None, max_prompt_length=None)


def test_long_prompts_keep_their_end_and_completions_their_start(tokenizer, pairs) -> None:
    rows = pairs(2, seed=4)
    rows[0]["prompt"] = [
        {"role": "system", "content": "You are terse. " * 60},
        {"role": "user", "content": "Write a function last_one that returns x."},
    ]
    encoded, stats = encode_preferences(_dataset(rows), tokenizer, max_length=48, max_prompt_length=32)
    assert stats.truncated["prompts"] == 1 and stats.kept == 2
    first = encoded[0]
    assert len(first["prompt_ids"]) == 32
    assert tokenizer.decode(first["prompt_ids"]).endswith(
        "last_one that returns x.<|im_end|>\n<|im_start|>assistant\n"
    )
    for side in ("chosen_ids", "rejected_ids"):
        assert len(first["prompt_ids"]) + len(first[side]) <= 48
    assert tokenizer.decode(first["chosen_ids"]).startswith("```")


def test_prompt_longer_than_max_length_is_counted_not_lost(tokenizer, pairs) -> None:
    rows = pairs(3, seed=5)
    rows[2]["prompt"][0]["content"] = "very long question " * 80
    encoded, stats = encode_preferences(_dataset(rows), tokenizer, max_length=64, max_prompt_length=None)
    assert len(encoded) == 2 and stats.rows_in == 3 and stats.kept == 2
    assert stats.dropped == {"prompt_too_long": 1}
