"""Tool-calling SFT rows in the shape a user writes them (arguments and tools as JSON objects),
shared by the SFT and serving tests."""

from __future__ import annotations

from typing import Any

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "convert",
            "description": "Currency",
            "parameters": {
                "type": "object",
                "properties": {"amount": {"type": "number"}, "to": {"type": "string"}},
            },
        },
    },
]


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


def _row(ident: str, question: str, call: dict[str, Any], result: str, answer: str) -> dict[str, Any]:
    return {
        "id": ident,
        "source": "toy-tools",
        "tools": TOOLS,
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "name": call["function"]["name"], "content": result},
            {"role": "assistant", "content": answer},
        ],
    }


TOOL_ROWS: list[dict[str, Any]] = [
    _row("paris", "Weather in Paris?", _call("get_weather", {"city": "Paris"}), "sunny 21C", "Sunny, 21C."),
    _row("usd", "10 USD in EUR?", _call("convert", {"amount": 10, "to": "EUR"}), "9.2", "9.2 EUR."),
    {
        "id": "hi",
        "source": "toy-tools",
        "tools": TOOLS,
        "messages": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}],
    },
]
