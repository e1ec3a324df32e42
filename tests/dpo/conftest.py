"""DPO fixtures: a learnable synthetic preference and a briefly SFT-trained tiny parent.

The preference rule: chosen answers are a fenced ```python block defining the requested function;
rejected answers brush the user off in prose. The parent is SFT-trained mostly on the rejected
style (3:1), so its greedy answer is prose; DPO must flip that.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

WORDS = ["add", "scale", "merge", "parse", "load", "count", "split", "join", "clean", "sort"]
WORDS += ["fetch", "build", "check", "read", "write", "find", "zip", "map", "send", "save"]
ARGS = ["x", "items", "text", "path", "data", "n"]


def make_pair(rng: random.Random, index: int, source: str = "synthetic") -> dict[str, Any]:
    name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}"
    arg = rng.choice(ARGS)
    return {
        "prompt": [{"role": "user", "content": f"Write a function {name} that returns {arg}."}],
        "chosen": [{"role": "assistant", "content": f"```python\ndef {name}({arg}):\n    return {arg}\n```"}],
        "rejected": [{"role": "assistant", "content": f"You can write {name} yourself."}],
        "source": source,
        "id": f"{source}-{index}",
    }


def make_pairs(n: int, seed: int, source: str = "synthetic") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [make_pair(rng, i, source) for i in range(n)]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path


def greedy_answer(model: Any, tokenizer: Any, question: str, max_new_tokens: int = 24) -> str:
    import torch

    enc = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    model.eval()
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


SFT_RECORD = {
    "stage": "sft",
    "parent_model": "mixtune:base-model/test",
    "base_model": "mixtune:base-model/test",
    "mixtures": [
        {
            "stage": "sft",
            "name": "synthetic-sft",
            "hash": "5f7e1a2b3c4d5e6f",
            "path": "mixtures/synthetic-sft",
            "composition": {"synthetic": 256},
        }
    ],
    "hyperparameters": {"learning_rate": 3e-3},
    "metrics": {},
    "versions": {},
    "recipe": {},
}


@pytest.fixture(scope="session")
def sft_parent_dir(tiny_chat_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny chat model after a short SFT on both answer styles, prose-heavy, with a run record."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_dir)
    texts = []
    for row in make_pairs(64, seed=0):
        for side in ("rejected", "rejected", "rejected", "chosen"):
            texts.append(tok.apply_chat_template(row["prompt"] + row[side], tokenize=False))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(60):
        enc = tok(random.Random(step).sample(texts, 16), return_tensors="pt", padding=True)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        model(**enc, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    out = tmp_path_factory.mktemp("sft-parent") / "model"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "mixtune_run.json").write_text(json.dumps(SFT_RECORD, indent=2), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def pairs():
    """make_pairs(n, seed, source=...) -> canonical preference rows of the synthetic rule."""
    return make_pairs


@pytest.fixture(scope="session")
def preference_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 training pairs (a local jsonl of canonical preference rows)."""
    return write_jsonl(tmp_path_factory.mktemp("prefs") / "train.jsonl", make_pairs(64, seed=0))


@pytest.fixture(scope="session")
def heldout_pairs() -> list[dict[str, Any]]:
    """Pairs the training never saw (different seed, so mostly new function names)."""
    return make_pairs(24, seed=99, source="heldout")


@pytest.fixture(scope="session")
def heldout_jsonl(heldout_pairs: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("heldout") / "test.jsonl", heldout_pairs)


@pytest.fixture(scope="session")
def greedy():
    """greedy_answer(model, tokenizer, question) -> the model's chat answer, decoded."""
    return greedy_answer
