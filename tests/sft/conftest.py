"""SFT test fixtures: three small conversations (one multi-turn with a system turn) and a recipe writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

CONVERSATIONS: list[dict[str, Any]] = [
    {
        "id": "rev",
        "source": "toy-a",
        "messages": [
            {"role": "user", "content": "Reverse a string in Python."},
            {"role": "assistant", "content": "def rev(s):\n    return s[::-1]"},
        ],
    },
    {
        "id": "add",
        "source": "toy-a",
        "messages": [
            {"role": "system", "content": "You answer with code only."},
            {"role": "user", "content": "Add two numbers."},
            {"role": "assistant", "content": "def add(a, b):\n    return a + b"},
            {"role": "user", "content": "Now three."},
            {"role": "assistant", "content": "def add3(a, b, c):\n    return a + b + c"},
        ],
    },
    {
        "id": "sq",
        "source": "toy-b",
        "messages": [
            {"role": "user", "content": "Square a number."},
            {"role": "assistant", "content": "def sq(x):\n    return x * x"},
        ],
    },
]

# Overfitting settings that memorise the three conversations with the 157k-parameter test model.
OVERFIT = {
    "learning_rate": 3.0e-3,
    "lr_scheduler_type": "constant",
    "num_train_epochs": 60,
    "per_device_train_batch_size": 3,
    "logging_steps": 10,
    "save_strategy": "no",
    "bf16": False,
    "seed": 0,
}


@pytest.fixture(scope="session")
def conversations() -> list[dict[str, Any]]:
    return CONVERSATIONS


@pytest.fixture(scope="session")
def overfit_settings() -> dict[str, Any]:
    return dict(OVERFIT)


@pytest.fixture
def toy_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "toy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in CONVERSATIONS), encoding="utf-8")
    return path


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    """write_recipe(filename, **keys) -> path of a YAML recipe in tmp_path."""

    def write(filename: str = "recipe.yaml", /, **keys: Any) -> Path:
        path = tmp_path / filename
        path.write_text(yaml.safe_dump(keys, sort_keys=False), encoding="utf-8")
        return path

    return write
