"""`mixtune serve` answers every malformed request with a 400 that says what is wrong, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

MSGS = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def http(chat_backend: Any) -> Any:
    from fastapi.testclient import TestClient

    from chat_ui.openai_server import create_app

    # raise_server_exceptions=False: a bug would surface as the 500 a real client sees
    return TestClient(create_app({"tiny-chat": chat_backend}), raise_server_exceptions=False)


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": "tiny-chat", "messages": MSGS, "max_tokens": 2, **fields}


RAW_BODIES = [
    # (route, raw body bytes, words the message must contain)
    (
        "/v1/chat/completions",
        b'{"model": "tiny-chat", "messages": [{"role": "user", "content": "\xff"}]}',
        "not UTF-8",
    ),
    ("/v1/chat/completions", b"{not json", "not JSON"),
    ("/v1/chat/completions", b"", "empty"),
    ("/v1/chat/completions", b"[1, 2]", "must be a JSON object"),
    ("/v1/chat/completions", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (
        "/v1/chat/completions",
        b'{"model": "tiny-chat", "messages": [{"role": "user", "content": "hi"}], "repetition_penalty": NaN}',
        "repetition_penalty: Input should be a finite number",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "tiny-chat", "messages": [{"role": "user", "content": "hi"}], "temperature": Infinity}',
        "temperature: Input should be a finite number",
    ),
    (
        "/v1/chat/completions",
        b'{"model": "tiny-chat", "messages": [{"role": "user", "content": "hi"}], "top_p": -Infinity}',
        "top_p",
    ),
    ("/tokenize", b"\xfe\xff", "not UTF-8"),
    ("/tokenize", b"nope", "not JSON"),
    ("/tokenize", b'"a string"', "must be a JSON object"),
    ("/detokenize", b"{", "not JSON"),
    ("/detokenize", b"[]", "must be a JSON object"),
]

JSON_BODIES = [
    # wrong types and values on the chat route
    ("/v1/chat/completions", _chat(temperature="hot"), "temperature"),
    ("/v1/chat/completions", _chat(temperature=True), "temperature"),
    ("/v1/chat/completions", _chat(max_tokens="5"), "max_tokens"),
    ("/v1/chat/completions", _chat(max_tokens=2.5), "max_tokens"),
    ("/v1/chat/completions", _chat(max_tokens=0), "max_tokens: Input should be greater than or equal to 1"),
    ("/v1/chat/completions", _chat(max_tokens=-3), "max_tokens"),
    ("/v1/chat/completions", _chat(max_completion_tokens=0), "max_completion_tokens"),
    ("/v1/chat/completions", _chat(stream="yes"), "stream"),
    ("/v1/chat/completions", _chat(top_k=-2), "top_k"),
    ("/v1/chat/completions", _chat(seed=-1), "seed must be in"),
    ("/v1/chat/completions", _chat(seed=2**70), "seed must be in"),
    ("/v1/chat/completions", _chat(repetition_penalty=0), "repetition_penalty must be > 0"),
    ("/v1/chat/completions", _chat(n=2), "n"),
    ("/v1/chat/completions", _chat(stop=[1]), "stop"),
    ("/v1/chat/completions", _chat(model=5), "model"),
    ("/v1/chat/completions", _chat(model=["a"]), "model"),
    ("/v1/chat/completions", _chat(messages="hi"), "messages"),
    ("/v1/chat/completions", _chat(messages=[1]), "messages.0"),
    ("/v1/chat/completions", _chat(messages=[]), "non-empty list"),
    ("/v1/chat/completions", _chat(messages=[{"role": "wizard", "content": "x"}]), "unknown role"),
    ("/v1/chat/completions", _chat(messages=[{"role": "user", "content": 5}]), "messages.0.content"),
    ("/v1/chat/completions", _chat(messages=[{"role": "user", "content": [1]}]), "content parts"),
    (
        "/v1/chat/completions",
        _chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
        "messages.0.content.0: only text parts are supported, got 'image_url'",
    ),
    (
        "/v1/chat/completions",
        _chat(messages=[{"role": "user", "content": "x", "name": 3}]),
        "messages.0.name",
    ),
    (
        "/v1/chat/completions",
        _chat(messages=[{"role": "user", "content": "x", "tool_calls": []}]),
        "only assistant",
    ),
    ("/v1/chat/completions", _chat(stream_options="yes"), "stream_options"),
    # /tokenize
    ("/tokenize", {"model": "tiny-chat"}, "give 'messages'"),
    ("/tokenize", {"model": "tiny-chat", "prompt": 5}, "prompt: expected text"),
    ("/tokenize", {"model": "tiny-chat", "messages": "hi"}, "messages"),
    ("/tokenize", {"model": "tiny-chat", "messages": [{"role": "user"}]}, "needs 'role' and 'content'"),
    ("/tokenize", {"model": {"a": 1}, "prompt": "x"}, "model: expected"),
    ("/tokenize", {"model": "tiny-chat", "messages": MSGS, "tools": "[{"}, "not valid JSON"),
    # /detokenize
    ("/detokenize", {"model": "tiny-chat", "tokens": [10**12]}, "out of range"),
    ("/detokenize", {"model": "tiny-chat", "tokens": [1, -1]}, "tokens.1: token id -1 is out of range"),
    ("/detokenize", {"model": "tiny-chat", "tokens": [1.5]}, "tokens.0: expected an integer"),
    ("/detokenize", {"model": "tiny-chat", "tokens": ["a"]}, "expected an integer"),
    ("/detokenize", {"model": "tiny-chat", "tokens": [True]}, "expected an integer"),
    ("/detokenize", {"model": "tiny-chat", "tokens": "1 2"}, "list of token ids"),
    ("/detokenize", {"model": "tiny-chat"}, "list of token ids"),
    ("/detokenize", {"model": ["x"], "tokens": [1]}, "model: expected"),
]


@pytest.mark.parametrize(("route", "body", "words"), RAW_BODIES, ids=[f"{r}:{w}" for r, _, w in RAW_BODIES])
def test_malformed_bodies_are_400(http: Any, route: str, body: bytes, words: str) -> None:
    r = http.post(route, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert words in err["message"] and err["type"] == "invalid_request_error"


@pytest.mark.parametrize(("route", "body", "words"), JSON_BODIES, ids=[f"{r}:{w}" for r, _, w in JSON_BODIES])
def test_wrong_types_and_values_are_400(http: Any, route: str, body: dict[str, Any], words: str) -> None:
    r = http.post(route, json=body)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert words in r.json()["error"]["message"]


def test_good_requests_still_work(http: Any, chat_backend: Any) -> None:
    r = http.post("/v1/chat/completions", json=_chat(max_tokens=1, temperature=0))
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 1
    ids = http.post("/tokenize", json={"model": "tiny-chat", "prompt": "def f(): pass"}).json()["tokens"]
    last = len(chat_backend.tokenizer) - 1
    r = http.post("/detokenize", json={"model": "tiny-chat", "tokens": [*ids, last]})
    assert r.status_code == 200 and r.json()["prompt"].startswith("def f(): pass")
    r = http.post("/tokenize", json={"model": "tiny-chat", "messages": MSGS})
    assert r.status_code == 200 and r.json()["count"] > 3
    parts = [{"role": "user", "content": [{"type": "text", "text": "h"}, {"type": "text", "text": "i"}]}]
    r = http.post("/tokenize", json={"model": "tiny-chat", "messages": parts})
    assert (
        r.status_code == 200
        and r.json()["count"]
        == http.post("/tokenize", json={"model": "tiny-chat", "messages": MSGS}).json()["count"]
    )


def test_non_finite_sampling_settings_are_refused_everywhere() -> None:
    from chat_ui.backend import GenerationSettings
    from mixtune.errors import MixtuneError

    for bad in ({"repetition_penalty": float("nan")}, {"temperature": float("inf")}, {"top_p": float("nan")}):
        with pytest.raises(MixtuneError, match="finite number"):
            GenerationSettings(**bad).validate()
    with pytest.raises(MixtuneError, match="max_new_tokens must be an integer"):
        GenerationSettings(max_new_tokens=True).validate()
