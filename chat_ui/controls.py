"""The sampling controls: six inputs on the page and in the API, one `GenerationSettings` in the handlers.

Gradio calls a handler with one value per input component, and names an API endpoint's
parameters after the handler's. `takes_settings` lets a handler take a single
`settings: GenerationSettings` parameter while its endpoint keeps the six named inputs
(`temperature`, `top_k`, ...) that the page's sliders fill and that scripts send
(`chat_ui.client.slider_values`).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncIterator, Callable
from typing import Any

import gradio as gr

from chat_ui.backend import GenerationSettings
from mixtune.errors import MixtuneError

# the inputs in page and API order; `chat_ui.client.slider_values` sends them in this order too
CONTROLS = ("temperature", "top_k", "top_p", "max_new_tokens", "repetition_penalty", "seed")


def sampling_controls() -> list[Any]:
    """The Parameters accordion; its components in `CONTROLS` order."""
    with gr.Accordion("Parameters", open=False):
        with gr.Row():
            temperature = gr.Slider(0.0, 2.0, value=0.2, step=0.05, label="Temperature (0 = greedy)")
            top_k = gr.Slider(0, 200, value=50, step=1, label="Top-k (0 = off)")
            top_p = gr.Slider(0.05, 1.0, value=0.95, step=0.01, label="Top-p")
        with gr.Row():
            max_new = gr.Slider(1, 4096, value=512, step=1, label="Max new tokens")
            repetition = gr.Slider(0.5, 2.0, value=1.0, step=0.01, label="Repetition penalty")
            seed = gr.Number(value=-1, precision=0, label="Seed (-1 = random each reply)")
    return [temperature, top_k, top_p, max_new, repetition, seed]


def settings_from(
    temperature: float,
    top_k: float,
    top_p: float,
    max_new_tokens: float,
    repetition_penalty: float,
    seed: Any,
) -> GenerationSettings:
    """The inputs as GenerationSettings; a negative or empty seed means a fresh random seed."""
    seed_value = None if seed is None or seed == "" or int(seed) < 0 else int(seed)
    try:
        return GenerationSettings(
            temperature=float(temperature),
            top_k=int(top_k),
            top_p=float(top_p),
            max_new_tokens=int(max_new_tokens),
            repetition_penalty=float(repetition_penalty),
            seed=seed_value,
        ).validate()
    except MixtuneError as exc:
        raise gr.Error(str(exc)) from None


def takes_settings(handler: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    """The streaming `handler` as Gradio sees it: its `settings` parameter spread into the
    `CONTROLS` inputs, read into one GenerationSettings before the handler runs.

    The endpoint's signature is the handler's with those six in place of `settings`, so Gradio
    injects `gr.Request`/`gr.EditData` where the handler asks for them and the API lists the
    same parameter names as the page's sliders."""
    signature = inspect.signature(handler)
    params = list(signature.parameters.values())
    at = [p.name for p in params].index("settings")
    controls = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in CONTROLS]

    async def endpoint(*values: Any) -> AsyncIterator[Any]:
        settings = settings_from(*values[at : at + len(CONTROLS)])
        async for update in handler(*values[:at], settings, *values[at + len(CONTROLS) :]):
            yield update

    hints = {k: v for k, v in typing.get_type_hints(handler).items() if k != "settings"}
    endpoint.__signature__ = signature.replace(parameters=[*params[:at], *controls, *params[at + 1 :]])  # type: ignore[attr-defined]
    endpoint.__annotations__ = {**hints, **dict.fromkeys(CONTROLS, Any)}
    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint
