"""Drive a running playground from Python with gradio_client: scripted chats, benchmarks, tests.

The playground's endpoints take the chat tab's inputs in page order; these helpers turn
`GenerationSettings` into those slider values and read text out of the Chatbot's messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chat_ui.backend import GenerationSettings


def slider_values(settings: GenerationSettings) -> list[Any]:
    """The six parameter inputs of `/send`, `/retry`, `/edit` and `/arena_send`, in order."""
    return [
        settings.temperature,
        settings.top_k,
        settings.top_p,
        settings.max_new_tokens,
        settings.repetition_penalty,
        -1 if settings.seed is None else settings.seed,
    ]


def message_text(message: dict[str, Any]) -> str:
    """A Chatbot message's text: gradio_client returns a string or a list of text parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def stream_reply(
    client: Any, message: str, model: str, system: str, settings: GenerationSettings
) -> Iterator[str]:
    """Send a message with `/send` and yield the assistant's text each time the page would update."""
    job = client.submit(message, model, system, *slider_values(settings), api_name="/send")
    for output in job:
        chatbot = output[0]
        if chatbot and chatbot[-1].get("role") == "assistant":
            yield message_text(chatbot[-1])
