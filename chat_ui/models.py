"""What the chat and arena handlers share: the models by name, each session's stop switches,
the feedback log and how often the screen is updated."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from chat_ui.backend import ChatBackend, ReplyStream
from chat_ui.feedback import FeedbackLog
from chat_ui.page_values import PageValues
from chat_ui.pump import Pump
from chat_ui.sessions import CancelRegistry
from mixtune.errors import MixtuneError


class Models:
    """The playground's backends by name; what each model is is asked once, then kept."""

    def __init__(self, backends: dict[str, ChatBackend]) -> None:
        if not backends:
            raise MixtuneError("the playground needs at least one model (--model or --openai-base-url)")
        self.backends = backends
        self.cancels = CancelRegistry()
        self._info: dict[str, dict[str, Any]] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self.backends)

    @property
    def chat_names(self) -> list[str]:
        """The models that chat: all but those loaded without a chat template (completion models)."""
        return [n for n in self.names if can_chat(self.backends[n])]

    @property
    def completion_names(self) -> list[str]:
        """The models that continue raw text (the Complete tab)."""
        return [n for n in self.names if callable(getattr(self.backends[n], "complete", None))]

    def info(self, name: str) -> dict[str, Any]:
        if name not in self._info:
            self._info[name] = {**self.backends[name].info(), "name": name}
        return self._info[name]

    def about(self, name: str) -> dict[str, Any]:
        """What the feedback log keeps about a model beside its name: backend, path or URL, lineage."""
        return {k: v for k, v in self.info(name).items() if k != "name"}

    def backend(self, name: str) -> ChatBackend:
        if name not in self.backends:
            raise gr.Error(f"unknown model {name!r}; choose one of {sorted(self.backends)}")
        return self.backends[name]


def can_chat(backend: Any) -> bool:
    """A model with a chat template (a served model is taken to have one: its server applies it)."""
    tokenizer = getattr(backend, "tokenizer", None)
    return tokenizer is None or not hasattr(tokenizer, "chat_template") or bool(tokenizer.chat_template)


class TabHandlers:
    """What a tab's handlers start from: the shared models, the feedback log (None: nothing is
    stored), the seconds between screen updates, and `values`, which the layout sets to turn
    the streaming handler's outputs into page values (chat_ui/page_values.py)."""

    def __init__(self, models: Models, feedback: FeedbackLog | None, stream_interval: float) -> None:
        self.models = models
        self.feedback = feedback
        self.stream_interval = stream_interval
        self.values = PageValues([])

    async def read_reply(
        self, reply: ReplyStream, cancel: threading.Event, session: str, kind: str
    ) -> AsyncIterator[str]:
        """The reply's new text once per screen update, read through a Pump. However reading ends
        (the reply's end, or Gradio closing the handler: the page closed, a client cancelled), the
        reply is ended and the session's stop switch released. A model failure is raised at the end
        (read it with `contextlib.aclosing`, so that closing is immediate)."""
        pump = Pump(reply, name=f"{kind}-{session}")
        try:
            async for pieces in pump.batches(self.stream_interval):
                yield "".join(pieces)
        finally:
            if pump.done:
                reply.close()
            else:  # the pump's thread sees the reply end within a token
                cancel.set()
                reply.stop()
            self.models.cancels.finish(session, kind, cancel)
        failure = model_failure(pump)
        if failure is not None:
            raise failure


def model_failure(pump: Pump) -> MixtuneError | None:
    """How a pumped reply failed, for the page to say; an error that is not a model's is raised."""
    failure = pump.error
    if failure is not None and not isinstance(failure, MixtuneError):
        raise failure
    return failure
