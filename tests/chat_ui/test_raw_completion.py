"""Raw completion in the backends (no chat template): plain continuation, fill-in-the-middle
prompts in the model's FIM tokens and layout, stop strings never returned, seeds, errors.

The model has random weights: these tests check plumbing (what is sent, where it stops), never
the quality of the text."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from chat_ui.backend import GenerationSettings, StopFilter
from mixtune.errors import MixtuneError
from mixtune.fim import STARCODER, fim_prompt

GREEDY = GenerationSettings(temperature=0.0, max_new_tokens=24)
PREFIX, SUFFIX = "def add(a, b):\n    ", "\n\nprint(add(1, 2))\n"


@pytest.fixture(scope="module")
def base_backend(tiny_base_dir: Path) -> Any:
    """The tiny base model: no chat template, StarCoder FIM tokens."""
    from chat_ui.transformers_backend import TransformersBackend

    return TransformersBackend(tiny_base_dir, name="tiny-base", chat=False)


def without_fim_tokens(backend: Any) -> Any:
    """The same model behind a tokenizer that knows no FIM tokens (as a non-StarCoder model)."""

    class NoFim:
        def __init__(self, tokenizer: Any) -> None:
            self._tok = tokenizer

        def get_vocab(self) -> dict[str, int]:
            return {k: v for k, v in self._tok.get_vocab().items() if not k.startswith("<fim")}

        def __call__(self, text: str, **kwargs: Any) -> Any:  # the sentinels come out in pieces
            return self._tok(text.replace("<fim", "< fim"), **kwargs)

        def __len__(self) -> int:
            return len(self._tok)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._tok, name)

    other = copy.copy(backend)
    other.tokenizer = NoFim(backend.tokenizer)
    return other


def run(stream: Any) -> Any:
    pieces = list(stream)
    assert "".join(pieces) == stream.text
    return stream


def test_a_raw_prompt_is_continued_as_is(base_backend: Any) -> None:
    reply = run(base_backend.complete(PREFIX, GREEDY))
    assert reply.prompt == PREFIX and reply.prompt_tokens == len(base_backend._encode(PREFIX))
    assert reply.finish_reason == "length" and reply.completion_tokens == 24 and reply.text
    with pytest.raises(MixtuneError, match="chat template"):
        base_backend.render_prompt([{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("layout", ["psm", "spm"])
def test_a_suffix_makes_the_fim_prompt_in_the_served_layout(base_backend: Any, layout: str) -> None:
    backend = copy.copy(base_backend)
    backend.fim_layout = layout
    reply = run(backend.complete(PREFIX, GREEDY, suffix=SUFFIX))
    assert reply.prompt == fim_prompt(PREFIX, SUFFIX, STARCODER, layout)
    assert reply.prompt_tokens == len(backend._encode(reply.prompt))
    # the sentinels are single tokens of the prompt, not spelled out in pieces
    ids = backend._encode(reply.prompt)
    assert backend.tokenizer.convert_tokens_to_ids(STARCODER.middle) in ids


def test_a_suffix_without_fim_tokens_is_refused(base_backend: Any) -> None:
    with pytest.raises(MixtuneError, match="no fill-in-the-middle tokens"):
        without_fim_tokens(base_backend).complete(PREFIX, GREEDY, suffix=SUFFIX)


def test_stop_strings_end_the_text_before_them(base_backend: Any) -> None:
    plain = run(base_backend.complete(PREFIX, GREEDY)).text
    stop = plain[6:9]
    assert stop and plain.find(stop) >= 0
    reply = run(base_backend.complete(PREFIX, GREEDY, stop=["never there", stop]))
    assert reply.text == plain[: plain.find(stop)]
    assert reply.finish_reason == "stop" and 0 < reply.completion_tokens < 24


def test_same_seed_same_text(base_backend: Any) -> None:
    sampled = GenerationSettings(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=12, seed=3)
    a = run(base_backend.complete(PREFIX, sampled)).text
    b = run(base_backend.complete(PREFIX, sampled)).text
    c = run(base_backend.complete(PREFIX, GenerationSettings(**{**sampled.to_dict(), "seed": 4}))).text
    assert a == b != c


def test_an_empty_or_too_long_prompt_is_a_clear_error(base_backend: Any) -> None:
    with pytest.raises(MixtuneError, match="prompt is empty"):
        base_backend.complete("", GREEDY)
    with pytest.raises(MixtuneError, match="context window"):
        base_backend.complete("x = 1\n" * 2000, GREEDY)


@pytest.mark.parametrize(
    ("pieces", "stops", "sent"),
    [
        (["ab\n", "de"], ["\nd"], "ab"),  # a stop split over two pieces
        (["hello wor", "ld!"], ["xyz", "o w", "ld"], "hell"),  # the earliest stop wins
        (["abc", "de"], ["ef"], "abcde"),  # a held tail that turned out not to be a stop
        (["one", " two"], [], "one two"),
    ],
)
def test_stop_filter(pieces: list[str], stops: list[str], sent: str) -> None:
    cut = StopFilter(stops)
    out = ""
    for piece in pieces:
        out += cut.feed(piece)
        assert sent.startswith(out)  # nothing past a stop is ever sent, not even for a moment
        if cut.stopped:
            break
    if not cut.stopped:
        out += cut.rest()
    assert out == sent


@pytest.mark.parametrize("token", ["<|endoftext|>", "<file_sep>"])
def test_a_raw_continuation_ends_at_the_end_of_text_or_file(base_backend: Any, token: str) -> None:
    """Force the token as the 4th one: the continuation ends there, without showing it."""
    import torch

    forced = base_backend.tokenizer.convert_tokens_to_ids(token)
    calls = {"n": 0}

    def force(module: Any, inputs: Any, output: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:
            output = output.clone()
            output[..., -1, forced] = torch.finfo(output.dtype).max
        return output

    handle = base_backend.model.lm_head.register_forward_hook(force)
    try:
        reply = run(base_backend.complete(PREFIX, GREEDY))
    finally:
        handle.remove()
    assert reply.finish_reason == "stop" and reply.completion_tokens == 4 and token not in reply.text
