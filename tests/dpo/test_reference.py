"""Reference strategies: LoRA uses the adapter-disabled base (no second model in memory), and
precomputed reference log-probs keep no reference model either."""

from __future__ import annotations

import json

from dpo.recipe import build_dpo_recipe
from dpo.train import train_dpo

from .model_counter import ModelCounter

QUICK = {
    "beta": 0.1,
    "per_device_train_batch_size": 8,
    "gradient_checkpointing": False,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
    "max_length": 128,
    "seed": 0,
    "disable_tqdm": True,
}


def _run(parent, train_jsonl, out, **extra):
    recipe = build_dpo_recipe(
        {
            "model_name_or_path": str(parent),
            "dataset_mixture": {"datasets": [{"id": str(train_jsonl)}]},
            "output_dir": str(out),
            **QUICK,
            **extra,
        },
        source="ref-test.yaml",
    )
    counter = ModelCounter()
    return train_dpo(recipe, callbacks=[counter]), counter


def test_lora_dpo_trains_against_the_adapter_disabled_base(
    sft_parent_dir, preference_jsonl, tmp_path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    out, counter = _run(
        sft_parent_dir,
        preference_jsonl,
        tmp_path / "lora",
        use_peft=True,
        lora_r=8,
        lora_alpha=16,
        lora_target_modules=["q_proj", "v_proj", "c_fc", "c_proj"],
        learning_rate=5.0e-3,
        max_steps=6,
    )
    assert counter.counts and set(counter.counts) == {1}, counter.counts  # no reference model, ever
    record = json.loads((out / "mixtune_run.json").read_text())
    assert record["stage_details"]["reference"]["kind"] == "adapter_disabled"
    assert record["hyperparameters"]["use_peft"] is True
    assert record["metrics"]["final_train_rewards/margins"] > 0
    assert (out / "adapter" / "adapter_config.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(out)  # merged weights: a plain model directory
    parent = AutoModelForCausalLM.from_pretrained(sft_parent_dir)
    changed = [
        n
        for (n, a), (_, b) in zip(merged.named_parameters(), parent.named_parameters(), strict=True)
        if not torch.equal(a, b)
    ]
    assert changed and all("q_proj" in n or "v_proj" in n or "mlp" in n for n in changed)
    assert "base weights with the LoRA adapter disabled" in (out / "README.md").read_text()


def test_handbook_recipe_with_precomputed_reference_log_probs(sft_parent_dir, pairs, tmp_path) -> None:
    """ultrafeedback_binarized-shaped rows (whole conversations in chosen/rejected, a string prompt and
    scores beside them) through an alignment-handbook recipe, with no reference model kept in memory."""
    rows = [
        {
            "prompt": p["prompt"][0]["content"],
            "chosen": p["prompt"] + p["chosen"],
            "rejected": p["prompt"] + p["rejected"],
            "score_chosen": 9.0,
            "score_rejected": 2.0,
        }
        for p in pairs(48, seed=5)
    ]
    data = tmp_path / "ultrafeedback_like.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = build_dpo_recipe(
        {
            "model_name_or_path": str(sft_parent_dir),
            "torch_dtype": "float32",
            "dataset_mixture": {
                "datasets": [
                    {"id": str(data), "split": "train", "columns": ["chosen", "rejected"], "weight": 1.0}
                ],
                "test_split_size": 8,
                "seed": 0,
            },
            "preprocessing_num_workers": 1,
            "warmup_ratio": 0.1,
            "max_prompt_length": 64,
            "precompute_ref_log_probs": True,
            "output_dir": str(tmp_path / "pre"),
            **QUICK,
            "learning_rate": 5.0e-4,
            "max_steps": 4,
        },
        source="config_full.yaml",
    )
    counter = ModelCounter()
    out = train_dpo(recipe, callbacks=[counter])
    assert counter.counts and set(counter.counts) == {1}, counter.counts
    record = json.loads((out / "mixtune_run.json").read_text())
    assert record["stage_details"]["reference"]["kind"] == "precomputed"
    assert record["data"]["train"]["rows_in"] == record["data"]["train"]["kept"] == 40
    assert record["metrics"]["final_train_rewards/margins"] > 0
    assert record["metrics"]["eval_logps_margin"] > record["metrics"]["eval_before_logps_margin"]
