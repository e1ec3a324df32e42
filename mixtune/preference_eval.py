"""Held-out preference accuracy: how often a model gives the chosen answer a higher log-probability
than the rejected one. This is what DPO optimises, so it is the first number to check after it,
and it is comparable across a base, an SFT and a DPO model of the same tokenizer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PreferenceScore:
    n: int
    accuracy: float  # share of pairs with logp(chosen) > logp(rejected)
    mean_margin: float  # mean of logp(chosen) - logp(rejected), in nats

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _completion_logp(model: Any, prompt_ids: list[int], full_ids: list[int]) -> float:
    import torch

    ids = torch.tensor([full_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logps = torch.log_softmax(logits, dim=-1)
    targets = ids[0, 1:]
    token_logps = logps.gather(1, targets[:, None])[:, 0]
    return float(token_logps[len(prompt_ids) - 1 :].sum())


def preference_accuracy(
    model_dir: str | Path,
    rows: list[dict[str, Any]],
    template_dir: str | Path | None = None,
    max_length: int = 1024,
) -> PreferenceScore:
    """Score canonical preference rows with the model in model_dir.

    template_dir: a tokenizer directory whose chat template renders the conversations, for models
    (such as a base model) that have none; it must share model_dir's vocabulary.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(template_dir or model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        raise ValueError(f"{template_dir}: its tokenizer has tokens that {model_dir} does not know")
    wins, margins = 0, []
    for row in rows:
        prompt_text = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        scores = []
        for answer in (row["chosen"], row["rejected"]):
            full_text = tokenizer.apply_chat_template(row["prompt"] + answer, tokenize=False)
            full_ids = tokenizer(full_text, add_special_tokens=False)["input_ids"][:max_length]
            scores.append(_completion_logp(model, prompt_ids, full_ids))
        margins.append(scores[0] - scores[1])
        wins += scores[0] > scores[1]
    n = len(rows)
    return PreferenceScore(n=n, accuracy=wins / n if n else 0.0, mean_margin=sum(margins) / n if n else 0.0)
