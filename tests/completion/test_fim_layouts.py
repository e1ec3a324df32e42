"""FIM formatting against an independent construction: StarCoder's layouts written out by hand
(bigcode Megatron-LM `permute`):

    PSM = [prefix_tok] prefix [suffix_tok] suffix [middle_tok] middle
    SPM = [prefix_tok, suffix_tok] suffix [middle_tok] prefix middle

and the labels of a FIM document cover exactly its middle (+ the end-of-text token)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from completion.data import IGNORE, FimIds, document_tokens
from mixtune.errors import MixtuneError
from mixtune.fim import SANTACODER, STARCODER, fim_prompt, fim_tokens_of, permute, split_points
from tests.completion.helpers import ScriptedRng

TEXT = "def area(w, h):\n    return w * h\n"


def enc(tok: Any, text: str) -> list[int]:
    return tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]


def sentinel(tok: Any, name: str) -> int:
    return tok.get_vocab()[name]


def test_prompt_strings_are_starcoders_layouts() -> None:
    assert fim_prompt("A", "C") == "<fim_prefix>A<fim_suffix>C<fim_middle>"
    assert fim_prompt("A", "C", layout="spm") == "<fim_prefix><fim_suffix>C<fim_middle>A"
    assert fim_prompt("A", "C", SANTACODER) == "<fim-prefix>A<fim-suffix>C<fim-middle>"
    with pytest.raises(MixtuneError, match="unknown FIM layout"):
        fim_prompt("A", "C", layout="msp")  # type: ignore[arg-type]


def test_psm_tokens_and_labels(tokenizer: Any) -> None:
    # FIM applied (0.0 < rate), split points 21 and 5 (sorted to 5, 21), PSM (0.9 >= spm rate)
    choice = permute(TEXT, ScriptedRng([0.0, 0.9], [21, 5]), 0.5, 0.5)  # type: ignore[arg-type]
    prefix, middle, suffix = TEXT[:5], TEXT[5:21], TEXT[21:]
    assert (choice.applied, choice.layout) == (True, "psm")
    assert (choice.prefix, choice.middle, choice.suffix) == (prefix, middle, suffix)
    assert choice.context == "<fim_prefix>" + prefix + "<fim_suffix>" + suffix + "<fim_middle>"

    p, s, m = (sentinel(tokenizer, t) for t in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"))
    eos = tokenizer.eos_token_id
    context = [p, *enc(tokenizer, prefix), s, *enc(tokenizer, suffix), m]
    answer = [*enc(tokenizer, middle), eos]
    ids, labels = document_tokens(choice, FimIds.of(tokenizer), tokenizer)
    assert ids == context + answer
    assert labels == [IGNORE] * len(context) + answer
    # the same tokens as the prompt a server builds as text, followed by the middle
    served = tokenizer(fim_prompt(prefix, suffix), add_special_tokens=False)["input_ids"]
    assert ids[: len(served)] == served


def test_spm_tokens_and_labels(tokenizer: Any) -> None:
    choice = permute(TEXT, ScriptedRng([0.0, 0.1], [9, 30]), 0.5, 0.5)  # type: ignore[arg-type]
    prefix, middle, suffix = TEXT[:9], TEXT[9:30], TEXT[30:]
    assert choice.layout == "spm"
    assert choice.context == "<fim_prefix><fim_suffix>" + suffix + "<fim_middle>" + prefix

    p, s, m = (sentinel(tokenizer, t) for t in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"))
    eos = tokenizer.eos_token_id
    context = [p, s, *enc(tokenizer, suffix), m, *enc(tokenizer, prefix)]
    answer = [*enc(tokenizer, middle), eos]
    ids, labels = document_tokens(choice, FimIds.of(tokenizer), tokenizer)
    assert ids == context + answer
    assert labels == [IGNORE] * len(context) + answer
    served = tokenizer(fim_prompt(prefix, suffix, layout="spm"), add_special_tokens=False)["input_ids"]
    assert ids[: len(served)] == served


def test_loss_on_all_labels_every_token_but_the_first(tokenizer: Any) -> None:
    choice = permute(TEXT, ScriptedRng([0.0, 0.9], [3, 12]), 1.0, 0.0)  # type: ignore[arg-type]
    ids, labels = document_tokens(choice, FimIds.of(tokenizer), tokenizer, loss_on="all")
    assert labels == [IGNORE, *ids[1:]]


def test_plain_document_is_the_text_and_its_end(tokenizer: Any) -> None:
    choice = permute(TEXT, ScriptedRng([0.7]), 0.5, 0.5)  # type: ignore[arg-type]
    assert not choice.applied and choice.text == TEXT
    ids, labels = document_tokens(choice, FimIds.of(tokenizer), tokenizer)
    expected = [*enc(tokenizer, TEXT), tokenizer.eos_token_id]
    assert ids == expected and labels == [IGNORE, *expected[1:]]


def test_fim_rate_zero_never_and_one_always_transforms() -> None:
    rng = random.Random(0)
    assert not any(permute(TEXT, rng, 0.0, 1.0).applied for _ in range(200))
    layouts = {permute(TEXT, rng, 1.0, 1.0).layout for _ in range(200)}
    assert layouts == {"spm"}
    assert {permute(TEXT, rng, 1.0, 0.0).layout for _ in range(200)} == {"psm"}


def test_pieces_rebuild_the_text_for_any_split() -> None:
    rng = random.Random(1)
    for _ in range(300):
        c = permute(TEXT, rng, 1.0, 0.5)
        assert c.prefix + c.middle + c.suffix == TEXT
        a, b = split_points(len(TEXT), rng)
        assert 0 <= a <= b <= len(TEXT)


def test_bad_rates_and_tokenizers_without_sentinels_are_refused(tokenizer: Any) -> None:
    with pytest.raises(MixtuneError, match="fim_rate"):
        permute(TEXT, random.Random(0), 1.5, 0.5)

    class NoFim:
        name_or_path = "plain-gpt"

        def get_vocab(self) -> dict[str, int]:
            return {"a": 0}

    with pytest.raises(MixtuneError, match="plain-gpt has no fill-in-the-middle tokens"):
        fim_tokens_of(NoFim())
    assert fim_tokens_of(tokenizer) == STARCODER


def test_file_text_spelling_a_sentinel_stays_text(tokenizer: Any) -> None:
    text = 'FIM = "<fim_prefix>"\n'
    choice = permute(text, random.Random(0), 0.0, 0.0)
    ids, _ = document_tokens(choice, FimIds.of(tokenizer), tokenizer)
    assert sentinel(tokenizer, "<fim_prefix>") not in ids
    assert tokenizer.decode(ids[:-1]) == text
