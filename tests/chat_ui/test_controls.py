"""The sampling controls reach a handler as one GenerationSettings, and its API keeps six inputs."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr
import pytest

from chat_ui.backend import GenerationSettings
from chat_ui.controls import CONTROLS, takes_settings


class Handler:
    async def send(
        self, message: str, settings: GenerationSettings, request: gr.Request
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Echo what arrived."""
        yield message, settings, request


def _run(endpoint: Any, *values: Any) -> list[tuple[Any, ...]]:
    async def collect() -> list[tuple[Any, ...]]:
        return [update async for update in endpoint(*values)]

    return asyncio.run(collect())


def test_the_endpoint_takes_the_six_controls_in_place_of_settings() -> None:
    endpoint = takes_settings(Handler().send)
    params = list(inspect.signature(endpoint).parameters)
    assert params == ["message", *CONTROLS, "request"]
    assert endpoint.__name__ == "send" and endpoint.__doc__ == "Echo what arrived."
    assert inspect.isasyncgenfunction(endpoint)
    # Gradio finds gr.Request by its annotation, at its place in the signature
    assert gr.utils.get_type_hints(endpoint)["request"] is gr.Request
    [(message, settings, request)] = _run(endpoint, "hi", 0.5, 10, 0.9, 64, 1.1, -1, "req")
    assert (message, request) == ("hi", "req")
    assert settings == GenerationSettings(0.5, 10, 0.9, 64, 1.1, None)
    [(_, seeded, _)] = _run(endpoint, "hi", 0.0, 0, 1.0, 8, 1.0, 7.0, "req")
    assert seeded.seed == 7 and seeded.top_k == 0 and isinstance(seeded.max_new_tokens, int)


def test_bad_settings_are_an_error_on_the_page_before_the_handler_runs() -> None:
    endpoint = takes_settings(Handler().send)
    with pytest.raises(gr.Error, match="top_p must be in"):
        _run(endpoint, "hi", 0.5, 10, 0.0, 64, 1.1, -1, "req")
