"""Small generation helpers shared by the CLI and tests."""

from __future__ import annotations

from pathlib import Path


def greedy_continue(model_dir: str | Path, prompt: str, max_new_tokens: int = 64) -> str:
    """Greedy plain-text continuation of prompt (no chat template)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    enc = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
        )
    return tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
