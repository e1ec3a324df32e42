"""SFT end to end on the random-init test model: after overfitting three conversations, the output
directory is a complete chat model that answers each prompt exactly and stops at <|im_end|>."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from mixtune.training.run_record import RunRecord


def chat_generate(
    model_dir: Path, messages: list[dict[str, str]], max_new_tokens: int = 48
) -> tuple[str, int]:
    """Greedy reply through the saved chat template and generation config: (text with specials, last id)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[0, enc["input_ids"].shape[1] :]
    return tok.decode(new, skip_special_tokens=False), int(new[-1])


@pytest.fixture(scope="module")
def overfit_run(
    tiny_base_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    conversations: list[dict[str, Any]],
    overfit_settings: dict[str, Any],
) -> dict[str, Any]:
    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    root = tmp_path_factory.mktemp("overfit")
    data = root / "toy.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in conversations), encoding="utf-8")
    recipe = root / "overfit.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(tiny_base_dir),
                "dataset_mixture": {"datasets": [{"id": str(data)}]},
                "output_dir": str(root / "out"),
                **overfit_settings,
            }
        )
    )
    out = train_sft(load_sft_recipe(recipe))
    return {"out": out, "recipe": recipe}


def test_greedy_generation_reproduces_every_answer_and_stops_at_im_end(
    overfit_run: dict[str, Any], conversations: list[dict[str, Any]]
) -> None:
    out = overfit_run["out"]
    from transformers import AutoTokenizer

    im_end = AutoTokenizer.from_pretrained(out).convert_tokens_to_ids("<|im_end|>")
    for conv in conversations:
        msgs = conv["messages"]
        # every assistant turn, in context of the turns before it
        for i, turn in enumerate(msgs):
            if turn["role"] != "assistant":
                continue
            text, last = chat_generate(out, msgs[:i])
            assert text == turn["content"] + "<|im_end|>", (conv["id"], text)
            assert last == im_end


def test_output_is_a_complete_hf_chat_model_dir(overfit_run: dict[str, Any], tiny_base_dir: Path) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    out = overfit_run["out"]
    for name in ("model.safetensors", "config.json", "tokenizer.json", "README.md", "training_curves.png"):
        assert (out / name).is_file(), name
    tok = AutoTokenizer.from_pretrained(out)
    assert "{% generation %}" in tok.chat_template.replace("{%-", "{%").replace(" -%}", " %}")
    assert tok.eos_token == "<|im_end|>"
    gen = GenerationConfig.from_pretrained(out)
    eos = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
    assert tok.convert_tokens_to_ids("<|im_end|>") in eos
    png = (out / "training_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_run_record_and_model_card_name_lineage_and_numbers(
    overfit_run: dict[str, Any], tiny_base_dir: Path, overfit_settings: dict[str, Any]
) -> None:
    out = overfit_run["out"]
    record = json.loads((out / "mixtune_run.json").read_text())
    assert record["stage"] == "sft"
    assert record["parent_model"] == record["base_model"] == str(tiny_base_dir)
    [mix] = record["mixtures"]
    assert mix["stage"] == "sft" and mix["composition"] == {"toy-a": 2, "toy-b": 1}
    assert len(mix["hash"]) == 16
    hp = record["hyperparameters"]
    assert hp["learning_rate"] == overfit_settings["learning_rate"] and hp["global_batch_size"] == 3
    # `auto` measures packed against grouped on this machine; the record names the choice and why
    assert hp["assistant_only_loss"] is True and hp["batching"] in ("grouped", "packed")
    [why] = [note for note in record["notes"] if note.startswith("batching:")]
    assert why.startswith(f"batching: {hp['batching']} (auto") and "measured" in why
    metrics = record["metrics"]
    assert metrics["final_loss"] < 0.2 < metrics["train_loss"]
    assert 0 <= metrics["pad_share"] < 0.5 and metrics["train_tokens_per_second"] > 0
    assert {"torch", "transformers", "trl"} <= set(record["versions"])
    # the one record schema of every stage (tests/dpo checks DPO's against the same fields)
    assert set(record) == {f.name for f in fields(RunRecord)}
    assert record["data"] == {
        "train": {"rows_in": 3, "kept": 3, "dropped": {}, "truncated": {"sequences": 0}}
    }
    assert record["saved_as"] == "full weights" and record["device"]["cuda"] is False
    card = (out / "README.md").read_text()
    assert str(tiny_base_dir) in card and mix["hash"] in card
    assert "| learning_rate | 0.003 |" in card and "final_loss" in card and "toy-a: 2" in card


def test_finished_run_is_not_overwritten_without_flag(overfit_run: dict[str, Any]) -> None:
    from mixtune.errors import MixtuneError
    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    before = (overfit_run["out"] / "model.safetensors").read_bytes()
    with pytest.raises(MixtuneError, match="already holds a finished run"):
        train_sft(load_sft_recipe(overfit_run["recipe"]))
    assert (overfit_run["out"] / "model.safetensors").read_bytes() == before
