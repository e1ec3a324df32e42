"""Padding-free DPO pairs through the real trainer: the loss, rewards and log-probs of a packed step
equal those of TRL's padded step (float32), with the reference as a PEFT-disabled adapter and as a
separate model; `batching: packed` is refused when the document mask is gone; `auto` says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from dpo.encoding import encode_preferences


def trainer_for(parent: Path, rows: list[dict[str, Any]], tmp: Path, packed: bool, peft: bool) -> Any:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig

    from dpo.trainer import MixtuneDPOTrainer

    tok = AutoTokenizer.from_pretrained(parent)
    encoded, _ = encode_preferences(Dataset.from_list(rows), tok, max_length=128, max_prompt_length=64)
    model = AutoModelForCausalLM.from_pretrained(parent, attn_implementation="sdpa", dtype=torch.float32)
    ref = None if peft else AutoModelForCausalLM.from_pretrained(parent, attn_implementation="sdpa")
    args = DPOConfig(
        output_dir=str(tmp), per_device_train_batch_size=4, report_to="none", use_cpu=True, max_length=128
    )
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    return MixtuneDPOTrainer(
        model=model,
        ref_model=ref,
        args=args,
        train_dataset=encoded,
        processing_class=tok,
        peft_config=lora if peft else None,
        packed=packed,
    )


@pytest.mark.parametrize("peft", [False, True], ids=["ref-model", "lora-ref"])
def test_packed_dpo_step_equals_padded_step(
    sft_parent_dir: Path, pairs: Any, tmp_path: Path, peft: bool
) -> None:
    rows = pairs(4, seed=3)
    results = []
    for packed in (False, True):
        torch.manual_seed(0)
        trainer = trainer_for(sft_parent_dir, rows, tmp_path / str(packed), packed, peft)
        if peft:  # a non-zero adapter, so policy and reference differ
            for name, p in trainer.model.named_parameters():
                if "lora_B" in name:
                    torch.nn.init.normal_(p, std=0.05, generator=torch.Generator().manual_seed(len(name)))
        batch = next(iter(trainer.get_train_dataloader()))
        assert "attention_mask" in batch and bool((batch["attention_mask"] == 0).any())  # real padding
        trainer.model.train()
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])
        metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}
        results.append((loss.item(), grads, metrics, trainer.token_totals()))
    (l0, g0, m0, _), (l1, g1, m1, (real, positions)) = results
    assert abs(l0 - l1) < 1e-5 and (g0 - g1).abs().max().item() < 1e-5
    for key in ("logps/chosen", "logps/rejected", "rewards/margins"):
        assert abs(m0[key] - m1[key]) < 1e-4, key
    assert 0 < real < positions  # the packed forwards skipped the padding


def test_packed_is_refused_without_document_mask(
    sft_parent_dir: Path, pairs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers.masking_utils as masking
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig

    from dpo.batching import settle_batching
    from mixtune.errors import MixtuneError

    tok = AutoTokenizer.from_pretrained(sft_parent_dir)
    encoded, _ = encode_preferences(
        Dataset.from_list(pairs(8, seed=4)), tok, max_length=128, max_prompt_length=64
    )
    model = AutoModelForCausalLM.from_pretrained(sft_parent_dir, attn_implementation="sdpa")
    args = DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, report_to="none", use_cpu=True)
    packed, why, figures = settle_batching("auto", model, args, encoded)
    assert figures is not None and figures["leak"] == 0.0
    assert figures["packed_tokens_per_s"] > 0 and figures["padded_tokens_per_s"] > 0
    assert ("packed" if packed else "padded") in why and "real tok/s" in why
    assert settle_batching("packed", model, args, encoded)[0] is True
    monkeypatch.setattr(masking, "find_packed_sequence_indices", lambda position_ids: None)
    with pytest.raises(MixtuneError, match="attend to each other"):
        settle_batching("packed", model, args, encoded)
    packed, why, _ = settle_batching("auto", model, args, encoded)
    assert not packed and "not exact" in why
