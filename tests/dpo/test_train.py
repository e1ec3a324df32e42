"""End-to-end DPO on the tiny model: it learns the preference, keeps the parent's chat format, and
leaves a model directory whose card and run record name both mixtures and the SFT parent."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from dpo.recipe import build_dpo_recipe
from dpo.train import train_dpo
from mixtune.training.run_record import DataStats, RunRecord

from .model_counter import ModelCounter

TRAIN_SETTINGS = {
    "beta": 0.1,
    "learning_rate": 5.0e-4,
    "num_train_epochs": 3,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 12,
    "gradient_checkpointing": False,
    "logging_steps": 2,
    "save_strategy": "no",
    "report_to": "none",
    "max_length": 128,
    "max_prompt_length": 64,
    "seed": 0,
    "disable_tqdm": True,
}


def dpo_recipe(parent: Path, train_jsonl: Path, test_jsonl: Path, out: Path, **extra: Any):
    data = {
        "model_name_or_path": str(parent),
        "dataset_mixture": {
            "datasets": [{"id": str(train_jsonl)}],
            "test_datasets": [{"id": str(test_jsonl)}],
        },
        "output_dir": str(out),
        **TRAIN_SETTINGS,
        **extra,
    }
    return build_dpo_recipe(data, source="test-dpo.yaml")


def completion_logps(model_dir: Path, rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Sum log-prob of the chosen and of the rejected completion given the prompt, per pair."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dpo.encoding import encode_pair

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    out = []
    with torch.no_grad():
        for row in rows:
            enc = encode_pair(row, tok, max_length=None, max_prompt_length=None)
            pair = []
            for side in ("chosen_ids", "rejected_ids"):
                ids = torch.tensor([enc["prompt_ids"] + enc[side]])
                logits = model(ids).logits[0, :-1].log_softmax(-1)
                targets = ids[0, 1:]
                token_logps = logits.gather(1, targets[:, None])[:, 0]
                pair.append(float(token_logps[len(enc["prompt_ids"]) - 1 :].sum()))
            out.append((pair[0], pair[1]))
    return out


@pytest.fixture(scope="module")
def full_run(sft_parent_dir, preference_jsonl, heldout_jsonl, tmp_path_factory):
    counter = ModelCounter(first_step_only=True)
    recipe = dpo_recipe(
        sft_parent_dir, preference_jsonl, heldout_jsonl, tmp_path_factory.mktemp("dpo") / "out"
    )
    out = train_dpo(recipe, callbacks=[counter])
    return out, counter


def test_dpo_learns_the_preference_on_heldout_pairs(full_run, sft_parent_dir, heldout_pairs) -> None:
    out, _ = full_run
    before = completion_logps(sft_parent_dir, heldout_pairs)
    after = completion_logps(out, heldout_pairs)
    margin_before = sum(c - r for c, r in before) / len(before)
    margin_after = sum(c - r for c, r in after) / len(after)
    assert margin_after > margin_before + 5.0, (margin_before, margin_after)
    # implicit DPO reward accuracy: the chosen answer gained more log-prob than the rejected one
    wins = [(ca - cb) > (ra - rb) for (cb, rb), (ca, ra) in zip(before, after, strict=True)]
    assert sum(wins) / len(wins) >= 0.9
    record = json.loads((out / "mixtune_run.json").read_text())
    assert record["metrics"]["eval_rewards/accuracies"] >= 0.9
    assert record["metrics"]["eval_logps_margin"] > record["metrics"]["eval_before_logps_margin"]


def test_greedy_answer_flips_to_the_preferred_style(full_run, sft_parent_dir, greedy) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _ = full_run
    questions = ["Write a function zap_quux that returns n.", "Write a function tidy_up that returns data."]
    tok = AutoTokenizer.from_pretrained(out)
    parent = AutoModelForCausalLM.from_pretrained(sft_parent_dir)
    aligned = AutoModelForCausalLM.from_pretrained(out)
    for q in questions:
        assert not greedy(parent, tok, q).startswith("```"), "the parent should answer in prose"
        assert greedy(aligned, tok, q).startswith("```python\ndef "), greedy(aligned, tok, q)


def test_chat_template_and_eos_carry_through_unchanged(full_run, sft_parent_dir) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    out, _ = full_run
    assert (
        AutoTokenizer.from_pretrained(out).chat_template
        == AutoTokenizer.from_pretrained(sft_parent_dir).chat_template
    )
    eos = GenerationConfig.from_pretrained(out).eos_token_id
    assert eos == GenerationConfig.from_pretrained(sft_parent_dir).eos_token_id
    assert AutoTokenizer.from_pretrained(out).convert_tokens_to_ids("<|im_end|>") in eos


def test_frozen_copy_reference_is_a_second_model(full_run) -> None:
    out, counter = full_run
    assert counter.counts == [2]
    record = json.loads((out / "mixtune_run.json").read_text())
    assert record["stage_details"]["reference"]["kind"] == "frozen_copy"


def test_model_card_and_run_record_name_both_mixtures_and_the_sft_parent(full_run, sft_parent_dir) -> None:
    out, _ = full_run
    record = json.loads((out / "mixtune_run.json").read_text())
    assert record["stage"] == "dpo"
    # the one record schema of every stage (tests/sft checks SFT's against the same fields)
    assert set(record) == {f.name for f in fields(RunRecord)}
    assert set(record["data"]["train"]) == {f.name for f in fields(DataStats)}
    assert record["parent_model"] == str(sft_parent_dir)
    assert record["base_model"] == "mixtune:base-model/test"
    stages = [(m["stage"], m["name"]) for m in record["mixtures"]]
    assert stages == [("sft", "synthetic-sft"), ("dpo", "test-dpo")]
    dpo_hash = record["mixtures"][1]["hash"]
    assert record["mixtures"][1]["composition"] == {"synthetic": 64}
    assert record["parent_run"]["stage"] == "sft"
    card = (out / "README.md").read_text()
    assert "5f7e1a2b3c4d5e6f" in card and dpo_hash in card
    assert f"DPO from the SFT run `{sft_parent_dir}`" in card
    assert "Reference: frozen copy" in card
    png = out / "training_curves.png"
    assert png.is_file() and png.stat().st_size > 10_000
