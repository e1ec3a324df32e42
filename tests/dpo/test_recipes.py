"""DPO recipes: shipped ones validate with the published values, alignment-handbook recipes parse
unchanged, bad keys and bad values fail before any model or data is loaded, launch commands build."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dpo.recipe import build_dpo_recipe, load_dpo_recipe
from mixtune.cli import main
from mixtune.errors import MixtuneError, RecipeError
from mixtune.paths import REPO_ROOT

RECIPES = REPO_ROOT / "dpo" / "recipes"

# alignment-handbook recipes/starchat2-15b/dpo/config_v0.1.yaml, verbatim (Apache-2.0)
HANDBOOK_STARCHAT2_DPO = """
model_name_or_path: HuggingFaceH4/starchat2-15b-sft-v0.1
torch_dtype: bfloat16
dataset_mixture:
  datasets:
    - id: HuggingFaceH4/ultrafeedback_binarized
      config: default
      split: train_prefs
      columns:
        - chosen
        - rejected
      weight: 1.0
    - id: HuggingFaceH4/orca_dpo_pairs
      config: default
      split: train_prefs
      columns:
        - chosen
        - rejected
      weight: 1.0
  test_split_size: 2000
  seed: 0
dataset_num_proc: 12
bf16: true
beta: 0.05
do_eval: true
eval_strategy: steps
eval_steps: 100
gradient_accumulation_steps: 8
gradient_checkpointing: true
gradient_checkpointing_kwargs:
  use_reentrant: False
hub_model_id: starchat2-15b-dpo-v0.1
learning_rate: 5.0e-7
log_level: info
logging_steps: 10
lr_scheduler_type: cosine
max_length: 1024
max_prompt_length: 512
num_train_epochs: 2
optim: adamw_torch
output_dir: data/starchat2-15b-dpo-v0.1
per_device_train_batch_size: 2
per_device_eval_batch_size: 4
push_to_hub: true
report_to:
- tensorboard
- wandb
save_strategy: "no"
seed: 42
warmup_ratio: 0.1
"""

# alignment-handbook v0.3 style (zephyr-7b-beta DPO): dataset_mixer + dataset_splits
HANDBOOK_V03 = """
model_name_or_path: alignment-handbook/zephyr-7b-sft-full
torch_dtype: null
dataset_mixer:
  HuggingFaceH4/ultrafeedback_binarized: 1.0
dataset_splits:
- train_prefs
- test_prefs
preprocessing_num_workers: 12
bf16: true
beta: 0.01
do_eval: true
evaluation_strategy: steps
eval_steps: 100
gradient_accumulation_steps: 2
gradient_checkpointing: true
gradient_checkpointing_kwargs:
  use_reentrant: False
learning_rate: 5.0e-7
log_level: info
logging_steps: 10
lr_scheduler_type: cosine
max_length: 1024
max_prompt_length: 512
num_train_epochs: 1
optim: adamw_torch
output_dir: data/zephyr-7b-dpo-full
per_device_train_batch_size: 8
per_device_eval_batch_size: 8
save_strategy: "steps"
save_steps: 100
save_total_limit: 1
seed: 42
warmup_ratio: 0.1
"""


def test_starchat2_recipe_has_the_published_values() -> None:
    recipe = load_dpo_recipe(RECIPES / "starchat2-15b.yaml")
    t, o = recipe.training, recipe.options
    assert t["beta"] == 0.05 and t["learning_rate"] == 5e-7 and t["lr_scheduler_type"] == "cosine"
    assert t["warmup_steps"] == 0.1 and t["num_train_epochs"] == 2 and t["bf16"] is True
    assert t["max_length"] == 1024 and o.max_prompt_length == 512
    assert t["per_device_train_batch_size"] * t["gradient_accumulation_steps"] * 8 == 128
    assert recipe.model["dtype"] == "bfloat16"
    assert (REPO_ROOT / o.mixture).is_file()


def test_demo_recipe_validates_and_names_the_demo_sft_output() -> None:
    recipe = load_dpo_recipe(RECIPES / "demo.yaml")
    sft_demo = yaml.safe_load((REPO_ROOT / "sft" / "recipes" / "demo.yaml").read_text())
    assert recipe.model["model_name_or_path"] == sft_demo["output_dir"]
    assert (REPO_ROOT / recipe.options.mixture).is_file()


@pytest.mark.parametrize("text", [HANDBOOK_STARCHAT2_DPO, HANDBOOK_V03], ids=["v0.4", "v0.3"])
def test_alignment_handbook_dpo_recipes_parse_unchanged(text: str) -> None:
    recipe = build_dpo_recipe(yaml.safe_load(text), source="config_full.yaml")
    assert recipe.options.max_prompt_length == 512
    assert recipe.options.dataset_mixture is not None
    assert recipe.training["learning_rate"] == 5e-7
    assert "warmup_ratio -> warmup_steps" in recipe.notes


def test_unknown_key_names_the_file_and_the_closest_key(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("model_name_or_path: m\nmixture: x.yaml\nbta: 0.1\n")
    with pytest.raises(RecipeError, match=r"typo.yaml: bta: unknown key \(did you mean 'beta'\?\)"):
        load_dpo_recipe(path)


def test_unknown_loss_type_is_refused_up_front() -> None:
    with pytest.raises(RecipeError, match=r"loss_type: unknown loss 'sigmod' \(did you mean 'sigmoid'\?\)"):
        load_dpo_recipe(RECIPES / "demo.yaml", {"loss_type": "sigmod"})
    assert load_dpo_recipe(RECIPES / "demo.yaml", {"loss_type": "ipo"}).training["loss_type"] == ["ipo"]


def test_dpo_refuses_to_change_the_chat_template() -> None:
    with pytest.raises(RecipeError, match="chat_template: .*keeps the SFT model's chat template"):
        load_dpo_recipe(RECIPES / "demo.yaml", {"chat_template": "starchat"})


def test_missing_data_is_a_recipe_error() -> None:
    with pytest.raises(RecipeError, match="no preference data"):
        build_dpo_recipe({"model_name_or_path": "m"}, source="r.yaml")


def test_dry_run_prints_the_zero3_launch_of_the_dpo_module(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["dpo", str(RECIPES / "starchat2-15b.yaml"), "--launch", "zero3", "--gpus", "8", "--dry-run"])
        == 0
    )
    out = capsys.readouterr().out
    assert "accelerate launch --config_file" in out and "zero3.yaml" in out
    assert "--num_processes 8" in out and "-m dpo" in out and "starchat2-15b.yaml" in out


def test_cli_error_for_a_bad_recipe_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model_name_or_path: m\nmixture: x.yaml\nbeta: [1, 2]\n")
    assert main(["dpo", str(path)]) == 2
    assert "bad.yaml: beta:" in capsys.readouterr().err


def test_a_model_without_chat_template_is_refused(
    tiny_base_dir: Path, preference_jsonl: Path, tmp_path: Path
) -> None:
    from dpo.train import train_dpo

    recipe = build_dpo_recipe(
        {
            "model_name_or_path": str(tiny_base_dir),
            "dataset_mixture": {"datasets": [{"id": str(preference_jsonl)}]},
            "output_dir": str(tmp_path / "out"),
        }
    )
    with pytest.raises(MixtuneError, match="has no chat template"):
        train_dpo(recipe)
