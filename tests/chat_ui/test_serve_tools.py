"""Tool calling through `mixtune serve`'s OpenAI API, read by the `openai` client: tools reach the
template, `<tool_call>` blocks come back as `tool_calls` (streamed and not), and text that is not
a well-formed call stays text."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CALL_REPLY = 'Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich"}}\n</tool_call>'
TWO_CALLS = (
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "A"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "B"}}\n</tool_call>'
)
ASK = [{"role": "user", "content": "Weather in Zürich?"}]


class CharBackend:
    """Streams a fixed reply one character at a time (so tags arrive split), recording each call."""

    def __init__(self, name: str, reply: str) -> None:
        self.name = name
        self.reply = reply
        self.calls: list[dict[str, Any]] = []

    context_limit = 4096

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "backend": "chars", "context_limit": 4096, "lineage": {}}

    def render_prompt(self, messages: list[dict[str, Any]], tools: Any = None) -> str:
        return json.dumps({"messages": messages, "tools": tools})

    def count_tokens(self, messages: list[dict[str, Any]], tools: Any = None) -> int:
        return len(messages)

    def stream(
        self, messages: Any, settings: Any, cancel: threading.Event | None = None, tools: Any = None
    ) -> Any:
        from chat_ui.backend import ReplyStream

        self.calls.append({"messages": messages, "tools": tools})
        reply = ReplyStream(iter(()), prompt_tokens=3, seed=1)

        def pieces() -> Iterator[str]:
            for ch in self.reply:
                reply.completion_tokens += 1
                yield ch
            reply.finish_reason = "stop"

        reply.pieces = pieces()
        return reply


BACKENDS = {
    "call": CharBackend("call", CALL_REPLY),
    "two": CharBackend("two", TWO_CALLS),
    "broken": CharBackend(
        "broken", '<tool_call>\n{"name": "get_weather", "arguments": {"city": </tool_call>'
    ),
    "plain": CharBackend("plain", "a <tool_ without a call"),
}


@pytest.fixture(scope="module")
def oai() -> Any:
    from fastapi.testclient import TestClient
    from openai import OpenAI

    from chat_ui.openai_server import create_app

    http = TestClient(create_app(BACKENDS))
    return OpenAI(base_url="http://testserver/v1", api_key="none", http_client=http)


def _stream(oai: Any, model: str, **kw: Any) -> tuple[str, dict[int, dict[str, Any]], str]:
    """(content, tool calls by index, finish_reason) accumulated from a streamed reply."""
    content, calls, finish = "", {}, None
    for chunk in oai.chat.completions.create(model=model, messages=ASK, stream=True, **kw):
        choice = chunk.choices[0]
        content += choice.delta.content or ""
        for d in choice.delta.tool_calls or []:
            entry = calls.setdefault(d.index, {"id": None, "name": "", "arguments": ""})
            entry["id"] = d.id or entry["id"]
            entry["name"] += d.function.name or ""
            entry["arguments"] += d.function.arguments or ""
        finish = choice.finish_reason or finish
    return content, calls, finish


def test_tool_call_comes_back_as_tool_calls(oai: Any) -> None:
    out = oai.chat.completions.create(model="call", messages=ASK, tools=[WEATHER])
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking.\n"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_") and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Zürich"}
    assert BACKENDS["call"].calls[-1]["tools"] == [WEATHER]
    two = oai.chat.completions.create(model="two", messages=ASK, tools=[WEATHER["function"]]).choices[0]
    assert two.message.content is None
    assert [json.loads(c.function.arguments)["city"] for c in two.message.tool_calls] == ["A", "B"]
    assert len({c.id for c in two.message.tool_calls}) == 2


def test_streamed_tool_calls_arrive_as_deltas_and_no_tag_leaks_into_content(oai: Any) -> None:
    content, calls, finish = _stream(oai, "call", tools=[WEATHER])
    assert content == "Checking.\n" and finish == "tool_calls"
    assert calls[0]["name"] == "get_weather" and json.loads(calls[0]["arguments"]) == {"city": "Zürich"}
    assert calls[0]["id"].startswith("call_")
    content, calls, finish = _stream(oai, "two", tools=[WEATHER])
    assert content == "" and finish == "tool_calls" and sorted(calls) == [0, 1]
    # a partial tag that never becomes a call is held back, then sent
    content, calls, finish = _stream(oai, "plain", tools=[WEATHER])
    assert content == "a <tool_ without a call" and calls == {} and finish == "stop"


def test_text_that_is_not_a_well_formed_call_stays_text(oai: Any) -> None:
    for stream in (False, True):
        if stream:
            content, calls, finish = _stream(oai, "broken", tools=[WEATHER])
        else:
            msg = oai.chat.completions.create(model="broken", messages=ASK, tools=[WEATHER]).choices[0]
            content, calls, finish = msg.message.content, msg.message.tool_calls, msg.finish_reason
        assert content == BACKENDS["broken"].reply and not calls and finish == "stop"
    # without tools in the request, nothing is parsed
    plain = oai.chat.completions.create(model="call", messages=ASK).choices[0]
    assert plain.message.content == CALL_REPLY and not plain.message.tool_calls
    assert BACKENDS["call"].calls[-1]["tools"] is None


def test_tool_choice_none_leaves_tools_out_and_auto_is_the_default(oai: Any) -> None:
    out = oai.chat.completions.create(model="call", messages=ASK, tools=[WEATHER], tool_choice="none")
    assert out.choices[0].message.content == CALL_REPLY and out.choices[0].finish_reason == "stop"
    assert BACKENDS["call"].calls[-1]["tools"] is None
    auto = oai.chat.completions.create(model="call", messages=ASK, tools=[WEATHER], tool_choice="auto")
    assert auto.choices[0].finish_reason == "tool_calls"


def test_a_conversation_with_calls_and_results_reaches_the_template(oai: Any) -> None:
    history = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Zürich"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    oai.chat.completions.create(model="plain", messages=history, tools=[WEATHER])
    sent = BACKENDS["plain"].calls[-1]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "type": "function",
                "function": {"name": "get_weather", "arguments": {"city": "Zürich"}},
                "id": "call_1",
            }
        ],
    }
    assert sent[2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}


def test_unsupported_tool_requests_are_clear_400s(oai: Any) -> None:
    import openai

    cases = [
        ({"tools": [WEATHER], "tool_choice": "required"}, "tool_choice: 'required' is not supported"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
            "tool_choice: a named function is not supported",
        ),
        ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools.0"),
        ({"tools": "get_weather"}, "tools"),
    ]
    for extra, match in cases:
        with pytest.raises(openai.BadRequestError, match=match):
            oai.chat.completions.create(model="call", messages=ASK, **extra)
    bad_args = [
        {**ASK[0]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "[1]"}}],
        },
    ]
    with pytest.raises(openai.BadRequestError, match=r"messages\.1\.tool_calls\.0"):
        oai.chat.completions.create(model="call", messages=bad_args)
