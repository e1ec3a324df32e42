"""What a finished run leaves besides weights: run record, model card and curves PNG."""

from __future__ import annotations

import json
from pathlib import Path

from mixtune.training.curves import plot_log_history, series
from mixtune.training.model_card import CardSection, render_model_card
from mixtune.training.run_record import (
    DataStats,
    MixtureLineage,
    RunRecord,
    base_model_of,
    parent_mixtures,
    read_run_record,
    write_run_record,
)

LOG = [
    {"loss": 2.0, "learning_rate": 1e-4, "step": 1},
    {"loss": 1.5, "learning_rate": 2e-4, "step": 2},
    {"eval_loss": 1.7, "step": 2},
    {"loss": 1.0, "learning_rate": 1e-4, "step": 3, "mean_token_accuracy": 0.7},
    {"train_runtime": 3.0, "step": 3},
]


def _record(parent: str = "bigcode/starcoder2-15b") -> RunRecord:
    mix = MixtureLineage("sft", "demo-sft", "0123456789abcdef", "/m", {"code": 30, "chat": 10})
    return RunRecord(
        stage="sft",
        parent_model=parent,
        base_model=base_model_of(parent),
        mixtures=parent_mixtures(parent) + [mix.as_dict()],
        hyperparameters={"learning_rate": 2e-5, "global_batch_size": 128, "bf16": True},
        metrics={"train_loss": 1.23456, "eval_loss": 1.5},
        versions={"trl": "1.16.0"},
        recipe={"learning_rate": 2e-5},
        data={"train": DataStats(40, 39, {"no_trained_token": 1}, {"sequences": 2}).as_dict()},
        notes=["max_seq_length -> max_length"],
        device={"cuda": False},
    )


def test_run_record_round_trips_and_chains_lineage(tmp_path: Path) -> None:
    sft_dir = tmp_path / "sft"
    sft_dir.mkdir()
    write_run_record(sft_dir, _record())
    rec = read_run_record(sft_dir)
    assert rec is not None and rec["stage"] == "sft" and rec["notes"] == ["max_seq_length -> max_length"]
    assert {
        "stage",
        "parent_model",
        "base_model",
        "mixtures",
        "hyperparameters",
        "metrics",
        "versions",
        "recipe",
    } <= set(rec)
    # a later stage starting from this model inherits its base model and mixtures
    assert base_model_of(str(sft_dir)) == "bigcode/starcoder2-15b"
    assert parent_mixtures(str(sft_dir))[0]["hash"] == "0123456789abcdef"
    assert read_run_record(tmp_path) is None


def test_model_card_names_base_model_mixture_and_numbers() -> None:
    card = render_model_card(_record().as_dict())
    assert card.startswith("---\nlibrary_name: transformers\nbase_model: bigcode/starcoder2-15b\n")
    assert "`demo-sft` (hash `0123456789abcdef`, 40 rows)" in card and "  - code: 30" in card
    assert "| learning_rate | 2e-05 |" in card and "| global_batch_size | 128 |" in card
    assert "| train_loss | 1.235 |" in card
    assert "train: 39 of 40 rows used (dropped: no_trained_token: 1); truncated to fit: sequences: 2." in card


def test_model_card_says_what_the_recipe_said_and_what_ran() -> None:
    record = _record().as_dict()
    record["hyperparameters"].update(warmup_steps=0.1, bf16=True)
    card = render_model_card(record, sections=[CardSection("Starting point", ["From `x`."])])
    # a fractional warmup_steps is the recipe's warmup_ratio; bf16 without a GPU is autocast
    assert "| warmup_ratio | 0.1 (of the optimizer steps) |" in card and "warmup_steps" not in card
    assert "| bf16 | True (CPU autocast; weights and optimizer in fp32) |" in card
    # a stage's own sections come after the data and before the hyper-parameters
    assert (
        card.index("## Data")
        < card.index("## Starting point\n\nFrom `x`.")
        < card.index("## Hyper-parameters")
    )
    record["device"] = {"cuda": True}
    record["hyperparameters"]["warmup_steps"] = 10
    card = render_model_card(record)
    assert "| bf16 | True |" in card and "| warmup_steps | 10 |" in card


def test_curves_png_from_log_history(tmp_path: Path) -> None:
    assert series(LOG, "loss") == ([1.0, 2.0, 3.0], [2.0, 1.5, 1.0])
    png = plot_log_history(LOG, tmp_path / "c.png")
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
    assert plot_log_history([{"train_runtime": 1.0, "step": 1}], tmp_path / "none.png") is None
    json.dumps(LOG)
