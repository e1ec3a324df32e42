"""Grouped inputs reach a handler as one object each, and its API keeps the separate inputs."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr
import pytest

from chat_ui.backend import GenerationSettings
from chat_ui.controls import CONTROLS, PageChat, spread_inputs


class Handler:
    async def send(
        self, message: str, chat: PageChat, settings: GenerationSettings, request: gr.Request
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Echo what arrived."""
        yield message, chat, settings, request


def _run(endpoint: Any, *values: Any) -> list[tuple[Any, ...]]:
    async def collect() -> list[tuple[Any, ...]]:
        return [update async for update in endpoint(*values)]

    return asyncio.run(collect())


def test_the_endpoint_takes_each_groups_inputs_in_its_place() -> None:
    endpoint = spread_inputs(Handler().send)
    params = list(inspect.signature(endpoint).parameters)
    assert params == ["message", "history", "model", "system", *CONTROLS, "request"]
    assert endpoint.__name__ == "send" and endpoint.__doc__ == "Echo what arrived."
    assert inspect.isasyncgenfunction(endpoint)
    # Gradio finds gr.Request by its annotation, at its place in the signature
    assert gr.utils.get_type_hints(endpoint)["request"] is gr.Request
    turns = [{"role": "user", "content": "hello"}]
    [(message, chat, settings, request)] = _run(
        endpoint, "hi", turns, "m", "sys", 0.5, 10, 0.9, 64, 1.1, -1, "req"
    )
    assert (message, request) == ("hi", "req")
    assert chat == PageChat(turns, "m", "sys") and chat.history is not turns  # the handler's own copy
    assert settings == GenerationSettings(0.5, 10, 0.9, 64, 1.1, None)
    [(_, empty, seeded, _)] = _run(endpoint, "hi", None, "m", "", 0.0, 0, 1.0, 8, 1.0, 7.0, "req")
    assert empty.history == [] and seeded.seed == 7 and seeded.top_k == 0
    assert isinstance(seeded.max_new_tokens, int)


def test_bad_settings_are_an_error_on_the_page_before_the_handler_runs() -> None:
    endpoint = spread_inputs(Handler().send)
    with pytest.raises(gr.Error, match="top_p must be in"):
        _run(endpoint, "hi", [], "m", "", 0.5, 10, 0.0, 64, 1.1, -1, "req")
