"""A preference prompt ends with the user's turn, and chosen/rejected are the answers to it.

Checked where pairs are made (mixture normalisation of implicit-prompt conversations) and where
they are encoded for DPO (a prompt ending with an assistant turn is refused, never trained on),
plus the count of pairs dropped by `prompt_mismatch: skip` when only some rows diverge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dpo.encoding import encode_preferences
from mixtune.errors import DataError
from mixtures.formats import pref_conversations


@pytest.fixture(scope="module")
def tokenizer(tiny_chat_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_chat_dir)


def _dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(rows)


def _turn(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def test_implicit_prompt_is_cut_back_to_the_last_shared_user_turn() -> None:
    # The two conversations share a whole exchange (user, assistant) and then differ in the next
    # user turn: the prompt is the first user turn; the shared answer belongs to both completions.
    first, answer = _turn("user", "Sort a list?"), _turn("assistant", "Use sorted(xs).")
    chosen = [first, answer, _turn("user", "In place?"), _turn("assistant", "xs.sort()")]
    rejected = [first, answer, _turn("user", "Descending?"), _turn("assistant", "No idea.")]
    pair = pref_conversations({"chosen": chosen, "rejected": rejected})
    assert pair["prompt"] == [first]
    assert pair["chosen"] == chosen[1:] and pair["rejected"] == rejected[1:]
    assert pair["chosen"][0]["role"] == "assistant" and pair["rejected"][0]["role"] == "assistant"


def test_a_prompt_ending_with_an_assistant_turn_is_refused(tokenizer: Any, pairs: Any) -> None:
    rows = pairs(3, seed=11)
    rows[1]["prompt"] = [*rows[1]["prompt"], _turn("assistant", "Here is a first try.")]
    with pytest.raises(DataError, match=r"(?s)1 of 3 .*id='synthetic-1'.*prompt ends with an assistant turn"):
        encode_preferences(_dataset(rows), tokenizer, max_length=None, max_prompt_length=None)


def test_chosen_and_rejected_ids_are_their_own_answers(tokenizer: Any, pairs: Any) -> None:
    rows = pairs(4, seed=12)
    encoded, stats = encode_preferences(_dataset(rows), tokenizer, max_length=None, max_prompt_length=None)
    assert stats.kept == 4
    for row, enc in zip(rows, encoded, strict=True):
        for side in ("chosen", "rejected"):
            text = tokenizer.decode(enc[f"{side}_ids"])
            assert text.startswith(row[side][0]["content"] + "<|im_end|>"), (side, text)


def _mismatching_some_rows(tokenizer: Any) -> Any:
    """A template bug that only shows on assistant turns containing MISMATCH: those render the
    role as 'bot', so their prompt rendering is not a prefix of prompt+completion."""
    bad = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    assert "'<|im_start|>' + message['role']" in bad.chat_template
    bad.chat_template = bad.chat_template.replace(
        "'<|im_start|>' + message['role']",
        "'<|im_start|>' + ('bot' if message['role'] == 'assistant' and 'MISMATCH' in message['content'] "
        "else message['role'])",
    )
    return bad


def test_skipped_mismatches_are_counted_and_only_they_are_dropped(tokenizer: Any, pairs: Any) -> None:
    rows = pairs(5, seed=13)
    for i in (1, 3):
        rows[i]["rejected"][0]["content"] += " MISMATCH"
    bad = _mismatching_some_rows(tokenizer)
    encoded, stats = encode_preferences(
        _dataset(rows), bad, max_length=None, max_prompt_length=None, on_mismatch="skip"
    )
    assert stats.rows_in == 5 and stats.kept == 3 and stats.dropped == {"prompt_mismatch": 2}
    assert encoded["id"] == ["synthetic-0", "synthetic-2", "synthetic-4"]
    with pytest.raises(DataError, match=r"(?s)2 of 5 .*id='synthetic-1'.*id='synthetic-3'"):
        encode_preferences(_dataset(rows), bad, max_length=None, max_prompt_length=None)
