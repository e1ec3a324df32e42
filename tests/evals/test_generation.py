"""The generation path with the tiny (untrained) models: its output is noise, so these tests
check the plumbing: prompts through the chat template, batching, stop sequences, extraction,
the results files and the lineage read from mixtune_run.json."""

from __future__ import annotations

import json
import shutil

import pytest

from evals import prompts
from evals.evaluate import EvalRequest, run_eval
from evals.generate import GenerationSettings, LocalModel, prepare
from evals.results import load_results
from mixtune.errors import MixtuneError

RUN_RECORD = {
    "stage": "sft",
    "parent_model": "mixtune:base-model/test",
    "base_model": "mixtune:base-model/test",
    "mixtures": [
        {
            "stage": "sft",
            "name": "demo-sft",
            "hash": "abc123def4567890",
            "path": "/data/demo-sft",
            "composition": {"chat": 30, "code": 10},
        }
    ],
    "hyperparameters": {"learning_rate": 2e-5, "num_train_epochs": 1},
    "metrics": {},
    "versions": {},
    "recipe": {},
}


@pytest.fixture(scope="module")
def chat_model(tiny_chat_dir, tmp_path_factory):
    """A private copy of the tiny chat model with a run record (evals write next to it)."""
    out = tmp_path_factory.mktemp("evals-chat") / "tiny-chat"
    shutil.copytree(tiny_chat_dir, out)
    (out / "mixtune_run.json").write_text(json.dumps(RUN_RECORD))
    return out


@pytest.fixture(scope="module")
def base_model(tiny_base_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("evals-base") / "tiny-base"
    shutil.copytree(tiny_base_dir, out)
    return out


def test_chat_prompts_go_through_the_chat_template(chat_model, humaneval):
    model = LocalModel(str(chat_model), backend="transformers")
    assert model.has_chat_template
    problem = humaneval.problems[0]
    chat = prepare(problem, "chat", model.render_chat)
    assert chat.text.startswith(
        "<|im_start|>user\nWrite a Python function `has_close_elements(numbers: List[float], threshold: float) -> bool`"
    )
    assert chat.text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert "```python\nfrom typing import List" in chat.text
    prefill = prepare(problem, "chat-prefill", model.render_chat)
    assert prefill.text.endswith("<|im_start|>assistant\n" + problem.prompt.rstrip())
    # Generation stops at the end of the turn and at the end of text.
    tok = model.tokenizer
    assert set(model.eos_token_ids()) >= {
        tok.convert_tokens_to_ids("<|im_end|>"),
        tok.convert_tokens_to_ids("<|endoftext|>"),
    }


def test_batched_generation_matches_one_at_a_time(chat_model, humaneval):
    """Left padding must not change what a prompt generates."""
    model = LocalModel(str(chat_model), backend="transformers")
    prepared = [prepare(p, "chat", model.render_chat) for p in humaneval.problems[:3]]
    settings = GenerationSettings(max_new_tokens=6, batch_size=3)
    batched = model.generate(prepared, settings)
    single = [model.generate([p], GenerationSettings(max_new_tokens=6, batch_size=1))[0] for p in prepared]
    assert batched == single


def test_eval_of_a_chat_model_writes_results_with_lineage(chat_model, humaneval):
    settings = GenerationSettings(n=2, temperature=0.8, max_new_tokens=8, batch_size=4)
    path = run_eval(
        EvalRequest(model=str(chat_model), limit=3, settings=settings, ks=(1, 2, 10), show_progress=False)
    )
    assert path.parent.parent == chat_model / "evals"  # next to the model
    res = load_results(path)
    assert res["model"]["name"] == "tiny-chat" and res["model"]["source"] == "local"
    lineage = res["model"]["lineage"]
    assert lineage["stage"] == "sft" and lineage["mixtures"][0]["hash"] == "abc123def4567890"
    assert lineage["mixtures"][0]["composition"] == {"chat": 30, "code": 10}
    assert res["generation"]["prompt_style"] == "chat" and res["generation"]["backend"] == "transformers"
    assert res["generation"]["n"] == 2 and res["generation"]["temperature"] == 0.8
    assert res["benchmark"] == {**res["benchmark"], "name": "humaneval[:3]", "problems": 3}
    assert set(res["scores"]) == {"pass@1", "pass@2"}
    assert [p["task_id"] for p in res["problems"]] == [p.task_id for p in humaneval.problems[:3]]
    assert all(p["n"] == 2 for p in res["problems"])
    assert res["execution"]["isolation"]["net"]
    rows = [json.loads(line) for line in (path.parent / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    assert {"task_id", "completion", "passed", "result", "raw_generation"} <= set(rows[0])


def test_base_models_get_the_plain_prompt_and_stop_sequences(base_model, tmp_path):
    path = run_eval(
        EvalRequest(
            model=str(base_model),
            limit=4,
            settings=GenerationSettings(max_new_tokens=24),
            out=str(tmp_path / "run"),
            show_progress=False,
        )
    )
    res = load_results(path)
    assert res["generation"]["prompt_style"] == "plain"
    assert res["generation"]["stop"] == list(prompts.PLAIN_STOPS)
    assert res["model"]["lineage"] is None
    for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert not any(stop in row["completion"] for stop in prompts.PLAIN_STOPS)
        assert row["completion"] in row["raw_generation"]  # a cut of what the model wrote


def test_chat_styles_need_a_chat_template(base_model):
    with pytest.raises(MixtuneError, match="chat template"):
        run_eval(
            EvalRequest(
                model=str(base_model),
                limit=1,
                settings=GenerationSettings(prompt_style="chat"),
                show_progress=False,
            )
        )


def test_impossible_settings_are_refused():
    with pytest.raises(MixtuneError, match="identical greedy samples"):
        GenerationSettings(n=5, temperature=0.0)
    with pytest.raises(MixtuneError, match="top-p"):
        GenerationSettings(top_p=0)
