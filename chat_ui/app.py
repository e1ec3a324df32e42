"""The Gradio playground: a StarChat-style chat tab and an arena tab that turns votes into DPO data.

Every button is also a named API endpoint (`/send`, `/stop`, `/retry`, `/undo`, `/edit`,
`/rate`, `/arena_send`, `/vote_a`, ...), so scripts and tests drive the same code the page does
with `gradio_client`. Conversations live in per-session `gr.State`; the backends are shared.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr

from chat_ui.arena import SIDES, ArenaRound, draw_pair, stream_both
from chat_ui.backend import ChatBackend, ReplyStream, SamplingSettings, trim_to_context
from chat_ui.conversation import (
    display_content,
    drop_last_reply,
    edit_user_turn,
    escape_markup,
    export_json,
    export_markdown,
    to_display,
    to_messages,
    undo,
    unescape_markup,
    whitespace_note,
)
from chat_ui.feedback import FeedbackLog
from chat_ui.lineage import describe
from chat_ui.page_values import PageValues
from chat_ui.prompts import CODING_EXAMPLES, DEFAULT_SYSTEM_PROMPT, SYSTEM_PRESETS
from chat_ui.pump import Pump
from chat_ui.sessions import CancelRegistry
from mixtune.errors import MixtuneError

CSS = """
.mixtune-notice {font-size: 0.9em; opacity: 0.85}
#raw-prompt textarea {font-family: var(--font-mono); font-size: 0.85em}
"""


def settings_from(
    temperature: float,
    top_k: float,
    top_p: float,
    max_new_tokens: float,
    repetition_penalty: float,
    seed: Any,
) -> SamplingSettings:
    """The sliders as SamplingSettings; a negative or empty seed means a fresh random seed."""
    seed_value = None if seed is None or seed == "" or int(seed) < 0 else int(seed)
    try:
        return SamplingSettings(
            temperature=float(temperature),
            top_k=int(top_k),
            top_p=float(top_p),
            max_new_tokens=int(max_new_tokens),
            repetition_penalty=float(repetition_penalty),
            seed=seed_value,
        ).validate()
    except MixtuneError as exc:
        raise gr.Error(str(exc)) from None


def storage_notice(feedback: FeedbackLog | None) -> str:
    if feedback is None:
        return (
            "Nothing you do here is stored: votes and ratings are not kept "
            "(the operator can opt in with `--feedback-log PATH`)."
        )
    return (
        f"**Votes and ratings are stored** in `{feedback.path.name}` (with the prompt and both answers) "
        "and may be used to train models. Do not enter private information."
    )


# Seconds between screen updates while a reply streams. The handlers are async and read replies
# through a Pump, so an update costs the generating thread little GIL time: on a CPU, 20 updates
# a second cost 3.2% of tokens/s and 10 cost 3.3% (bench/ui_overhead.py; as synchronous
# generators, the Gradio default, 20 a second cost 7.4%).
STREAM_INTERVAL_S = 0.05

PRIVATE = {"api_visibility": "private"}  # page-only listeners, not API endpoints
# the streaming events: their handlers yield page-ready values (chat_ui/page_values.py)
STREAMING = {"show_progress": "minimal", "concurrency_limit": None, "postprocess": False}
VOTES = {"A": "A is better", "B": "B is better", "tie": "Tie", "both-bad": "Both are bad"}


def take_message(message: str) -> tuple[str, str]:
    """Empty the message box as the message is sent (a listener of its own, beside the reply)."""
    return "", message


def restore_message(unsent: str, box: str, history: list[dict[str, Any]] | None = None) -> Any:
    """Give a message back to its box when sending it failed before it joined the conversation."""
    turns = history or []
    accepted = any(t["role"] == "user" and t["content"] == unsent for t in turns[-2:])
    return unsent if unsent and not box and not accepted else gr.skip()


def message_row(placeholder: str, prefix: str = "") -> tuple[Any, Any, Any]:
    """The message box with its Send and Stop buttons (element ids `{prefix}message`, ...)."""
    with gr.Row():
        message = gr.Textbox(placeholder=placeholder, show_label=False, scale=6, elem_id=f"{prefix}message")
        send = gr.Button("Send", variant="primary", scale=1, elem_id=f"{prefix}send")
        stop = gr.Button("Stop", variant="stop", scale=1, elem_id=f"{prefix}stop")
    return message, send, stop


def wire_send(
    handler: Any,
    api_name: str,
    api_button: Any,
    send: Any,
    message: Any,
    unsent: Any,
    context: list[Any],
    outputs: list[Any],
    restore_context: tuple[Any, ...] = (),
) -> None:
    """Register a streaming send: the API endpoint `api_name` (the message is its first input), and
    the page's Send button and Enter key, which first take the message out of its box and give it
    back if sending fails. The box is never an output of the reply, so a next question typed
    while the answer streams is kept."""
    # registered first, so that the API name is this endpoint's (the page's listeners below are
    # named after their functions too; a later "send" would become "send_2")
    api_button.click(handler, [message, *context], outputs, api_name=api_name, **STREAMING)
    for trigger in (send.click, message.submit):
        trigger(take_message, [message], [message, unsent], queue=False, **PRIVATE).then(
            handler, [unsent, *context], outputs, **PRIVATE, **STREAMING
        ).failure(restore_message, [unsent, message, *restore_context], [message], queue=False, **PRIVATE)


class Playground:
    """The handlers behind the page; build the Blocks with `blocks()`."""

    def __init__(
        self,
        backends: dict[str, ChatBackend],
        feedback: FeedbackLog | None = None,
        stream_interval: float = STREAM_INTERVAL_S,
        title: str = "mixtune playground",
    ) -> None:
        if not backends:
            raise MixtuneError("the playground needs at least one model (--model or --openai-base-url)")
        self.backends = backends
        self.feedback = feedback
        self.stream_interval = stream_interval
        self.title = title
        self.cancels = CancelRegistry()
        self._info: dict[str, dict[str, Any]] = {}
        # the outputs of the streaming events, set when blocks() lays out the page
        self._chat_values = PageValues([])
        self._arena_values = PageValues([])

    # ---- shared -----------------------------------------------------------------------------

    def info(self, name: str) -> dict[str, Any]:
        if name not in self._info:
            self._info[name] = {**self.backends[name].info(), "name": name}
        return self._info[name]

    def backend(self, name: str) -> ChatBackend:

        if name not in self.backends:
            raise gr.Error(f"unknown model {name!r}; choose one of {sorted(self.backends)}")
        return self.backends[name]

    def _status(self, turn: dict[str, Any], prompt_tokens: int, limit: int | None, dropped: int) -> str:
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

    # ---- chat ---------------------------------------------------------------------------------

    def _start_reply(
        self, backend: ChatBackend, messages: list[dict[str, str]], settings: SamplingSettings, session: str
    ) -> tuple[Any, str, Any, ReplyStream]:
        """Fit the conversation to the context window and start the reply (tokenising, or an HTTP
        call for an OpenAI backend, so it runs in a worker thread, not on the event loop)."""
        trim = trim_to_context(backend, messages, settings.max_new_tokens)
        raw_prompt = backend.render_prompt(trim.messages)
        cancel = self.cancels.start(session, "chat")
        return trim, raw_prompt, cancel, backend.stream(trim.messages, settings, cancel)

    async def respond(
        self,
        history: list[dict[str, Any]],
        model: str,
        system: str,
        settings: SamplingSettings,
        session: str,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Stream a reply to the last user turn: yields (chatbot, history, status, raw prompt).

        The message box is not among the outputs: the page empties it when the message is sent
        (`take_message`), so a next question typed while the answer streams is never touched.
        """

        backend = self.backend(model)
        messages = to_messages(history, system)
        try:
            trim, raw_prompt, cancel, reply = await asyncio.to_thread(
                self._start_reply, backend, messages, settings, session
            )
        except MixtuneError as exc:
            raise gr.Error(str(exc)) from None
        turn: dict[str, Any] = {
            "role": "assistant",
            "content": "",
            "model": model,
            "settings": {**settings.to_dict(), "seed": reply.seed},
        }
        history = [*history, turn]
        limit = backend.context_limit
        status = self._status(turn, trim.prompt_tokens, limit, trim.dropped_turns)
        page = self._chat_values
        # The history State is written at the start and the end only (each write costs Gradio a
        # config rebuild): Stop ends the reply through `cancel`, so the end always comes, and the
        # history kept holds the partial answer.
        yield page(to_display(history), history, status, raw_prompt)
        pump = Pump(reply, name=f"reply-{model}")
        try:
            async for pieces in pump.batches(self.stream_interval):
                turn["content"] += "".join(pieces)
                yield page(to_display(history), gr.skip(), status, raw_prompt)
        finally:  # also when Gradio cancels this handler (the page closed, or a client cancelled)
            if pump.done:
                reply.close()
            else:  # the pump's thread sees the reply end within a token
                cancel.set()
                reply.stop()
            self.cancels.finish(session, "chat", cancel)
        failure = pump.error
        if failure is not None and not isinstance(failure, MixtuneError):
            raise failure
        turn["finish_reason"] = "error" if failure else reply.finish_reason
        turn["completion_tokens"] = reply.completion_tokens
        status = self._status(turn, reply.prompt_tokens or trim.prompt_tokens, limit, trim.dropped_turns)
        yield page(to_display(history), history, status, raw_prompt)
        if failure is not None:
            raise gr.Error(str(failure))

    async def send(
        self,
        message: str,
        history: list[dict[str, Any]],
        model: str,
        system: str,
        temperature: float,
        top_k: float,
        top_p: float,
        max_new_tokens: float,
        repetition_penalty: float,
        seed: Any,
        request: gr.Request,
    ) -> AsyncIterator[tuple[Any, ...]]:

        if not (message or "").strip():
            gr.Warning("Type a message first.")
            yield (gr.skip(),) * 4
            return
        history = [*(history or []), {"role": "user", "content": message}]
        settings = settings_from(temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed)
        async for update in self.respond(history, model, system, settings, request.session_hash):
            yield update

    async def retry(
        self,
        history: list[dict[str, Any]],
        model: str,
        system: str,
        temperature: float,
        top_k: float,
        top_p: float,
        max_new_tokens: float,
        repetition_penalty: float,
        seed: Any,
        request: gr.Request,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Answer the last message again with a fresh random seed."""

        try:
            history = drop_last_reply(history or [])
        except MixtuneError as exc:
            raise gr.Error(str(exc)) from None
        settings = settings_from(temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed)
        settings.seed = None
        async for update in self.respond(history, model, system, settings, request.session_hash):
            yield update

    async def edit(
        self,
        index: Any,
        text: str,
        history: list[dict[str, Any]],
        model: str,
        system: str,
        temperature: float,
        top_k: float,
        top_p: float,
        max_new_tokens: float,
        repetition_penalty: float,
        seed: Any,
        request: gr.Request,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Replace user message `index` and answer it again; later turns are dropped."""

        try:
            history = edit_user_turn(history or [], int(index), text)
        except (MixtuneError, TypeError, ValueError) as exc:
            raise gr.Error(str(exc)) from None
        settings = settings_from(temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed)
        async for update in self.respond(history, model, system, settings, request.session_hash):
            yield update

    async def edit_from_chatbot(
        self,
        history: list[dict[str, Any]],
        model: str,
        system: str,
        temperature: float,
        top_k: float,
        top_p: float,
        max_new_tokens: float,
        repetition_penalty: float,
        seed: Any,
        evt: gr.EditData,
        request: gr.Request,
    ) -> AsyncIterator[tuple[Any, ...]]:
        value = evt.value.get("content", "") if isinstance(evt.value, dict) else evt.value
        if isinstance(value, list):  # multimodal parts: keep the text
            value = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in value)
        updates = self.edit(
            evt.index,
            unescape_markup(str(value)),
            history,
            model,
            system,
            temperature,
            top_k,
            top_p,
            max_new_tokens,
            repetition_penalty,
            seed,
            request=request,
        )
        async for update in updates:
            yield update

    def undo(self, history: list[dict[str, Any]]) -> tuple[Any, ...]:
        history, user_text = undo(history or [])
        return to_display(history), history, user_text, ""

    def clear(self, request: gr.Request) -> tuple[Any, ...]:
        self.cancels.cancel(request.session_hash, "chat")
        return [], [], "", "", ""

    def stop(self, request: gr.Request) -> str:
        running = self.cancels.cancel(request.session_hash)
        return "Stopped." if running else "Nothing was running."

    def rate(self, index: Any, liked: Any, history: list[dict[str, Any]], system: str) -> str:
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
        model = {
            "name": turn.get("model"),
            **{k: v for k, v in self.info(turn["model"]).items() if k != "name"},
        }
        self.feedback.record_rating(
            to_messages(history[:index], system), turn["content"], is_like, model, turn.get("settings") or {}
        )
        return f"{'Like' if is_like else 'Dislike'} saved to `{self.feedback.ratings.name}`."

    def rate_from_chatbot(self, history: list[dict[str, Any]], system: str, evt: gr.LikeData) -> str:
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return self.rate(index, evt.liked, history, system)

    def _export(self, history: list[dict[str, Any]], system: str, model: str, kind: str) -> str:

        if not history:
            raise gr.Error("There is nothing to export yet.")
        meta = {"model": model, "models_used": sorted({t["model"] for t in history if t.get("model")})}
        text = (
            export_json(history, system, meta) if kind == "json" else export_markdown(history, system, meta)
        )
        path = Path(tempfile.mkdtemp(prefix="mixtune-export-")) / f"conversation.{kind}"
        path.write_text(text, encoding="utf-8")
        return str(path)

    def export_json(self, history: list[dict[str, Any]], system: str, model: str) -> str:
        return self._export(history, system, model, "json")

    def export_markdown(self, history: list[dict[str, Any]], system: str, model: str) -> str:
        return self._export(history, system, model, "md")

    # ---- arena --------------------------------------------------------------------------------

    def _arena_display(self, rnd: ArenaRound, side: str) -> list[dict[str, str]]:
        user = rnd.prompt[-1]["content"]
        shown = [{"role": "user", "content": escape_markup(user)}]
        if rnd.answers[side] or rnd.finish[side]:
            turn = {"role": "assistant", "content": rnd.answers[side], "finish_reason": rnd.finish[side]}
            shown.append({"role": "assistant", "content": display_content(turn)})
        return shown

    async def arena_send(
        self,
        message: str,
        system: str,
        temperature: float,
        top_k: float,
        top_p: float,
        max_new_tokens: float,
        repetition_penalty: float,
        seed: Any,
        request: gr.Request,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """A new round: two anonymous models answer; yields (A, B, round, reveal, 4 vote buttons)."""

        if not (message or "").strip():
            gr.Warning("Type a message first.")
            yield (gr.skip(),) * 8
            return
        settings = settings_from(temperature, top_k, top_p, max_new_tokens, repetition_penalty, seed)
        rnd = ArenaRound(
            prompt=to_messages([{"role": "user", "content": message}], system),
            models=draw_pair(sorted(self.backends)),
            settings=settings.to_dict(),
        )
        locked = [gr.update(interactive=False)] * 4
        labels = list(VOTES.values())  # unchanged values: the buttons stay locked
        hidden = "Both answers are anonymous until you vote."
        cancel = self.cancels.start(request.session_hash, "arena")
        page = self._arena_values
        # as in the chat: the round State is written at the start and the end only, and the
        # message box is the page's own (take_message)
        yield page([], [], rnd.to_state(), hidden, *locked)
        pump = Pump(stream_both(self.backends, rnd, settings, cancel), name="arena")
        try:
            async for _sides in pump.batches(self.stream_interval):  # the answers grow in `rnd`
                yield page(
                    self._arena_display(rnd, "A"), self._arena_display(rnd, "B"), gr.skip(), hidden, *labels
                )
        finally:
            if not pump.done:  # Gradio cancelled this handler: end both replies
                cancel.set()
            self.cancels.finish(request.session_hash, "arena", cancel)
        failure = pump.error
        if failure is not None and not isinstance(failure, MixtuneError):
            raise failure
        if rnd.votable:
            note = "Which answer is better? Vote to reveal the models."
        elif failure is not None:
            note = "A model failed, so this round cannot be voted on: send a new prompt."
        else:
            note = "This round was stopped, so it cannot be voted on: send a new prompt."
        yield page(
            self._arena_display(rnd, "A"),
            self._arena_display(rnd, "B"),
            rnd.to_state(),
            note,
            *[gr.update(interactive=rnd.votable)] * 4,
        )
        if failure is not None:
            raise gr.Error(str(failure))

    def arena_clear(self, request: gr.Request) -> tuple[Any, ...]:
        """A cleared side ends the round: nothing left on screen can be voted on."""
        self.cancels.cancel(request.session_hash, "arena")
        locked = [gr.update(interactive=False)] * 4
        return [], [], None, "", "Both answers are anonymous until you vote.", *locked

    def arena_stop(self, request: gr.Request) -> None:
        self.cancels.cancel(request.session_hash, "arena")

    def vote(self, choice: str, state: dict[str, Any] | None) -> tuple[Any, ...]:
        """Record a vote (A, B, tie, both-bad) and reveal who was who; yields (round, reveal, buttons)."""

        rnd = ArenaRound.from_state(state)
        if rnd is None or not rnd.complete:
            raise gr.Error("Wait until both models have answered.")
        if not rnd.votable:
            raise gr.Error("This round was stopped or failed, so it cannot be voted on: send a new prompt.")
        if rnd.voted:
            raise gr.Error("You already voted in this round; send a new prompt for the next one.")
        models = {
            side: {
                "name": rnd.models[side],
                "seed": rnd.seeds[side],
                "finish_reason": rnd.finish[side],
                **{k: v for k, v in self.info(rnd.models[side]).items() if k not in ("name",)},
            }
            for side in SIDES
        }
        saved = ""
        if self.feedback is not None:
            rows = self.feedback.record_vote(rnd.prompt, rnd.answers, models, rnd.settings, choice)
            target = self.feedback.path if choice in ("A", "B") else self.feedback.ratings
            saved = f" Saved {len(rows)} row{'s' if len(rows) > 1 else ''} to `{target.name}`."
        rnd.voted = choice
        verdict = {"A": "A is better", "B": "B is better", "tie": "tie", "both-bad": "both are bad"}[choice]
        reveal = (
            f"Your vote: **{verdict}**.{saved}\n\n"
            f"- A was {describe(self.info(rnd.models['A']))} (seed {rnd.seeds['A']})\n"
            f"- B was {describe(self.info(rnd.models['B']))} (seed {rnd.seeds['B']})"
        )
        return rnd.to_state(), reveal, *[gr.update(interactive=False)] * 4

    # ---- layout -------------------------------------------------------------------------------

    def blocks(self) -> Any:

        names = sorted(self.backends)
        with gr.Blocks(title=self.title, analytics_enabled=False) as demo:
            gr.Markdown(f"# {self.title}")
            gr.Markdown(storage_notice(self.feedback), elem_classes="mixtune-notice")
            with gr.Tab("Chat"):
                self._chat_tab(names)
            with gr.Tab("Arena"):
                self._arena_tab(names)
        return demo

    def _sampling_controls(self) -> list[Any]:
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

    def _chat_tab(self, names: list[str]) -> None:
        history = gr.State([])
        unsent = gr.State("")  # the message just taken from the box, given back if sending fails
        with gr.Row():
            model = gr.Dropdown(names, value=names[0], label="Model", scale=1)
            preset = gr.Dropdown(
                list(SYSTEM_PRESETS), value=next(iter(SYSTEM_PRESETS)), label="System preset"
            )
        model_info = gr.Markdown(describe(self.info(names[0])), elem_classes="mixtune-notice")
        system = gr.Textbox(DEFAULT_SYSTEM_PROMPT, lines=2, max_lines=8, label="System prompt")
        chatbot = gr.Chatbot(
            label="Chat",
            height=480,
            editable="user",
            sanitize_html=True,
            render_markdown=True,
            allow_tags=False,
            latex_delimiters=[],
            buttons=[],
            feedback_options=("Like", "Dislike"),
            placeholder="Ask a coding question, or pick an example below.",
            elem_id="chatbot",
        )
        message, send, stop = message_row("Message (Enter to send, Shift+Enter for a new line)")
        with gr.Row():
            retry = gr.Button("Retry (new seed)", size="sm")
            undo_btn = gr.Button("Undo", size="sm")
            clear = gr.Button("Clear", size="sm")
            export_json_btn = gr.Button("Export JSON", size="sm")
            export_md_btn = gr.Button("Export Markdown", size="sm")
        status = gr.Markdown("", elem_id="status", elem_classes="mixtune-notice")
        notice = gr.Markdown("", elem_classes="mixtune-notice")
        exported = gr.File(label="Export", visible=True, interactive=False, height=60)
        gr.Examples(CODING_EXAMPLES, inputs=[message], label="Coding examples")
        params = self._sampling_controls()
        with gr.Accordion("Raw prompt (the exact text the model receives)", open=False):
            raw = gr.Textbox(
                lines=10, max_lines=40, show_label=False, interactive=False, elem_id="raw-prompt"
            )
        # hidden inputs for the API-only endpoints (the page uses the chatbot's own edit/like events)
        with gr.Row(visible=False):
            index = gr.Number(precision=0, label="index")
            text = gr.Textbox(label="text")
            liked = gr.Checkbox(label="liked")
            send_api = gr.Button("send")
            edit_api = gr.Button("edit")
            rate_api = gr.Button("rate")

        outputs = [chatbot, history, status, raw]
        self._chat_values = PageValues(outputs)
        inputs = [model, system, *params]
        wire_send(self.send, "send", send_api, send, message, unsent, [history, *inputs], outputs, (history,))
        retry.click(self.retry, [history, *inputs], outputs, api_name="retry", **STREAMING)
        edit_api.click(self.edit, [index, text, history, *inputs], outputs, api_name="edit", **STREAMING)
        chatbot.edit(self.edit_from_chatbot, [history, *inputs], outputs, **PRIVATE, **STREAMING)
        # Stop sets the session's cancel event: generation ends within a token and the reply
        # finishes normally, so its last update (history, "finished: cancelled") is kept
        stop.click(self.stop, None, [notice], queue=False, api_name="stop")
        undo_btn.click(
            self.undo, [history], [chatbot, history, message, status], api_name="undo", queue=False
        )
        cleared = [chatbot, history, message, status, raw]
        clear.click(self.clear, None, cleared, api_name="clear", queue=False)
        chatbot.clear(self.clear, None, cleared, api_visibility="private", queue=False)  # its trash icon
        rate_api.click(self.rate, [index, liked, history, system], [notice], api_name="rate", queue=False)
        chatbot.like(
            self.rate_from_chatbot, [history, system], [notice], api_visibility="private", queue=False
        )
        export_json_btn.click(self.export_json, [history, system, model], [exported], api_name="export_json")
        export_md_btn.click(
            self.export_markdown, [history, system, model], [exported], api_name="export_markdown"
        )
        preset.change(lambda p: SYSTEM_PRESETS[p], [preset], [system], api_visibility="private", queue=False)
        model.change(
            lambda m: describe(self.info(m)), [model], [model_info], api_visibility="private", queue=False
        )

    def _arena_tab(self, names: list[str]) -> None:
        state = gr.State(None)
        unsent = gr.State("")
        if len(names) < 2:
            gr.Markdown(
                "Only one model is loaded: both sides are that model with different seeds.",
                elem_classes="mixtune-notice",
            )
        system = gr.Textbox(DEFAULT_SYSTEM_PROMPT, lines=2, max_lines=8, label="System prompt (both models)")
        chat_options = {
            "height": 420,
            "sanitize_html": True,
            "render_markdown": True,
            "allow_tags": False,
            "latex_delimiters": [],
            "buttons": [],
            "feedback_options": None,
        }
        with gr.Row():
            chat_a = gr.Chatbot(label="Model A", elem_id="arena-a", **chat_options)
            chat_b = gr.Chatbot(label="Model B", elem_id="arena-b", **chat_options)
        message, send, stop = message_row("One prompt, two anonymous answers", prefix="arena-")
        with gr.Row():
            vote_buttons = [
                gr.Button(label, interactive=False, elem_id=f"vote-{choice.lower()}")
                for choice, label in VOTES.items()
            ]
        reveal = gr.Markdown("Both answers are anonymous until you vote.", elem_id="reveal")
        send_api = gr.Button("arena_send", visible=False)  # the API's endpoint: message in, round out
        gr.Examples(CODING_EXAMPLES, inputs=[message], label="Coding examples")
        params = self._sampling_controls()

        outputs = [chat_a, chat_b, state, reveal, *vote_buttons]
        self._arena_values = PageValues(outputs)
        wire_send(self.arena_send, "arena_send", send_api, send, message, unsent, [system, *params], outputs)
        # like the chat's Stop: the round ends through its cancel event and says it was stopped
        stop.click(self.arena_stop, None, None, queue=False, api_name="arena_stop")
        cleared = [chat_a, chat_b, state, message, reveal, *vote_buttons]
        for chat in (chat_a, chat_b):  # their trash icons
            chat.clear(self.arena_clear, None, cleared, api_visibility="private", queue=False)
        for button, choice in zip(vote_buttons, VOTES, strict=True):
            button.click(
                lambda s, choice=choice: self.vote(choice, s),
                [state],
                [state, reveal, *vote_buttons],
                api_name=f"vote_{choice.replace('-', '_').lower()}",
            )


def build_app(
    backends: dict[str, ChatBackend],
    feedback_log: str | Path | None = None,
    stream_interval: float = STREAM_INTERVAL_S,
    title: str = "mixtune playground",
) -> Any:
    """The playground as a `gr.Blocks`, ready to `.queue().launch()`."""
    feedback = FeedbackLog(feedback_log) if feedback_log else None
    return Playground(backends, feedback, stream_interval, title).blocks()


QUEUE_POLL_S = 0.02
PROGRESS_POLL_S = 0.5  # the playground sends no gr.Progress updates


def quiet_queue_polling(demo: Any, interval_s: float) -> None:
    """Make Gradio's queue look for new jobs every `interval_s` instead of every millisecond.

    Gradio's queue loop polls every 1 ms while it has nothing to do, and checks for progress
    updates every 10 ms while a job runs. Each wake-up takes the GIL from the thread that is
    generating: on a CPU an idle playground alone slowed generation by about 4%, and it used 6% of
    a core (2.5% at 10 ms, 0.7% at 50 ms). Polling every 20 ms delays the start of a reply by
    10 ms on average. Gradio has no public setting for this; if a later version drops these
    attributes, its own polling stays in place.
    """
    queue = getattr(demo, "_queue", None)
    if queue is None:
        return
    if hasattr(queue, "sleep_when_free"):
        queue.sleep_when_free = interval_s
    if hasattr(queue, "progress_update_sleep_when_free"):
        queue.progress_update_sleep_when_free = max(interval_s, PROGRESS_POLL_S)


def launch(
    demo: Any,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    auth: tuple[str, str] | None = None,
    block: bool = True,
    quiet: bool = False,
    queue_poll_s: float = QUEUE_POLL_S,
) -> Any:
    """Serve the playground; loopback only unless a host or share is asked for."""

    demo.queue(default_concurrency_limit=8)
    quiet_queue_polling(demo, queue_poll_s)
    return demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=auth,
        prevent_thread_lock=not block,
        quiet=quiet,
        show_error=True,
        ssr_mode=False,
        theme=gr.themes.Soft(),
        css=CSS,
        footer_links=["api"],
    )
