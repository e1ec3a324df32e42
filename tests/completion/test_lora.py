"""LoRA through the completion stage: the plain Trainer gets a PEFT model, the adapter is kept in
`adapter/` and the model directory holds merged weights that load without PEFT."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.completion.house_style import write_repo


def test_lora_run_saves_adapter_and_merged_weights(tiny_base_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from completion.recipe import load_completion_recipe
    from completion.train import train_completion

    rows, _ = write_repo(tmp_path / "repo")
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = {
        "model_name_or_path": str(tiny_base_dir),
        "dataset_mixture": {"datasets": [{"id": str(data)}]},
        "output_dir": str(tmp_path / "out"),
        "use_peft": True,
        "lora_r": 4,
        "lora_alpha": 8,
        "lora_target_modules": ["q_proj", "v_proj"],
        "seq_length": 256,
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "save_strategy": "no",
        "report_to": "none",
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    out = train_completion(load_completion_recipe(path))

    assert (out / "adapter" / "adapter_config.json").is_file()
    model = AutoModelForCausalLM.from_pretrained(out)  # merged: no PEFT needed
    assert not any("lora" in name for name, _ in model.named_parameters())
    record = json.loads((out / "mixtune_run.json").read_text())
    assert record["hyperparameters"]["use_peft"] is True and record["hyperparameters"]["lora_r"] == 4
