"""The embedded base model: loads offline, round-trips code, is cached."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mixtune.base_model import RECORD_NAME, build_base_model, collect_code_files, default_code_dir


def test_loads_offline_with_auto_classes(tiny_base_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_dir)
    assert model.config.model_type == "starcoder2"
    for special in (
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<fim_prefix>",
        "<fim_middle>",
        "<fim_suffix>",
    ):
        ids = tok(special, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, f"{special} must be a single token"
    assert model.get_input_embeddings().weight.shape[0] >= len(tok)


def test_tokenizer_round_trips_stdlib_code_exactly(tiny_base_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    # files the tokenizer was *not* trained on as well as ones it was
    files = collect_code_files(default_code_dir(), 3_000_000)[::15][:25]
    assert len(files) >= 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False) == text, path
    tricky = "  x = 'naïve ünïcode 🐍'\n\tif a<=b:\r\n        return {1: [2, 3]}  # 12345\n"
    assert tok.decode(tok(tricky, add_special_tokens=False)["input_ids"]) == tricky


def test_second_call_is_cached_and_does_no_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mixtune.base_model as bm

    out = tmp_path / "m"
    first = build_base_model(out, size="test", seed=1)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in first.iterdir()}

    def no_training(*args, **kwargs):
        raise AssertionError("a cached build must not train")

    monkeypatch.setattr(bm, "train_tokenizer", no_training)
    monkeypatch.setattr(bm, "pretrain", no_training)
    second = build_base_model(out, size="test", seed=1)
    assert second == first
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in second.iterdir()}
    assert after == before
    assert json.loads((out / RECORD_NAME).read_text())["seed"] == 1


def test_build_is_deterministic_under_seed(tmp_path: Path) -> None:
    a = build_base_model(tmp_path / "a", size="test", seed=3)
    b = build_base_model(tmp_path / "b", size="test", seed=3)
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()


def test_pretraining_lowers_loss(tmp_path: Path) -> None:
    out = build_base_model(tmp_path / "p", size="test", seed=0, steps=30)
    record = json.loads((out / RECORD_NAME).read_text())
    assert record["pretrain_loss_last"] < record["pretrain_loss_first"] - 1.0


def test_unknown_size_is_a_clear_error(tmp_path: Path) -> None:
    from mixtune.errors import MixtuneError

    with pytest.raises(MixtuneError, match="unknown base-model size 'huge'"):
        build_base_model(tmp_path / "x", size="huge")
