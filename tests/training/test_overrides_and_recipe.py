"""`--key value` overrides and the translation of alignment-handbook / older TRL recipe names."""

from __future__ import annotations

import pytest

from mixtune.errors import RecipeError
from mixtune.training.overrides import apply_overrides, parse_overrides
from mixtune.training.recipe import build_stage_recipe, translate


def test_overrides_parse_like_yaml() -> None:
    got = parse_overrides(
        [
            "--learning_rate",
            "1e-4",
            "--bf16=false",
            "--packing",
            "--lora-target-modules",
            "[q_proj,v_proj]",
            "--dataset_mixture.test_split_size",
            "0.1",
            "--run_name",
            "x y",
        ]
    )
    assert got == {
        "learning_rate": 1e-4,
        "bf16": False,
        "packing": True,
        "lora_target_modules": ["q_proj", "v_proj"],
        "dataset_mixture.test_split_size": 0.1,
        "run_name": "x y",
    }
    with pytest.raises(RecipeError, match="--key value"):
        parse_overrides(["stray"])


def test_overrides_reach_nested_keys_without_touching_the_original() -> None:
    data = {"dataset_mixture": {"datasets": [{"id": "a"}], "seed": 0}, "learning_rate": 1e-5}
    new = apply_overrides(data, {"dataset_mixture.seed": 3, "learning_rate": 2e-5})
    assert new["dataset_mixture"]["seed"] == 3 and new["learning_rate"] == 2e-5
    assert data["dataset_mixture"]["seed"] == 0
    with pytest.raises(RecipeError, match="not a mapping"):
        apply_overrides(data, {"learning_rate.x": 1})


def test_handbook_v03_is_translated_to_a_dataset_mixture() -> None:
    out, notes = translate(
        {
            "dataset_mixer": {"HuggingFaceH4/ultrachat_200k": 0.5, "local/data": 1.0},
            "dataset_splits": ["train_sft", "test_sft"],
            "dataset_configs": ["default", None],
            "max_seq_length": 2048,
            "torch_dtype": "bfloat16",
            "use_flash_attention_2": True,
            "warmup_ratio": 0.1,
            "evaluation_strategy": "epoch",
            "logging_dir": "logs",
            "group_by_length": True,
            "truncation_side": "left",
        }
    )
    assert out["dataset_mixture"] == {
        "datasets": [
            {"id": "HuggingFaceH4/ultrachat_200k", "config": "default", "split": "train_sft", "weight": 0.5},
            {"id": "local/data", "config": None, "split": "train_sft", "weight": 1.0},
        ],
        "test_datasets": [
            {"id": "HuggingFaceH4/ultrachat_200k", "config": "default", "split": "test_sft"},
            {"id": "local/data", "config": None, "split": "test_sft"},
        ],
    }
    assert out["max_length"] == 2048 and out["dtype"] == "bfloat16" and out["warmup_steps"] == 0.1
    assert out["attn_implementation"] == "flash_attention_2" and out["eval_strategy"] == "epoch"
    assert out["train_sampling_strategy"] == "group_by_length" and out["truncation_mode"] == "keep_end"
    assert "logging_dir" not in out and any(n.startswith("logging_dir dropped") for n in notes)


def test_trl_dataset_name_and_fraction_names_are_accepted() -> None:
    from trl import DPOConfig, SFTConfig

    r = build_stage_recipe(
        {"dataset_name": "trl-lib/Capybara", "dataset_test_split": "test", "model_name_or_path": "m"},
        SFTConfig,
        "sft",
    )
    mix = r.options.dataset_mixture
    assert mix.datasets[0].id == "trl-lib/Capybara" and mix.test_datasets[0].split == "test"
    r = build_stage_recipe(
        {"dataset_mixture": {"datasets": [{"path": "p", "name": "c", "fraction": 0.3}]}, "beta": "0.1"},
        DPOConfig,
        "dpo",
    )
    entry = r.options.dataset_mixture.datasets[0]
    assert (entry.id, entry.config, entry.weight) == ("p", "c", 0.3)
    assert r.training == {"beta": 0.1}


def test_conflicting_old_and_new_names_are_an_error() -> None:
    from trl import SFTConfig

    with pytest.raises(RecipeError, match="r.yaml: both 'max_seq_length' .* and 'max_length'"):
        build_stage_recipe({"max_seq_length": 512, "max_length": 1024}, SFTConfig, "sft", "r.yaml")


def test_dpo_keys_are_unknown_to_sft_with_a_suggestion() -> None:
    from trl import SFTConfig

    with pytest.raises(RecipeError) as err:
        build_stage_recipe({"beta": 0.1, "num_train_epoch": 3}, SFTConfig, "sft", "s.yaml")
    assert "s.yaml: beta: unknown key" in str(err.value)
    assert "s.yaml: num_train_epoch: unknown key (did you mean 'num_train_epochs'?)" in str(err.value)
