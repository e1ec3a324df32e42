"""What the playground shows for replies that are only whitespace, and for tool calls."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.chat_ui.conftest import ScriptedBackend


def _final(pg: Any, model: str) -> tuple[Any, ...]:
    from chat_ui.backend import GenerationSettings
    from chat_ui.controls import PageChat

    async def run() -> tuple[Any, ...]:
        last: tuple[Any, ...] = ()
        history = [{"role": "user", "content": "hi"}]
        async for values in pg.chat.respond(
            PageChat(history, model, ""), GenerationSettings(max_new_tokens=64), "s1"
        ):
            last = values
        return last

    return asyncio.run(run())


def test_whitespace_reply_and_tool_call_on_the_page() -> None:
    from chat_ui.app import Playground

    blank = ScriptedBackend("blank", "", words=0)
    blank.answer = "\n \n \n"  # split on spaces: 3 pieces, each counted as a token
    caller = ScriptedBackend(
        "caller", '<tool_call> {"name": "f", "arguments": {"x": "<i>1</i>"}} </tool_call>'
    )
    pg = Playground({"blank": blank, "caller": caller}, stream_interval=0.0)
    pg.blocks()
    chatbot, history, status, _ = _final(pg, "blank")
    assert history[-1]["content"] == "\n \n \n" and history[-1]["completion_tokens"] == 3
    assert "reply: 3 tokens, all whitespace (3 newlines, 2 spaces)" in str(status)
    shown = [m for m in chatbot if m["role"] == "assistant"][-1]
    assert "reply: 3 tokens, all whitespace" in str(shown["content"])

    chatbot, history, status, _ = _final(pg, "caller")
    shown = str([m for m in chatbot if m["role"] == "assistant"][-1]["content"])
    assert "**Tool call**" in shown and '"x": "<i>1</i>"' in shown and "<tool_call>" not in shown
    assert "whitespace" not in str(status)
