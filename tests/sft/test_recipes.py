"""Recipes people already have run: alignment-handbook v0.4 (`dataset_mixture`) and v0.3
(`dataset_mixer` + old TRL/transformers names), a mixtune mixture recipe built on the fly, and the
shipped StarChat2 / demo recipes. Bad recipes fail before any model or data is loaded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mixtune.errors import MixtuneError, RecipeError
from mixtune.paths import REPO_ROOT

QUICK = {"max_steps": 2, "per_device_train_batch_size": 2, "logging_steps": 1, "save_strategy": "no"}


def _record(out: Path) -> dict[str, Any]:
    return json.loads((out / "mixtune_run.json").read_text())


def test_handbook_v04_dataset_mixture_parses_and_trains(
    tiny_base_dir: Path,
    tmp_path: Path,
    write_recipe: Callable[..., Path],
    conversations: list[dict[str, Any]],
) -> None:
    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    extra = {"score": 1.0, "lang": "py"}  # columns the handbook's `columns:` leaves out
    a.write_text("".join(json.dumps({**r, **extra}) + "\n" for r in conversations * 4))
    b.write_text("".join(json.dumps({"messages": r["messages"]}) + "\n" for r in conversations * 2))
    recipe = write_recipe(
        model_name_or_path=str(tiny_base_dir),
        torch_dtype="float32",
        dataset_mixture={
            "datasets": [
                {"id": str(a), "split": "train", "columns": ["messages"], "weight": 0.5},
                {"id": str(b), "config": None, "split": "train", "columns": ["messages"], "weight": 1.0},
            ],
            "seed": 1,
            "test_split_size": 2,
        },
        max_seq_length=256,
        bf16=False,
        output_dir=str(tmp_path / "out"),
        **QUICK,
    )
    out = train_sft(load_sft_recipe(recipe))
    rec = _record(out)
    [mix] = rec["mixtures"]
    # 12 rows of a at weight 0.5 -> 6, plus 6 of b, minus 2 for the test split
    assert sum(mix["composition"].values()) == 10
    assert set(mix["composition"]) == {str(a), str(b)}
    assert rec["hyperparameters"]["max_length"] == 256 and "max_seq_length -> max_length" in rec["notes"]
    assert "eval_loss" in rec["metrics"]


def test_handbook_v03_dataset_mixer_with_old_names_parses_and_trains(
    tiny_base_dir: Path,
    tmp_path: Path,
    write_recipe: Callable[..., Path],
    conversations: list[dict[str, Any]],
) -> None:
    from datasets import Dataset, DatasetDict

    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    saved = tmp_path / "h4-style"
    rows = [{"messages": r["messages"], "prompt_id": r["id"]} for r in conversations]
    DatasetDict({"train_sft": Dataset.from_list(rows * 4), "test_sft": Dataset.from_list(rows)}).save_to_disk(
        saved
    )
    recipe = write_recipe(
        model_name_or_path=str(tiny_base_dir),
        model_revision="main",
        torch_dtype="float32",
        use_flash_attention_2=False,
        dataset_mixer={str(saved): 0.5},
        dataset_splits=["train_sft", "test_sft"],
        preprocessing_num_workers=1,
        max_seq_length=512,
        evaluation_strategy="no",
        warmup_ratio=0.1,
        gradient_checkpointing=True,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        overwrite_output_dir=True,
        bf16=False,
        output_dir=str(tmp_path / "out"),
        **QUICK,
    )
    out = train_sft(load_sft_recipe(recipe))
    rec = _record(out)
    assert rec["mixtures"][0]["composition"] == {str(saved): 6}
    hp = rec["hyperparameters"]
    assert hp["warmup_steps"] == 0.1 and hp["activation_checkpointing"] is True and hp["max_length"] == 512
    for note in ("dataset_mixer (v0.3) -> dataset_mixture", "warmup_ratio -> warmup_steps"):
        assert note in rec["notes"]
    assert "eval_loss" in rec["metrics"]  # test_sft was loaded as the test split
    # overwrite_output_dir: true means the finished run may be replaced
    assert train_sft(load_sft_recipe(recipe)) == out


def test_mixtune_mixture_recipe_is_built_on_the_fly_by_the_mixtures_stage(
    tiny_base_dir: Path,
    toy_jsonl: Path,
    tmp_path: Path,
    write_recipe: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess

    from mixtune.errors import DataError
    from mixtune.manifest import read_manifest
    from mixtune.training.data import build_mixture_recipe
    from sft.recipe import load_sft_recipe
    from sft.train import prepare_sft

    mixture = write_recipe(
        "toy-mix.yaml",
        name="toy-mix",
        kind="sft",
        sources=[{"name": "toy", "path": str(toy_jsonl), "format": "messages", "weight": 2.0}],
    )
    recipe = write_recipe(
        model_name_or_path=str(tiny_base_dir),
        mixture=str(mixture),
        bf16=False,
        output_dir=str(tmp_path / "out"),
        batching="grouped",
        **QUICK,
    )
    # the lineage the run record is written from (tests/sft/test_overfit.py reads it back)
    [mix] = [m.as_dict() for m in prepare_sft(load_sft_recipe(recipe)).data.mixtures]
    manifest = read_manifest(mix["path"])
    assert mix["name"] == "toy-mix" and mix["hash"] == manifest["hash"]
    assert mix["composition"] == {"toy": 6}
    # a failed build is an error naming the recipe and the build's last message (its own error)
    failed = subprocess.CompletedProcess(
        [], 2, stdout="", stderr="building\nerror: m.yaml: sources.0.nme: unknown key\n"
    )
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(
        DataError, match=rf"mixture: {mixture}: the mixture build failed \(exit 2\): error: .*nme"
    ):
        build_mixture_recipe(mixture)


def test_unknown_keys_and_bad_values_fail_before_loading_anything(
    tmp_path: Path, write_recipe: Callable[..., Path]
) -> None:
    from sft.recipe import load_sft_recipe

    bad = write_recipe(
        model_name_or_path="x",
        mixture="m.yaml",
        learning_rat=1e-4,
        per_device_train_batch_size="eight",
        batching="fastest",
    )
    with pytest.raises(RecipeError) as err:
        load_sft_recipe(bad)
    text = str(err.value)
    assert f"{bad}: learning_rat: unknown key (did you mean 'learning_rate'?)" in text
    assert f"{bad}: per_device_train_batch_size:" in text and f"{bad}: batching:" in text
    with pytest.raises(MixtuneError, match="no training data"):
        load_sft_recipe(write_recipe("nodata.yaml", model_name_or_path="x"))
    with pytest.raises(
        RecipeError, match=r"both.yaml: give either dataset_mixer \(v0.3\) or dataset_mixture"
    ):
        load_sft_recipe(
            write_recipe(
                "both.yaml",
                model_name_or_path="x",
                dataset_mixer={"a": 1},
                dataset_mixture={"datasets": [{"id": "b"}]},
            )
        )


def test_shipped_recipes_validate_with_published_values() -> None:
    from sft.recipe import load_sft_recipe

    star = load_sft_recipe(REPO_ROOT / "sft/recipes/starchat2-15b.yaml")
    assert star.model["model_name_or_path"] == "bigcode/starcoder2-15b"
    assert star.options.chat_template == "chatml"
    assert star.resolve_path(star.options.mixture).is_file()
    t = star.training
    assert (t["num_train_epochs"], t["learning_rate"], t["lr_scheduler_type"], t["warmup_steps"]) == (
        3,
        2.0e-5,
        "cosine",
        0.1,
    )
    assert t["per_device_train_batch_size"] * t["gradient_accumulation_steps"] * 8 == 128
    assert t["max_length"] == 2048 and t["bf16"] is True
    demo = load_sft_recipe(REPO_ROOT / "sft/recipes/demo.yaml")
    assert demo.model["model_name_or_path"] == "mixtune:base-model/tiny"
    assert demo.resolve_path(demo.options.mixture).is_file()
