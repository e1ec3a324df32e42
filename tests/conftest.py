"""Shared fixtures. HF_HUB_OFFLINE=1 is set before anything imports huggingface_hub, so an
accidental download fails loudly instead of reaching the network."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` are skipped, with the reason, where torch sees no CUDA device."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep mixtune's cache (base models, built mixtures) inside the test session."""
    os.environ["MIXTUNE_CACHE"] = str(tmp_path_factory.mktemp("mixtune-cache"))


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init StarCoder2-architecture base model + code BPE tokenizer, built in seconds."""
    from mixtune.base_model import build_base_model

    return build_base_model(tmp_path_factory.mktemp("tiny-base") / "model", size="test", seed=0)


@pytest.fixture(scope="session")
def tiny_chat_dir(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny base model with the ChatML template and end-of-turn EOS set up (untrained)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mixtune.chat_format import setup_chat_format

    out = tmp_path_factory.mktemp("tiny-chat") / "model"
    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_dir)
    setup_chat_format(model, tok)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
