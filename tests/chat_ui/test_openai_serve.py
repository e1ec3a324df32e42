"""`mixtune serve` as a real HTTP server on loopback, and the OpenAI backend talking to it."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from chat_ui.backend import GenerationSettings
from chat_ui.openai_backend import OpenAIBackend, normalize_base_url
from mixtune.errors import MixtuneError

from .conftest import read_with_stop

MESSAGES = [{"role": "user", "content": "def fib(n):"}]


def test_models_lists_the_model_with_its_context_window(served: str, tiny_chat_dir: Any) -> None:
    body = httpx.get(f"{served}/models").json()
    (entry,) = body["data"]
    assert entry["id"] == tiny_chat_dir.name and entry["object"] == "model"
    assert entry["max_model_len"] == 1024


def test_non_streamed_completion_reports_usage(served: str, tiny_chat_dir: Any) -> None:
    body = {"model": tiny_chat_dir.name, "messages": MESSAGES, "max_tokens": 6, "temperature": 0}
    r = httpx.post(f"{served}/chat/completions", json=body, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["object"] == "chat.completion"
    assert out["choices"][0]["message"]["role"] == "assistant"
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["usage"]["completion_tokens"] == 6 and out["usage"]["prompt_tokens"] > 5
    assert out["usage"]["total_tokens"] == out["usage"]["prompt_tokens"] + 6


def test_streamed_completion_arrives_as_server_sent_events(served: str, tiny_chat_dir: Any) -> None:
    body = {
        "model": tiny_chat_dir.name,
        "messages": MESSAGES,
        "max_tokens": 12,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chunks = []
    with httpx.stream("POST", f"{served}/chat/completions", json=body, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[6:]))
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert len([c for c in contents if c]) >= 2, "the reply did not arrive in pieces"
    assert chunks[-1]["usage"]["completion_tokens"] == 12
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"


def test_bad_requests_get_openai_style_errors(served: str, tiny_chat_dir: Any) -> None:
    r = httpx.post(f"{served}/chat/completions", json={"model": "nope", "messages": MESSAGES})
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    r = httpx.post(
        f"{served}/chat/completions", json={"model": tiny_chat_dir.name, "messages": MESSAGES, "top_p": 0}
    )
    assert r.status_code == 400 and "top_p" in r.json()["error"]["message"]
    r = httpx.post(f"{served}/chat/completions", json={"model": tiny_chat_dir.name})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"


def test_openai_backend_streams_and_applies_seed(served: str, tiny_chat_dir: Any) -> None:
    backend = OpenAIBackend(served, tiny_chat_dir.name)
    settings = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "max_new_tokens": 10}
    a = backend.stream(MESSAGES, GenerationSettings(seed=3, **settings))
    pieces = list(a)
    b = backend.stream(MESSAGES, GenerationSettings(seed=3, **settings))
    list(b)
    c = backend.stream(MESSAGES, GenerationSettings(seed=4, **settings))
    list(c)
    assert len(pieces) >= 2 and a.text == b.text != c.text
    assert a.completion_tokens == 10 and a.finish_reason == "length" and a.prompt_tokens > 0
    # top_k=1 is sent (not dropped): sampling collapses to greedy
    greedy = backend.stream(MESSAGES, GenerationSettings(temperature=0.0, max_new_tokens=10))
    list(greedy)
    topk1 = backend.stream(MESSAGES, GenerationSettings(seed=3, **{**settings, "top_k": 1}))
    list(topk1)
    assert topk1.text == greedy.text


def test_openai_backend_raw_prompt_and_tokens_match_the_local_model(
    served: str, tiny_chat_dir: Any, chat_backend: Any
) -> None:
    backend = OpenAIBackend(served, tiny_chat_dir.name)
    assert backend.render_prompt(MESSAGES) == chat_backend.render_prompt(MESSAGES)
    assert backend.count_tokens(MESSAGES) == chat_backend.count_tokens(MESSAGES)
    assert backend.context_limit == 1024
    assert normalize_base_url(served.removesuffix("/v1")) == served


def test_stop_closes_the_stream_and_the_server_stops_generating(served: str, tiny_chat_dir: Any) -> None:
    backend = OpenAIBackend(served, tiny_chat_dir.name)
    cancel = threading.Event()
    stream = backend.stream(
        MESSAGES, GenerationSettings(temperature=1.0, max_new_tokens=1000, seed=2), cancel
    )
    _, stopping_s = read_with_stop(stream, cancel)
    assert stopping_s is not None and stream.finish_reason == "cancelled"
    assert stopping_s < 0.5
    # the server let go of the model: a new request is answered at once, not after 1000 tokens
    t1 = time.monotonic()
    quick = backend.stream(MESSAGES, GenerationSettings(temperature=0.0, max_new_tokens=3))
    list(quick)
    assert quick.completion_tokens == 3 and time.monotonic() - t1 < 2


def test_unreachable_server_is_a_clear_error() -> None:
    from socket import socket

    with socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend(f"http://127.0.0.1:{port}", "m")
    with pytest.raises(MixtuneError, match="lost the connection|cannot reach"):
        list(backend.stream(MESSAGES, GenerationSettings(max_new_tokens=2)))
    with pytest.raises(MixtuneError, match="http"):
        normalize_base_url("localhost:8000")


def test_the_playground_chats_through_the_openai_backend(
    served: str, tiny_chat_dir: Any, chat_backend: Any
) -> None:
    """`mixtune chat --openai-base-url`: the page streams from the server and shows its raw prompt."""
    from gradio_client import Client

    from chat_ui.app import Playground
    from chat_ui.client import message_text, slider_values
    from chat_ui.launch import launch

    backend = OpenAIBackend(served, tiny_chat_dir.name, name="served")
    demo = Playground({"served": backend}, None, stream_interval=0.0).blocks()
    _, url, _ = launch(demo, host="127.0.0.1", port=None, block=False, quiet=True)
    try:
        client = Client(url, verbose=False)
        settings = GenerationSettings(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=12, seed=8)
        job = client.submit("def fib(n):", "served", "", *slider_values(settings), api_name="/send")
        outputs = list(job)
        texts = {message_text(o[0][-1]) for o in outputs if o[0] and o[0][-1]["role"] == "assistant"}
        assert len(texts) >= 3
        final = outputs[-1]
        status = final[1]
        assert "reply **12**" in status and "context window **1024**" in status and "seed `8`" in status
        assert final[2] == chat_backend.render_prompt(MESSAGES)
        direct = backend.stream(
            MESSAGES, GenerationSettings(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=12, seed=8)
        )
        list(direct)
        from chat_ui.conversation import escape_markup

        assert message_text(final[0][-1]) == escape_markup(direct.text)
    finally:
        demo.close()
