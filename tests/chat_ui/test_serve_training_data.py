"""The opt-in `check_training_data` field of `mixtune serve`: a model overfit on a few code rows
answers with one of them, and the field names that row's mixture, source and row id, per code
block (chat) or for the completion text, streamed (in the last chunk) or not; a model without a
run record or with an unindexed mixture gets an error field saying why and how to fix it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from .conftest import COPIED_ROWS

ASK = [{"role": "user", "content": "Sum a list of numbers."}]
CHECK = {"check_training_data": True}


@pytest.fixture(scope="module")
def copier(copying_model: Path) -> Any:
    from chat_ui.transformers_backend import TransformersBackend

    return TransformersBackend(copying_model, name="copier")


@pytest.fixture(scope="module")
def oai(copier: Any, chat_backend: Any) -> Any:
    from fastapi.testclient import TestClient
    from openai import OpenAI

    from chat_ui.openai_server import create_app

    app = create_app({"copier": copier, "untrained": chat_backend})
    http = TestClient(app, raise_server_exceptions=False)
    return OpenAI(base_url="http://testserver/v1", api_key="none", http_client=http)


@pytest.fixture(scope="module")
def copied_row(copying_model: Path) -> dict[str, Any]:
    """Where the memorised row sits in the model's mixture: its index and id in the train split."""
    from mixtune.built_mixture import load_mixture
    from mixtune.run_record import read_run_record

    (mixture,) = [Path(m["path"]) for m in read_run_record(copying_model)["mixtures"]]
    rows = load_mixture(mixture)["train"]
    (row,) = [i for i, r in enumerate(rows) if "running_total" in json.dumps(r["messages"])]
    return {"row": row, "row_id": rows[row]["id"]}


def assert_names_the_copied_row(matches: list[dict[str, Any]], copied_row: dict[str, Any]) -> None:
    best = matches[0]
    assert (best["mixture"], best["source"], best["row_id"], best["row"], best["split"]) == (
        "copied-code",
        "toy-code",
        copied_row["row_id"],
        copied_row["row"],
        "train",
    ), best
    assert best["similarity"] >= 0.9 and "def running_total(values):" in best["snippet"]


def test_chat_answer_code_blocks_are_looked_up(oai: Any, copied_row: dict[str, Any]) -> None:
    out = oai.chat.completions.create(
        model="copier", messages=ASK, max_tokens=64, temperature=0, extra_body=CHECK
    )
    answer = out.choices[0].message.content
    code = COPIED_ROWS[0]["messages"][1]["content"]
    assert code.split("```python\n")[1].split("```")[0] in answer, answer  # the model reproduces the row
    blocks = out.choices[0].model_extra["training_data"]["blocks"]
    assert [b["block"] for b in blocks] == [0] and blocks[0]["language"] == "python"
    assert answer[blocks[0]["start"] : blocks[0]["end"]].startswith("```python\ndef running_total")
    assert_names_the_copied_row(blocks[0]["matches"], copied_row)
    plain = oai.chat.completions.create(model="copier", messages=ASK, max_tokens=4, temperature=0)
    assert "training_data" not in (plain.choices[0].model_extra or {})  # opt-in only


def test_streamed_chat_carries_the_field_in_its_last_chunk(oai: Any, copied_row: dict[str, Any]) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="copier", messages=ASK, max_tokens=64, temperature=0, stream=True, extra_body=CHECK
        )
    )
    carrying = [c for c in chunks if c.choices and (c.choices[0].model_extra or {}).get("training_data")]
    assert carrying == [chunks[-1]] and chunks[-1].choices[0].finish_reason
    assert_names_the_copied_row(
        chunks[-1].choices[0].model_extra["training_data"]["blocks"][0]["matches"], copied_row
    )


def test_completion_text_is_looked_up_streamed_or_not(
    oai: Any, copier: Any, copied_row: dict[str, Any]
) -> None:
    prompt = copier.render_prompt(ASK)  # a raw prompt: the completion is the memorised answer
    out = oai.completions.create(
        model="copier", prompt=prompt, max_tokens=64, temperature=0, extra_body=CHECK
    )
    assert "def running_total(values):" in out.choices[0].text
    assert_names_the_copied_row(out.choices[0].model_extra["training_data"]["matches"], copied_row)
    chunks = list(
        oai.completions.create(
            model="copier", prompt=prompt, max_tokens=64, temperature=0, stream=True, extra_body=CHECK
        )
    )
    assert "".join(c.choices[0].text for c in chunks) == out.choices[0].text
    last = chunks[-1].choices[0]
    assert last.finish_reason and last.text == ""
    assert_names_the_copied_row(last.model_extra["training_data"]["matches"], copied_row)
    assert all("training_data" not in (c.choices[0].model_extra or {}) for c in chunks[:-1])
    assert [c for c in chunks if c.choices[0].finish_reason] == [chunks[-1]]  # one last chunk


def test_a_model_without_lineage_gets_an_error_field(oai: Any) -> None:
    out = oai.completions.create(model="untrained", prompt="x = ", max_tokens=2, extra_body=CHECK)
    error = out.choices[0].model_extra["training_data"]["error"]
    assert "mixtune_run.json" in error and "cannot be checked" in error


def test_an_unindexed_mixture_gets_an_error_field_saying_how_to_build_it(
    copying_model: Path, tmp_path: Path, copied_row: dict[str, Any]
) -> None:
    """The model's run record names a mixture whose index is missing: the field says which and how
    to build it; `mixtune serve --check-training-data` builds it through the orchestration."""
    from chat_ui.training_data import training_data_field
    from mixtune.attribution import index_path, missing_indexes
    from mixtune.cli import build_missing_indexes, build_parser
    from mixtune.run_record import RUN_RECORD

    record = json.loads((copying_model / RUN_RECORD).read_text())
    (mixture,) = [Path(m["path"]) for m in record["mixtures"]]
    moved = tmp_path / "mixture"
    shutil.copytree(mixture, moved)
    record["mixtures"][0]["path"] = str(moved)
    model = tmp_path / "model"
    model.mkdir()
    (model / RUN_RECORD).write_text(json.dumps(record))
    code = COPIED_ROWS[0]["messages"][1]["content"]
    error = training_data_field(model, code, blocks=True)["error"]
    assert "no search index" in error and f"mixtune mix index {moved}" in error, error
    args = build_parser().parse_args(["serve", str(model), "--check-training-data"])
    build_missing_indexes(args)
    assert index_path(moved).is_dir() and missing_indexes(model) == []
    assert_names_the_copied_row(
        training_data_field(model, code, blocks=True)["blocks"][0]["matches"], copied_row
    )
