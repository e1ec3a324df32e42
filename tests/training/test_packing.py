"""Exact padding-free packing: every example of a packed row gets the logits and loss it gets alone
(float32, 1e-5), for SFT rows (TRL's padding-free collator) and DPO's chosen/rejected rows
(`PaddingFreeForward`), with eager, SDPA and flex attention; and a dropped document mask is caught."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from mixtune.training.batching import (
    LEAK_TOLERANCE,
    PaddingFreeForward,
    backbone_of,
    packing_leak,
)

IMPLEMENTATIONS = ["eager", "sdpa", "flex_attention"]
LENGTHS = (7, 19, 4, 12)
TOL = 1e-5


def load(model_dir: Path, impl: str) -> Any:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation=impl, dtype=torch.float32)
    return model.eval()


def examples(vocab: int, lengths: tuple[int, ...] = LENGTHS) -> list[list[int]]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randint(0, vocab, (n,), generator=gen).tolist() for n in lengths]


def token_losses(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits[:-1].float(), ids[1:], reduction="none")


def drop_document_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a transformers release that stopped deriving the mask from position ids would do."""
    import transformers.masking_utils as masking

    monkeypatch.setattr(masking, "find_packed_sequence_indices", lambda position_ids: None)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_sft_packed_row_matches_each_example_alone(tiny_chat_dir: Path, impl: str) -> None:
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    model = load(tiny_chat_dir, impl)
    rows = examples(model.config.vocab_size)
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(
        [{"input_ids": r} for r in rows]
    )
    assert "attention_mask" not in batch and batch["input_ids"].shape == (1, sum(LENGTHS))
    with torch.no_grad():
        # the way TRL's compute_loss calls the model (use_cache=False), varlen kwargs included
        packed = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits[0]
        start = 0
        for ids in rows:
            t = torch.tensor(ids)
            alone = model(input_ids=t[None]).logits[0]
            mine = packed[start : start + len(ids)]
            assert (mine - alone).abs().max().item() < TOL
            assert (token_losses(mine, t) - token_losses(alone, t)).abs().max().item() < TOL
            start += len(ids)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_dpo_pair_rows_padding_free_match_alone(tiny_chat_dir: Path, impl: str) -> None:
    """chosen/rejected rows collated padded by TRL, run padding-free: each row's per-token log-probs
    (TRL's fused LM head, as the DPO loss uses them) equal those of the row alone."""
    from trl.trainer.dpo_trainer import DataCollatorForPreference
    from trl.trainer.utils import add_fused_lm_head

    model = load(tiny_chat_dir, impl)
    add_fused_lm_head(model)
    prompt, chosen, rejected, prompt2, chosen2, rejected2 = examples(
        model.config.vocab_size, (6, 9, 3, 11, 2, 8)
    )
    pairs = [
        {"prompt_ids": prompt, "chosen_ids": chosen, "rejected_ids": rejected},
        {"prompt_ids": prompt2, "chosen_ids": chosen2, "rejected_ids": rejected2},
    ]
    batch = DataCollatorForPreference(pad_token_id=0)(pairs)
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    hooks = PaddingFreeForward().install(backbone_of(model))
    with torch.no_grad():
        packed = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=labels,
            fused_lm_head=True,
        ).log_probs
    hooks.remove()
    assert hooks.real == int(batch["attention_mask"].sum()) < hooks.positions
    seqs = [prompt + chosen, prompt2 + chosen2, prompt + rejected, prompt2 + rejected2]
    with torch.no_grad():
        for row, ids in enumerate(seqs):
            t = torch.tensor(ids)[None]
            lab = labels[row, : len(ids)][None]
            alone = model(input_ids=t, labels=lab, fused_lm_head=True).log_probs[0]
            assert (packed[row, : len(ids) - 1] - alone).abs().max().item() < TOL
            assert (
                packed[row, len(ids) - 1 :].abs().max().item() == 0.0
                if packed.size(1) > len(ids) - 1
                else True
            )
            assert abs(packed[row].sum().item() - alone.sum().item()) < TOL


def test_dropped_document_mask_is_detected(tiny_chat_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = load(tiny_chat_dir, "sdpa")
    assert packing_leak(model) <= LEAK_TOLERANCE
    drop_document_mask(monkeypatch)
    assert packing_leak(model) > 1e-2


def test_padding_free_forward_fails_without_document_mask(
    tiny_chat_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The equality above is a real test: with the mask gone, the packed rows differ from alone."""
    model = load(tiny_chat_dir, "sdpa")
    rows = examples(model.config.vocab_size, (8, 8))
    ids = torch.tensor(rows)
    mask = torch.ones_like(ids)
    drop_document_mask(monkeypatch)
    hooks = PaddingFreeForward().install(backbone_of(model))
    with torch.no_grad():
        packed = model(input_ids=ids, attention_mask=mask).logits
    hooks.remove()
    with torch.no_grad():
        alone = model(input_ids=ids[1:]).logits
    assert (packed[1] - alone[0]).abs().max().item() > 1e-2


def test_auto_packs_only_when_exact_and_clearly_faster() -> None:
    from mixtune.errors import MixtuneError
    from mixtune.training.batching import BatchingProbe
    from mixtune.training.device import Capabilities
    from sft.batching import choose_batching, decide

    cpu = Capabilities(False, 0, None, False, False, False, False)
    plan = choose_batching("auto", cpu, {}, None)
    assert plan.mode == "measure"
    faster = decide(plan, BatchingProbe(0.0, 3000.0, 1000.0), {})
    assert faster.mode == "packed" and faster.config["packing"] and faster.config["padding_free"]
    assert "exact and faster" in faster.reason and "3,000" in faster.reason and faster.probe["leak"] == 0.0
    assert decide(plan, BatchingProbe(0.0, 1050.0, 1000.0), {}).mode == "grouped"  # within noise
    leaky = decide(plan, BatchingProbe(0.4, 3000.0, 1000.0), {})
    assert leaky.mode == "grouped" and "not exact" in leaky.reason
    assert decide(plan, None, {}).mode == "grouped"
    with pytest.raises(MixtuneError, match="attend to each other"):
        decide(choose_batching("packed", cpu, {}, None), BatchingProbe(0.4, 0, 0), {})


def test_explicit_packed_run_checks_the_model(tiny_chat_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from mixtune.errors import MixtuneError
    from mixtune.training.device import Capabilities
    from sft.batching import choose_batching, settle_batching

    cpu = Capabilities(False, 0, None, False, False, False, False)
    model = load(tiny_chat_dir, "sdpa")
    args = SimpleNamespace(to_dict=dict)
    plan = settle_batching(choose_batching("packed", cpu, {}, None), model, args, None, None, cpu)
    assert plan.mode == "packed" and args.packing is True and args.padding_free is True
    drop_document_mask(monkeypatch)
    with pytest.raises(MixtuneError, match="attend to each other"):
        settle_batching(choose_batching("packed", cpu, {}, None), model, args, None, None, cpu)


def test_resumed_auto_run_keeps_its_measured_layout(tmp_path: Path) -> None:
    import json
    from types import SimpleNamespace

    from mixtune.training.batching import BatchingProbe
    from mixtune.training.device import Capabilities
    from sft.batching import DECISION_FILE, choose_batching, decide, decision_keeper, settle_batching

    cpu = Capabilities(False, 0, None, False, False, False, False)
    first = decide(choose_batching("auto", cpu, {}, None), BatchingProbe(0.0, 3000.0, 1000.0), {})
    ckpt = tmp_path / "checkpoint-4"
    ckpt.mkdir()
    keeper = decision_keeper(first)
    keeper.on_save(
        SimpleNamespace(output_dir=str(tmp_path)),
        SimpleNamespace(global_step=4, is_world_process_zero=True),
        None,
    )
    assert json.loads((ckpt / DECISION_FILE).read_text())["mode"] == "packed"
    args = SimpleNamespace()
    # no model: a resumed `auto` run must not measure again
    again = settle_batching(choose_batching("auto", cpu, {}, None), None, args, None, None, cpu, ckpt)
    assert again.mode == "packed" and args.packing is True and "decided when this run started" in again.reason


def test_auto_measures_once_per_machine_and_setup(tiny_chat_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from types import SimpleNamespace

    from datasets import Dataset
    from transformers import AutoTokenizer

    from mixtune.training.device import Capabilities
    from sft.batching import choose_batching, settle_batching

    monkeypatch.setenv("MIXTUNE_CACHE", str(tmp_path / "cache"))
    cpu = Capabilities(False, 0, None, False, False, False, False)
    model = load(tiny_chat_dir, "sdpa")
    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    rows = [
        {"messages": [{"role": "user", "content": "q " * n}, {"role": "assistant", "content": "a " * n}]}
        for n in (3, 9, 5, 14)
    ]
    data = Dataset.from_list(rows)
    args = SimpleNamespace(per_device_train_batch_size=2, max_length=64, bf16=False, to_dict=dict)
    first = settle_batching(choose_batching("auto", cpu, {}, None), model, args, data, tok, cpu)
    assert first.mode in ("packed", "grouped") and first.probe["packed_tokens_per_s"] > 0
    assert "real tok/s" in first.reason and list((tmp_path / "cache" / "batching").glob("*.json"))
    again = settle_batching(choose_batching("auto", cpu, {}, None), model, args, data, tok, cpu)
    assert again.mode == first.mode and "measured by an earlier run on this machine" in again.reason
    args.per_device_train_batch_size = 4  # another batch shape is measured anew
    other = settle_batching(choose_batching("auto", cpu, {}, None), model, args, data, tok, cpu)
    assert "earlier run" not in other.reason
