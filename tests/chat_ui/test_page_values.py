"""Streamed updates made in the handler's thread must be exactly what Gradio would have sent."""

from __future__ import annotations

import gradio as gr
import pytest

from chat_ui.layout import restore_message
from chat_ui.page_values import PageValues


def test_page_values_match_gradios_own_postprocessing() -> None:
    with gr.Blocks():
        chatbot = gr.Chatbot()
        state = gr.State([])
        status = gr.Markdown()
    shown = [{"role": "user", "content": "hi <b>"}, {"role": "assistant", "content": "```py\nx = 1\n```"}]
    history = [{"role": "user", "content": "hi <b>", "extra": 1}]
    page = PageValues([chatbot, state, status])
    values = page(shown, history, "  indented\n  status")
    assert values[0] == chatbot.postprocess(shown).model_dump()
    assert values[1] is history  # State values are Gradio's to store
    assert values[2] == status.postprocess("  indented\n  status")
    skip = gr.skip()
    assert page(shown, skip, skip)[1:] == (skip, skip)  # updates pass through untouched
    with pytest.raises(ValueError, match="2 values for 3 outputs"):
        page(shown, history)


def test_a_message_that_failed_to_send_goes_back_to_its_box() -> None:
    assert restore_message("fix this", "", [{"role": "user", "content": "earlier"}]) == "fix this"
    # it made it into the conversation (the reply failed later): nothing to give back
    accepted = [{"role": "user", "content": "fix this"}, {"role": "assistant", "content": "par"}]
    assert restore_message("fix this", "", accepted) == gr.skip()
    # the user is already typing something else: leave it
    assert restore_message("fix this", "new text", None) == gr.skip()
