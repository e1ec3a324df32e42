"""Normalise one row of any supported input format into a canonical row.

Canonical SFT row: {"messages": [{"role", "content"}, ...]} with an optional system turn
first, then user/assistant alternating, ending with the assistant. Canonical preference
row: {"prompt": [...], "chosen": [...], "rejected": [...]} (TRL's explicit-prompt
conversational format). A row that fits no format or breaks the role rules raises
`RowError` with a short machine reason and a human detail; the builder decides whether
that is fatal or a counted reject.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Message = dict[str, str]

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
}
CHAT_ROLES = ("system", "user", "assistant")


class RowError(Exception):
    """A row that cannot become a canonical row: `reason` is a stable key counted in the manifest."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _text(value: Any, field: str) -> str:
    """Message content as text: a string, or OpenAI content parts of type text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        parts = []
        for part in value:
            if part.get("type", "text") != "text" or not isinstance(part.get("text"), str):
                raise RowError("bad_content", f"{field}: only text content parts are supported")
            parts.append(part["text"])
        return "".join(parts)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # CSV and spreadsheet exports turn answers like "42" into numbers
    if value is None:
        raise RowError("empty_content", f"{field} is missing")
    raise RowError("bad_type", f"{field} should be text, got {type(value).__name__}")


def _maybe_json_list(value: Any) -> Any:
    """CSV cells hold lists as JSON text; accept that."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _message_list(
    value: Any, field: str, role_key: str = "role", content_key: str = "content"
) -> list[Message]:
    value = _maybe_json_list(value)
    if not isinstance(value, list):
        raise RowError("bad_type", f"'{field}' should be a list of messages, got {type(value).__name__}")
    out: list[Message] = []
    for i, msg in enumerate(value):
        if not isinstance(msg, dict):
            raise RowError("bad_type", f"{field}[{i}] should be an object, got {type(msg).__name__}")
        role = msg.get(role_key)
        if role not in CHAT_ROLES:
            raise RowError("bad_role", f"{field}[{i}] has role {role!r}; expected one of {list(CHAT_ROLES)}")
        out.append({"role": role, "content": _text(msg.get(content_key), f"{field}[{i}].{content_key}")})
    return out


def _sharegpt_list(value: Any, field: str) -> list[Message]:
    value = _maybe_json_list(value)
    if not isinstance(value, list):
        raise RowError("bad_type", f"'{field}' should be a list of turns, got {type(value).__name__}")
    out: list[Message] = []
    for i, turn in enumerate(value):
        if not isinstance(turn, dict):
            raise RowError("bad_type", f"{field}[{i}] should be an object, got {type(turn).__name__}")
        speaker = turn.get("from", turn.get("role"))
        role = SHAREGPT_ROLES.get(str(speaker).lower()) if speaker is not None else None
        if role is None:
            raise RowError(
                "bad_role", f"{field}[{i}] is from {speaker!r}; expected one of {sorted(SHAREGPT_ROLES)}"
            )
        content = turn.get("value", turn.get("content"))
        out.append({"role": role, "content": _text(content, f"{field}[{i}].value")})
    return out


def check_conversation(
    messages: list[Message], field: str = "messages", end: str = "assistant", first: str = "user"
) -> None:
    """Optional system first (when the turns start with the user), then user/assistant
    alternating from `first`, ending with `end`; no empty content."""
    if not messages:
        raise RowError("empty_conversation", f"'{field}' has no turns")
    for i, msg in enumerate(messages):
        if not msg["content"].strip():
            raise RowError("empty_content", f"{field}[{i}] ({msg['role']}) is empty")
    start = 1 if messages[0]["role"] == "system" and first == "user" else 0
    if start == 1 and len(messages) == 1:
        raise RowError("empty_conversation", f"'{field}' has only a system turn")
    other = "assistant" if first == "user" else "user"
    for i, msg in enumerate(messages[start:], start):
        expected = first if (i - start) % 2 == 0 else other
        if msg["role"] != expected:
            raise RowError(
                "bad_alternation", f"{field}[{i}] is '{msg['role']}' where '{expected}' should come"
            )
    if messages[-1]["role"] != end:
        raise RowError(
            "bad_last_turn", f"the last turn of '{field}' is '{messages[-1]['role']}', not '{end}'"
        )


def _with_system(messages: list[Message], system: Any) -> list[Message]:
    if system is None or (isinstance(system, str) and not system.strip()):
        return messages
    text = _text(system, "system")
    if messages and messages[0]["role"] == "system":
        return messages
    return [{"role": "system", "content": text}, *messages]


def _pair(row: dict[str, Any], user_key: str, assistant_key: str) -> list[Message]:
    for key in (user_key, assistant_key):
        if key not in row or row[key] is None:
            raise RowError("missing_field", f"'{key}' is missing")
    user = _text(row[user_key], user_key)
    assistant = _text(row[assistant_key], assistant_key)
    return _with_system(
        [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}], row.get("system")
    )


def sft_messages(row: dict[str, Any]) -> list[Message]:
    return _message_list(row["messages"], "messages")


def sft_sharegpt(row: dict[str, Any]) -> list[Message]:
    return _with_system(_sharegpt_list(row["conversations"], "conversations"), row.get("system"))


def sft_alpaca(row: dict[str, Any]) -> list[Message]:
    for key in ("instruction", "output"):
        if row.get(key) is None:
            raise RowError("missing_field", f"'{key}' is missing")
    instruction = _text(row["instruction"], "instruction")
    extra = row.get("input")
    if isinstance(extra, str) and extra.strip():
        instruction = f"{instruction.rstrip()}\n\n{extra.strip()}"
    messages = [
        {"role": "user", "content": instruction},
        {"role": "assistant", "content": _text(row["output"], "output")},
    ]
    return _with_system(messages, row.get("system"))


def sft_prompt_completion(row: dict[str, Any]) -> list[Message]:
    prompt, completion = _maybe_json_list(row.get("prompt")), _maybe_json_list(row.get("completion"))
    if isinstance(prompt, list) or isinstance(completion, list):
        messages = _message_list(prompt, "prompt") + _message_list(completion, "completion")
        return _with_system(messages, row.get("system"))
    return _pair(row, "prompt", "completion")


def sft_problem_solution(row: dict[str, Any]) -> list[Message]:
    return _pair(row, "problem", "solution")


def sft_instruction_response(row: dict[str, Any]) -> list[Message]:
    return _pair(row, "instruction", "response")


def sft_question_answer(row: dict[str, Any]) -> list[Message]:
    return _pair(row, "question", "answer")


def _split_shared_prefix(
    chosen: list[Message], rejected: list[Message]
) -> tuple[list[Message], list[Message], list[Message]]:
    n = 0
    while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
        n += 1
    # The prompt ends at the last user turn of the shared prefix.
    while n > 0 and chosen[n - 1]["role"] != "user":
        n -= 1
    if n == 0:
        raise RowError("no_shared_prompt", "'chosen' and 'rejected' share no prompt ending in a user turn")
    return chosen[:n], chosen[n:], rejected[n:]


def pref_conversations(row: dict[str, Any]) -> dict[str, list[Message]]:
    chosen = _message_list(row.get("chosen"), "chosen")
    rejected = _message_list(row.get("rejected"), "rejected")
    prompt_value = _maybe_json_list(row.get("prompt"))
    if isinstance(prompt_value, list):
        # TRL explicit-prompt format: chosen/rejected are the completions only.
        prompt = _message_list(prompt_value, "prompt")
        if chosen and chosen[0]["role"] == "user":
            prompt, chosen, rejected = _split_shared_prefix(chosen, rejected)
    else:
        prompt, chosen, rejected = _split_shared_prefix(chosen, rejected)
    return {"prompt": _with_system(prompt, row.get("system")), "chosen": chosen, "rejected": rejected}


def pref_strings(row: dict[str, Any]) -> dict[str, list[Message]]:
    key = "question" if row.get("question") is not None else "prompt"
    for k in (key, "chosen", "rejected"):
        if row.get(k) is None:
            raise RowError("missing_field", f"'{k}' is missing")
    prompt = _with_system([{"role": "user", "content": _text(row[key], key)}], row.get("system"))
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": _text(row["chosen"], "chosen")}],
        "rejected": [{"role": "assistant", "content": _text(row["rejected"], "rejected")}],
    }


SFT_PARSERS: dict[str, Callable[[dict[str, Any]], list[Message]]] = {
    "messages": sft_messages,
    "sharegpt": sft_sharegpt,
    "alpaca": sft_alpaca,
    "prompt_completion": sft_prompt_completion,
    "problem_solution": sft_problem_solution,
    "instruction_response": sft_instruction_response,
    "question_answer": sft_question_answer,
}
PREFERENCE_PARSERS: dict[str, Callable[[dict[str, Any]], dict[str, list[Message]]]] = {
    "preference_conversations": pref_conversations,
    "preference_strings": pref_strings,
}


def _present(row: dict[str, Any], *keys: str) -> bool:
    return all(row.get(k) is not None for k in keys)


def detect_format(row: dict[str, Any], kind: str) -> str:
    """The format a row's keys point to, for `kind` ('sft' or 'preference')."""
    if kind == "preference":
        if _present(row, "chosen", "rejected"):
            chosen = _maybe_json_list(row["chosen"])
            return "preference_conversations" if isinstance(chosen, list) else "preference_strings"
    else:
        for fmt, keys in (
            ("messages", ("messages",)),
            ("sharegpt", ("conversations",)),
            ("alpaca", ("instruction", "output")),
            ("instruction_response", ("instruction", "response")),
            ("problem_solution", ("problem", "solution")),
            ("prompt_completion", ("prompt", "completion")),
            ("question_answer", ("question", "answer")),
        ):
            if _present(row, *keys):
                return fmt
    keys = sorted(k for k, v in row.items() if v is not None)
    raise RowError("unknown_format", f"no {kind} format fits a row with keys {keys}")


def apply_system_prompt(messages: list[Message], system_prompt: str | None, mode: str) -> list[Message]:
    """Insert a source's system prompt when the row has none (or replace the row's, if asked)."""
    if not system_prompt:
        return messages
    has_system = bool(messages) and messages[0]["role"] == "system"
    if has_system and mode != "replace":
        return messages
    rest = messages[1:] if has_system else messages
    return [{"role": "system", "content": system_prompt}, *rest]


def remap_columns(row: Any, columns: dict[str, str] | None) -> dict[str, Any]:
    """Rename a source's own column names to the field names the formats read."""
    if not isinstance(row, dict):
        raise RowError("not_an_object", f"a row must be a JSON object, got {type(row).__name__}")
    if not columns:
        return row
    row = dict(row)
    for target, column in columns.items():
        if column in row:
            row[target] = row.pop(column)
    return row


def normalise_row(
    row: dict[str, Any],
    kind: str,
    fmt: str = "auto",
    columns: dict[str, str] | None = None,
    system_prompt: str | None = None,
    system_prompt_mode: str = "if_missing",
) -> dict[str, list[Message]]:
    """One input row (any supported format) -> canonical columns, or RowError."""
    row = remap_columns(row, columns)
    fmt = detect_format(row, kind) if fmt == "auto" else fmt
    if kind == "sft":
        messages = apply_system_prompt(SFT_PARSERS[fmt](row), system_prompt, system_prompt_mode)
        check_conversation(messages)
        return {"messages": messages}
    pair = PREFERENCE_PARSERS[fmt](row)
    pair["prompt"] = apply_system_prompt(pair["prompt"], system_prompt, system_prompt_mode)
    check_conversation(pair["prompt"], "prompt", end="user")
    for side in ("chosen", "rejected"):
        check_conversation(pair[side], side, end="assistant", first="assistant")
    return pair
