"""Tokenize preference pairs exactly as the model will see them, and refuse pairs that would lie.

DPO learns from log-probabilities of the completion *given the prompt as rendered at inference*:
the chat template applied to the prompt with `add_generation_prompt=True`. When that rendering is
not a token prefix of the rendered prompt+completion (a template that renders the two differently,
or tokens that merge across the boundary), the trainer would score the completion in a context the
model never sees when it is asked to answer. TRL silently cuts such pairs at the divergence point;
here a diverging pair is an error naming its row, or (on request) a counted drop.

Truncation keeps the *end* of long prompts (the question nearest the answer) and the *start* of long
completions, the convention of the DPO recipes the field uses (`max_prompt_length`, `max_length`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from mixtune.errors import DataError
from mixtune.training.run_record import DataStats

MismatchPolicy = Literal["raise", "skip"]
ENCODED_COLUMNS = ("prompt_ids", "chosen_ids", "rejected_ids")
_STATUS = "_encode_status"
_DETAIL = "_encode_detail"
_FLAGS = "_encode_flags"


def _render(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=add_generation_prompt, return_dict=True
    )
    return list(out["input_ids"])


def _divergence(tokenizer: Any, prompt_ids: list[int], full_ids: list[int]) -> str:
    """Describe where the prompt rendering stops being a prefix of the full rendering."""
    at = 0
    for a, b in zip(prompt_ids, full_ids, strict=False):
        if a != b:
            break
        at += 1
    alone = tokenizer.decode(prompt_ids[at : at + 8])
    joined = tokenizer.decode(full_ids[at : at + 8])
    return f"at token {at} the prompt alone renders {alone!r} but prompt+completion renders {joined!r}"


def _clean_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Arrow gives every struct every key; keep role/content so templates see what the row said."""
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _shape_problem(row: dict[str, Any]) -> str:
    """Why a row is not a conversational preference pair, or ''."""
    prompt = row.get("prompt")
    if not isinstance(prompt, list) or not prompt:
        return "prompt must be a non-empty list of messages"
    if prompt[-1].get("role") == "assistant":
        return "the prompt ends with an assistant turn; the answer belongs in chosen/rejected"
    for side in ("chosen", "rejected"):
        turns = row.get(side)
        if not isinstance(turns, list) or not turns:
            return f"{side} must be a non-empty list of messages"
        if turns[0].get("role") != "assistant":
            return f"{side} must start with an assistant message, got role {turns[0].get('role')!r}"
        if any(not isinstance(t.get("content"), str) for t in turns):
            return f"{side} has a message without text content"
    return ""


def encode_pair(
    row: dict[str, Any],
    tokenizer: Any,
    max_length: int | None,
    max_prompt_length: int | None,
) -> dict[str, Any]:
    """Encode one canonical preference row into prompt/chosen/rejected token ids.

    Returns the ids plus a status: "" when the pair is usable, otherwise the reason it is not
    ("prompt_mismatch", "prompt_too_long") with a human detail.
    """
    problem = _shape_problem(row)
    if problem:
        return {
            "prompt_ids": [],
            "chosen_ids": [],
            "rejected_ids": [],
            _STATUS: "malformed",
            _DETAIL: problem,
            _FLAGS: 0,
        }
    prompt = _clean_messages(row["prompt"])
    prompt_ids = _render(tokenizer, prompt, add_generation_prompt=True)
    completions = {}
    for side in ("chosen", "rejected"):
        full_ids = _render(tokenizer, prompt + _clean_messages(row[side]))
        if full_ids[: len(prompt_ids)] != prompt_ids:
            return {
                "prompt_ids": [],
                "chosen_ids": [],
                "rejected_ids": [],
                _STATUS: "prompt_mismatch",
                _DETAIL: f"{side}: {_divergence(tokenizer, prompt_ids, full_ids)}",
                _FLAGS: 0,
            }
        completions[side] = full_ids[len(prompt_ids) :]

    flags = 0
    if max_prompt_length is not None and len(prompt_ids) > max_prompt_length:
        prompt_ids = prompt_ids[-max_prompt_length:]
        flags |= 1
    if max_length is not None:
        room = max_length - len(prompt_ids)
        if room < 1:
            return {
                "prompt_ids": [],
                "chosen_ids": [],
                "rejected_ids": [],
                _STATUS: "prompt_too_long",
                _DETAIL: f"prompt has {len(prompt_ids)} tokens, max_length is {max_length}; "
                "set max_prompt_length below max_length to keep the end of long prompts",
                _FLAGS: flags,
            }
        for side, ids in completions.items():
            if len(ids) > room:
                completions[side] = ids[:room]
                flags |= 2
    return {
        "prompt_ids": prompt_ids,
        "chosen_ids": completions["chosen"],
        "rejected_ids": completions["rejected"],
        _STATUS: "",
        _DETAIL: "",
        _FLAGS: flags,
    }


def _row_name(row: dict[str, Any], index: int) -> str:
    rid = row.get("id")
    src = row.get("source")
    name = f"id={rid!r}" if rid is not None else f"row {index}"
    return f"{name} (source {src!r})" if src is not None else name


def check_chat_template(tokenizer: Any, where: str) -> None:
    """DPO needs the parent's chat template; it is never invented here."""
    if not getattr(tokenizer, "chat_template", None):
        raise DataError(
            f"{where}: the tokenizer has no chat template. DPO starts from a chat (SFT) model whose "
            "template it keeps unchanged; run `mixtune sft` first or start from a chat model."
        )


def encode_preferences(
    dataset: Any,
    tokenizer: Any,
    *,
    max_length: int | None,
    max_prompt_length: int | None,
    on_mismatch: MismatchPolicy = "raise",
    num_proc: int | None = None,
    split: str = "train",
) -> tuple[Any, DataStats]:
    """Encode a `datasets.Dataset` of canonical preference rows for `DPOTrainer`.

    Keeps every row or counts it as dropped with its reason. A prompt-rendering mismatch raises a
    DataError naming the rows (or, with `on_mismatch="skip"`, is dropped and counted).
    """
    if on_mismatch not in ("raise", "skip"):
        raise DataError(f"prompt_mismatch must be 'raise' or 'skip', got {on_mismatch!r}")
    missing = [c for c in ("prompt", "chosen", "rejected") if c not in dataset.column_names]
    if missing:
        raise DataError(
            f"{split} split: preference rows need prompt/chosen/rejected columns; missing {missing} "
            f"(columns: {dataset.column_names})"
        )
    stats = DataStats(rows_in=len(dataset))
    encoded = dataset.map(
        encode_pair,
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length, "max_prompt_length": max_prompt_length},
        num_proc=num_proc,
        desc=f"Encoding {split} preference pairs",
    )
    statuses = encoded[_STATUS]
    flags = encoded[_FLAGS]
    counts = Counter(s for s in statuses if s)
    for reason, policy in (("malformed", "raise"), ("prompt_mismatch", on_mismatch)):
        if counts.get(reason) and policy == "raise":
            _raise_for(reason, encoded, statuses, len(dataset), split)
    stats.truncated = {
        "prompts": sum(1 for f, s in zip(flags, statuses, strict=True) if not s and f & 1),
        "completions": sum(1 for f, s in zip(flags, statuses, strict=True) if not s and f & 2),
    }
    stats.dropped = dict(sorted(counts.items()))
    stats.kept = stats.rows_in - sum(counts.values())
    if counts:
        encoded = encoded.filter(lambda s: s == "", input_columns=[_STATUS], num_proc=num_proc)
    encoded = encoded.remove_columns([_STATUS, _DETAIL, _FLAGS])
    if len(encoded) == 0:
        raise DataError(f"{split} split: no usable preference pairs left ({stats.dropped})")
    return encoded, stats


_EXPLAIN = {
    "malformed": (
        "are not conversational preference pairs (prompt messages, then chosen/rejected assistant turns)",
        "Fix the rows, or normalise them with a mixture recipe (`mixtune mix build`).",
    ),
    "prompt_mismatch": (
        "render their prompt differently from training (the prompt with the generation prompt is not a "
        "token prefix of prompt+completion), so DPO would score answers in a context the model never sees",
        "Fix the rows or the chat template, or set prompt_mismatch: skip to drop (and count) them.",
    ),
}


def _raise_for(reason: str, encoded: Any, statuses: list[str], total: int, split: str) -> None:
    bad = [i for i, s in enumerate(statuses) if s == reason]
    shown = encoded.select(bad[:3])
    lines = [f"  {_row_name(r, i)}: {r[_DETAIL]}" for i, r in zip(bad[:3], shown, strict=False)]
    what, fix = _EXPLAIN[reason]
    raise DataError(
        f"{split} split: {len(bad)} of {total} preference rows {what}:\n" + "\n".join(lines) + f"\n{fix}"
    )


def is_encoded(dataset: Any) -> bool:
    return all(c in dataset.column_names for c in ENCODED_COLUMNS)
