"""The chat playground: chat with trained models, compare them in an arena, and collect votes.

Backends turn a conversation into a streamed reply: the in-process transformers backend
(`TransformersBackend`) or any OpenAI-compatible server (`OpenAIBackend`, e.g. `vllm serve`
or `mixtune serve`). `build_app` assembles the Gradio playground; `FeedbackLog` appends the
arena's votes as canonical preference rows that `mixtures` reads back as a source.
"""

from __future__ import annotations

from chat_ui.backend import ChatBackend, GenerationSettings, ReplyStream

__all__ = ["ChatBackend", "ReplyStream", "GenerationSettings"]
