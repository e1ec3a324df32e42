"""On a CUDA machine: SFT trains in bf16 on the GPU with the same assistant-only labels as on a CPU.

Marked `gpu`: skipped where torch sees no CUDA device (tests/conftest.py), so CI on CPU reports
them as skipped, and `python3 -m pytest -m gpu` on a GPU machine runs exactly these.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .test_labels import expected_labels

pytestmark = pytest.mark.gpu


def test_bf16_sft_on_the_gpu_trains_saves_and_masks_like_the_cpu(
    tiny_base_dir: Path,
    toy_jsonl: Path,
    write_recipe: Callable[..., Path],
    tmp_path: Path,
    conversations: list[dict[str, Any]],
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from mixtune.training.run_record import read_run_record
    from sft.recipe import load_sft_recipe
    from sft.train import prepare_sft, train_sft

    keys: dict[str, Any] = {
        "model_name_or_path": str(tiny_base_dir),
        "dataset_mixture": {"datasets": [{"id": str(toy_jsonl)}]},
        "learning_rate": 1.0e-3,
        "max_steps": 4,
        "logging_steps": 1,
        "per_device_train_batch_size": 3,
        "save_strategy": "no",
        "output_dir": str(tmp_path / "out"),
    }
    # labels are compared row by row, so this check keeps rows unpacked
    check = {**keys, "batching": "grouped", "output_dir": str(tmp_path / "check")}
    run = prepare_sft(load_sft_recipe(write_recipe("check.yaml", **check)))
    bf16 = run.caps.bf16  # an Ampere-or-newer GPU
    assert run.caps.cuda and run.trainer.args.bf16 == bf16
    prepared = {tuple(r["input_ids"]): r["labels"] for r in run.trainer.train_dataset}
    for conv in conversations:
        ids, want = expected_labels(run.tokenizer, conv["messages"])
        assert prepared[tuple(ids)] == want, conv["id"]
    del run

    out = train_sft(load_sft_recipe(write_recipe(**keys)))
    record = read_run_record(out)
    assert record is not None and record["device"]["cuda"] is True
    assert record["hyperparameters"]["bf16"] == bf16
    assert math.isfinite(record["metrics"]["final_loss"])
    model = AutoModelForCausalLM.from_pretrained(out).to("cuda")
    batch = torch.tensor([[1, 2, 3, 4]], device="cuda")
    with torch.no_grad():
        assert torch.isfinite(model(batch).logits).all()
