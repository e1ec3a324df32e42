"""The Complete tab's page: a code box with a cursor marker, Fill/Stop/Accept, the filled code with
the middle highlighted, the prefix and suffix, and the sampling controls, wired to
CompleteHandlers (chat_ui/complete_handlers.py)."""

from __future__ import annotations

import gradio as gr

from chat_ui.complete_handlers import CompleteHandlers
from chat_ui.controls import sampling_controls, spread_inputs
from chat_ui.cursor import CARET_JS, CURSOR
from chat_ui.models import Models
from chat_ui.page_values import PRIVATE, STREAMING, PageValues


def complete_tab(models: Models, complete: CompleteHandlers) -> None:
    """A code box with a cursor marker; Fill streams the model's middle into the code."""
    parts = gr.State(None)  # the last fill's (prefix, middle, suffix), for Accept
    model = gr.Dropdown(
        models.completion_names, value=models.completion_names[0], label="Model", elem_id="complete-model"
    )
    about = gr.Markdown(complete.about(models.completion_names[0]), elem_classes="mixtune-notice")
    code = gr.Textbox(
        lines=12,
        max_lines=40,
        label=f"Code: type {CURSOR} where the model should write, or put the caret there and press Fill",
        elem_id="complete-code",
    )
    with gr.Row():
        fill = gr.Button("Fill at cursor", variant="primary", elem_id="complete-fill")
        stop = gr.Button("Stop", variant="stop", elem_id="complete-stop")
        accept = gr.Button("Accept (put the middle in the code)", elem_id="complete-accept")
    stops = gr.Textbox(
        lines=2, label="Stop strings (one per line; \\n is a newline)", elem_id="complete-stops"
    )
    result = gr.HTML("", label="Filled code (the model's middle highlighted)", elem_id="complete-result")
    status = gr.Markdown("", elem_id="complete-status", elem_classes="mixtune-notice")
    with gr.Row():
        prefix = gr.Textbox(lines=4, label="Prefix", interactive=False, elem_id="complete-prefix")
        suffix = gr.Textbox(lines=4, label="Suffix", interactive=False, elem_id="complete-suffix")
    params = sampling_controls("complete-", max_new_tokens=64)
    with gr.Accordion("Raw prompt (the exact text the model continues)", open=False):
        raw = gr.Textbox(lines=6, show_label=False, interactive=False, elem_id="complete-raw")

    outputs = [result, prefix, suffix, status, raw, parts]
    complete.values = PageValues(outputs)
    fill_fn = spread_inputs(complete.fill)
    fill.click(fill_fn, [code, model, stops, *params], outputs, js=CARET_JS, api_name="complete", **STREAMING)
    stop.click(complete.stop, None, None, queue=False, api_name="complete_stop")
    accept.click(complete.accept, [parts], [code], api_name="complete_accept", queue=False)
    model.change(complete.about, [model], [about], **PRIVATE, queue=False)
