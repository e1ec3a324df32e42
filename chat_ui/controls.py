"""The page's grouped inputs: each reaches a handler as one object, yet stays separate inputs on
the page and in the API.

Gradio calls a handler with one value per input component, and names an API endpoint's
parameters after the handler's. `spread_inputs` lets a handler take `settings:
GenerationSettings` (the six sampling controls: `temperature`, `top_k`, ... as the page's
sliders fill them and scripts send them, see `chat_ui.client.slider_values`) and `chat: PageChat`
(the chat tab's history, model and system prompt) while its endpoint keeps the separate inputs.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from chat_ui.backend import GenerationSettings
from mixtune.errors import MixtuneError

# the inputs in page and API order; `chat_ui.client.slider_values` sends them in this order too
CONTROLS = ("temperature", "top_k", "top_p", "max_new_tokens", "repetition_penalty", "seed")


def sampling_controls(prefix: str = "", max_new_tokens: int = 512) -> list[Any]:
    """The Parameters accordion; its components in `CONTROLS` order (element ids `{prefix}{name}`)."""
    with gr.Accordion("Parameters", open=False, elem_id=f"{prefix}parameters"):
        with gr.Row():
            temperature = gr.Slider(
                0.0,
                2.0,
                value=0.2,
                step=0.05,
                label="Temperature (0 = greedy)",
                elem_id=f"{prefix}temperature",
            )
            top_k = gr.Slider(0, 200, value=50, step=1, label="Top-k (0 = off)", elem_id=f"{prefix}top_k")
            top_p = gr.Slider(0.05, 1.0, value=0.95, step=0.01, label="Top-p", elem_id=f"{prefix}top_p")
        with gr.Row():
            max_new = gr.Slider(
                1,
                4096,
                value=max_new_tokens,
                step=1,
                label="Max new tokens",
                elem_id=f"{prefix}max_new_tokens",
            )
            repetition = gr.Slider(
                0.5,
                2.0,
                value=1.0,
                step=0.01,
                label="Repetition penalty",
                elem_id=f"{prefix}repetition_penalty",
            )
            seed = gr.Number(
                value=-1, precision=0, label="Seed (-1 = random each reply)", elem_id=f"{prefix}seed"
            )
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


@dataclass
class PageChat:
    """The conversation as the chat tab holds it: the turns so far, the model and system prompt."""

    history: list[dict[str, Any]]
    model: str
    system: str


def page_chat(history: list[dict[str, Any]] | None, model: str, system: str) -> PageChat:
    return PageChat(list(history or []), model, system)


# handler parameters that stand for several inputs: name -> (the inputs in order, their object)
GROUPS: dict[str, tuple[tuple[str, ...], Callable[..., Any]]] = {
    "chat": (("history", "model", "system"), page_chat),
    "settings": (CONTROLS, settings_from),
}


def spread_inputs(handler: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    """The streaming `handler` as Gradio sees it: each of its `GROUPS` parameters spread into the
    inputs it stands for, read back into one object before the handler runs.

    The endpoint's signature is the handler's with those inputs in place of the group, so Gradio
    injects `gr.Request`/`gr.EditData` where the handler asks for them and the API lists the same
    parameter names as before."""
    signature = inspect.signature(handler)
    params: list[inspect.Parameter] = []
    spans: list[tuple[int, int, Callable[..., Any] | None]] = []  # (first input, inputs, maker)
    for param in signature.parameters.values():
        names, make = GROUPS.get(param.name, ((param.name,), None))
        spans.append((len(params), len(names), make))
        if make is None:
            params.append(param)
        else:
            params += [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]

    async def endpoint(*values: Any) -> AsyncIterator[Any]:
        args = [values[at] if make is None else make(*values[at : at + n]) for at, n, make in spans]
        async for update in handler(*args):
            yield update

    hints = typing.get_type_hints(handler)
    spread = {name: Any for group in GROUPS if group in hints for name in GROUPS[group][0]}
    endpoint.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    endpoint.__annotations__ = {**{k: v for k, v in hints.items() if k not in GROUPS}, **spread}
    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint
