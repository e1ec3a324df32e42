"""The chat tab's "found in training data" check: each fenced code block of a finished answer is
looked up in the mixtures the model was trained on (the lineage in its run record).

The lookup runs after the reply has ended, as an event of its own chained after the reply's
(and as the `/check_training_data` endpoint for scripts), in a worker thread: it never shares
the generating thread and never delays a token. What it finds is kept in the answer's turn
("training_data": one entry per marked block), so the chat shows a line under the block and the
"Found in training data" panel shows the matching row with the matching span highlighted.
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from typing import Any

import gradio as gr

from chat_ui.conversation import code_blocks, to_display
from chat_ui.models import Models
from chat_ui.training_data import MATCH_KEYS
from mixtune.attribution import find_in_training_data, missing_indexes
from mixtune.errors import MixtuneError
from mixtune.run_record import RUN_RECORD

History = list[dict[str, Any]]
# what a mark keeps of a match: what the API reports, and the row's text to show the span in
MARK_KEYS = (*MATCH_KEYS, "text")
NOTHING_FOUND = "No code block of this conversation was found in the model's training data."
OFF = "The training-data check is off: answers are not looked up."
HOW_TO_INDEX = "`mixtune mix index {}` builds it (`mixtune chat` builds missing indexes when it starts)"


def checkable(info: dict[str, Any]) -> tuple[Path | None, str]:
    """The model directory whose training data a model's answers are checked against, or None and
    why they cannot be (no recorded mixtures, no local directory to read the lineage from, or a
    mixture without its search index: the note names the command that builds it)."""
    name = info.get("name", "?")
    lineage = info.get("lineage") or {}
    if not lineage.get("mixtures"):
        return None, (
            f"**{name}** records no training mixtures (no `{RUN_RECORD}` naming them), "
            "so its answers cannot be checked against its training data."
        )
    model = Path(str(info.get("model") or ""))
    if info.get("backend") == "openai" or not (model / RUN_RECORD).is_file():
        return None, (
            f"**{name}** is not loaded from its own directory here, so its training mixtures cannot be "
            "read: load it with `mixtune chat --model DIR` to check its answers."
        )
    try:
        missing = missing_indexes(model)
    except MixtuneError as exc:
        return None, f"**{name}**'s answers cannot be checked: {exc}"
    if missing:
        problems = "; ".join(f"mixture `{m}` {why}: {HOW_TO_INDEX.format(m)}" for m, why in missing)
        return None, f"**{name}**'s answers cannot be checked yet: {problems}."
    return model, ""


def marks_for(model_dir: Path, content: str) -> list[dict[str, Any]]:
    """One mark per code block of `content` found in the model's training mixtures (its best match)."""
    marks = []
    for number, block in enumerate(code_blocks(content)):
        if not block.code.strip():
            continue
        for match in find_in_training_data(model_dir, block.code, top=1):
            found = match.as_dict() if hasattr(match, "as_dict") else dict(match)
            marks.append({"block": number, **{key: found.get(key) for key in MARK_KEYS}})
    return marks


def match_html(answer: int, mark: dict[str, Any]) -> str:
    """One matching row, escaped, the matching span inside <mark>."""
    text = str(mark.get("text") or "")
    span = mark.get("span") or {}
    start, end = int(span.get("start_char", 0)), int(span.get("end_char", len(text)))
    body = f"{html.escape(text[:start])}<mark>{html.escape(text[start:end])}</mark>{html.escape(text[end:])}"
    lines = f"lines {int(span.get('start_line', 0)) + 1}-{int(span.get('end_line', 0)) + 1}"

    def code(key: str) -> str:
        return f"<code>{html.escape(str(mark.get(key)))}</code>"

    head = (
        f"<b>Answer {answer}, code block {int(mark['block']) + 1}</b>: mixture {code('mixture')}, "
        f"source {code('source')}, row {int(mark['row'])} (id {code('row_id')}, split {code('split')}"
        f"{', file ' + code('path') if mark.get('path') else ''}), "
        f"{html.escape(str(mark.get('role') or mark.get('column')))} turn {int(mark.get('turn') or 0) + 1}, "
        f"{lines}; {float(mark['similarity']):.2f} similar ({html.escape(str(mark.get('method')))} match)"
    )
    return f'<div class="training-match"><p>{head}</p><pre>{body}</pre></div>'


def panel_html(history: History) -> str:
    """Every mark of the conversation with its matching row."""
    answers = [t for t in history if t.get("role") == "assistant"]
    found = [
        match_html(number, mark)
        for number, turn in enumerate(answers, start=1)
        for mark in turn.get("training_data") or []
    ]
    return "".join(found) or f"<p>{NOTHING_FOUND}</p>"


def unchecked(history: History) -> list[dict[str, Any]]:
    """The finished answers not looked up yet."""
    return [
        t
        for t in history
        if t.get("role") == "assistant" and t.get("finish_reason") and "training_data" not in t
    ]


class TrainingCheck:
    """The check's listeners: run it after a reply, switch it on or off, and its default per model."""

    def __init__(self, models: Models, on: bool = True) -> None:
        self.models = models
        self.on = on  # False: the switch starts off (`mixtune chat --no-training-check`)

    def default(self, model: str) -> tuple[Any, str]:
        """The switch (on when the model's answers can be checked) and the note under it."""
        model_dir, why = checkable(self.models.info(model))
        if model_dir is not None and not self.on:
            return gr.update(value=False), OFF
        return gr.update(value=model_dir is not None), why

    def _lookup(self, turn: dict[str, Any]) -> str:
        """Mark one answer in place; returns why it could not be checked ('' when it was)."""
        if turn.get("model") not in self.models.backends:
            return f"the model {turn.get('model')!r} of an answer is not loaded, so it was not checked"
        model_dir, why = checkable(self.models.info(turn["model"]))
        if model_dir is None:
            return why
        try:
            turn["training_data"] = marks_for(model_dir, turn.get("content") or "")
        except MixtuneError as exc:
            return f"The training-data check failed: {exc}"
        return ""

    async def check(self, history: History | None, enabled: bool) -> tuple[Any, ...]:
        """Look up every finished answer not checked yet; returns (chatbot, history, panel, note)."""
        history = [dict(t) for t in history or []]
        if not enabled:
            return gr.skip(), gr.skip(), gr.skip(), OFF
        todo = unchecked(history)
        notes = [await asyncio.to_thread(self._lookup, turn) for turn in todo]
        note = "\n\n".join(dict.fromkeys(n for n in notes if n))
        if not todo:
            return gr.skip(), gr.skip(), panel_html(history), gr.skip()
        # the chat is shown again only when a mark was added, the history kept when a turn was checked
        marked = any(t.get("training_data") for t in todo)
        checked = any("training_data" in t for t in todo)
        shown = to_display(history) if marked else gr.skip()
        return shown, history if checked else gr.skip(), panel_html(history), note

    def panel(self, history: History | None) -> str:
        """The panel for the conversation as it is (after an undo or a clear)."""
        return panel_html(history) if history else ""

    async def switch(self, history: History | None, enabled: bool) -> tuple[Any, ...]:
        """On: check the conversation's answers now. Off: drop the marks shown."""
        if enabled:
            return await self.check(history, True)
        history = [{k: v for k, v in t.items() if k != "training_data"} for t in history or []]
        return to_display(history), history, "", OFF


def training_panel(check: TrainingCheck, model: str) -> tuple[Any, Any, Any]:
    """The switch, the note under it and the accordion with the matching rows (element ids
    `training-check`, `training-note`, `training-matches`)."""
    switch, note = check.default(model)
    with gr.Row():
        toggle = gr.Checkbox(
            value=switch["value"],
            label="Check code blocks against the model's training data (after each answer)",
            elem_id="training-check",
        )
    shown_note = gr.Markdown(note, elem_id="training-note", elem_classes="mixtune-notice")
    with gr.Accordion("Found in training data", open=True):
        panel = gr.HTML("", elem_id="training-matches")
    return toggle, shown_note, panel
