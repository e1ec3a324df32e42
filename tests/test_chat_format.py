"""Chat set-up of a base model: template, end-of-turn EOS everywhere, assistant mask."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_chatml_setup_sets_template_and_stops(tiny_base_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mixtune.chat_format import setup_chat_format, stop_token_ids

    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_dir)
    assert tok.chat_template is None
    added = setup_chat_format(model, tok)
    assert not added, "the embedded tokenizer already has the ChatML tokens"
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    assert tok.eos_token == "<|im_end|>"
    assert stop_token_ids(tok) == [im_end, eot]
    assert model.generation_config.eos_token_id == [im_end, eot]
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello <T>"},
    ]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
        "<|im_start|>assistant\nhello <T><|im_end|>\n"
    )
    enc = tok.apply_chat_template(msgs, return_dict=True, return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert tok.decode(masked) == "hello <T><|im_end|>"


def test_missing_tokens_are_added_and_embeddings_resized(tiny_base_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mixtune.chat_format import setup_chat_format

    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_dir)
    assert setup_chat_format(model, tok, template="starchat")
    assert "<|end|>" in tok.get_vocab() and tok.eos_token == "<|end|>"
    assert model.get_input_embeddings().weight.shape[0] >= len(tok)


def test_existing_template_is_kept_unless_overwritten(tiny_chat_dir: Path) -> None:
    from transformers import AutoTokenizer

    from mixtune.chat_format import CHATML, setup_chat_format
    from mixtune.errors import MixtuneError

    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    tok.chat_template = "{{ messages[0]['content'] }}"
    setup_chat_format(None, tok, template="chatml")
    assert tok.chat_template == "{{ messages[0]['content'] }}"
    setup_chat_format(None, tok, template="chatml", overwrite=True)
    assert tok.chat_template == CHATML.jinja
    with pytest.raises(MixtuneError, match="unknown chat template"):
        setup_chat_format(None, tok, template="nope", overwrite=True)
