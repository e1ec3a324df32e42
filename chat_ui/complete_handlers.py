"""The Complete tab's handlers: fill the code at its cursor with the model's middle, stop, accept.

`fill` streams (filled code, prefix, suffix, status, raw prompt, the fill's parts) made page-ready
by `values`, which the layout sets once it has made those components. The model writes through
its backend's raw completion (`complete`, no chat template): with a suffix the backend builds the
fill-in-the-middle prompt in the model's FIM tokens (mixtune.fim), without one it continues the
prefix. A model that cannot fill a middle (no FIM tokens) says so on the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

import gradio as gr

from chat_ui.backend import GenerationSettings, ReplyStream
from chat_ui.cursor import accepted, filled_html, parse_stops, split_at_cursor
from chat_ui.models import TabHandlers
from mixtune.errors import MixtuneError
from mixtune.fim import fim_tokens_of

Updates = AsyncIterator[tuple[Any, ...]]
SERVER_PROMPT = (
    "(the server built the prompt from the prefix and suffix, in the model's fill-in-the-middle tokens)"
)


def fill_status(reply: ReplyStream, fim: bool, stops: Sequence[str]) -> str:
    """The line under the filled code: what was asked and why the middle ended."""
    parts = ["fill in the middle (prefix and suffix)" if fim else "continuation of the code (no suffix)"]
    if reply.prompt_tokens:
        parts.append(f"prompt **{reply.prompt_tokens}** tokens")
    if reply.finish_reason:
        parts.append(f"middle **{reply.completion_tokens}** tokens")
    parts.append(f"seed `{reply.seed}`")
    if stops:
        parts.append("stops " + ", ".join(f"`{s!r}`" for s in stops))
    if reply.finish_reason:
        parts.append(f"finished: {reply.finish_reason}")
    return " · ".join(parts)


class CompleteHandlers(TabHandlers):
    """The Complete tab's listeners."""

    def _start(
        self,
        model: str,
        prefix: str,
        suffix: str,
        stops: list[str],
        settings: GenerationSettings,
        session: str,
    ) -> tuple[threading.Event, ReplyStream]:
        """Start the model on the fill (tokenising, or an HTTP call for a served model: a worker
        thread's job)."""
        backend = self.models.backend(model)
        if not callable(getattr(backend, "complete", None)):
            raise MixtuneError(f"{model} cannot continue raw code (its backend has no raw completion)")
        cancel = self.models.cancels.start(session, "complete")
        try:
            return cancel, backend.complete(prefix, settings, stops, cancel, suffix or None)
        except BaseException:
            self.models.cancels.finish(session, "complete", cancel)
            raise

    async def fill(
        self, code: str, model: str, stop: str, settings: GenerationSettings, request: gr.Request
    ) -> Updates:
        """Fill the code at its cursor marker (or continue it at its end)."""
        try:
            prefix, suffix = split_at_cursor(code or "")
            if not prefix.strip() and not suffix.strip():
                raise MixtuneError("type some code first, with <CURSOR> where the model should write")
            stops = parse_stops(stop)
            cancel, reply = await asyncio.to_thread(
                self._start, model, prefix, suffix, stops, settings, request.session_hash
            )
        except MixtuneError as exc:
            raise gr.Error(str(exc)) from None
        middle, fim = "", bool(suffix)
        raw = getattr(reply, "prompt", None) or ""
        status = fill_status(reply, fim, stops)
        yield self.values(filled_html(prefix, "", suffix, True), prefix, suffix, status, raw, gr.skip())
        failure: MixtuneError | None = None
        try:
            async with contextlib.aclosing(
                self.read_reply(reply, cancel, request.session_hash, "complete")
            ) as texts:
                async for text in texts:
                    middle += text
                    shown = filled_html(prefix, middle, suffix, True)
                    yield self.values(shown, *[gr.skip()] * 5)
        except MixtuneError as exc:
            failure = exc
            reply.finish_reason = "error"
        raw = (
            getattr(reply, "prompt", None) or raw or SERVER_PROMPT
        )  # a served model's is known once it answered
        status = fill_status(reply, fim, stops)
        shown = filled_html(prefix, middle, suffix)
        yield self.values(shown, prefix, suffix, status, raw, [prefix, middle, suffix])
        if failure is not None:
            raise gr.Error(str(failure))

    def about(self, model: str) -> str:
        """What the model can do here: fill a middle (its FIM tokens) or only continue code."""
        backend = self.models.backend(model)
        tokenizer = getattr(backend, "tokenizer", None)
        if tokenizer is None:
            return f"**{model}** is served by its server, which builds the fill-in-the-middle prompt."
        try:
            tokens = fim_tokens_of(tokenizer)
        except MixtuneError as exc:
            return f"**{model} cannot fill a middle**: {exc}. Code without a cursor is still continued at its end."
        layout = getattr(backend, "fim_layout", "psm").upper()
        return f"**{model}** fills in the middle with `{tokens.prefix}` `{tokens.suffix}` `{tokens.middle}` ({layout})."

    def stop(self, request: gr.Request) -> None:
        self.models.cancels.cancel(request.session_hash, "complete")

    def accept(self, parts: list[str] | None) -> str:
        """The code box with the last fill in place and the cursor after it."""
        try:
            return accepted(parts)
        except MixtuneError as exc:
            raise gr.Error(str(exc)) from None
