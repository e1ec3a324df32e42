"""Preference rows in every shape the field ships, turned into TRL's explicit-prompt conversational
form that `dpo.encoding` checks and tokenizes.

mixtune mixtures already hold canonical rows ({prompt: [...], chosen: [assistant], rejected:
[assistant]}). Handbook-style sources may instead hold whole conversations in chosen/rejected
(ultrafeedback_binarized, orca_dpo_pairs: the shared leading turns are the prompt) or plain strings
(question/chosen/rejected); those are converted here, row by row, with TRL's `extract_prompt`.
"""

from __future__ import annotations

from typing import Any


def _as_messages(value: Any, role: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    return [{"role": m["role"], "content": m["content"]} for m in value]


def to_explicit_prompt(row: dict[str, Any]) -> dict[str, Any]:
    """One row -> {prompt, chosen, rejected} as message lists, the prompt split off when implicit."""
    from trl.data_utils import extract_prompt

    chosen, rejected = row["chosen"], row["rejected"]
    prompt = row.get("prompt")
    if isinstance(chosen, list) and chosen and chosen[0].get("role") != "assistant":
        # whole conversations: the common leading turns are the prompt (any string prompt repeats them)
        split = extract_prompt(
            {"chosen": _as_messages(chosen, "assistant"), "rejected": _as_messages(rejected, "assistant")}
        )
        return {"prompt": split["prompt"], "chosen": split["chosen"], "rejected": split["rejected"]}
    if prompt is None:
        split = extract_prompt({"chosen": chosen, "rejected": rejected})
        prompt, chosen, rejected = split["prompt"], split["chosen"], split["rejected"]
    return {
        "prompt": _as_messages(prompt, "user"),
        "chosen": _as_messages(chosen, "assistant"),
        "rejected": _as_messages(rejected, "assistant"),
    }


def is_explicit(dataset: Any) -> bool:
    """Whether rows are already {prompt: [messages], chosen: [assistant...], rejected: [...]}."""
    if not all(c in dataset.column_names for c in ("prompt", "chosen", "rejected")) or len(dataset) == 0:
        return False
    first = dataset[0]
    return (
        isinstance(first["prompt"], list)
        and isinstance(first["chosen"], list)
        and bool(first["chosen"])
        and first["chosen"][0].get("role") == "assistant"
    )


def explicit_preferences(dataset: Any, num_proc: int | None = None, split: str = "train") -> Any:
    """The dataset in explicit-prompt conversational form (unchanged when it already is)."""
    if dataset is None or is_explicit(dataset):
        return dataset
    return dataset.map(to_explicit_prompt, num_proc=num_proc, desc=f"Splitting prompts off {split} pairs")
