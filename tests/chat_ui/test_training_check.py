"""The "found in training data" mark: a model overfit on a few code rows answers with one of them,
and the check after the reply marks that block with its mixture, source and row, and shows the
matching row with the matching span highlighted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_ui.client import message_text

from .conftest import COPIED_ROWS

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
