"""The page: a chat tab, an arena tab and a Complete tab, each component wired to its handler.

Every button is also a named API endpoint (`/send`, `/stop`, `/retry`, `/undo`, `/edit`,
`/rate`, `/check_training_data`, `/arena_send`, `/vote_a`, `/complete`, `/complete_accept`, ...),
so scripts and tests drive the same code the page does with `gradio_client` (the page's own
chains, such as the training-data check after each reply, are not run for API calls).
Conversations live in per-session `gr.State`; the backends are shared.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from chat_ui.arena_handlers import HIDDEN, VOTES, ArenaHandlers
from chat_ui.chat_handlers import ChatHandlers
from chat_ui.complete_handlers import CompleteHandlers
from chat_ui.complete_tab import complete_tab
from chat_ui.controls import sampling_controls, spread_inputs
from chat_ui.feedback import FeedbackLog
from chat_ui.lineage import describe
from chat_ui.models import Models
from chat_ui.page_values import PRIVATE, STREAMING, PageValues
from chat_ui.prompts import CODING_EXAMPLES, DEFAULT_SYSTEM_PROMPT, SYSTEM_PRESETS
from chat_ui.training_check import TrainingCheck, training_panel

CSS = """
.mixtune-notice {font-size: 0.9em; opacity: 0.85}
#raw-prompt textarea {font-family: var(--font-mono); font-size: 0.85em}
.training-match pre {white-space: pre-wrap; font-size: 0.85em; max-height: 24em; overflow: auto}
.training-match mark {background: #fde68a; color: inherit}
#complete-code textarea, #complete-prefix textarea, #complete-suffix textarea {font-family: var(--font-mono)}
.filled-code {white-space: pre-wrap; font-family: var(--font-mono); font-size: 0.9em; padding: 0.75em}
.filled-code .fill-middle {background: #bbf7d0; color: inherit; outline: 1px solid #16a34a}
"""

NOT_FOR = {
    "Chat": "none has a chat template (load a chat model: `--model DIR` of `mixtune sft` or `mixtune dpo`).",
    "Arena": "none has a chat template (load one or two chat models).",
    "Complete": "none can continue raw code.",
}
# what both chat tabs' chatbots share
CHATBOT = {
    "sanitize_html": True,
    "render_markdown": True,
    "allow_tags": False,
    "latex_delimiters": [],
    "buttons": [],
}


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
) -> list[Any]:
    """Register a streaming send: the API endpoint `api_name` (the message is its first input), and
    the page's Send button and Enter key, which first take the message out of its box and give it
    back if sending fails. The box is never an output of the reply, so a next question typed
    while the answer streams is kept. Returns the page's reply events (to chain more after them)."""
    # registered first, so that the API name is this endpoint's (the page's listeners below are
    # named after their functions too; a later "send" would become "send_2")
    api_button.click(handler, [message, *context], outputs, api_name=api_name, **STREAMING)
    replies = []
    for trigger in (send.click, message.submit):
        reply = trigger(take_message, [message], [message, unsent], queue=False, **PRIVATE).then(
            handler, [unsent, *context], outputs, **PRIVATE, **STREAMING
        )
        reply.failure(restore_message, [unsent, message, *restore_context], [message], queue=False, **PRIVATE)
        replies.append(reply)
    return replies


def build_page(
    models: Models,
    chat: ChatHandlers,
    arena: ArenaHandlers,
    feedback: FeedbackLog | None,
    title: str,
    training: TrainingCheck,
    complete: CompleteHandlers,
) -> Any:
    """The Blocks of the whole page; sets each tab's handlers' `values` to its outputs."""
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(f"# {title}")
        gr.Markdown(storage_notice(feedback), elem_classes="mixtune-notice")
        for name, tab, needs, args in (
            ("Chat", chat_tab, models.chat_names, (chat, training)),
            ("Arena", arena_tab, models.chat_names, (arena,)),
            ("Complete", complete_tab, models.completion_names, (complete,)),
        ):
            with gr.Tab(name):
                if needs:
                    tab(models, *args)
                else:
                    gr.Markdown(
                        f"No loaded model can be used here: {NOT_FOR[name]}", elem_classes="mixtune-notice"
                    )
    return demo


def model_picker(models: Models) -> tuple[Any, Any]:
    """The model and system-prompt dropdowns, the model's description and the system prompt box."""
    names = models.chat_names
    with gr.Row():
        model = gr.Dropdown(names, value=names[0], label="Model", scale=1)
        preset = gr.Dropdown(list(SYSTEM_PRESETS), value=next(iter(SYSTEM_PRESETS)), label="System preset")
    model_info = gr.Markdown(describe(models.info(names[0])), elem_classes="mixtune-notice")
    system = gr.Textbox(DEFAULT_SYSTEM_PROMPT, lines=2, max_lines=8, label="System prompt")
    preset.change(lambda p: SYSTEM_PRESETS[p], [preset], [system], **PRIVATE, queue=False)
    model.change(lambda m: describe(models.info(m)), [model], [model_info], **PRIVATE, queue=False)
    return model, system


def chat_tab(models: Models, chat: ChatHandlers, training: TrainingCheck) -> None:
    history = gr.State([])
    unsent = gr.State("")  # the message just taken from the box, given back if sending fails
    model, system = model_picker(models)
    chatbot = gr.Chatbot(
        label="Chat",
        height=480,
        editable="user",
        feedback_options=("Like", "Dislike"),
        placeholder="Ask a coding question, or pick an example below.",
        elem_id="chatbot",
        **CHATBOT,
    )
    message, send, stop = message_row("Message (Enter to send, Shift+Enter for a new line)")
    with gr.Row():
        retry = gr.Button("Retry (new seed)", size="sm")
        undo_btn = gr.Button("Undo", size="sm")
        clear = gr.Button("Clear", size="sm", elem_id="clear")
        export_json_btn = gr.Button("Export JSON", size="sm")
        export_md_btn = gr.Button("Export Markdown", size="sm")
    status = gr.Markdown("", elem_id="status", elem_classes="mixtune-notice")
    notice = gr.Markdown("", elem_classes="mixtune-notice")
    check, check_note, matches = training_panel(training, models.chat_names[0])
    exported = gr.File(label="Export", visible=True, interactive=False, height=60)
    gr.Examples(CODING_EXAMPLES, inputs=[message], label="Coding examples")
    params = sampling_controls()
    with gr.Accordion("Raw prompt (the exact text the model receives)", open=False):
        raw = gr.Textbox(lines=10, max_lines=40, show_label=False, interactive=False, elem_id="raw-prompt")
    # hidden inputs for the API-only endpoints (the page uses the chatbot's own edit/like events)
    with gr.Row(visible=False):
        index = gr.Number(precision=0, label="index")
        text = gr.Textbox(label="text")
        liked = gr.Checkbox(label="liked")
        send_api, edit_api, rate_api = gr.Button("send"), gr.Button("edit"), gr.Button("rate")
        check_api = gr.Button("check_training_data")

    outputs = [chatbot, history, status, raw]
    chat.values = PageValues(outputs)
    inputs = [history, model, system, *params]
    replies = wire_send(
        spread_inputs(chat.send), "send", send_api, send, message, unsent, inputs, outputs, (history,)
    )
    replies.append(retry.click(spread_inputs(chat.retry), inputs, outputs, api_name="retry", **STREAMING))
    edit_api.click(spread_inputs(chat.edit), [index, text, *inputs], outputs, api_name="edit", **STREAMING)
    replies.append(
        chatbot.edit(spread_inputs(chat.edit_from_chatbot), inputs, outputs, **PRIVATE, **STREAMING)
    )
    # the training-data check: after each reply the page starts, in an event of its own (no progress
    # shown on the chat it may mark)
    marked = [chatbot, history, matches, check_note]
    for reply in replies:
        reply.then(training.check, [history, check], marked, show_progress="hidden", **PRIVATE)
    check_api.click(training.check, [history, check], marked, api_name="check_training_data")
    check.input(training.switch, [history, check], marked, show_progress="hidden", **PRIVATE)
    model.change(training.default, [model], [check, check_note], **PRIVATE, queue=False)
    # Stop sets the session's cancel event: generation ends within a token and the reply
    # finishes normally, so its last update (history, "finished: cancelled") is kept
    stop.click(chat.stop, None, [notice], queue=False, api_name="stop")
    undone = undo_btn.click(
        chat.undo, [history], [chatbot, history, message, status], api_name="undo", queue=False
    )
    cleared = [chatbot, history, message, status, raw]
    shortened = [
        undone,
        clear.click(chat.clear, None, cleared, api_name="clear", queue=False),
        chatbot.clear(chat.clear, None, cleared, **PRIVATE, queue=False),  # its trash icon
    ]
    for event in shortened:  # the panel shows the marks of the conversation as it now is
        event.then(training.panel, [history], [matches], **PRIVATE, queue=False)
    rate_api.click(chat.rate, [index, liked, history, system], [notice], api_name="rate", queue=False)
    chatbot.like(chat.rate_from_chatbot, [history, system], [notice], **PRIVATE, queue=False)
    export_json_btn.click(chat.export_json, [history, system, model], [exported], api_name="export_json")
    export_md_btn.click(
        chat.export_markdown, [history, system, model], [exported], api_name="export_markdown"
    )


def arena_tab(models: Models, arena: ArenaHandlers) -> None:
    state = gr.State(None)
    unsent = gr.State("")
    if len(models.chat_names) < 2:
        gr.Markdown(
            "Only one model is loaded: both sides are that model with different seeds.",
            elem_classes="mixtune-notice",
        )
    system = gr.Textbox(DEFAULT_SYSTEM_PROMPT, lines=2, max_lines=8, label="System prompt (both models)")
    with gr.Row():
        chat_a = gr.Chatbot(label="Model A", elem_id="arena-a", height=420, feedback_options=None, **CHATBOT)
        chat_b = gr.Chatbot(label="Model B", elem_id="arena-b", height=420, feedback_options=None, **CHATBOT)
    message, send, stop = message_row("One prompt, two anonymous answers", prefix="arena-")
    with gr.Row():
        vote_buttons = [
            gr.Button(label, interactive=False, elem_id=f"vote-{choice.lower()}")
            for choice, label in VOTES.items()
        ]
    reveal = gr.Markdown(HIDDEN, elem_id="reveal")
    send_api = gr.Button("arena_send", visible=False)  # the API's endpoint: message in, round out
    gr.Examples(CODING_EXAMPLES, inputs=[message], label="Coding examples")
    params = sampling_controls("arena-")

    outputs = [chat_a, chat_b, state, reveal, *vote_buttons]
    arena.values = PageValues(outputs)
    send_fn = spread_inputs(arena.arena_send)
    wire_send(send_fn, "arena_send", send_api, send, message, unsent, [system, *params], outputs)
    # like the chat's Stop: the round ends through its cancel event and says it was stopped
    stop.click(arena.arena_stop, None, None, queue=False, api_name="arena_stop")
    cleared = [chat_a, chat_b, state, message, reveal, *vote_buttons]
    for chat in (chat_a, chat_b):  # their trash icons
        chat.clear(arena.arena_clear, None, cleared, **PRIVATE, queue=False)
    for button, choice in zip(vote_buttons, VOTES, strict=True):
        button.click(
            lambda s, choice=choice: arena.vote(choice, s),
            [state],
            [state, reveal, *vote_buttons],
            api_name=f"vote_{choice.replace('-', '_').lower()}",
        )
