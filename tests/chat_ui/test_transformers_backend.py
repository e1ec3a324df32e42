"""The in-process backend on the real tiny chat model: sampling settings, seeds, stopping, cancelling.

The model has random weights, so these tests check plumbing (what is applied, when it stops),
never the quality of answers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from chat_ui.backend import GenerationSettings

from .conftest import read_with_stop

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "def add(a, b):"}]


def reply(backend: Any, **settings: Any) -> Any:
    stream = backend.stream(MESSAGES, GenerationSettings(**settings))
    pieces = list(stream)
    assert "".join(pieces) == stream.text
    return stream


def test_same_seed_same_answer_other_seed_or_temperature_differs(chat_backend: Any) -> None:
    base = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "max_new_tokens": 12}
    a = reply(chat_backend, seed=11, **base)
    b = reply(chat_backend, seed=11, **base)
    c = reply(chat_backend, seed=12, **base)
    assert a.text == b.text and a.seed == 11
    assert a.text != c.text
    greedy = reply(chat_backend, **{**base, "temperature": 0.0}, seed=11)
    assert greedy.text != a.text
    assert reply(chat_backend, **{**base, "temperature": 0.0}, seed=99).text == greedy.text


def test_top_k_and_top_p_are_applied(chat_backend: Any) -> None:
    base = {"temperature": 1.0, "max_new_tokens": 12}
    greedy = reply(chat_backend, temperature=0.0, max_new_tokens=12).text
    # top_k=1 (or a tiny top_p) leaves one candidate token: sampling becomes greedy, whatever the seed
    assert reply(chat_backend, top_k=1, top_p=1.0, seed=5, **base).text == greedy
    assert reply(chat_backend, top_k=1, top_p=1.0, seed=6, **base).text == greedy
    assert reply(chat_backend, top_k=0, top_p=1e-6, seed=7, **base).text == greedy
    assert reply(chat_backend, top_k=0, top_p=1.0, seed=5, **base).text != greedy


def test_repetition_penalty_and_max_new_tokens_are_applied(chat_backend: Any) -> None:
    plain = reply(chat_backend, temperature=0.0, max_new_tokens=12)
    penalised = reply(chat_backend, temperature=0.0, max_new_tokens=12, repetition_penalty=3.0)
    assert plain.text != penalised.text
    short = reply(chat_backend, temperature=1.0, seed=1, max_new_tokens=5)
    assert short.completion_tokens == 5 and short.finish_reason == "length"
    assert short.prompt_tokens == chat_backend.count_tokens(MESSAGES)


def test_stops_at_the_end_of_turn_token(chat_backend: Any) -> None:
    """Force <|im_end|> as the 6th token: generation must stop there and not show it."""
    import torch

    eot = chat_backend.tokenizer.convert_tokens_to_ids("<|im_end|>")
    calls = {"n": 0}

    def force_eot(module: Any, inputs: Any, output: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 6:
            output = output.clone()
            output[..., -1, eot] = torch.finfo(output.dtype).max
        return output

    handle = chat_backend.model.lm_head.register_forward_hook(force_eot)
    try:
        stream = reply(chat_backend, temperature=0.0, max_new_tokens=50)
    finally:
        handle.remove()
    assert stream.finish_reason == "stop"
    assert stream.completion_tokens == 6
    assert "<|im_end|>" not in stream.text


def test_cancel_stops_a_long_generation_within_a_token(chat_backend: Any) -> None:
    cancel = threading.Event()
    settings = GenerationSettings(temperature=1.0, max_new_tokens=900, seed=1)
    stream = chat_backend.stream(MESSAGES, settings, cancel)
    text, stopping_s = read_with_stop(stream, cancel)
    assert stopping_s is not None, "generation finished before it could be stopped"
    assert stream.finish_reason == "cancelled"
    assert 0 < stream.completion_tokens < 900 and text == stream.text
    assert stopping_s < 0.5, f"stopping took {stopping_s:.3f}s"


def test_stop_while_waiting_for_the_model_ends_the_reply_at_once(chat_backend: Any) -> None:
    """A reply queued behind another user's (the model is busy) stops when asked, not when the
    model is free, and does not generate afterwards."""
    from chat_ui.generate_thread import GENERATION_LOCK

    cancel = threading.Event()
    texts: list[str] = []
    with GENERATION_LOCK:  # another reply holds the model
        stream = chat_backend.stream(MESSAGES, GenerationSettings(temperature=0.0, max_new_tokens=50), cancel)
        reader = threading.Thread(target=lambda: texts.append("".join(stream)), daemon=True)
        t0 = time.monotonic()
        reader.start()
        time.sleep(0.2)
        cancel.set()
        reader.join(timeout=5)
        waited = time.monotonic() - t0 - 0.2
    assert not reader.is_alive(), "the reply kept waiting for the model after the stop"
    assert texts == [""] and stream.finish_reason == "cancelled" and stream.completion_tokens == 0
    assert waited < 0.6, f"the stop took {waited:.2f}s"
    after = reply(chat_backend, temperature=0.0, max_new_tokens=3)  # the model is free again
    assert after.completion_tokens == 3


def test_closing_a_stream_frees_the_model_for_the_next_reply(chat_backend: Any) -> None:
    first = chat_backend.stream(MESSAGES, GenerationSettings(temperature=1.0, max_new_tokens=900))
    next(first)
    t0 = time.monotonic()
    first.close()
    second = reply(chat_backend, temperature=0.0, max_new_tokens=4)
    assert second.completion_tokens == 4
    assert time.monotonic() - t0 < 5


def test_raw_prompt_is_the_chat_template(chat_backend: Any) -> None:
    raw = chat_backend.render_prompt(MESSAGES)
    assert raw == (
        "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\ndef add(a, b):<|im_end|>\n<|im_start|>assistant\n"
    )
    assert chat_backend.context_limit == chat_backend.model.config.max_position_embeddings


def test_a_prompt_longer_than_the_context_is_a_clear_error(chat_backend: Any) -> None:
    from mixtune.errors import MixtuneError

    huge = [{"role": "user", "content": "x = 1\n" * 2000}]
    with pytest.raises(MixtuneError, match="context window"):
        chat_backend.stream(huge, GenerationSettings(max_new_tokens=4))
