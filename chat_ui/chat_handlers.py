"""The chat tab's handlers: send, retry, edit, undo, clear, stop, rate and export.

The streaming ones are async and read the reply through a Pump (chat_ui/pump.py), yielding
(chatbot, history, status, raw prompt) made page-ready by `values` (chat_ui/page_values.py),
which the layout sets once it has made those components.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import gradio as gr

from chat_ui.backend import ChatBackend, GenerationSettings, ReplyStream, TrimResult, trim_to_context
from chat_ui.controls import PageChat
from chat_ui.conversation import (
    drop_last_reply,
    edit_user_turn,
    export_json,
    export_markdown,
    to_display,
    to_messages,
    undo,
    unescape_markup,
    whitespace_note,
)
from chat_ui.models import TabHandlers
from mixtune.errors import MixtuneError

History = list[dict[str, Any]]
Updates = AsyncIterator[tuple[Any, ...]]  # a streaming handler's page updates


def reply_status(turn: dict[str, Any], prompt_tokens: int, limit: int | None, dropped: int) -> str:
    """The line under the chat: token counts, context window, seed, why the reply ended."""
    reply_tokens = turn.get("completion_tokens")
    parts = [f"prompt **{prompt_tokens}** tokens"]
    if reply_tokens is not None:
        parts.append(f"reply **{reply_tokens}**")
    if limit:
        parts.append(f"context window **{limit}**")
    parts.append(f"seed `{turn['settings']['seed']}`")
    if turn.get("finish_reason"):
        parts.append(f"finished: {turn['finish_reason']}")
    note = whitespace_note(turn)
    if note:
        parts.append(f"**{note}**")
    text = " · ".join(parts)
    if dropped:
        text += (
            f"\n\n**Note:** the {dropped} oldest exchange{'s were' if dropped > 1 else ' was'} left out "
            f"so that the conversation fits the {limit}-token context window."
        )
    return text


def changed(change: Callable[..., History], *args: Any) -> History:
    """The conversation after `change(*args)`; a change that cannot be made (no reply to retry,
    no such message to edit) is an error on the page."""
    try:
        return change(*args)
    except (MixtuneError, TypeError, ValueError) as exc:
        raise gr.Error(str(exc)) from None


async def unchanged(outputs: int) -> Updates:
    """One update that leaves all `outputs` as they are."""
    yield (gr.skip(),) * outputs


class ChatHandlers(TabHandlers):
    """The chat tab's listeners. The streaming ones (send, retry, edit) return the reply's
    updates; they take the conversation as one PageChat and the sampling controls as one
    GenerationSettings (chat_ui/controls.py)."""

    def _start_reply(
        self, backend: ChatBackend, messages: list[dict[str, str]], settings: GenerationSettings, session: str
    ) -> tuple[TrimResult, str, Any, ReplyStream]:
        """Fit the conversation to the context window and start the reply (tokenising, or an HTTP
        call for an OpenAI backend, so it runs in a worker thread, not on the event loop)."""
        trim = trim_to_context(backend, messages, settings.max_new_tokens)
        raw_prompt = backend.render_prompt(trim.messages)
        cancel = self.models.cancels.start(session, "chat")
        return trim, raw_prompt, cancel, backend.stream(trim.messages, settings, cancel)

    async def respond(self, chat: PageChat, settings: GenerationSettings, session: str) -> Updates:
        """Stream a reply to the chat's last user turn: yields (chatbot, history, status, raw prompt).

        The message box is not among the outputs: the page empties it when the message is sent
        (`take_message`), so a next question typed while the answer streams is never touched.
        """
        backend = self.models.backend(chat.model)
        try:
            trim, raw_prompt, cancel, reply = await asyncio.to_thread(
                self._start_reply, backend, to_messages(chat.history, chat.system), settings, session
            )
        except MixtuneError as exc:
            raise gr.Error(str(exc)) from None
        turn: dict[str, Any] = {
            "role": "assistant",
            "content": "",
            "model": chat.model,
            "settings": {**settings.to_dict(), "seed": reply.seed},
        }
        history = [*chat.history, turn]
        status = reply_status(turn, trim.prompt_tokens, backend.context_limit, trim.dropped_turns)
        # The history State is written at the start and the end only (each write costs Gradio a
        # config rebuild): Stop ends the reply through `cancel`, so the end always comes, and the
        # history kept holds the partial answer.
        yield self.values(to_display(history), history, status, raw_prompt)
        failure: MixtuneError | None = None
        try:
            async with contextlib.aclosing(self.read_reply(reply, cancel, session, "chat")) as texts:
                async for text in texts:
                    turn["content"] += text
                    yield self.values(to_display(history), gr.skip(), status, raw_prompt)
        except MixtuneError as exc:  # the model failed: the page says so under the partial answer
            failure = exc
        turn["finish_reason"] = "error" if failure else reply.finish_reason
        turn["completion_tokens"] = reply.completion_tokens
        prompt_tokens = reply.prompt_tokens or trim.prompt_tokens
        status = reply_status(turn, prompt_tokens, backend.context_limit, trim.dropped_turns)
        yield self.values(to_display(history), history, status, raw_prompt)
        if failure is not None:
            raise gr.Error(str(failure))

    def send(
        self, message: str, chat: PageChat, settings: GenerationSettings, request: gr.Request
    ) -> Updates:
        if not (message or "").strip():
            gr.Warning("Type a message first.")
            return unchanged(4)
        chat.history = [*chat.history, {"role": "user", "content": message}]
        return self.respond(chat, settings, request.session_hash)

    def retry(self, chat: PageChat, settings: GenerationSettings, request: gr.Request) -> Updates:
        """Answer the last message again with a fresh random seed."""
        chat.history = changed(drop_last_reply, chat.history)
        settings.seed = None
        return self.respond(chat, settings, request.session_hash)

    def edit(
        self, index: Any, text: str, chat: PageChat, settings: GenerationSettings, request: gr.Request
    ) -> Updates:
        """Replace user message `index` and answer it again; later turns are dropped."""
        chat.history = changed(lambda: edit_user_turn(chat.history, int(index), text))
        return self.respond(chat, settings, request.session_hash)

    def edit_from_chatbot(
        self, chat: PageChat, settings: GenerationSettings, evt: gr.EditData, request: gr.Request
    ) -> Updates:
        value = evt.value.get("content", "") if isinstance(evt.value, dict) else evt.value
        if isinstance(value, list):  # multimodal parts: keep the text
            value = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in value)
        return self.edit(evt.index, unescape_markup(str(value)), chat, settings, request)

    def undo(self, history: History) -> tuple[Any, ...]:
        history, user_text = undo(history or [])
        return to_display(history), history, user_text, ""

    def clear(self, request: gr.Request) -> tuple[Any, ...]:
        self.models.cancels.cancel(request.session_hash, "chat")
        return [], [], "", "", ""

    def stop(self, request: gr.Request) -> str:
        running = self.models.cancels.cancel(request.session_hash)
        return "Stopped." if running else "Nothing was running."

    def rate(self, index: Any, liked: Any, history: History, system: str) -> str:
        """Log a like/dislike on assistant message `index` (when storage is on)."""
        history = history or []
        try:
            index = int(index)
        except (TypeError, ValueError):
            raise gr.Error(f"bad message index {index!r}") from None
        if not 0 <= index < len(history) or history[index]["role"] != "assistant":
            raise gr.Error("only the model's answers can be rated")
        is_like = liked is True or (isinstance(liked, str) and liked.lower() in ("like", "true", "1"))
        if self.feedback is None:
            return "Rating noted, but not stored (storage is off)."
        turn = history[index]
        model = {"name": turn.get("model"), **self.models.about(turn["model"])}
        self.feedback.record_rating(
            to_messages(history[:index], system), turn["content"], is_like, model, turn.get("settings") or {}
        )
        return f"{'Like' if is_like else 'Dislike'} saved to `{self.feedback.ratings.name}`."

    def rate_from_chatbot(self, history: History, system: str, evt: gr.LikeData) -> str:
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return self.rate(index, evt.liked, history, system)

    def _export(self, history: History, system: str, model: str, kind: str) -> str:
        if not history:
            raise gr.Error("There is nothing to export yet.")
        meta = {"model": model, "models_used": sorted({t["model"] for t in history if t.get("model")})}
        text = (
            export_json(history, system, meta) if kind == "json" else export_markdown(history, system, meta)
        )
        path = Path(tempfile.mkdtemp(prefix="mixtune-export-")) / f"conversation.{kind}"
        path.write_text(text, encoding="utf-8")
        return str(path)

    def export_json(self, history: History, system: str, model: str) -> str:
        return self._export(history, system, model, "json")

    def export_markdown(self, history: History, system: str, model: str) -> str:
        return self._export(history, system, model, "md")
