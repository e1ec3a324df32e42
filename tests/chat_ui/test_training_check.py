"""The "found in training data" mark: a model overfit on a few code rows answers with one of them,
and the check after the reply marks that block with its mixture, source and row, and shows the
matching row with the matching span highlighted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_ui.client import message_text

from .conftest import COPIED_ROWS, ScriptedBackend

GREEDY = [0.0, 50, 0.95, 64, 1.0, 0]  # temperature, top_k, top_p, max new tokens, repetition, seed


@pytest.fixture(scope="module")
def copying_page(copying_model: Path) -> Iterator[str]:
    from chat_ui.app import Playground
    from chat_ui.launch import launch
    from chat_ui.transformers_backend import TransformersBackend

    demo = Playground({"copier": TransformersBackend(copying_model, name="copier")}, None).blocks()
    _, url, _ = launch(demo, host="127.0.0.1", port=None, block=False, quiet=True)
    try:
        yield url
    finally:
        demo.close()


def mixture_row(model_dir: Path, content: str) -> tuple[int, str]:
    """Where a training answer sits in the model's mixture: (row number in its split, row id)."""
    from mixtune.run_record import read_run_record
    from mixtures import load_mixture

    (lineage,) = read_run_record(model_dir)["mixtures"]
    rows = load_mixture(lineage["path"])["train"]
    (number,) = [i for i, r in enumerate(rows) if r["messages"][-1]["content"] == content]
    return number, rows[number]["id"]


def test_a_copied_block_is_marked_with_its_source_and_row(copying_page: str, copying_model: Path) -> None:
    from gradio_client import Client

    client = Client(copying_page, verbose=False)
    sent = client.predict("Sum a list of numbers.", "copier", "", *GREEDY, api_name="/send")
    answer = message_text(sent[0][-1])
    code = COPIED_ROWS[0]["messages"][1]["content"]
    assert code.split("```python\n")[1].split("```")[0] in answer, answer  # the model reproduces the row
    assert "found in training data" not in answer  # the reply itself is never held up by the check
    chatbot, matches, note = client.predict(True, api_name="/check_training_data")
    shown = message_text(chatbot[-1])
    row, row_id = mixture_row(copying_model, code)
    assert (
        f"**found in training data**: mixture `copied-code`, source `toy-code`, row {row} (`{row_id}`), "
        "1.00 similar" in shown
    ), shown
    assert shown.index("found in training data") > shown.index("return total")
    assert "<mark>def running_total(values):\n    total = 0" in matches
    assert "return total</mark>" in matches and "Answer 1, code block 1" in matches
    assert note == ""


def test_the_page_marks_the_copied_block_in_a_real_browser(copying_page: str, tmp_path: Path) -> None:
    """Sent from the page, the copied answer gets its mark under the block once it is complete, the
    panel highlights the matching lines of the row; the switch takes the marks away and back, and
    Clear empties the panel."""
    from playwright.sync_api import sync_playwright

    from .conftest import keep_screenshot
    from .test_browser import CHROMIUM

    assert CHROMIUM, "Debian's chromium is needed: apt-get install chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 1000})
            tab.goto(copying_page)
            tab.wait_for_selector("#message textarea", timeout=30_000)
            assert tab.locator("#training-check input").is_checked(), (
                "on by default for a model with a lineage"
            )
            tab.get_by_label("System prompt", exact=True).fill("")  # as the model was trained
            tab.click("#parameters")
            tab.locator("#temperature input[type=number]").fill("0")  # greedy
            tab.locator("#temperature input[type=number]").press("Enter")
            tab.fill("#message textarea", "Sum a list of numbers.")
            tab.click("#send")
            bot = tab.locator("#chatbot .message.bot").last
            bot.locator("blockquote").get_by_text("found in training data", exact=True).wait_for(
                timeout=30_000
            )
            assert "def running_total(values):" in bot.locator("pre code").first.inner_text()
            mark = bot.locator("blockquote").inner_text()
            assert "mixture copied-code, source toy-code, row" in mark and "1.00 similar" in mark
            highlighted = tab.locator("#training-matches mark")
            assert highlighted.inner_text().startswith("def running_total(values):")
            assert highlighted.inner_text().rstrip().endswith("return total")
            tab.locator("#training-matches").scroll_into_view_if_needed()
            keep_screenshot(tab, tmp_path, "training-data-mark.png", full_page=True)

            tab.locator("#training-check input").uncheck()
            tab.locator("#training-note").get_by_text("check is off").wait_for(timeout=10_000)
            assert "found in training data" not in bot.inner_text()
            assert tab.locator("#training-matches mark").count() == 0
            tab.locator("#training-check input").check()  # on again: the answer is looked up again
            highlighted.wait_for(timeout=10_000)
            assert "found in training data" in bot.inner_text()
            tab.click("#clear")
            tab.wait_for_function(
                "!document.querySelector('#training-matches').innerText.includes('Answer 1')", timeout=10_000
            )
        finally:
            browser.close()


class LineageBackend(ScriptedBackend):
    """A scripted model that says it was trained on a mixture (its directory's run record)."""

    def __init__(self, model_dir: Path, answer: str) -> None:
        super().__init__("lineage", answer)
        self.model_dir = model_dir

    def info(self) -> dict[str, Any]:
        from chat_ui.lineage import read_lineage

        lineage = read_lineage(self.model_dir)
        return {
            "name": self.name,
            "backend": "transformers",
            "model": str(self.model_dir),
            "lineage": lineage,
        }


@pytest.fixture
def unindexed_model(tmp_path: Path) -> Path:
    """A model directory whose run record names a built mixture of COPIED_ROWS without its index."""
    import json

    from mixtune.run_record import RUN_RECORD

    from .conftest import code_mixture

    mixture = code_mixture(tmp_path, "unindexed")
    digest = json.loads((mixture / "manifest.json").read_text())["hash"]
    model = tmp_path / "model"
    model.mkdir()
    entry = {"stage": "sft", "name": "unindexed", "hash": digest, "path": str(mixture)}
    (model / RUN_RECORD).write_text(json.dumps({"stage": "sft", "mixtures": [entry]}), encoding="utf-8")
    return model


def test_a_missing_index_is_a_note_naming_the_command_then_the_check_runs(unindexed_model: Path) -> None:
    import asyncio

    from chat_ui.models import Models
    from chat_ui.training_check import TrainingCheck
    from mixtures.search_index import ensure_indexes

    answer = COPIED_ROWS[1]["messages"][1]["content"]
    check = TrainingCheck(Models({"lineage": LineageBackend(unindexed_model, answer)}))
    switch, note = check.default("lineage")
    assert switch["value"] is False and "has no search index" in note and "`mixtune mix index " in note
    turn = {"role": "assistant", "content": answer, "model": "lineage", "finish_reason": "stop"}
    history = [{"role": "user", "content": "Greet someone."}, turn]
    chatbot, kept, panel, note = asyncio.run(check.check(history, True))
    assert "mixtune mix index" in note and (chatbot, kept) == (gr_skip(), gr_skip())  # asked again later

    ensure_indexes(unindexed_model)  # what `mixtune chat` does when it starts
    assert check.default("lineage") == ({"__type__": "update", "value": True}, "")
    chatbot, kept, panel, note = asyncio.run(check.check(history, True))
    (mark,) = kept[-1]["training_data"]
    assert (mark["mixture"], mark["source"], mark["block"], mark["similarity"]) == (
        "unindexed",
        "toy-code",
        0,
        1.0,
    )
    assert "found in training data" in chatbot[-1]["content"] and note == ""
    assert "<mark>def greet(name):\n    return &#x27;hello &#x27; + name</mark>" in panel  # the span, escaped
    assert asyncio.run(check.check(kept, True))[:2] == (gr_skip(), gr_skip())  # checked once only
    off = TrainingCheck(Models({"lineage": LineageBackend(unindexed_model, answer)}), on=False)
    assert off.default("lineage")[0]["value"] is False


def gr_skip() -> Any:
    import gradio as gr

    return gr.skip()


def test_mixtune_chat_builds_missing_indexes_before_the_playground_starts(unindexed_model: Path) -> None:
    from mixtune.attribution import missing_indexes
    from mixtune.cli import build_missing_indexes, build_parser

    off = build_parser().parse_args(["chat", "--model", str(unindexed_model), "--no-training-check"])
    build_missing_indexes(off)
    assert missing_indexes(unindexed_model)
    build_missing_indexes(build_parser().parse_args(["chat", "--model", f"m={unindexed_model}"]))
    assert missing_indexes(unindexed_model) == []
